// trainyard._sdk: the Python binding of the C++ API (include/trainyard/trainyard.h), the same code
// the CLI runs. The `trainyard` package's Workspace / Experiment / Run / job configurations
// (trainyard/sdk.py) are thin over it.
//
// Errors: InvalidArgument and NotFound become ValueError, Timeout TimeoutError, anything else
// RuntimeError.
//
// The model registry and the deployments (models/registry.h, runner/deployment.h) are bound as
// functions of a workspace folder for trainyard.model: each call opens the workspace on a
// connection of its own without the GIL and returns the JSON the CLI's --json prints (contracts A
// and C of issue 16), as text.
//
// A workspace on a server (trainyard.Workspace(url=...), trainyard/remote.py) goes through
// _sdk.Client, the binding of server::Client (server/client.h): JSON in and out as text, files
// streamed to disk and server-sent events handed to a Python callback, all without the GIL. A job
// is parsed into a JobSpec here exactly as a local submit parses it, then sent with SubmitJob.
// A server's 401/403 become PermissionError and an unreachable server ConnectionError.
//
// Threads: a C++ Workspace (one SQLite connection) and the runs and experiments made from it must
// be used by one thread at a time, while Python code may share them between threads (a notebook's
// status widget beside a wait). So every call releases the GIL and then takes the workspace's
// mutex (never the other way round, and nothing under the mutex needs the GIL); a wait, which
// may last hours, runs on a connection of its own and takes no mutex.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>

#include "common/files.h"
#include "models/json.h"
#include "models/registry.h"
#include "models/usage.h"
#include "runner/deployment.h"
#include "runner/runner.h"
#include "server/client.h"
#include "spec/parse.h"
#include "spec/sweep_spec.h"
#include "store/deployments.h"
#include "store/workspace.h"
#include "tracking/limits.h"
#include "trainyard/trainyard.h"

namespace py = pybind11;

namespace trainyard {
namespace {

[[noreturn]] void Raise(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound: throw py::value_error(status.message());
    case StatusCode::kTimeout:
      PyErr_SetString(PyExc_TimeoutError, status.message().c_str());
      throw py::error_already_set();
    default: throw std::runtime_error(status.message());
  }
}

void Check(const Status& status) {
  if (!status.ok()) Raise(status);
}

template <typename T>
T Take(Result<T> result) {
  if (!result.ok()) Raise(result.status());
  return std::move(*result);
}

// A C++ object with the mutex of the workspace connection it uses.
template <typename T>
struct Shared {
  T value;
  std::shared_ptr<std::mutex> mu;
};
using SdkRun = Shared<Run>;
using SdkExperiment = Shared<Experiment>;
using SdkWorkspace = Shared<Workspace>;

// Calls f(object) without the GIL, holding the connection's mutex.
template <typename T, typename F>
auto Locked(const Shared<T>& s, F f) {
  py::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(*s.mu);
  return f(s.value);
}

Job MakeJob(std::string document, std::string origin, std::string base_dir) {
  Job job;
  job.document = std::move(document);
  job.origin = std::move(origin);
  job.base_dir = std::move(base_dir);
  return job;
}

// {name: [values]} with the values as Python floats, built straight from the C++ vectors (a run
// may hold millions of points).
py::dict Values(const Metrics& metrics) {
  py::dict out;
  for (const auto& [name, points] : metrics) {
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(points.size()));
    if (list == nullptr) throw py::error_already_set();
    for (size_t i = 0; i < points.size(); ++i) {
      PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), PyFloat_FromDouble(points[i].value));
    }
    out[py::str(name)] = py::reinterpret_steal<py::list>(list);
  }
  return out;
}

// {name: [(step, timestamp_seconds, rank, value)]}.
py::dict Points(const Metrics& metrics) {
  py::dict out;
  for (const auto& [name, points] : metrics) {
    py::list list(points.size());
    for (size_t i = 0; i < points.size(); ++i) {
      const MetricValue& p = points[i];
      list[i] = py::make_tuple(p.step, static_cast<double>(p.timestamp_us) / 1e6, p.rank, p.value);
    }
    out[py::str(name)] = list;
  }
  return out;
}

