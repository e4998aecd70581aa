// Implements store/tokens.h.
#include "store/tokens.h"

#include <sys/random.h>

#include <cerrno>

#include "common/clock.h"
#include "common/sha256.h"

namespace trainyard::store {
namespace {

// last_used_at is a hint for `token list`, not an audit log: one write a minute per token keeps
// a busy UI from turning every read into a database write.
constexpr int64_t kLastUsedResolutionMicros = 60'000'000;

std::string Base64Url(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (size - i == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

Result<std::string> NewTokenText() {
  unsigned char random[32];
  size_t got = 0;
  while (got < sizeof random) {
    ssize_t n = getrandom(random + got, sizeof random - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read random bytes for a token (getrandom)", errno);
    }
    got += static_cast<size_t>(n);
  }
  return std::string(kApiTokenPrefix) + Base64Url(random, sizeof random);
}

Status CheckName(const std::string& name) {
  if (name.empty()) return InvalidArgument("a token needs a name (--name)");
  if (name.size() > 64) return InvalidArgument("token name is longer than 64 characters");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return InvalidArgument("token name \"" + name +
                             "\" may only have letters, digits, '.', '_' and '-'");
    }
  }
  return Status::Ok();
}

bool ValidRole(const std::string& role) {
  return role == "read" || role == "submit" || role == "admin";
}

ApiToken ReadToken(const Stmt& s) {
  ApiToken t;
  t.name = s.Text(0);
  t.role = s.Text(1);
  t.created_at = s.Int(2);
  t.last_used_at = s.OptInt(3);
  t.revoked_at = s.OptInt(4);
  return t;
}

constexpr const char* kColumns = "name, role, created_at, last_used_at, revoked_at";

}  // namespace

std::string HashApiToken(std::string_view token) { return Sha256Hex(token); }

Result<std::string> CreateApiToken(Workspace* ws, const std::string& name,
                                   const std::string& role) {
  RETURN_IF_ERROR(CheckName(name));
  if (!ValidRole(role)) {
    return InvalidArgument("unknown role \"" + role + "\" (roles: read, submit, admin)");
  }
  ASSIGN_OR_RETURN(std::string token, NewTokenText());
  Db* db = ws->db();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db));
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT revoked_at FROM api_tokens WHERE name = ?"));
    s.Bind(1, name);
    ASSIGN_OR_RETURN(bool exists, s.Step());
    if (exists && s.IsNull(0)) {
      return AlreadyExists("a token named \"" + name +
                           "\" exists; revoke it first (trainyard server token revoke " + name +
                           ") or choose another name");
    }
  }
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare("DELETE FROM api_tokens WHERE name = ?"));
    RETURN_IF_ERROR(s.Bind(1, name).Run());
  }
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare("INSERT INTO api_tokens(name, role, hash, created_at) "
                                         "VALUES(?, ?, ?, ?)"));
    RETURN_IF_ERROR(
        s.Bind(1, name).Bind(2, role).Bind(3, HashApiToken(token)).Bind(4, NowMicros()).Run());
  }
  RETURN_IF_ERROR(tx->Commit());
  return token;
}

Result<std::vector<ApiToken>> ListApiTokens(Workspace* ws) {
  ASSIGN_OR_RETURN(Stmt s, ws->db()->Prepare(std::string("SELECT ") + kColumns +
                                             " FROM api_tokens ORDER BY name"));
  std::vector<ApiToken> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) { out.push_back(ReadToken(row)); }));
  return out;
}

Status RevokeApiToken(Workspace* ws, const std::string& name) {
  Db* db = ws->db();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db));
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT revoked_at FROM api_tokens WHERE name = ?"));
    s.Bind(1, name);
    ASSIGN_OR_RETURN(bool exists, s.Step());
    if (!exists) {
      ASSIGN_OR_RETURN(std::vector<ApiToken> all, ListApiTokens(ws));
      std::string names;
      for (const ApiToken& t : all) names += (names.empty() ? "" : ", ") + t.name;
      return NotFound("no token named \"" + name +
                      "\" (tokens: " + (names.empty() ? "none" : names) + ")");
    }
    if (!s.IsNull(0)) return FailedPrecondition("token \"" + name + "\" is already revoked");
  }
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare("UPDATE api_tokens SET revoked_at = ? WHERE name = ?"));
    RETURN_IF_ERROR(s.Bind(1, NowMicros()).Bind(2, name).Run());
  }
  return tx->Commit();
}

Result<std::optional<ApiToken>> LookupApiToken(Workspace* ws, std::string_view token) {
  if (token.size() != kApiTokenLength || token.substr(0, 3) != kApiTokenPrefix) {
    return std::optional<ApiToken>();
  }
  Db* db = ws->db();
  ASSIGN_OR_RETURN(
      Stmt s, db->Prepare(std::string("SELECT ") + kColumns + " FROM api_tokens WHERE hash = ?"));
  s.Bind(1, HashApiToken(token));
  ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found || !s.IsNull(4)) return std::optional<ApiToken>();
  ApiToken t = ReadToken(s);
  int64_t now = NowMicros();
  if (!t.last_used_at || now - *t.last_used_at >= kLastUsedResolutionMicros) {
    // Best effort: a read-only or full workspace still serves its readers.
    auto update = db->Prepare("UPDATE api_tokens SET last_used_at = ? WHERE name = ?");
    if (update.ok()) update->Bind(1, now).Bind(2, t.name).Run().IgnoreError();
    t.last_used_at = now;
  }
  return std::optional<ApiToken>(std::move(t));
}

Result<int64_t> CountApiTokens(Workspace* ws, bool include_revoked) {
  ASSIGN_OR_RETURN(Stmt s, ws->db()->Prepare(include_revoked ? "SELECT COUNT(*) FROM api_tokens"
                                                             : "SELECT COUNT(*) FROM api_tokens "
                                                               "WHERE revoked_at IS NULL"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

}  // namespace trainyard::store
