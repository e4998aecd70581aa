// trainyard-serve: one model server process (what `trainyard serve` and deployments exec).
//
//   trainyard-serve --model NAME:VERSION=PATH [--model-tags JSON] ... [--entry FILE [--source DIR]]
//                   [--host H] [--port P] [--port-file F] [--batch-size N] [...]
//
// Without --entry every --model is a TorchScript model (engine.h); with it, the scoring script
// (python_pool.h) serves POST /score and the models are files for it. Once listening it writes
// the port to --port-file (atomically) and prints "listening on http://HOST:PORT". A model that
// fails to load leaves the server up (ready answers 503) and is reported on stderr as
// "model NAME:V failed to load: MESSAGE". SIGTERM / SIGINT stop it gracefully (exit 0).
// Exit codes: 0 stopped by a signal; 1 cannot listen or start; 2 usage.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "common/mutex.h"
#include "common/status.h"
#include "serve/engine.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/python_pool.h"

namespace trainyard::serve {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kStopGraceSeconds = 10;  // after SIGTERM, for the models and workers to stop

struct ModelArg {
  std::string name, version, path;
  std::map<std::string, std::string> tags;
};

struct Flags {
  std::vector<std::string> models, model_tags;
  std::string entry, source, host = "127.0.0.1", port_file, python = "/usr/bin/python3";
  int port = 0, batch_size = 1, max_batch_delay_ms = 5, instances = 1, workers = 1;
  int queue_size = 1024, timeout_ms = 30000, threads = 128, intra_op_threads = 0;
  int64_t max_body_bytes = int64_t{100} << 20;
  bool gpu = false;
};

// "NAME:VERSION=PATH".
Result<ModelArg> ParseModelArg(const std::string& text) {
  size_t eq = text.find('=');
  size_t colon = text.substr(0, eq).rfind(':');
  if (eq == std::string::npos || colon == std::string::npos || colon == 0 || colon + 1 == eq ||
      eq + 1 == text.size()) {
    return InvalidArgument("--model '" + text + "': expected NAME:VERSION=PATH");
  }
  ModelArg model;
  model.name = text.substr(0, colon);
  model.version = text.substr(colon + 1, eq - colon - 1);
  model.path = text.substr(eq + 1);
  return model;
}

Result<std::map<std::string, std::string>> ParseTags(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument("--model-tags '" + text + "': expected a JSON object");
  std::map<std::string, std::string> tags;
  for (const auto& [key, value] : j.items()) {
    tags[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return tags;
}

// The --model flags in order, each with the --model-tags that followed it.
Result<std::vector<ModelArg>> ModelArgs(const CLI::App& app, const CLI::Option* model_opt,
                                        const CLI::Option* tags_opt, const Flags& flags) {
  std::vector<ModelArg> models;
  size_t next_model = 0, next_tags = 0;
  for (const CLI::Option* opt : app.parse_order()) {
    if (opt == model_opt) {
      ASSIGN_OR_RETURN(ModelArg model, ParseModelArg(flags.models.at(next_model++)));
      models.push_back(std::move(model));
    } else if (opt == tags_opt) {
      const std::string& text = flags.model_tags.at(next_tags++);
      if (models.empty()) return InvalidArgument("--model-tags must follow the --model it tags");
      ASSIGN_OR_RETURN(models.back().tags, ParseTags(text));
    }
  }
  return models;
}

// Where the signal handler writes, and main waits.
int g_signal_pipe[2] = {-1, -1};

void OnSignal(int) {
  int saved = errno;
  char byte = 1;
  ssize_t ignored = write(g_signal_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved;
}

Status InstallSignalHandlers() {
  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoError("pipe", errno);
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return Status::Ok();
}

void WaitForSignal() {
  int flags = fcntl(g_signal_pipe[0], F_GETFL);
  fcntl(g_signal_pipe[0], F_SETFL, flags & ~O_NONBLOCK);
  char byte;
  while (read(g_signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
}

// Reports on stderr when each model loads or fails (once each), until stopped.
class LoadReporter {
 public:
  LoadReporter(std::vector<ModelService*> models, ScoringPool* pool, std::string script)
      : models_(std::move(models)),
        pool_(pool),
        script_(std::move(script)),
        thread_([this] { Loop(); }) {}
  ~LoadReporter() {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    cv_.NotifyAll();
    thread_.join();
  }

 private:
  void Loop() {
    std::vector<bool> done(models_.size(), false);
    bool pool_ready = false;
    std::string pool_error;
    MutexLock lock(mu_);
    while (!stop_) {
      for (size_t i = 0; i < models_.size(); ++i) {
        if (done[i]) continue;
        ModelInfo info = models_[i]->Info();
        std::string error = models_[i]->LoadError();
        if (!error.empty()) {
          std::fprintf(stderr, "model %s:%s failed to load: %s\n", info.name.c_str(),
                       info.version.c_str(), error.c_str());
          done[i] = true;
        } else if (models_[i]->Ready()) {
          std::fprintf(stderr, "model %s:%s ready\n", info.name.c_str(), info.version.c_str());
          done[i] = true;
        }
      }
      if (pool_ != nullptr) {
        std::string error = pool_->LoadError();
        if (!error.empty() && error != pool_error) {
          std::fprintf(stderr, "scoring script %s failed to load: %s\n", script_.c_str(),
                       error.c_str());
        }
        pool_error = error;
        if (pool_->Ready() && !pool_ready) {
          std::fprintf(stderr, "scoring script %s ready\n", script_.c_str());
        }
        pool_ready = pool_->Ready();
      }
      std::fflush(stderr);
      cv_.WaitFor(lock, std::chrono::milliseconds(100));
    }
  }

  std::vector<ModelService*> models_;
  ScoringPool* pool_;
  std::string script_;
  Mutex mu_;
  CondVar cv_;
  bool stop_ TY_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

Result<int> Serve(const Flags& flags, const std::vector<ModelArg>& model_args) {
  Metrics metrics;
  std::vector<std::unique_ptr<ModelService>> services;
  std::unique_ptr<ScoringPool> pool;
  HttpServerOptions http;
  http.host = flags.host;
  http.port = flags.port;
  http.threads = flags.threads;
  http.timeout_ms = flags.timeout_ms;
  if (flags.max_body_bytes < 1) return InvalidArgument("--max-body-bytes must be at least 1");
  http.max_body_bytes = static_cast<size_t>(flags.max_body_bytes);
  if (!flags.entry.empty()) {
    ScoringOptions options;
    options.python = flags.python;
    std::filesystem::path entry(flags.entry);
    if (entry.is_relative() && !flags.source.empty())
      entry = std::filesystem::path(flags.source) / entry;
    options.entry = AbsolutePath(entry.string());
    options.source_dir = AbsolutePath(
        flags.source.empty() ? std::filesystem::path(options.entry).parent_path().string()
                             : flags.source);
    options.workers = flags.workers;
    for (const ModelArg& m : model_args) {
      options.models.push_back({m.name, m.version, AbsolutePath(m.path)});
    }
    http.script_name = std::filesystem::path(options.entry).filename().string();
    ASSIGN_OR_RETURN(pool, ScoringPool::Start(options));
  } else {
    if (model_args.empty()) {
      return InvalidArgument("nothing to serve: give --model NAME:VERSION=PATH or --entry FILE");
    }
    EngineOptions options;
    options.batch_size = flags.batch_size;
    options.max_batch_delay_ms = flags.max_batch_delay_ms;
    options.instances = flags.instances;
    options.queue_size = flags.queue_size;
    options.gpu = flags.gpu;
    options.intra_op_threads = flags.intra_op_threads;
    for (const ModelArg& m : model_args) {
      ASSIGN_OR_RETURN(auto service, MakeTorchScriptService(m.name, m.version, m.path, m.tags,
                                                            options, &metrics));
      services.push_back(std::move(service));
    }
  }
  std::vector<ModelService*> raw;
  for (const auto& s : services) raw.push_back(s.get());
  RETURN_IF_ERROR(InstallSignalHandlers());
  Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(raw, pool.get(), &metrics, http);
  if (!server.ok()) {
    std::fprintf(stderr, "trainyard-serve: %s\n", server.status().message().c_str());
    return kExitError;
  }
  if (!flags.port_file.empty()) {
    Status written = WriteFileAtomic(flags.port_file, std::to_string((*server)->port()) + "\n");
    if (!written.ok()) {
      std::fprintf(stderr, "trainyard-serve: %s\n", written.message().c_str());
      return kExitError;
    }
  }
  std::printf("listening on http://%s:%d\n", flags.host.c_str(), (*server)->port());
  std::fflush(stdout);
  {
    LoadReporter reporter(raw, pool.get(), http.script_name);
    WaitForSignal();
    std::fprintf(stderr, "trainyard-serve: stopping\n");
    std::fflush(stderr);
  }
  (*server)->Stop();
  // A loader stuck in a read (a model on a hung network file system) must not keep a stopped
  // server alive: past the grace period, exit without waiting for it.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(kStopGraceSeconds));
    std::fprintf(stderr, "trainyard-serve: models did not stop within %d s; exiting\n",
                 kStopGraceSeconds);
    std::fflush(stderr);
    _exit(0);
  }).detach();
  pool.reset();
  services.clear();
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"trainyard-serve: serves TorchScript models or a scoring script over HTTP"};
  Flags f;
  CLI::Option* model_opt = app.add_option("--model", f.models, "NAME:VERSION=PATH (repeatable)")
                               ->allow_extra_args(false);
  CLI::Option* tags_opt =
      app.add_option("--model-tags", f.model_tags, "JSON object: tags of the --model before it")
          ->allow_extra_args(false);
  app.add_option("--entry", f.entry, "scoring script (init()/run()); serves POST /score");
  app.add_option("--source", f.source, "the scoring script's folder (default: the entry's)");
  app.add_option("--host", f.host, "address to listen on")->capture_default_str();
  app.add_option("--port", f.port, "port (0: any free one)")->capture_default_str();
  app.add_option("--port-file", f.port_file, "write the port here once listening");
  app.add_option("--batch-size", f.batch_size, "items per forward (1: no batching)")
      ->capture_default_str();
  app.add_option("--max-batch-delay-ms", f.max_batch_delay_ms, "how long a batch waits to fill")
      ->capture_default_str();
  app.add_option("--instances", f.instances, "model copies per model")->capture_default_str();
  app.add_option("--workers", f.workers, "scoring script worker processes")->capture_default_str();
  app.add_option("--queue-size", f.queue_size, "requests waiting per model, at most (full: 503)")
      ->capture_default_str();
  app.add_option("--timeout-ms", f.timeout_ms, "per request (past it: 504)")->capture_default_str();
  app.add_option("--max-body-bytes", f.max_body_bytes, "larger request bodies: 413")
      ->capture_default_str();
  app.add_flag("--gpu", f.gpu, "run the models on CUDA");
  app.add_option("--intra-op-threads", f.intra_op_threads,
                 "torch threads per model instance (0: cores / instances)")
      ->capture_default_str();
  app.add_option("--python", f.python, "interpreter of the scoring script")->capture_default_str();
  app.add_option("--threads", f.threads, "HTTP connection threads")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  Result<std::vector<ModelArg>> models = ModelArgs(app, model_opt, tags_opt, f);
  Result<int> served = models.ok() ? Serve(f, *models) : Result<int>(models.status());
  if (!served.ok()) {
    std::fprintf(stderr, "trainyard-serve: %s\n", served.status().message().c_str());
    return served.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitError;
  }
  return *served;
}

}  // namespace
}  // namespace trainyard::serve

// libtorch's OpenMP threads spin between parallel regions by default (libgomp's ACTIVE wait), so
// that a forward holds every core it used and starves the HTTP threads and anything else on the
// machine: ResNet-18 served 4-10x slower on a loaded 2-vCPU VM (docs/benchmarks.md, "Serving").
// libgomp reads OMP_WAIT_POLICY once, when it is loaded (before main), so unless the caller chose
// a policy the server sets PASSIVE and executes itself again.
int main(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // on failure, go on with the default policy
  }
  return trainyard::serve::Main(argc, argv);
}
