// Registered environments and data assets: named, versioned definitions in the workspace.
#include <algorithm>
#include <cctype>

#include "common/clock.h"
#include "store/workspace.h"

namespace trainyard::store {
namespace {

const char* Table(AssetKind kind) {
  return kind == AssetKind::kEnvironment ? "environments" : "data_assets";
}

const char* Noun(AssetKind kind) {
  return kind == AssetKind::kEnvironment ? "environment" : "data asset";
}

// The value of a version that is a plain decimal integer (no sign, at most 18 digits).
std::optional<int64_t> IntegerVersion(const std::string& v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  for (char c : v) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::stoll(v);
}

// The latest of `versions` (in creation order): the highest integer one when all are integers,
// else the last created.
const AssetRecord* Latest(const std::vector<AssetRecord>& versions) {
  if (versions.empty()) return nullptr;
  const AssetRecord* best = nullptr;
  for (const auto& a : versions) {
    auto v = IntegerVersion(a.version);
    if (!v) return &versions.back();
    if (!best || *v > *IntegerVersion(best->version)) best = &a;
  }
  return best;
}

}  // namespace

Status Workspace::PutAsset(AssetKind kind, AssetRecord* asset) {
  if (asset->name.empty()) return InvalidArgument(std::string(Noun(kind)) + ": name is empty");
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_.get()));
  std::vector<AssetRecord> existing;
  {
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare(std::string("SELECT version FROM ") + Table(kind) +
                                          " WHERE name = ? ORDER BY seq"));
    s.Bind(1, asset->name);
    RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
      AssetRecord a;
      a.version = row.Text(0);
      existing.push_back(a);
    }));
  }
  if (asset->version.empty()) {
    int64_t highest = 0;
    for (const auto& a : existing)
      highest = std::max(highest, IntegerVersion(a.version).value_or(0));
    asset->version = std::to_string(highest + 1);
  }
  for (const auto& a : existing) {
    if (a.version == asset->version) {
      return AlreadyExists(std::string(Noun(kind)) + " " + asset->name + ":" + asset->version +
                           " already exists (versions are never replaced; give another --version "
                           "or none for the next one)");
    }
  }
  asset->created_at = NowMicros();
  {
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare(std::string("INSERT INTO ") + Table(kind) +
                                          "(name, version, description, definition_json, "
                                          "created_at) VALUES(?,?,?,?,?)"));
    RETURN_IF_ERROR(s.Bind(1, asset->name)
                        .Bind(2, asset->version)
                        .Bind(3, asset->description)
                        .Bind(4, asset->definition_json)
                        .Bind(5, asset->created_at)
                        .Run());
  }
  return tx->Commit();
}

Result<std::vector<AssetRecord>> Workspace::ListAssets(AssetKind kind, const std::string& name) {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(std::string("SELECT name, version, description, "
                                                    "definition_json, created_at FROM ") +
                                        Table(kind) + (name.empty() ? "" : " WHERE name = ?") +
                                        " ORDER BY name, seq"));
  if (!name.empty()) s.Bind(1, name);
  std::vector<AssetRecord> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    out.push_back({row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Int(4)});
  }));
  return out;
}

Result<AssetRecord> Workspace::GetAsset(AssetKind kind, const std::string& name,
                                        const std::string& version) {
  ASSIGN_OR_RETURN(std::vector<AssetRecord> versions, ListAssets(kind, name));
  if (versions.empty()) {
    ASSIGN_OR_RETURN(std::vector<AssetRecord> all, ListAssets(kind));
    std::vector<std::string> names;
    for (const auto& a : all) {
      if (names.empty() || names.back() != a.name) names.push_back(a.name);
    }
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    return NotFound("no " + std::string(Noun(kind)) + " named \"" + name + "\" in the workspace (" +
                    (known.empty() ? std::string("none registered") : "registered: " + known) +
                    ")");
  }
  if (version.empty() || version == "latest") return *Latest(versions);
  std::string known;
  for (const auto& a : versions) {
    if (a.version == version) return a;
    known += (known.empty() ? "" : ", ") + a.version;
  }
  return NotFound(std::string(Noun(kind)) + " " + name + " has no version \"" + version +
                  "\" (versions: " + known + ")");
}

}  // namespace trainyard::store
