// Choosing and probing the Python interpreter that runs training scripts.
//
// Debian's PyTorch is importable only from /usr/bin/python3, while the python3 first on PATH may be
// another interpreter (pyenv, a venv) without torch. The interpreter is therefore chosen
// explicitly, in this order:
//   1. the job spec's `python` (or --set python=...)   how: "job spec python"
//   2. $TRAINYARD_PYTHON                                how: "$TRAINYARD_PYTHON"
//   3. /usr/bin/python3 when it exists                  how: "/usr/bin/python3 (default)"
//   4. python3 on PATH                                  how: "python3 on PATH"
// and every error says which one was used and how it was chosen.
//
// Probing runs the interpreter once (argv vector, no shell, 60 s timeout) with a snippet that
// imports torch, which costs about a second. Successful probes are cached in
// <cache_dir>/interpreters.json, keyed by the interpreter's real path, its mtime and size, the
// mtime of the torch package directory (and of torch/version.py), and the environment variables
// that change what the interpreter sees (PYTHONPATH, PYTHONHOME, PYENV_VERSION, VIRTUAL_ENV,
// CONDA_PREFIX, CUDA_VISIBLE_DEVICES). A cache hit spawns no process (~0.1 ms). Probes that find
// no torch are not cached, so installing torch takes effect at once. A probe runs under an flock on
// <cache_dir>/interpreter-<hash of the real path>.lock, so concurrent callers (processes or
// threads) probe one interpreter once: the others wait, then read the cached answer.
#pragma once

#include <string>

#include "common/status.h"

namespace trainyard::env {

struct InterpreterInfo {
  std::string path;  // absolute, as resolved (symlinks kept: "/usr/bin/python3")
  // "job spec python", "$TRAINYARD_PYTHON", "/usr/bin/python3 (default)" or "python3 on PATH".
  std::string how;
  std::string python_version;  // "3.11.2"
  bool has_torch = false;
  bool has_azureml = false;   // a real `azureml` package is importable (no compat shim then)
  bool has_horovod = false;   // a real `horovod` package is importable (no compat shim then)
  bool has_mlflow = false;    // a real `mlflow` package is importable (no compat shim then)
  std::string torch_version;  // "1.13.0a0"; "" without torch
  std::string torch_error;  // last line of the import error ("ModuleNotFoundError: ..."); "" if ok
  bool cuda_available = false;  // torch.cuda.is_available()
  int cuda_device_count = 0;    // torch.cuda.device_count() when available
  // torch.get_num_threads() with OMP_NUM_THREADS and MKL_NUM_THREADS unset, i.e. torch's own
  // default on this machine; 0 without torch.
  int torch_threads = 0;
  // The BLAS that torch loaded, from the probe's /proc/self/maps:
  // "openblas (/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3)",
  // "reference (netlib, /usr/lib/x86_64-linux-gnu/blas/libblas.so.3)", "mkl (built into torch)";
  // "" without torch.
  std::string blas;
};

// Which interpreter would be used, before probing it.
struct InterpreterChoice {
  std::string path;  // absolute
  std::string how;   // as InterpreterInfo::how
};

// Applies the resolution order above without running anything (for plans and --dry-run).
// `requested` may be a path (made absolute against the current directory) or a bare name looked up
// on PATH. `default_path` is a seam for tests. Returns NotFound naming the interpreter and how it
// was chosen when it does not exist (or a bare name is not on PATH), FailedPrecondition when it
// exists but is not an executable file, and NotFound when nothing is found at all. Thread-safe
// (reads the environment; do not setenv concurrently).
Result<InterpreterChoice> ChooseInterpreter(const std::string& requested,
                                            const std::string& default_path = "/usr/bin/python3");

// Chooses the interpreter (as ChooseInterpreter) and probes it, using the cache in `cache_dir`
// ("" disables caching; the directory is created when missing). Success means the interpreter ran;
// it may still lack torch (check has_torch, or call RequireTorch). Errors: those of
// ChooseInterpreter; Unavailable when the interpreter cannot be started or does not print the
// probe's answer (not a Python, crashed) with its last stderr line; Timeout after 60 s. A cache
// that cannot be read or written is ignored (it is only a cache). Safe to call from several threads
// and processes at once sharing `cache_dir`: the cache file is replaced atomically (write to a
// unique temporary, rename); of two concurrent updates one may be lost, costing a later re-probe.
Result<InterpreterInfo> ResolveInterpreter(const std::string& requested,
                                           const std::string& cache_dir);

// OK when info.has_torch. Otherwise FailedPrecondition: "interpreter <path> (<how>) cannot import
// torch: <torch_error>. Install PyTorch for it (Debian: apt-get install python3-torch, which
// serves /usr/bin/python3), or choose another interpreter with "python:" in the job file,
// --set python=/path, or TRAINYARD_PYTHON." Thread-safe.
Status RequireTorch(const InterpreterInfo& info);

// The advice that ends RequireTorch's message ("Install PyTorch for it ... or TRAINYARD_PYTHON."),
// for callers that report the problem themselves (doctor). Thread-safe.
std::string TorchInstallAdvice();

}  // namespace trainyard::env