Metrics ReadMetrics(const SdkRun& run, const std::string& name) {
  return Take(Locked(run, [&](const Run& r) { return r.GetMetrics(name); }));
}

// Waits for the run, printing its output through Python's sys.stdout when show_output (so that
// notebooks and redirected streams see it), and giving up on Ctrl-C (KeyboardInterrupt).
std::string Wait(const SdkRun& run, const std::string& workspace_dir, bool show_output,
                 double timeout) {
  py::object write = py::module_::import("sys").attr("stdout").attr("write");
  py::object flush = py::module_::import("sys").attr("stdout").attr("flush");
  bool interrupted = false;
  std::function<void(const std::string&)> on_output;
  if (show_output) {
    on_output = [&](const std::string& line) {
      py::gil_scoped_acquire acquire;
      try {
        write(py::str(PyUnicode_DecodeUTF8(line.data(), static_cast<Py_ssize_t>(line.size()),
                                           "replace")) +
              py::str("\n"));
        flush();
      } catch (const py::error_already_set&) {
        // A closed or failing stdout does not stop the wait.
      }
    };
  }
  auto keep_waiting = [&] {
    py::gil_scoped_acquire acquire;
    if (PyErr_CheckSignals() != 0) {
      interrupted = true;
      return false;
    }
    return true;
  };
  Result<RunDetails> details = [&]() -> Result<RunDetails> {
    py::gil_scoped_release release;
    ASSIGN_OR_RETURN(Workspace own, Workspace::Open(workspace_dir));  // a connection of its own
    ASSIGN_OR_RETURN(Run mine, own.GetRun(run.value.id()));
    return mine.WaitForCompletion(on_output, timeout, keep_waiting);
  }();
  if (interrupted) throw py::error_already_set();  // the KeyboardInterrupt set by the handler
  return Take(std::move(details)).status;
}

// Runs f(store::Workspace*) without the GIL on a connection of its own to the workspace at `dir`
// ("" = $TRAINYARD_WORKSPACE, else ~/.trainyard) and returns its Result or Status (to be raised
// once the GIL is held again).
template <typename F>
auto InWorkspace(const std::string& dir, F f) -> decltype(f(nullptr)) {
  py::gil_scoped_release release;
  auto ws = store::Workspace::Open(store::ResolveWorkspaceDir(dir));
  if (!ws.ok()) return ws.status();
  return f(ws->get());
}

Result<store::ModelRecord> ResolveModel(store::Workspace* ws, const std::string& text) {
  ASSIGN_OR_RETURN(models::ModelRef ref, models::ParseModelRef(text));
  return models::Resolve(ws, ref);
}

// Sets *field from d[key] when d has it (TypeError-like RuntimeError when it does not convert).
template <typename T>
void SetFrom(const py::dict& d, const char* key, T* field) {
  if (d.contains(key)) *field = py::cast<T>(d[key]);
}

// A runner::DeployRequest from the dict trainyard.model.deploy_request() builds (the keys are
// DeployRequest's fields; the ones left out keep their defaults); ValueError naming a key that is
// not a field.
runner::DeployRequest DeployRequestFrom(const py::dict& d) {
  static const std::set<std::string> kKeys = {
      "name",      "models",  "entry",      "source",
      "port",      "host",    "batch_size", "max_batch_delay_ms",
      "instances", "workers", "gpu",        "conda_file",
      "pip"};
  for (const auto& item : d) {
    const std::string key = py::cast<std::string>(item.first);
    if (kKeys.count(key) == 0) throw py::value_error("deploy: unknown request field " + key);
  }
  runner::DeployRequest r;
  SetFrom(d, "name", &r.name);
  SetFrom(d, "models", &r.models);
  SetFrom(d, "entry", &r.entry);
  SetFrom(d, "source", &r.source);
  SetFrom(d, "port", &r.port);
  SetFrom(d, "host", &r.host);
  SetFrom(d, "batch_size", &r.batch_size);
  SetFrom(d, "max_batch_delay_ms", &r.max_batch_delay_ms);
  SetFrom(d, "instances", &r.instances);
  SetFrom(d, "workers", &r.workers);
  SetFrom(d, "gpu", &r.gpu);
  SetFrom(d, "conda_file", &r.conda_file);
  SetFrom(d, "pip", &r.pip);
  return r;
}

