// The workspace server's API tokens (schema 7, table api_tokens): who may call the server and
// with which role (server/api.h: read, submit, admin). A token is shown once, when created, as
// "ty_" + 43 base64url characters (32 random bytes); only its SHA-256 is stored, so the database
// cannot give a token back. A revoked token keeps its row (`token list` shows when) but is never
// accepted again. Functions take the caller's Workspace (one thread, see workspace.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/workspace.h"

namespace trainyard::store {

inline constexpr char kApiTokenPrefix[] = "ty_";
inline constexpr size_t kApiTokenLength = 3 + 43;  // "ty_" + base64url(32 bytes), no padding

struct ApiToken {
  std::string name;
  std::string role;                     // "read", "submit" or "admin"
  int64_t created_at = 0;               // microseconds since the epoch
  std::optional<int64_t> last_used_at;  // updated at most once a minute (LookupApiToken)
  std::optional<int64_t> revoked_at;
};

// Creates a token named `name` with `role` and returns its text (the only time it exists outside
// the caller's hands). InvalidArgument for an empty or odd name (letters, digits, '.', '_', '-',
// at most 64) or an unknown role; AlreadyExists when an unrevoked token has that name (the row of
// a revoked one is replaced). Fails when the system's random source fails.
Result<std::string> CreateApiToken(Workspace* ws, const std::string& name, const std::string& role);

// Every token, revoked ones too, by name.
Result<std::vector<ApiToken>> ListApiTokens(Workspace* ws);

// Revokes the token `name` at once (the server looks tokens up on every request). NotFound when
// there is no such token, FailedPrecondition when it is already revoked.
Status RevokeApiToken(Workspace* ws, const std::string& name);

// The unrevoked token whose text is `token`, or nullopt (unknown, revoked, malformed). The lookup
// goes by the token's hash (a unique index), never by name. Sets last_used_at when it is older
// than a minute (a failure to write it, e.g. on a full disk, does not fail the lookup).
Result<std::optional<ApiToken>> LookupApiToken(Workspace* ws, std::string_view token);

// How many tokens exist: all rows (`revoked` true) or only unrevoked ones.
Result<int64_t> CountApiTokens(Workspace* ws, bool include_revoked);

// The stored form of a token: the lowercase hex SHA-256 of its text.
std::string HashApiToken(std::string_view token);

}  // namespace trainyard::store
