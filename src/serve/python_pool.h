// Scoring scripts, the hosted service's contract: a Python file with init() (called once per
// worker process, before any request) and run(raw_data) (called per request with the request
// body as text; what it returns is answered as JSON). The pool starts `workers` Python processes
// (python/trainyard/_score_worker.py) and feeds each one request at a time over a pipe. A worker
// that dies is restarted; the request it was running is answered with an error (Unavailable,
// naming the exit status), never left hanging. Each worker's stdout/stderr go to this process's
// stderr, each line prefixed with "[worker N] ".
//
// Workers see AZUREML_MODEL_DIR: with one model the folder holding it (<dir>/<name>/<version>),
// with several the folder above (<dir>, holding <name>/<version>/...), as the hosted service does;
// and TRAINYARD_MODELS, a JSON list of {"name", "version", "path"} for Model.get_model_path.
//
// Safe to share between threads: Score may be called from many at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "serve/model_service.h"

namespace trainyard::serve {

struct ScoringModel {
  std::string name;
  std::string version;
  std::string path;  // the model's file or folder (models::ModelDir()/<path>)
};

struct ScoringOptions {
  std::string python;      // the interpreter (a scoring environment's, else /usr/bin/python3)
  std::string entry;       // the script, absolute
  std::string source_dir;  // its folder: the workers' cwd and first on sys.path
  std::vector<ScoringModel> models;
  int workers = 1;
  std::map<std::string, std::string> env;  // added to the workers' environment
  int init_timeout_seconds = 600;          // init() taking longer fails the load
};

class ScoringPool {
 public:
  // Starts the workers and returns at once; init() runs in the background. InvalidArgument when
  // the entry does not exist or options are bad.
  static Result<std::unique_ptr<ScoringPool>> Start(const ScoringOptions& options);
  virtual ~ScoringPool() = default;  // stops every worker (SIGTERM, then SIGKILL after 5 s)

  // True once at least one worker has finished init().
  virtual bool Ready() const = 0;
  // Why the script cannot serve (init() raised in a worker: its traceback; the script failed to
  // import); "" otherwise.
  virtual std::string LoadError() const = 0;
  // Runs run(body) in a free worker (waiting for one until `deadline`: Timeout). Returns the
  // JSON text of what run() returned. run() raising: Internal with the exception's text.
  virtual Result<std::string> Score(const std::string& body, Clock::time_point deadline) = 0;
  // Worker processes started so far, restarts included (for tests and /metrics).
  virtual int64_t StartedWorkers() const = 0;
};

}  // namespace trainyard::serve