void DefineRegistry(py::module_& m) {
  m.def("trainyard_exe", &runner::TrainyardExe,
        "The trainyard executable the runner starts (runner::TrainyardExe).");
  m.def(
      "model_register",
      [](const std::string& workspace, const std::string& name, const std::string& path,
         const std::string& run_id, const std::string& description,
         const std::map<std::string, std::string>& tags,
         const std::map<std::string, std::string>& properties) {
        models::RegisterRequest request{name, path, run_id, description, tags, properties};
        return Take(InWorkspace(workspace, [&](store::Workspace* ws) -> Result<std::string> {
          ASSIGN_OR_RETURN(models::Registered r, models::Register(ws, request));
          nlohmann::json j = models::ModelToJson(r.model);
          j["already_registered"] = r.already_registered;
          return j.dump();
        }));
      },
      py::arg("workspace"), py::arg("name"), py::arg("path"), py::arg("run_id") = "",
      py::arg("description") = "", py::arg("tags") = std::map<std::string, std::string>{},
      py::arg("properties") = std::map<std::string, std::string>{},
      "`trainyard model register ... --json`: the new (or same-bytes) version's JSON text.");
  m.def(
      "model_list",
      [](const std::string& workspace, const std::string& name) {
        return Take(InWorkspace(workspace, [&](store::Workspace* ws) -> Result<std::string> {
          if (!name.empty()) RETURN_IF_ERROR(models::ParseModelRef(name).status());
          ASSIGN_OR_RETURN(auto all, store::ListModels(ws, name));
          nlohmann::json out = nlohmann::json::array();
          for (const auto& model : all) out.push_back(models::ModelToJson(model));
          return out.dump();
        }));
      },
      py::arg("workspace"), py::arg("name") = "",
      "`trainyard model list [NAME] --json`: every version (of NAME), as JSON text.");
  m.def(
      "model_show",
      [](const std::string& workspace, const std::string& ref) {
        return Take(InWorkspace(workspace, [&](store::Workspace* ws) -> Result<std::string> {
          ASSIGN_OR_RETURN(store::ModelRecord model, ResolveModel(ws, ref));
          ASSIGN_OR_RETURN(std::vector<std::string> users,
                           models::DeploymentsUsing(ws, model.name, model.version));
          nlohmann::json j = models::ModelToJson(model);
          j["deployments"] = users;
          return j.dump();
        }));
      },
      py::arg("workspace"), py::arg("ref"),
      "`trainyard model show NAME[:V] --json`: the version and its deployments, as JSON text.");
  m.def(
      "model_path",
      [](const std::string& workspace, const std::string& ref) {
        return Take(InWorkspace(workspace, [&](store::Workspace* ws) -> Result<std::string> {
          ASSIGN_OR_RETURN(store::ModelRecord model, ResolveModel(ws, ref));
          ASSIGN_OR_RETURN(std::string dir, models::ModelDir(ws, model));
          return AbsolutePath(dir) + "/" + model.path;
        }));
      },
      py::arg("workspace"), py::arg("ref"),
      "`trainyard model path NAME[:V]`: the read-only file or folder's absolute path.");
  m.def(
      "model_download",
      [](const std::string& workspace, const std::string& ref, const std::string& dest_dir) {
        return Take(InWorkspace(workspace, [&](store::Workspace* ws) -> Result<std::string> {
          ASSIGN_OR_RETURN(store::ModelRecord model, ResolveModel(ws, ref));
          const std::string dir = AbsolutePath(ExpandHome(dest_dir.empty() ? "." : dest_dir));
          RETURN_IF_ERROR(models::Download(ws, model, dir));
          return dir + "/" + model.path;
        }));
      },
      py::arg("workspace"), py::arg("ref"), py::arg("dest_dir") = "",
      "`trainyard model download NAME[:V] --dir D`: the path written.");
  m.def(
      "model_delete",
      [](const std::string& workspace, const std::string& name, int64_t version) {
        Check(InWorkspace(workspace,
                          [&](store::Workspace* ws) { return models::Delete(ws, name, version); }));
      },
      py::arg("workspace"), py::arg("name"), py::arg("version"),
      "`trainyard model delete NAME:V` (refused naming the deployments that use it).");

  m.def(
      "deploy",
      [](const std::string& workspace, const py::dict& request) {
        runner::DeployRequest r = DeployRequestFrom(request);
        return Take(InWorkspace(workspace, [&](store::Workspace* ws) -> Result<std::string> {
          ASSIGN_OR_RETURN(store::DeploymentRecord d, runner::Deploy(ws, r));
          return runner::DeploymentToJson(*ws, d).dump();
        }));
      },
      py::arg("workspace"), py::arg("request"),
      "`trainyard deploy NAME ... --no-wait --json`: records the deployment, starts its "
      "supervisor and returns its JSON text (Transitioning) at once.");
  m.def(
      "deployment_show",
      [](const std::string& workspace, const std::string& name) {
        return Take(InWorkspace(workspace, [&](store::Workspace* ws) -> Result<std::string> {
          (void)runner::ReapDeployments(ws);
          ASSIGN_OR_RETURN(store::DeploymentRecord d, store::GetDeployment(ws, name));
          return runner::DeploymentToJson(*ws, d).dump();
        }));
      },
      py::arg("workspace"), py::arg("name"),
      "`trainyard deployment show NAME --json`, as JSON text.");
  m.def(
      "deployment_list",
      [](const std::string& workspace) {
        return Take(InWorkspace(workspace, [&](store::Workspace* ws) -> Result<std::string> {
          (void)runner::ReapDeployments(ws);
          ASSIGN_OR_RETURN(auto all, store::ListDeployments(ws));
          nlohmann::json out = nlohmann::json::array();
          for (const auto& d : all) out.push_back(runner::DeploymentToJson(*ws, d));
          return out.dump();
        }));
      },
      py::arg("workspace"), "`trainyard deployment list --json`, as JSON text.");
  m.def(
      "deployment_logs",
      [](const std::string& workspace, const std::string& name, int tail) {
        std::string text = Take(InWorkspace(workspace, [&](store::Workspace* ws) {
          return runner::DeploymentLogText(ws, name, tail);
        }));
        PyObject* decoded =
            PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
        if (decoded == nullptr) throw py::error_already_set();
        return py::reinterpret_steal<py::str>(decoded);
      },
      py::arg("workspace"), py::arg("name"), py::arg("tail") = 0,
      "`trainyard deployment logs NAME [--tail N]`: the server log's text.");
  m.def(
      "deployment_delete",
      [](const std::string& workspace, const std::string& name) {
        Check(InWorkspace(
            workspace, [&](store::Workspace* ws) { return runner::DeleteDeployment(ws, name); }));
      },
      py::arg("workspace"), py::arg("name"),
      "`trainyard deployment delete NAME`: stops the server and removes the deployment.");
}

