// trainyard._core: the Python binding of the tracking Recorder (src/tracking/recorder.h). The
// Python package (trainyard/run.py) is a thin layer over this; all checks, buffering and delivery
// happen in C++.
//
// Errors: a Status of InvalidArgument becomes ValueError, any other RuntimeError. Calls that may
// wait (flush, close, uploads, get_metrics) release the GIL while they wait.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <stdexcept>

#include "tracking/recorder.h"

namespace py = pybind11;

namespace trainyard::tracking {
namespace {

void Check(const Status& status) {
  if (status.ok()) return;
  if (status.code() == StatusCode::kInvalidArgument) throw py::value_error(status.message());
  throw std::runtime_error(status.message());
}

std::string TypeName(py::handle value) {
  return py::str(py::type::handle_of(value).attr("__name__"));
}

// A name passed from Python: a str, as UTF-8. ValueError otherwise (what: "metric name", ...).
std::string_view NameOf(const char* what, py::handle name) {
  if (!PyUnicode_Check(name.ptr())) {
    throw py::value_error(std::string(what) + " must be a str, got " + TypeName(name));
  }
  Py_ssize_t size = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(name.ptr(), &size);  // cached by the str object
  if (utf8 == nullptr) {
    PyErr_Clear();
    throw py::value_error(std::string(what) + " is not valid Unicode");
  }
  return {utf8, static_cast<size_t>(size)};
}

// A metric value: bool, int, float, or anything float() accepts except text (numpy scalars, 0-d
// torch tensors, Decimal, ...). ValueError naming the metric otherwise.
double ToNumber(std::string_view name, py::handle value) {
  PyObject* v = value.ptr();
  if (PyFloat_CheckExact(v)) return PyFloat_AS_DOUBLE(v);
  if (PyLong_Check(v)) {
    double d = PyLong_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::value_error("metric '" + std::string(name) + "': integer too large for a float");
    }
    return d;
  }
  if (!PyUnicode_Check(v) && !PyBytes_Check(v) && !PyByteArray_Check(v) && value != Py_None) {
    PyObject* f = PyNumber_Float(v);
    if (f != nullptr) {
      double d = PyFloat_AS_DOUBLE(f);
      Py_DECREF(f);
      return d;
    }
    PyErr_Clear();
  }
  throw py::value_error("metric '" + std::string(name) +
                        "': value must be a number (bool, int, float, a numpy scalar or a "
                        "one-element tensor), got " +
                        TypeName(value));
}

std::optional<int64_t> ToStep(std::string_view name, py::handle step) {
  if (step.is_none()) return std::nullopt;
  if (!PyBool_Check(step.ptr())) {
    PyObject* index = PyNumber_Index(step.ptr());
    if (index != nullptr) {
      int overflow = 0;
      long long s = PyLong_AsLongLongAndOverflow(index, &overflow);
      Py_DECREF(index);
      if (overflow == 0 && !(s == -1 && PyErr_Occurred())) return static_cast<int64_t>(s);
    }
    PyErr_Clear();
  }
  throw py::value_error("metric '" + std::string(name) + "': step must be an integer, got " +
                        TypeName(step));
}

// A row cell: None, bool, int, float, str, or a numpy/torch scalar (through .item()).
CellValue ToCell(const std::string& what, py::handle value, bool allow_item = true) {
  if (value.is_none()) return nullptr;
  if (PyBool_Check(value.ptr())) return value.cast<bool>();
  if (PyLong_Check(value.ptr())) {
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow == 0 && !(i == -1 && PyErr_Occurred())) return static_cast<int64_t>(i);
    PyErr_Clear();
    return PyLong_AsDouble(value.ptr());
  }
  if (PyFloat_Check(value.ptr())) return PyFloat_AS_DOUBLE(value.ptr());
  if (PyUnicode_Check(value.ptr())) return value.cast<std::string>();
  if (allow_item && py::hasattr(value, "item")) {
    try {
      return ToCell(what, value.attr("item")(), /*allow_item=*/false);
    } catch (const py::error_already_set&) {
      // Not a scalar (a tensor of several elements): reported below.
    }
  }
  throw py::value_error(what + " must be a number, string, bool or None, got " + TypeName(value));
}

RowColumns ToColumns(std::string_view name, const py::dict& columns) {
  RowColumns out;
  for (auto [key, value] : columns) {
    std::string column = py::str(key);
    out.emplace_back(column,
                     ToCell("row '" + std::string(name) + "': column '" + column + "'", value));
  }
  return out;
}

TableColumns ToTable(std::string_view name, const py::dict& table) {
  TableColumns out;
  for (auto [key, values] : table) {
    std::string column = py::str(key);
    std::string what = "table '" + std::string(name) + "': column '" + column + "'";
    if (PyUnicode_Check(values.ptr()) || !py::isinstance<py::iterable>(values)) {
      throw py::value_error(what + " must be a list of values, got " + TypeName(values));
    }
    std::vector<CellValue> cells;
    for (py::handle v : values) cells.push_back(ToCell(what, v));
    out.emplace_back(column, std::move(cells));
  }
  return out;
}

py::dict MetricsToPython(const MetricSeries& metrics) {
  py::dict out;
  for (const auto& [name, points] : metrics) {
    py::list list(points.size());
    for (size_t i = 0; i < points.size(); ++i) {
      const MetricPoint& p = points[i];
      list[i] = py::make_tuple(p.step, p.ts_us, p.rank, p.value);
    }
    out[py::str(name)] = std::move(list);
  }
  return out;
}

}  // namespace

