// trainyard serve NAME[:VERSION]...: resolves registered models (models/registry.h) and execs
// trainyard-serve (serve/serve_main.cc) in this process, so that Ctrl-C and SIGTERM reach the
// server. trainyard-serve is found by runner::ServeExe() (as deployments find it).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "cli/cli.h"
#include "common/files.h"
#include "common/strings.h"
#include "models/registry.h"
#include "runner/deployment.h"

namespace trainyard::cli {
namespace {

struct ServeFlags {
  std::vector<std::string> models;
  std::string host, port_file;
  int port = 8080;
  int batch_size = 1, max_batch_delay_ms = 5, instances = 1, queue_size = 1024, timeout_ms = 30000;
  int threads = 128, intra_op_threads = 0;
  int64_t max_body_bytes = 0;
  bool gpu = false;
};

Status Serve(Context& ctx, const ServeFlags& f, const CLI::App& cmd) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(std::string binary, runner::ServeExe());
  std::vector<std::string> argv = {binary};
  for (const std::string& text : f.models) {
    ASSIGN_OR_RETURN(models::ModelRef ref, models::ParseModelRef(text));
    ASSIGN_OR_RETURN(store::ModelRecord model, models::Resolve(ws, ref));
    ASSIGN_OR_RETURN(std::string dir, models::ModelDir(ws, model));
    argv.push_back("--model");
    argv.push_back(model.name + ":" + std::to_string(model.version) + "=" + dir + "/" + model.path);
    argv.push_back("--model-tags");
    argv.push_back(model.tags_json.empty() ? "{}" : model.tags_json);
  }
  argv.push_back("--port");
  argv.push_back(std::to_string(f.port));
  // The others only when given: trainyard-serve owns the defaults.
  auto pass = [&](const char* flag, const std::string& value) {
    if (cmd.count(flag) == 0) return;
    argv.push_back(flag);
    argv.push_back(value);
  };
  pass("--host", f.host);
  pass("--port-file", f.port_file.empty() ? f.port_file : AbsolutePath(f.port_file));
  pass("--batch-size", std::to_string(f.batch_size));
  pass("--max-batch-delay-ms", std::to_string(f.max_batch_delay_ms));
  pass("--instances", std::to_string(f.instances));
  pass("--queue-size", std::to_string(f.queue_size));
  pass("--timeout-ms", std::to_string(f.timeout_ms));
  pass("--max-body-bytes", std::to_string(f.max_body_bytes));
  pass("--threads", std::to_string(f.threads));
  pass("--intra-op-threads", std::to_string(f.intra_op_threads));
  if (f.gpu) argv.push_back("--gpu");
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execv(binary.c_str(), args.data());
  return ErrnoError("cannot run " + binary, errno);
}

}  // namespace

void RegisterServe(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve registered TorchScript models over HTTP (until Ctrl-C / SIGTERM)");
  cmd->add_option("models", f->models, "NAME[:VERSION] of registered models (latest by default)")
      ->required();
  cmd->add_option("--port", f->port, "port (0: any free one)")->capture_default_str();
  cmd->add_option("--host", f->host, "address to listen on (default 127.0.0.1)");
  cmd->add_option("--port-file", f->port_file, "write the port here once listening");
  cmd->add_option("--batch-size", f->batch_size, "items per forward, at most (1: no batching)");
  cmd->add_option("--max-batch-delay-ms", f->max_batch_delay_ms,
                  "how long a partial batch waits for more requests (default 5)");
  cmd->add_option("--instances", f->instances, "model copies, each with its own thread");
  cmd->add_option("--queue-size", f->queue_size, "requests waiting per model (full: 503)");
  cmd->add_option("--timeout-ms", f->timeout_ms, "per request (past it: 504; default 30000)");
  cmd->add_option("--max-body-bytes", f->max_body_bytes, "larger bodies: 413 (default 100 MiB)");
  cmd->add_option("--threads", f->threads, "HTTP connection threads (default 128)");
  cmd->add_option("--intra-op-threads", f->intra_op_threads,
                  "torch threads per model instance (default 0: cores / instances)");
  cmd->add_flag("--gpu", f->gpu, "run the models on CUDA");
  OnRun(cmd, ctx, [&ctx, f, cmd] { return Serve(ctx, *f, *cmd); });
}

}  // namespace trainyard::cli
