// Python environments for jobs with `pip_packages` / `pip_requirements_file`.
//
// A job that asks for packages runs in a virtual environment built on top of the resolved
// interpreter with `--system-site-packages`, so that the system's PyTorch stays importable and
// only the requested packages are installed. Environments are cached in <workspace>/envs, one
// folder per request, named by EnvHash(request):
//
//   <envs_dir>/<hash>/                    the venv (bin/python, lib/..., pyvenv.cfg)
//   <envs_dir>/<hash>/trainyard-env.json  the marker, written last: the venv is complete
//   <envs_dir>/<hash>.lock                flock'ed while the venv is built (or pruned)
//   <envs_dir>/<hash>.log                 the output of the last build (venv + pip)
//
// Venvs are not relocatable (bin/ scripts and pyvenv.cfg hold absolute paths), so a venv is built
// in its final folder while the lock is held; the marker is written only after pip succeeded. A
// folder without a marker is a partial build (a crash, a failure) and is removed before the next
// build; a failed build removes its folder at once.
//
// Package sources come from the environment of the process that builds the request:
//   TRAINYARD_PIP_INDEX_URL        pip --index-url
//   TRAINYARD_PIP_EXTRA_INDEX_URL  pip --extra-index-url
//   TRAINYARD_PIP_FIND_LINKS       colon-separated folders of wheels (pip --find-links); given
//                                  alone (no index URL), pip also gets --no-index and never
//                                  reaches the network.
// They are part of the hash. pip's own PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS and
// PIP_NO_INDEX are removed from pip's environment so that only the hashed settings apply.
//
// Conda environments (`conda_packages`) share the cache, the lock, the marker and the layout; the
// folder is a conda prefix made by `<conda> create --yes --prefix <dir> [-c CH]... PKGS` and its
// interpreter is <dir>/bin/python3. Like venvs, conda prefixes hold absolute paths (shebangs,
// prefix-patched files), so they too are built in their final folder under the lock. pip_packages
// given with conda_packages are installed into the prefix with its own pip afterwards. The conda
// executable and channels come from the submitting process:
//   TRAINYARD_CONDA           the conda, mamba or micromamba executable (a path or a name on
//                             PATH); else micromamba, mamba, conda on PATH, in that order
//   TRAINYARD_CONDA_CHANNELS  comma-separated channels (-c, in order; they are not sorted)
// The executable's real path, the packages and the channels are part of the hash.
//
// Packages trainyard provides itself are not installed: the hosted SDK's `azureml-*` packages
// (azureml-defaults, azureml-core, azureml-sdk, ...) and `azureml`, which trainyard's azureml
// compatibility package stands in for on every run's path. SetProvidedPackages moves them out of
// a request (pip_packages, conda_packages, and the requirements' lines, which stay as comments)
// into `provided`; the environment's log says so for each ("azureml-defaults: provided by
// trainyard's azureml compatibility package (not installed)"), and a request left with nothing
// to install needs no environment at all (NeedsEnvironment). `provided` is not part of the hash:
// [azureml-defaults, tyhello] uses the environment of [tyhello].
//
// Packages the base interpreter already has (Debian's torch, torchvision, numpy) are not fetched
// again: the venv sees the system's site-packages, and pip finds a requirement they satisfy
// already installed ("Requirement already satisfied"), without an index, also offline
// (TRAINYARD_PIP_FIND_LINKS=<empty folder>). A version they do not satisfy (torch==2.1) is
// fetched, or fails offline with pip's "No matching distribution" in the error.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::env {

struct EnvRequest {
  std::string kind = "pip";           // "pip" (a venv) or "conda" (a conda prefix)
  std::string interpreter;            // the base interpreter (absolute); "" for conda
  std::string python_version;         // "3.11.2", from probing `interpreter`
  std::vector<std::string> packages;  // as NormalizePackages returns them
  std::string requirements;           // contents of the requirements file; "" for none
  std::string index_url;
  std::string extra_index_url;
  std::vector<std::string> find_links;  // absolute folders
  // kind "conda" only:
  std::string conda;                        // the conda/mamba/micromamba executable (absolute)
  std::vector<std::string> conda_packages;  // trimmed, duplicates dropped, sorted
  std::vector<std::string> conda_channels;  // in the order given
  // Packages trainyard provides instead of installing them (see above), as the job named them;
  // sorted, duplicates dropped. Not part of the hash.
  std::vector<std::string> provided;
};

// What a built environment is, as its marker says.
struct EnvInfo {
  std::string kind = "pip";
  std::string hash;
  std::string dir;     // <envs_dir>/<hash>
  std::string python;  // <dir>/bin/python (conda: <dir>/bin/python3)
  std::string interpreter;
  std::string python_version;
  std::vector<std::string> packages;
  std::string requirements;
  std::string index_url;
  std::string extra_index_url;
  std::vector<std::string> find_links;
  std::string conda;
  std::vector<std::string> conda_packages;
  std::vector<std::string> conda_channels;
  int64_t created_at = 0;    // micros since the epoch
  double build_seconds = 0;  // how long the build took
  bool reused = false;       // EnsureEnv: true when the environment was already there
};