void DefineModule(py::module_& m) {
  m.doc() = "trainyard tracking core (C++); use the trainyard package rather than this module";

  py::class_<Recorder, std::unique_ptr<Recorder>> recorder(m, "Recorder");
  recorder
      .def_static(
          "create",
          [](const std::string& uri, const std::string& run_id, const std::string& token,
             const std::string& experiment, int rank, double flush_interval, bool quiet) {
            RecorderOptions options;
            options.uri = uri;
            options.run_id = run_id;
            options.token = token;
            options.experiment = experiment;
            options.rank = rank;
            options.flush_interval_s = flush_interval;
            options.offline_quiet = quiet;
            Result<std::unique_ptr<Recorder>> r = Recorder::Create(std::move(options));
            Check(r.status());
            return std::move(r).value();
          },
          py::arg("uri") = "", py::arg("run_id") = "", py::arg("token") = "",
          py::arg("experiment") = "", py::arg("rank") = 0, py::arg("flush_interval") = 0.5,
          py::arg("quiet") = false, "A recorder of its own (tests); scripts use current().")
      .def(
          "log",
          [](Recorder& r, py::handle name_object, py::handle value, py::handle step,
             std::string_view description) {
            std::string_view name = NameOf("metric name", name_object);
            Check(r.Log(name, ToNumber(name, value), ToStep(name, step), description));
          },
          py::arg("name"), py::arg("value"), py::arg("step") = py::none(),
          py::arg("description") = "")
      .def(
          "log_list",
          [](Recorder& r, py::handle name_object, py::iterable values) {
            std::string_view name = NameOf("metric name", name_object);
            std::vector<double> numbers;
            for (py::handle v : values) numbers.push_back(ToNumber(name, v));
            Check(r.LogList(name, numbers));
          },
          py::arg("name"), py::arg("values"))
      .def(
          "log_row",
          [](Recorder& r, py::handle name_object, const py::dict& columns, py::handle step) {
            std::string_view name = NameOf("row name", name_object);
            Check(r.LogRow(name, ToColumns(name, columns), ToStep(name, step)));
          },
          py::arg("name"), py::arg("columns"), py::arg("step") = py::none())
      .def(
          "log_table",
          [](Recorder& r, py::handle name_object, const py::dict& table) {
            std::string_view name = NameOf("table name", name_object);
            Check(r.LogTable(name, ToTable(name, table)));
          },
          py::arg("name"), py::arg("table"))
      .def(
          "log_image",
          [](Recorder& r, py::handle name_object, const std::string& path, py::handle step) {
            std::string_view name = NameOf("image name", name_object);
            std::optional<int64_t> s = ToStep(name, step);
            py::gil_scoped_release release;
            Check(r.LogImage(name, path, s));
          },
          py::arg("name"), py::arg("path"), py::arg("step") = py::none())
      .def(
          "tag",
          [](Recorder& r, std::string_view key, std::optional<std::string> value) {
            Check(r.Tag(key, value ? std::optional<std::string_view>(*value) : std::nullopt));
          },
          py::arg("key"), py::arg("value") = py::none())
      .def(
          "set_tags", [](Recorder& r, const TagMap& tags) { Check(r.SetTags(tags)); },
          py::arg("tags"))
      .def(
          "add_properties",
          [](Recorder& r, const std::map<std::string, std::string>& properties) {
            Check(r.AddProperties(properties));
          },
          py::arg("properties"))
      .def(
          "upload_file",
          [](Recorder& r, const std::string& name, const std::string& path) {
            Check(r.UploadFile(name, path));
          },
          py::arg("name"), py::arg("path"), py::call_guard<py::gil_scoped_release>())
      .def(
          "upload_folder",
          [](Recorder& r, const std::string& name, const std::string& path) {
            Check(r.UploadFolder(name, path));
          },
          py::arg("name"), py::arg("path"), py::call_guard<py::gil_scoped_release>())
      .def(
          "flush", [](Recorder& r, double timeout) { Check(r.Flush(timeout)); },
          py::arg("timeout") = 30.0, py::call_guard<py::gil_scoped_release>())
      .def(
          "close", [](Recorder& r, double timeout) { Check(r.Close(timeout)); },
          py::arg("timeout") = 10.0, py::call_guard<py::gil_scoped_release>())
      .def(
          "get_metrics",
          [](Recorder& r, std::optional<std::string> name) {
            Result<MetricSeries> metrics = [&] {
              py::gil_scoped_release release;
              return r.GetMetrics(name);
            }();
            Check(metrics.status());
            return MetricsToPython(*metrics);
          },
          py::arg("name") = py::none(), "{name: [(step, timestamp_us, rank, value), ...]}")
      .def("get_tags", &Recorder::GetTags)
      .def_property_readonly("run_id", &Recorder::run_id)
      .def_property_readonly("experiment", &Recorder::experiment)
      .def_property_readonly("rank", &Recorder::rank)
      .def_property_readonly("offline", &Recorder::offline)
      .def_property_readonly("client_id", &Recorder::client_id);

  m.def(
      "current", []() -> Recorder& { return Recorder::Current(); },
      py::return_value_policy::reference,
      "The process's recorder (from the environment; offline outside trainyard).");
}

}  // namespace trainyard::tracking

PYBIND11_MODULE(_core, m) { trainyard::tracking::DefineModule(m); }
