#include "store/tokens.h"

#include <gtest/gtest.h>

#include <set>

#include "testing/temp_dir.h"

namespace trainyard::store {
namespace {

TEST(ApiTokens, CreateShowsTheTokenOnceAndStoresOnlyItsHash) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  auto token = CreateApiToken(ws->get(), "alice", "submit");
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  ASSERT_EQ(token->size(), kApiTokenLength);
  EXPECT_EQ(token->substr(0, 3), "ty_");
  for (char c : token->substr(3)) {
    EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << *token;
  }

  auto s = (*ws)->db()->Prepare("SELECT hash FROM api_tokens WHERE name = 'alice'");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(*s->Step());
  EXPECT_EQ(s->Text(0), HashApiToken(*token));
  EXPECT_EQ(s->Text(0).size(), 64u);
  EXPECT_EQ(s->Text(0).find(token->substr(3)), std::string::npos);

  auto found = LookupApiToken(ws->get(), *token);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->name, "alice");
  EXPECT_EQ((*found)->role, "submit");
}

TEST(ApiTokens, TokensAreRandom) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    auto token = CreateApiToken(ws->get(), "t" + std::to_string(i), "read");
    ASSERT_TRUE(token.ok());
    EXPECT_TRUE(seen.insert(*token).second);
  }
}

TEST(ApiTokens, UnknownMalformedAndRevokedTokensAreNotFound) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  auto token = CreateApiToken(ws->get(), "ci", "read");
  ASSERT_TRUE(token.ok());
  std::string wrong = *token;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  for (const std::string& t :
       {wrong, std::string(""), std::string("ty_"), token->substr(3), *token + "x"}) {
    auto found = LookupApiToken(ws->get(), t);
    ASSERT_TRUE(found.ok());
    EXPECT_FALSE(found->has_value()) << t;
  }

  ASSERT_TRUE(RevokeApiToken(ws->get(), "ci").ok());
  auto found = LookupApiToken(ws->get(), *token);
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  Status again = RevokeApiToken(ws->get(), "ci");
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(again.message(), "token \"ci\" is already revoked");
  Status missing = RevokeApiToken(ws->get(), "nobody");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "no token named \"nobody\" (tokens: ci)");
}

TEST(ApiTokens, DuplicateNamesAndBadInputAreRefused) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  ASSERT_TRUE(CreateApiToken(ws->get(), "bob", "admin").ok());
  auto dup = CreateApiToken(ws->get(), "bob", "read");
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(dup.status().message().find("revoke it first"), std::string::npos);

  EXPECT_EQ(CreateApiToken(ws->get(), "", "read").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateApiToken(ws->get(), "a b", "read").status().code(), StatusCode::kInvalidArgument);
  auto role = CreateApiToken(ws->get(), "carol", "owner");
  EXPECT_EQ(role.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(role.status().message(), "unknown role \"owner\" (roles: read, submit, admin)");
}

TEST(ApiTokens, ARevokedNameCanBeReusedAndTheOldTokenStaysDead) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  auto old_token = CreateApiToken(ws->get(), "bot", "submit");
  ASSERT_TRUE(old_token.ok());
  ASSERT_TRUE(RevokeApiToken(ws->get(), "bot").ok());
  auto new_token = CreateApiToken(ws->get(), "bot", "read");
  ASSERT_TRUE(new_token.ok()) << new_token.status().ToString();
  EXPECT_FALSE(LookupApiToken(ws->get(), *old_token)->has_value());
  auto found = LookupApiToken(ws->get(), *new_token);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->role, "read");
}

TEST(ApiTokens, ListAndCountIncludeRevokedOnesAndTrackLastUse) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(*CountApiTokens(ws->get(), true), 0);
  auto a = CreateApiToken(ws->get(), "b-reader", "read");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(CreateApiToken(ws->get(), "a-admin", "admin").ok());
  ASSERT_TRUE(RevokeApiToken(ws->get(), "a-admin").ok());
  EXPECT_EQ(*CountApiTokens(ws->get(), true), 2);
  EXPECT_EQ(*CountApiTokens(ws->get(), false), 1);

  auto before = ListApiTokens(ws->get());
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 2u);
  EXPECT_EQ((*before)[0].name, "a-admin");
  EXPECT_TRUE((*before)[0].revoked_at.has_value());
  EXPECT_EQ((*before)[1].name, "b-reader");
  EXPECT_FALSE((*before)[1].last_used_at.has_value());
  EXPECT_GT((*before)[1].created_at, 0);

  ASSERT_TRUE(LookupApiToken(ws->get(), *a)->has_value());
  auto after = ListApiTokens(ws->get());
  ASSERT_TRUE(after.ok());
  ASSERT_TRUE((*after)[1].last_used_at.has_value());
  int64_t first_use = *(*after)[1].last_used_at;
  // A second use within the minute does not write again.
  ASSERT_TRUE(LookupApiToken(ws->get(), *a)->has_value());
  EXPECT_EQ(*(*ListApiTokens(ws->get()))[1].last_used_at, first_use);
}

}  // namespace
}  // namespace trainyard::store