// "TyHello_Pkg >= 1.0" -> "tyhello-pkg>=1.0": the name lower-cased with runs of "-_." made one
// "-" (PEP 503), blanks removed. Thread-safe.
std::string NormalizePackage(const std::string& package);
// Normalizes each, drops empty entries and duplicates, sorts. Thread-safe.
std::vector<std::string> NormalizePackages(const std::vector<std::string>& packages);

// Whether trainyard provides `package` (a pip requirement such as "azureml-sdk[notebooks]>=1.0",
// or a conda spec such as "conda-forge::azureml-core=1.0") instead of installing it: its name is
// `azureml` or starts with `azureml-` (compared PEP 503-normalized). Thread-safe.
bool IsProvidedPackage(const std::string& package);
// `packages` without the provided ones, in their order. Thread-safe.
std::vector<std::string> WithoutProvidedPackages(const std::vector<std::string>& packages);
// "azureml-defaults: provided by trainyard's azureml compatibility package (not installed)".
std::string ProvidedNote(const std::string& package);
// Moves the provided packages of `request` (packages, conda_packages, and requirement lines of
// `requirements`, which become comments; requirements with nothing but comments and blank lines
// left become "") into request->provided. Thread-safe.
void SetProvidedPackages(EnvRequest* request);
// Whether `request` has anything to install (and so needs a venv or conda prefix).
bool NeedsEnvironment(const EnvRequest& request);

// Fills index_url, extra_index_url and find_links from TRAINYARD_PIP_* (see above); find_links
// folders are made absolute. Reads the environment: do not setenv concurrently.
void SetPipSourcesFromEnvironment(EnvRequest* request);

// Finds the conda executable for `conda_packages`: $TRAINYARD_CONDA (a path, or a name looked up
// on PATH), else micromamba, mamba or conda on PATH. "" when there is none; NotFound-like
// callers word the refusal. Reads the environment: do not setenv concurrently.
std::string FindConda();

// Sets kind "conda", the executable (made absolute), the packages (trimmed, deduplicated, sorted)
// and the channels from TRAINYARD_CONDA_CHANNELS. Reads the environment.
void SetCondaFromEnvironment(const std::string& conda, const std::vector<std::string>& packages,
                             EnvRequest* request);

// The sha256 (64 hex digits) of the interpreter's real path, the Python version, the packages,
// the requirements and the package sources (for conda also the executable's real path, the conda
// packages and channels). Equal requests give equal hashes. Thread-safe.
std::string EnvHash(const EnvRequest& request);

// "<envs_dir>/<hash>/bin/python". Thread-safe.
std::string EnvPython(const std::string& envs_dir, const std::string& hash);
// The interpreter of `request`'s environment in `envs_dir`: EnvPython for pip,
// "<envs_dir>/<hash>/bin/python3" for conda. Thread-safe.
std::string EnvPythonFor(const EnvRequest& request, const std::string& envs_dir);

// "pip install tyhello numpy -r requirements.txt" (conda: "conda create numpy" + pip's) for
// messages. Thread-safe.
std::string DescribeInstall(const EnvRequest& request);

// The pip arguments after `python -m pip` that install `request` into a venv whose requirements
// file (when any) is `requirements_path`. Thread-safe.
std::vector<std::string> PipInstallArgs(const EnvRequest& request,
                                        const std::string& requirements_path);

// `<conda> create --yes --prefix <prefix> [-c CHANNEL]... PACKAGES` for a conda request.
// Thread-safe.
std::vector<std::string> CondaCreateArgs(const EnvRequest& request, const std::string& prefix);

// Serialization of a request (the run folder keeps the request its environment came from).
std::string EnvRequestToJson(const EnvRequest& request);
Result<EnvRequest> EnvRequestFromJson(const std::string& text);

// Returns the environment for `request`, building it when missing (see the layout above).
// `progress` (may be empty) gets every output line of venv and pip, and a few lines of trainyard's
// own (the ProvidedNote of each provided package first, "reusing environment ...", "waiting for
// another build ..."); it is called on the calling thread. A request that needs no environment
// (NeedsEnvironment) builds nothing: it gets its notes and an EnvInfo with an empty hash whose
// python is the base interpreter. A cache hit reads the marker and runs nothing. Concurrent callers
// (threads or processes) with the same request build once: the others wait on the lock, then reuse.
// Errors: IoError for the folders; FailedPrecondition when venv or pip fails, with the last lines
// of their output (the folder is removed, the log kept). Blocks for the whole build.
Result<EnvInfo> EnsureEnv(const EnvRequest& request, const std::string& envs_dir,
                          const std::function<void(const std::string& line)>& progress);

// The complete environment `hash` (a full hash, or a unique prefix of one). NotFound when there is
// none, InvalidArgument when the prefix is ambiguous. Thread-safe.
Result<EnvInfo> FindEnv(const std::string& envs_dir, const std::string& hash);

// Every complete environment in `envs_dir`, oldest first ({} when the folder is missing).
Result<std::vector<EnvInfo>> ListEnvs(const std::string& envs_dir);

// Removes every environment (and partial build, and log) whose hash is not in `keep`, skipping
// those being built (their lock is held). Returns the removed hashes.
Result<std::vector<std::string>> PruneEnvs(const std::string& envs_dir,
                                           const std::set<std::string>& keep);

}  // namespace trainyard::env
