// trainyard._sdk: the Python binding of the C++ API (include/trainyard/trainyard.h), the same code
// the CLI runs. The `trainyard` package's Workspace / Experiment / Run / job configurations
// (trainyard/sdk.py) are thin over it.
//
// Errors: InvalidArgument and NotFound become ValueError, Timeout TimeoutError, anything else
// RuntimeError. Calls that may take a while (submit, plans, waits, reads of many values, copies)
// release the GIL.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

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

// Calls f() without the GIL (it does not touch Python objects).
template <typename F>
auto Unlocked(F f) {
  py::gil_scoped_release release;
  return f();
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

Metrics ReadMetrics(const Run& run, const std::string& name) {
  return Take(Unlocked([&] { return run.GetMetrics(name); }));
}

// Waits for the run, printing its output through Python's sys.stdout when show_output (so that
// notebooks and redirected streams see it), and giving up on Ctrl-C (KeyboardInterrupt).
std::string Wait(const Run& run, bool show_output, double timeout) {
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
  Result<RunDetails> details =
      Unlocked([&] { return run.WaitForCompletion(on_output, timeout, keep_waiting); });
  if (interrupted) throw py::error_already_set();  // the KeyboardInterrupt set by the handler
  return Take(std::move(details)).status;
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

  py::class_<Run>(m, "Run")
      .def_property_readonly("id", &Run::id)
      .def("details_json", [](const Run& r) { return Take(r.DetailsJson()); })
      .def("status", [](const Run& r) { return Take(r.Details()).status; })
      .def("wait", &Wait, py::arg("show_output") = false, py::arg("timeout") = 0.0)
      .def("cancel", [](const Run& r) { return Take(Unlocked([&] { return r.Cancel(); })).status; })
      .def("files", [](const Run& r) { return Take(r.Files()); })
      .def(
          "download",
          [](const Run& r, const std::string& path, const std::string& dest) {
            Check(Unlocked([&] { return r.Download(path, dest); }));
          },
          py::arg("path"), py::arg("dest_dir"))
      .def("tags", [](const Run& r) { return Take(r.Tags()); })
      .def("properties", [](const Run& r) { return Take(r.Properties()); })
      .def(
          "rows", [](const Run& r, const std::string& name) { return Take(r.Rows(name)); },
          py::arg("name") = "")
      .def(
          "metric_values",
          [](const Run& r, const std::string& name) { return Values(ReadMetrics(r, name)); },
          py::arg("name") = "")
      .def(
          "metric_points",
          [](const Run& r, const std::string& name) { return Points(ReadMetrics(r, name)); },
          py::arg("name") = "")
      .def(
          "tag", [](Run& r, const std::string& k, const std::string& v) { Check(r.Tag(k, v)); },
          py::arg("key"), py::arg("value"))
      .def(
          "add_property",
          [](Run& r, const std::string& k, const std::string& v) { Check(r.AddProperty(k, v)); },
          py::arg("key"), py::arg("value"))
      .def(
          "log",
          [](Run& r, const std::string& name, double value, std::optional<int64_t> step) {
            Check(r.Log(name, value, step));
          },
          py::arg("name"), py::arg("value"), py::arg("step") = py::none())
      .def(
          "log_list",
          [](Run& r, const std::string& name, const std::vector<double>& values) {
            Check(r.LogList(name, values));
          },
          py::arg("name"), py::arg("values"))
      .def(
          "log_row",
          [](Run& r, const std::string& name,
             const std::vector<std::pair<std::string, double>>& row) {
            Check(r.LogRow(name, row));
          },
          py::arg("name"), py::arg("row"));

  py::class_<Experiment>(m, "Experiment")
      .def_property_readonly("name", &Experiment::name)
      .def(
          "submit",
          [](const Experiment& e, std::string document, std::string origin, std::string base_dir,
             const std::vector<std::pair<std::string, std::string>>& tags) {
            Job job = MakeJob(std::move(document), std::move(origin), std::move(base_dir));
            return Take(Unlocked([&] { return e.Submit(job, tags); }));
          },
          py::arg("document"), py::arg("origin"), py::arg("base_dir"), py::arg("tags"))
      .def(
          "plan",
          [](const Experiment& e, std::string document, std::string origin, std::string base_dir) {
            Job job = MakeJob(std::move(document), std::move(origin), std::move(base_dir));
            return Take(Unlocked([&] { return e.Plan(job); }));
          },
          py::arg("document"), py::arg("origin"), py::arg("base_dir"))
      .def("runs", [](const Experiment& e) { return Take(e.Runs()); });

  py::class_<Workspace>(m, "Workspace")
      .def(py::init([](const std::string& path) { return Take(Workspace::Open(path)); }),
           py::arg("path") = "")
      .def_property_readonly("path", &Workspace::dir)
      .def("experiment", &Workspace::GetExperiment, py::arg("name"))
      .def("get_run", [](const Workspace& w, const std::string& id) { return Take(w.GetRun(id)); })
      .def("experiments_json", [](const Workspace& w) { return Take(w.ExperimentsJson()); })
      .def("targets_json", [](const Workspace& w) { return Take(w.TargetsJson()); })
      .def("target_json",
           [](const Workspace& w, const std::string& name) { return Take(w.TargetJson(name)); })
      .def(
          "add_target",
          [](const Workspace& w, const std::string& name, const std::string& type,
             const std::map<std::string, std::string>& options) {
            Check(w.AddTarget(name, type, options));
          },
          py::arg("name"), py::arg("type"), py::arg("options"));
}

}  // namespace
}  // namespace trainyard

PYBIND11_MODULE(_sdk, m) { trainyard::DefineModule(m); }