// ---- a workspace on a server (trainyard/remote.py) ----

// A server::Client with the mutex that keeps it to one thread at a time (server/client.h), so that
// Python threads may share it; a follower thread (wait_for_completion's logs) makes its own.
struct SdkClient {
  std::unique_ptr<server::Client> client;
  std::unique_ptr<std::mutex> mu = std::make_unique<std::mutex>();
};

[[noreturn]] void RaisePython(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

// Raise, plus the errors only a server gives: a refused token (401/403, FailedPrecondition "the
// server refused the token ...") is PermissionError, an unreachable server ConnectionError, and
// what the server does not offer NotImplementedError.
[[noreturn]] void RaiseRemote(const Status& status) {
  switch (status.code()) {
    case StatusCode::kUnavailable: RaisePython(PyExc_ConnectionError, status.message());
    case StatusCode::kUnimplemented: RaisePython(PyExc_NotImplementedError, status.message());
    case StatusCode::kFailedPrecondition:
      if (status.message().find("refused the token") != std::string::npos) {
        RaisePython(PyExc_PermissionError, status.message());
      }
      break;
    default: break;
  }
  Raise(status);
}

template <typename T>
T TakeRemote(Result<T> result) {
  if (!result.ok()) RaiseRemote(result.status());
  return std::move(*result);
}

void CheckRemote(const Status& status) {
  if (!status.ok()) RaiseRemote(status);
}

// Calls f(client) without the GIL, holding the client's mutex.
template <typename F>
auto WithClient(const SdkClient& c, F f) {
  py::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(*c.mu);
  return f(*c.client);
}

std::string JsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<nlohmann::json> ParseBody(const std::string& text) {
  nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Status(StatusCode::kInvalidArgument, "request body: not JSON");
  return body;
}

// Parses the job or sweep exactly as Experiment::Submit does for a local workspace (same
// validation, same messages, relative paths against base_dir), then submits it to the server
// (SubmitJob and SubmitSweep upload the source folder first). The run as the server describes
// it (for a sweep, the sweep's own run), as JSON text.
Result<std::string> SubmitRemote(server::Client& client, const Job& job,
                                 const std::string& experiment,
                                 const std::vector<std::pair<std::string, std::string>>& tags) {
  const std::string base_dir = AbsolutePath(job.base_dir.empty() ? "." : job.base_dir);
  std::map<std::string, std::string> tag_map;
  for (const auto& [k, v] : tags) {
    RETURN_IF_ERROR(tracking::CheckName("tag key", k));
    tag_map[k] = v;
  }
  if (spec::IsSweepText(job.document, job.origin)) {
    ASSIGN_OR_RETURN(spec::SweepSpec sweep,
                     spec::ParseSweepText(job.document, job.origin, base_dir));
    sweep.trial.experiment_name = experiment;
    for (const auto& [k, v] : tag_map) sweep.tags.emplace_back(k, v);
    ASSIGN_OR_RETURN(nlohmann::json run, client.SubmitSweep(sweep));
    return JsonText(run);
  }
  ASSIGN_OR_RETURN(spec::JobSpec spec, spec::ParseJobText(job.document, job.origin, base_dir));
  spec.experiment_name = experiment;
  ASSIGN_OR_RETURN(nlohmann::json run, client.SubmitJob(spec, tag_map));
  return JsonText(run);
}

// Streams GET `path` into the file `dest` (created or truncated); a failed download leaves no
// file behind. The number of bytes written.
Result<int64_t> DownloadTo(server::Client& client, const std::string& path,
                           const std::string& dest) {
  std::FILE* f = std::fopen(dest.c_str(), "wb");
  if (f == nullptr) {
    return Status(StatusCode::kIo, "cannot write " + dest + ": " + std::strerror(errno));
  }
  int64_t written = 0;
  bool write_failed = false;
  Status status = client.GetStream(path, [&](const char* data, size_t size) {
    if (std::fwrite(data, 1, size, f) != size) {
      write_failed = true;
      return false;
    }
    written += static_cast<int64_t>(size);
    return true;
  });
  const bool close_failed = std::fclose(f) != 0;
  if (status.ok() && (write_failed || close_failed)) {
    status = Status(StatusCode::kIo, "cannot write " + dest + ": " + std::strerror(errno));
  }
  if (!status.ok()) {
    std::remove(dest.c_str());
    return status;
  }
  return written;
}

py::str DecodeUtf8(std::string_view text) {
  PyObject* decoded =
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

void DefineRemote(py::module_& m) {
  m.def(
      "is_workspace_url",
      [](const std::string& workspace) { return server::IsWorkspaceUrl(workspace); },
      py::arg("workspace"),
      "True when `workspace` names a server (http:// or https://), never a folder.");
  m.def(
      "resolve_token", [](const std::string& flag) { return server::ResolveToken(flag); },
      py::arg("token") = "", "`token` when not empty, else $TRAINYARD_TOKEN, else \"\".");

  py::class_<SdkClient>(m, "Client")
      .def(py::init([](const std::string& url, const std::string& token) {
             return SdkClient{TakeRemote(server::Client::Create(url, token))};
           }),
           py::arg("url"), py::arg("token"),
           "A client of the server at `url` (no request is made here).")
      .def_property_readonly("url", [](const SdkClient& c) { return c.client->url(); })
      .def(
          "get_json",
          [](const SdkClient& c, const std::string& path) {
            return TakeRemote(WithClient(c, [&](server::Client& client) -> Result<std::string> {
              ASSIGN_OR_RETURN(nlohmann::json j, client.GetJson(path));
              return JsonText(j);
            }));
          },
          py::arg("path"), "GET `path` (/api/v1/...): the reply's JSON text.")
      .def(
          "post_json",
          [](const SdkClient& c, const std::string& path, const std::string& body) {
            return TakeRemote(WithClient(c, [&](server::Client& client) -> Result<std::string> {
              ASSIGN_OR_RETURN(nlohmann::json request, ParseBody(body));
              ASSIGN_OR_RETURN(nlohmann::json j, client.PostJson(path, request));
              return JsonText(j);
            }));
          },
          py::arg("path"), py::arg("body") = "{}",
          "POST the JSON text `body` to `path`: the reply's JSON text.")
      .def(
          "delete_json",
          [](const SdkClient& c, const std::string& path) {
            return TakeRemote(WithClient(c, [&](server::Client& client) -> Result<std::string> {
              ASSIGN_OR_RETURN(nlohmann::json j, client.DeleteJson(path));
              return JsonText(j);
            }));
          },
          py::arg("path"))
      .def(
          "get_bytes",
          [](const SdkClient& c, const std::string& path) {
            std::string data;
            CheckRemote(WithClient(c, [&](server::Client& client) {
              return client.GetStream(path, [&](const char* p, size_t n) {
                data.append(p, n);
                return true;
              });
            }));
            return py::bytes(data);
          },
          py::arg("path"), "GET `path`: the reply's bytes (logs, small files).")
      .def(
          "download",
          [](const SdkClient& c, const std::string& path, const std::string& dest) {
            return TakeRemote(WithClient(
                c, [&](server::Client& client) { return DownloadTo(client, path, dest); }));
          },
          py::arg("path"), py::arg("dest_file"),
          "Streams GET `path` into the file `dest_file`; the number of bytes written.")
      .def(
          "follow_events",
          [](const SdkClient& c, const std::string& path, const py::function& on_event) {
            // on_event(event, data) returns True to go on. A Python error in it (Ctrl-C
            // included) stops the stream and is raised once the GIL is held again.
            bool python_error = false;
            Status status = WithClient(c, [&](server::Client& client) {
              return client.FollowEvents(
                  path, [&](const std::string& event, const std::string& data) {
                    py::gil_scoped_acquire acquire;
                    try {
                      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
                      return py::cast<bool>(on_event(DecodeUtf8(event), DecodeUtf8(data)));
                    } catch (py::error_already_set& error) {
                      error.restore();  // kept as the pending Python error
                      python_error = true;
                      return false;
                    }
                  });
            });
            if (python_error) throw py::error_already_set();
            CheckRemote(status);
          },
          py::arg("path"), py::arg("on_event"),
          "Follows the server-sent events at `path`, calling on_event(event, data) for each "
          "until the stream ends or it returns False.")
      .def(
          "submit",
          [](const SdkClient& c, std::string document, std::string origin, std::string base_dir,
             const std::string& experiment,
             const std::vector<std::pair<std::string, std::string>>& tags) {
            Job job = MakeJob(std::move(document), std::move(origin), std::move(base_dir));
            return TakeRemote(WithClient(c, [&](server::Client& client) {
              return SubmitRemote(client, job, experiment, tags);
            }));
          },
          py::arg("document"), py::arg("origin"), py::arg("base_dir"), py::arg("experiment"),
          py::arg("tags"),
          "Validates the job as a local submit does, uploads its source folder and submits it: "
          "the run's JSON text (detailed).")
      .def(
          "run_cli",
          [](const SdkClient& c, const std::vector<std::string>& argv, const py::function& out) {
            return TakeRemote(WithClient(c, [&](server::Client& client) {
              return client.RunCli(argv, [&](bool is_stderr, std::string_view text) {
                py::gil_scoped_acquire acquire;
                try {
                  out(is_stderr, DecodeUtf8(text));
                } catch (const py::error_already_set&) {
                  // A failing printer does not stop the verb.
                }
              });
            }));
          },
          py::arg("argv"), py::arg("out"),
          "Runs a CLI verb on the server's workspace; out(is_stderr, text) as it prints; the "
          "exit code.");
}

void DefineModule(py::module_& m) {
  m.doc() = "trainyard's C++ API (include/trainyard/trainyard.h); use the trainyard package.";

  m.def(
      "check_job",
      [](std::string document, std::string origin, std::string base_dir) {
        Check(CheckJob(MakeJob(std::move(document), std::move(origin), std::move(base_dir))));
      },
      py::arg("document"), py::arg("origin"), py::arg("base_dir"),
      "Validates a job document (JSON text) as the CLI validates a job file; ValueError.");

  py::class_<SdkRun>(m, "Run")
      .def_property_readonly("id", [](const SdkRun& r) { return r.value.id(); })
      .def("details_json",
           [](const SdkRun& r) {
             return Take(Locked(r, [](const Run& run) { return run.DetailsJson(); }));
           })
      .def("status",
           [](const SdkRun& r) {
             return Take(Locked(r, [](const Run& run) { return run.Details(); })).status;
           })
      .def("wait", &Wait, py::arg("workspace_dir"), py::arg("show_output") = false,
           py::arg("timeout") = 0.0)
      .def("cancel",
           [](const SdkRun& r) {
             return Take(Locked(r, [](const Run& run) { return run.Cancel(); })).status;
           })
      .def("files",
           [](const SdkRun& r) {
             return Take(Locked(r, [](const Run& run) { return run.Files(); }));
           })
      .def(
          "download",
          [](const SdkRun& r, const std::string& path, const std::string& dest) {
            Check(Locked(r, [&](const Run& run) { return run.Download(path, dest); }));
          },
          py::arg("path"), py::arg("dest_dir"))
      .def("tags",
           [](const SdkRun& r) {
             return Take(Locked(r, [](const Run& run) { return run.Tags(); }));
           })
      .def("properties",
           [](const SdkRun& r) {
             return Take(Locked(r, [](const Run& run) { return run.Properties(); }));
           })
      .def(
          "rows",
          [](const SdkRun& r, const std::string& name) {
            return Take(Locked(r, [&](const Run& run) { return run.Rows(name); }));
          },
          py::arg("name") = "")
      .def(
          "metric_values",
          [](const SdkRun& r, const std::string& name) { return Values(ReadMetrics(r, name)); },
          py::arg("name") = "")
      .def(
          "metric_points",
          [](const SdkRun& r, const std::string& name) { return Points(ReadMetrics(r, name)); },
          py::arg("name") = "")
      .def(
          "tag",
          [](SdkRun& r, const std::string& k, const std::string& v) {
            Check(Locked(r, [&](Run run) { return run.Tag(k, v); }));
          },
          py::arg("key"), py::arg("value"))
      .def(
          "add_property",
          [](SdkRun& r, const std::string& k, const std::string& v) {
            Check(Locked(r, [&](Run run) { return run.AddProperty(k, v); }));
          },
          py::arg("key"), py::arg("value"))
      .def(
          "log",
          [](SdkRun& r, const std::string& name, double value, std::optional<int64_t> step) {
            Check(Locked(r, [&](Run run) { return run.Log(name, value, step); }));
          },
          py::arg("name"), py::arg("value"), py::arg("step") = py::none())
      .def(
          "log_list",
          [](SdkRun& r, const std::string& name, const std::vector<double>& values) {
            Check(Locked(r, [&](Run run) { return run.LogList(name, values); }));
          },
          py::arg("name"), py::arg("values"))
      .def(
          "log_row",
          [](SdkRun& r, const std::string& name,
             const std::vector<std::pair<std::string, double>>& row) {
            Check(Locked(r, [&](Run run) { return run.LogRow(name, row); }));
          },
          py::arg("name"), py::arg("row"));

  // Runs made from an experiment or a workspace share its mutex.
  auto runs_of = [](const std::shared_ptr<std::mutex>& mu, std::vector<Run> runs) {
    std::vector<SdkRun> out;
    for (auto& r : runs) out.push_back({std::move(r), mu});
    return out;
  };

  py::class_<SdkExperiment>(m, "Experiment")
      .def_property_readonly("name", [](const SdkExperiment& e) { return e.value.name(); })
      .def(
          "submit",
          [](const SdkExperiment& e, std::string document, std::string origin, std::string base_dir,
             const std::vector<std::pair<std::string, std::string>>& tags) {
            Job job = MakeJob(std::move(document), std::move(origin), std::move(base_dir));
            Run run = Take(Locked(e, [&](const Experiment& x) { return x.Submit(job, tags); }));
            return SdkRun{std::move(run), e.mu};
          },
          py::arg("document"), py::arg("origin"), py::arg("base_dir"), py::arg("tags"))
      .def(
          "plan",
          [](const SdkExperiment& e, std::string document, std::string origin,
             std::string base_dir) {
            Job job = MakeJob(std::move(document), std::move(origin), std::move(base_dir));
            return Take(Locked(e, [&](const Experiment& x) { return x.Plan(job); }));
          },
          py::arg("document"), py::arg("origin"), py::arg("base_dir"))
      .def("runs", [runs_of](const SdkExperiment& e) {
        return runs_of(e.mu, Take(Locked(e, [](const Experiment& x) { return x.Runs(); })));
      });

  py::class_<SdkWorkspace>(m, "Workspace")
      .def(py::init([](const std::string& path) {
             Workspace ws = Take([&] {
               py::gil_scoped_release release;
               return Workspace::Open(path);
             }());
             return SdkWorkspace{std::move(ws), std::make_shared<std::mutex>()};
           }),
           py::arg("path") = "")
      .def_property_readonly("path", [](const SdkWorkspace& w) { return w.value.dir(); })
      .def(
          "experiment",
          [](const SdkWorkspace& w, const std::string& name) {
            return SdkExperiment{w.value.GetExperiment(name), w.mu};
          },
          py::arg("name"))
      .def("get_run",
           [](const SdkWorkspace& w, const std::string& id) {
             Run run = Take(Locked(w, [&](const Workspace& ws) { return ws.GetRun(id); }));
             return SdkRun{std::move(run), w.mu};
           })
      .def("experiments_json",
           [](const SdkWorkspace& w) {
             return Take(Locked(w, [](const Workspace& ws) { return ws.ExperimentsJson(); }));
           })
      .def("targets_json",
           [](const SdkWorkspace& w) {
             return Take(Locked(w, [](const Workspace& ws) { return ws.TargetsJson(); }));
           })
      .def("target_json",
           [](const SdkWorkspace& w, const std::string& name) {
             return Take(Locked(w, [&](const Workspace& ws) { return ws.TargetJson(name); }));
           })
      .def(
          "add_target",
          [](const SdkWorkspace& w, const std::string& name, const std::string& type,
             const std::map<std::string, std::string>& options) {
            Check(
                Locked(w, [&](const Workspace& ws) { return ws.AddTarget(name, type, options); }));
          },
          py::arg("name"), py::arg("type"), py::arg("options"))
      .def(
          "remove_target",
          [](const SdkWorkspace& w, const std::string& name) {
            Check(Locked(w, [&](const Workspace& ws) { return ws.RemoveTarget(name); }));
          },
          py::arg("name"));

  DefineRegistry(m);
  DefineRemote(m);
}

}  // namespace
}  // namespace trainyard

PYBIND11_MODULE(_sdk, m) { trainyard::DefineModule(m); }
