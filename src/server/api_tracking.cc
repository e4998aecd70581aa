// /api/v1/tracking: the tracking protocol (docs/tracking.md) on the workspace server, so that ranks
// on any host report to the server's one address (TRAINYARD_TRACKING_URI=<url>/api/v1/tracking)
// instead of to their supervisor's endpoint. The routes are the supervisor's own
// (runner::AddIngestRoutes); only who may log into which run differs: a run-scoped token (minted by
// the supervisor of a run the server started, stored hashed in run_tokens) logs into its run only,
// and an API token with role submit or admin logs into any run.
#include <httplib.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

#include "common/strings.h"
#include "runner/ingest_server.h"
#include "server/api.h"
#include "server/tracking.h"

namespace trainyard::server {

namespace {

// The bearer token of a request ("" without one).
std::string BearerToken(const httplib::Request& req) {
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  return StartsWith(header, std::string(kBearer)) ? header.substr(kBearer.size()) : "";
}

Status Refuse(runner::IngestRefusal* refusal, int http_status, std::string message) {
  *refusal = {http_status, std::move(message)};
  return InvalidArgument(refusal->message);
}

}  // namespace

Status ExportServerTrackingUri(const std::string& public_url) {
  if (!StartsWith(public_url, "http://") && !StartsWith(public_url, "https://")) {
    return InvalidArgument("the server's public URL '" + public_url +
                           "' must start with http:// or https://");
  }
  std::string base = public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (setenv(runner::kServerTrackingUriEnv, (base + kTrackingPath).c_str(), 1) != 0) {
    return ErrnoError(std::string("cannot set ") + runner::kServerTrackingUriEnv, errno);
  }
  return Status::Ok();
}

void AddTrackingRoutes(Routes& routes, ServerContext& ctx) {
  // Credentials first, then the run: a caller without them learns nothing about which runs exist.
  auto resolve = [&routes, &ctx](const httplib::Request& req, const std::string& run_id,
                                 runner::IngestRun* run, runner::IngestRefusal* refusal) {
    const std::string token = BearerToken(req);
    const bool run_token = StartsWith(token, runner::kRunTokenPrefix);
    if (!run_token) {
      AuthResult auth = routes.Authenticate(req);
      if (!auth.caller) {
        return Refuse(refusal, auth.http_status,
                      auth.message.empty() ? "unauthorized" : auth.message);
      }
      if (static_cast<int>(auth.caller->role) < static_cast<int>(Role::kSubmit)) {
        return Refuse(refusal, 403,
                      "token \"" + auth.caller->name + "\" has role " +
                          RoleName(auth.caller->role) + "; logging into a run needs submit");
      }
    }
    auto lease = ctx.pool.Acquire();
    if (!lease.ok()) {
      return Refuse(refusal, 503, "cannot open the workspace: " + lease.status().message());
    }
    std::optional<int64_t> token_run;
    if (run_token) {
      auto seq = runner::RunSeqOfToken(*lease->get(), token);
      if (!seq.ok()) {
        return Refuse(refusal, 503, "cannot check the run token: " + seq.status().message());
      }
      if (!seq->has_value()) {
        return Refuse(refusal, 401,
                      "the run token is not valid (wrong, or its run ended and it was removed)");
      }
      token_run = **seq;
    }
    auto record = (*lease)->GetRun(run_id);
    // GetRun takes a prefix too; the protocol's path names one run by its whole id.
    if (!record.ok() || record->id != run_id) {
      // NotFound, or InvalidArgument for a prefix of several runs' ids.
      if (record.ok() || record.status().code() == StatusCode::kNotFound ||
          record.status().code() == StatusCode::kInvalidArgument) {
        return Refuse(refusal, 404, "no run " + run_id);
      }
      return Refuse(refusal, 503, "cannot read run " + run_id + ": " + record.status().message());
    }
    if (token_run && *token_run != record->seq) {
      return Refuse(refusal, 403, "this run token logs into its own run only, not " + run_id);
    }
    // A supervisor that died before removing its run's token (the run was reaped) leaves it
    // behind: it logs nothing into the ended run.
    if (token_run && record->ended_at) {
      return Refuse(refusal, 401, "the run token is not valid: run " + run_id + " has ended");
    }
    *run = runner::IngestRun{.id = record->id,
                             .seq = record->seq,
                             .dir = (*lease)->RunDir(record->id),
                             .ledger = nullptr};
    return Status::Ok();
  };
  // Each request takes its own connection for as long as it reads or writes.
  auto access = [&ctx](const std::function<Status(store::Workspace&)>& fn) -> Status {
    ASSIGN_OR_RETURN(auto lease, ctx.pool.Acquire());
    return fn(*lease.get());
  };
  runner::AddIngestRoutes(*routes.http(), kTrackingPath, resolve, access);
  // Runs submitted from here report here; a server that learns its URL only once listening
  // (port 0) calls ExportServerTrackingUri itself then.
  if (!ctx.public_url.empty()) ExportServerTrackingUri(ctx.public_url).IgnoreError();
}

}  // namespace trainyard::server
