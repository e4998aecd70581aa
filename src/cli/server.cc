// `trainyard server`: serves a workspace folder over HTTP(S) (src/server/, docs/server.md), and
// `trainyard server token create|list|revoke`, its API tokens (store/tokens.h). Both work on a
// workspace FOLDER (--workspace or $TRAINYARD_WORKSPACE), never on a server's URL.
#include "server/server.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

#include "cli/cli.h"
#include "common/clock.h"
#include "store/tokens.h"

namespace trainyard::cli {
namespace {

struct ServerFlags {
  server::ServerOptions options;
  int64_t max_body_mib = 64;
};

struct TokenFlags {
  std::string name;
  std::string role;
  bool json = false;
};

// The workspace folder of these verbs: a URL is refused (the server serves a folder it owns).
Result<std::string> WorkspaceFolder(const Context& ctx) {
  std::string source;
  std::string dir = store::ResolveWorkspaceDir(ctx.workspace_flag, &source);
  std::string given = ctx.workspace_flag.empty() ? dir : ctx.workspace_flag;
  if (given.find("://") != std::string::npos) {
    return InvalidArgument(
        "trainyard server works on a workspace folder on this machine, not on "
        "a server's URL (" +
        given + "); run it where the folder is");
  }
  return dir;
}

Result<std::unique_ptr<store::Workspace>> OpenFolder(const Context& ctx) {
  ASSIGN_OR_RETURN(std::string dir, WorkspaceFolder(ctx));
  return store::Workspace::Open(dir);
}

// SIGTERM and SIGINT write a byte to this pipe (write is async-signal-safe); the serving thread
// waits on it. A handler, not a blocked mask: the runs the server starts inherit the mask.
int g_signal_pipe[2] = {-1, -1};  // NOLINT: written once before the handlers are installed

void OnStopSignal(int) {
  int saved = errno;
  char byte = 1;
  (void)!write(g_signal_pipe[1], &byte, 1);
  errno = saved;
}

Result<int> Serve(Context& ctx, ServerFlags& f) {
  ASSIGN_OR_RETURN(f.options.workspace_dir, WorkspaceFolder(ctx));
  if (f.max_body_mib < 1) return InvalidArgument("--max-body-mib must be at least 1");
  f.options.max_body_bytes = static_cast<size_t>(f.max_body_mib) << 20;
  if (g_signal_pipe[0] < 0 && pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return ErrnoError("cannot create the signal pipe", errno);
  }
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that goes away mid-answer is not our death

  ASSIGN_OR_RETURN(std::unique_ptr<server::Server> srv, server::Server::Start(f.options));
  std::fprintf(stderr, "serving %s at %s\n", f.options.workspace_dir.c_str(), srv->url().c_str());
  if (srv->public_url() != srv->url()) {
    std::fprintf(stderr, "public URL: %s\n", srv->public_url().c_str());
  }
  if (srv->local_mode_possible()) {
    auto ws = store::Workspace::Open(f.options.workspace_dir);
    auto count = ws.ok() ? store::CountApiTokens(ws->get(), true) : Result<int64_t>(int64_t{1});
    if (count.ok() && *count == 0) {
      std::fprintf(stderr,
                   "no tokens: every request from this machine is admin \"local\" (create one "
                   "with `trainyard server token create` to require tokens)\n");
    }
  }
  std::fflush(stderr);

  while (!srv->stopping()) {
    pollfd p = {g_signal_pipe[0], POLLIN, 0};
    int n = poll(&p, 1, 500);
    if (n > 0) {
      char drain[16];
      while (read(g_signal_pipe[0], drain, sizeof drain) > 0) {
      }
      std::fprintf(stderr, "stopping: ending streams and requests in flight\n");
      std::fflush(stderr);
      srv->Stop();
    }
  }
  srv->Wait();
  return kExitOk;
}

std::string TimeText(const std::optional<int64_t>& t) { return t ? FormatLocal(*t) : "-"; }

Status TokenCreate(Context& ctx, const TokenFlags& f) {
  ASSIGN_OR_RETURN(auto ws, OpenFolder(ctx));
  ASSIGN_OR_RETURN(std::string token, store::CreateApiToken(ws.get(), f.name, f.role));
  if (f.json) {
    std::printf("%s\n",
                JsonText({{"name", f.name}, {"role", f.role}, {"token", token}}, -1).c_str());
    return Status::Ok();
  }
  std::fprintf(stderr,
               "created token %s (role %s); it is shown once, here, and stored only as a hash:\n",
               f.name.c_str(), f.role.c_str());
  std::fflush(stderr);
  std::printf("%s\n", token.c_str());
  return Status::Ok();
}

Status TokenList(Context& ctx, const TokenFlags& f) {
  ASSIGN_OR_RETURN(auto ws, OpenFolder(ctx));
  ASSIGN_OR_RETURN(std::vector<store::ApiToken> all, store::ListApiTokens(ws.get()));
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    auto opt = [](const std::optional<int64_t>& t) {
      return t ? nlohmann::json(*t) : nlohmann::json(nullptr);
    };
    for (const auto& t : all) {
      out.push_back({{"name", t.name},
                     {"role", t.role},
                     {"created_at", t.created_at},
                     {"last_used_at", opt(t.last_used_at)},
                     {"revoked_at", opt(t.revoked_at)}});
    }
    std::printf("%s\n", JsonText(out).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : all) {
    rows.push_back({t.name, t.role, FormatLocal(t.created_at), TimeText(t.last_used_at),
                    t.revoked_at ? "revoked " + FormatLocal(*t.revoked_at) : "active"});
  }
  PrintTable({"NAME", "ROLE", "CREATED", "LAST USED", "STATE"}, rows, ctx.stdout_tty);
  return Status::Ok();
}

Status TokenRevoke(Context& ctx, const TokenFlags& f) {
  ASSIGN_OR_RETURN(auto ws, OpenFolder(ctx));
  RETURN_IF_ERROR(store::RevokeApiToken(ws.get(), f.name));
  std::printf("revoked token %s\n", f.name.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterServer(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ServerFlags>();
  server::ServerOptions& o = f->options;
  CLI::App* cmd = app.add_subcommand(
      "server", "serve the workspace folder over HTTP(S): the API, live streams and the web UI");
  cmd->add_option("--host", o.host,
                  "the address to listen on (default 127.0.0.1; beyond loopback a token must "
                  "exist)");
  cmd->add_option("--port", o.port, "the port (default 8470; 0: any free port)");
  cmd->add_option("--tls-cert", o.tls_cert, "HTTPS: the certificate (PEM, with its chain)");
  cmd->add_option("--tls-key", o.tls_key, "HTTPS: the certificate's private key (PEM)");
  cmd->add_option("--public-url", o.public_url,
                  "how clients reach this server, e.g. https://ml.example.com (behind a proxy)");
  cmd->add_option("--threads", o.threads,
                  "connection threads, the most live streams at once (default 256)");
  cmd->add_option("--max-body-mib", f->max_body_mib,
                  "the largest request body in MiB (default 64; snapshot uploads)");
  cmd->add_flag("--access-log", o.access_log, "one stderr line per request");

  auto t = std::make_shared<TokenFlags>();
  CLI::App* token = cmd->add_subcommand("token", "the API tokens of this workspace's server");
  token->require_subcommand(1);
  CLI::App* create = token->add_subcommand(
      "create", "create a token; prints it on the last line (once: only its hash is kept)");
  create->add_option("--name", t->name, "the token's name (who or what uses it)")->required();
  create->add_option("--role", t->role, "read | submit | admin")->required();
  create->add_flag("--json", t->json, "machine-readable output: {\"name\",\"role\",\"token\"}");
  OnRun(create, ctx, [&ctx, t] { return TokenCreate(ctx, *t); });
  CLI::App* list = token->add_subcommand("list", "the tokens (never their text)");
  list->add_flag("--json", t->json, "machine-readable output");
  OnRun(list, ctx, [&ctx, t] { return TokenList(ctx, *t); });
  CLI::App* revoke = token->add_subcommand("revoke",
                                           "revoke a token (at once, also for a running "
                                           "server)");
  revoke->add_option("name", t->name, "the token")->required();
  OnRun(revoke, ctx, [&ctx, t] { return TokenRevoke(ctx, *t); });

  // `server` alone serves; `server token ...` only runs the token verb (CLI11 calls the parent's
  // callback after the sub-verb's).
  cmd->callback([&ctx, f, cmd, token] {
    if (cmd->got_subcommand(token)) return;
    ctx.run = [&ctx, f] { return ExitCodeFor(Serve(ctx, *f)); };
  });
}

}  // namespace trainyard::cli
