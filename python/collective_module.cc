// trainyard._collective: the Python binding of the collective runtime (src/collective).
//
// The horovod.torch API (trainyard/torch/__init__.py) sits on this module. Tensors cross the
// boundary as raw buffers: (data pointer, dtype code of collective::DataType, shape). The caller
// keeps the memory alive until the handle is done (the Python layer holds the tensors with the
// handle). Outputs whose shape depends on other ranks (allgather, alltoall, reducescatter) are
// owned by the handle; Python reads the shape and copies them into a tensor of its own.
//
// One Runtime per process (module-level). Errors of operations raise HorovodInternalError (a
// RuntimeError) with the core's message; bad arguments found at enqueue raise ValueError; calls
// before init raise ValueError like Horovod's "Horovod has not been initialized".
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "collective/collective.h"
#include "collective/transport_registry.h"

namespace py = pybind11;

namespace trainyard::collective {
namespace {

// Raised for a failed operation (mismatch, duplicate name, dead peer, ...).
class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::unique_ptr<Runtime>& TheRuntime() {
  static std::unique_ptr<Runtime> runtime;
  return runtime;
}

// Like Horovod, the topology stays readable until this process calls shutdown, also when the
// runtime stopped because another rank shut down or a peer died; operations then fail with the
// reason (the runtime's queue is closed).
Runtime& Rt() {
  auto& rt = TheRuntime();
  if (rt == nullptr) {
    throw py::value_error("Horovod has not been initialized; use hvd.init().");
  }
  return *rt;
}

std::string Describe(const Status& status) { return status.ToString(); }

// The transport of the runtime ("mpi", "gloo" or "single"); empty before init.
std::string& TheTransport() {
  static std::string transport;
  return transport;
}

// Horovod's rule, as Runtime::Init's "auto" (ResolveTransport, transport_registry.h): MPI under
// Open MPI's launcher, Gloo under torch.distributed's RANK/WORLD_SIZE, else this process alone;
// HOROVOD_CPU_OPERATIONS / HOROVOD_CONTROLLER force one. Resolved here so that mpi_enabled() and
// gloo_enabled() can report it.
Result<std::string> ChooseTransport() {
  ASSIGN_OR_RETURN(Config config, ConfigFromEnv());
  ASSIGN_OR_RETURN(LaunchEnv env,
                   ReadLaunchEnv([](const char* name) { return std::getenv(name); }));
  return ResolveTransport("auto", config, env);
}

void CheckOp(const Status& status) {
  if (status.ok()) return;
  throw InternalError(Describe(status));
}

void CheckArg(const Status& status) {
  if (status.ok()) return;
  if (status.code() == StatusCode::kInvalidArgument) throw py::value_error(Describe(status));
  throw InternalError(Describe(status));
}

DataType ToDataType(int code) {
  if (!IsValidDataType(code)) throw py::value_error("invalid dtype code " + std::to_string(code));
  return static_cast<DataType>(code);
}

ReduceOp ToReduceOp(int code) {
  if (!IsValidReduceOp(code)) throw py::value_error("invalid reduce op " + std::to_string(code));
  return static_cast<ReduceOp>(code);
}

// `device`: -1 for host memory, else the index of the CUDA device the memory is on (the runtime
// routes such tensors to its NCCL device communicator, or refuses them).
Tensor MakeTensor(uintptr_t data, int dtype, const std::vector<int64_t>& shape, int device = -1) {
  Tensor t;
  t.data = reinterpret_cast<void*>(data);  // NOLINT(performance-no-int-to-ptr)
  t.dtype = ToDataType(dtype);
  t.shape = shape;
  if (device >= 0) t.device = Device{DeviceType::kCuda, device};
  return t;
}

// A Handle as seen from Python.
struct PyHandle {
  Handle handle;

  bool Poll() const { return handle.Poll(); }
  void Wait() const {
    Status st;
    {
      py::gil_scoped_release release;
      st = handle.Wait();
    }
    CheckOp(st);
  }
  std::vector<int64_t> OutputShape() const { return handle.output().shape; }
  int64_t OutputBytes() const { return handle.output().byte_size(); }
  // Copies the handle's output into `dst` (at least OutputBytes() bytes).
  void CopyOutput(uintptr_t dst) const {
    const Tensor& out = handle.output();
    int64_t bytes = out.byte_size();
    if (bytes > 0 && out.data != nullptr) {
      std::memcpy(reinterpret_cast<void*>(dst), out.data,  // NOLINT(performance-no-int-to-ptr)
                  static_cast<size_t>(bytes));
    }
  }
  std::vector<int64_t> ReceivedSplits() const { return handle.received_splits(); }
  int LastJoinedRank() const { return handle.last_joined_rank(); }
};

void Init(const std::vector<std::vector<int>>& process_sets) {
  auto& rt = TheRuntime();
  if (rt != nullptr && rt->is_initialized()) return;
  if (rt != nullptr) {
    // A previous runtime stopped (shutdown or fatal error): replace it.
    py::gil_scoped_release release;
    (void)rt->Shutdown();
    rt.reset();
  }
  InitOptions options;
  options.process_sets = process_sets;
  Result<std::string> transport = ChooseTransport();
  if (!transport.ok()) {
    throw std::runtime_error("trainyard.collective init failed: " + Describe(transport.status()));
  }
  options.transport = *transport;
  Result<std::unique_ptr<Runtime>> made = [&] {
    py::gil_scoped_release release;
    return Runtime::Init(std::move(options));
  }();
  if (!made.ok())
    throw std::runtime_error("trainyard.collective init failed: " + Describe(made.status()));
  rt = std::move(made).value();
  TheTransport() = *transport;
}

void Shutdown() {
  auto& rt = TheRuntime();
  if (rt == nullptr) return;
  Status st;
  {
    py::gil_scoped_release release;
    st = rt->Shutdown();
    rt.reset();
  }
  CheckOp(st);
}

}  // namespace
}  // namespace trainyard::collective

PYBIND11_MODULE(_collective, m) {
  using namespace trainyard;              // NOLINT(google-build-using-namespace)
  using namespace trainyard::collective;  // NOLINT(google-build-using-namespace)
  m.doc() = "trainyard's collective runtime (Horovod's operations), used by trainyard.torch";

  py::register_exception<InternalError>(m, "HorovodInternalError", PyExc_RuntimeError);

  py::class_<PyHandle>(m, "Handle")
      .def("poll", &PyHandle::Poll)
      .def("wait", &PyHandle::Wait)
      .def("output_shape", &PyHandle::OutputShape)
      .def("output_bytes", &PyHandle::OutputBytes)
      .def("copy_output", &PyHandle::CopyOutput, py::arg("dst"))
      .def("received_splits", &PyHandle::ReceivedSplits)
      .def("last_joined_rank", &PyHandle::LastJoinedRank);

  m.def("init", &Init, py::arg("process_sets") = std::vector<std::vector<int>>{});
  m.def("shutdown", &Shutdown);
  m.def("is_initialized", [] { return TheRuntime() != nullptr; });
  m.def("rank", [] { return Rt().rank(); });
  m.def("size", [] { return Rt().size(); });
  m.def("local_rank", [] { return Rt().local_rank(); });
  m.def("local_size", [] { return Rt().local_size(); });
  m.def("cross_rank", [] { return Rt().cross_rank(); });
  m.def("cross_size", [] { return Rt().cross_size(); });
  m.def("mpi_built", [] { return Runtime::MpiBuilt(); });
  m.def("gloo_built", [] { return Runtime::GlooBuilt(); });
  m.def("nccl_built", [] { return Runtime::NcclBuilt(); });
  m.def("transport", [] { return TheTransport(); });

  m.def(
      "allreduce_async",
      [](const std::string& name, uintptr_t in, uintptr_t out, int dtype,
         const std::vector<int64_t>& shape, int op, double prescale, double postscale, int ps,
         int device) {
        AllreduceOptions o;
        o.op = ToReduceOp(op);
        o.prescale_factor = prescale;
        o.postscale_factor = postscale;
        o.process_set = ps;
        Tensor tin = MakeTensor(in, dtype, shape, device);
        Tensor tout = MakeTensor(out, dtype, shape, device);
        return PyHandle{Rt().AllreduceAsync(name, tin, tout, o)};
      },
      py::arg("name"), py::arg("input"), py::arg("output"), py::arg("dtype"), py::arg("shape"),
      py::arg("op"), py::arg("prescale") = 1.0, py::arg("postscale") = 1.0,
      py::arg("process_set") = 0, py::arg("device") = -1);
  m.def(
      "grouped_allreduce_async",
      [](const std::vector<std::string>& names, const std::vector<uintptr_t>& ins,
         const std::vector<uintptr_t>& outs, const std::vector<int>& dtypes,
         const std::vector<std::vector<int64_t>>& shapes, int op, double prescale, double postscale,
         int ps, const std::vector<int>& devices) {
        size_t n = names.size();
        if (ins.size() != n || outs.size() != n || dtypes.size() != n || shapes.size() != n ||
            (!devices.empty() && devices.size() != n)) {
          throw py::value_error("grouped_allreduce: argument lists differ in length");
        }
        std::vector<Tensor> tin;
        std::vector<Tensor> tout;
        for (size_t i = 0; i < n; ++i) {
          const int device = devices.empty() ? -1 : devices[i];
          tin.push_back(MakeTensor(ins[i], dtypes[i], shapes[i], device));
          tout.push_back(MakeTensor(outs[i], dtypes[i], shapes[i], device));
        }
        AllreduceOptions o;
        o.op = ToReduceOp(op);
        o.prescale_factor = prescale;
        o.postscale_factor = postscale;
        o.process_set = ps;
        return PyHandle{Rt().GroupedAllreduceAsync(names, tin, tout, o)};
      },
      py::arg("names"), py::arg("inputs"), py::arg("outputs"), py::arg("dtypes"), py::arg("shapes"),
      py::arg("op"), py::arg("prescale") = 1.0, py::arg("postscale") = 1.0,
      py::arg("process_set") = 0, py::arg("devices") = std::vector<int>{});
  m.def(
      "allgather_async",
      [](const std::string& name, uintptr_t in, int dtype, const std::vector<int64_t>& shape,
         int ps) {
        AllgatherOptions o;
        o.process_set = ps;
        return PyHandle{Rt().AllgatherAsync(name, MakeTensor(in, dtype, shape), o)};
      },
      py::arg("name"), py::arg("input"), py::arg("dtype"), py::arg("shape"),
      py::arg("process_set") = 0);
  m.def(
      "broadcast_async",
      [](const std::string& name, uintptr_t in, uintptr_t out, int dtype,
         const std::vector<int64_t>& shape, int root, int ps, int device) {
        return PyHandle{Rt().BroadcastAsync(name, MakeTensor(in, dtype, shape, device),
                                            MakeTensor(out, dtype, shape, device), root, ps)};
      },
      py::arg("name"), py::arg("input"), py::arg("output"), py::arg("dtype"), py::arg("shape"),
      py::arg("root_rank"), py::arg("process_set") = 0, py::arg("device") = -1);
  m.def(
      "alltoall_async",
      [](const std::string& name, uintptr_t in, int dtype, const std::vector<int64_t>& shape,
         const std::vector<int64_t>& splits, int ps) {
        AlltoallOptions o;
        o.splits = splits;
        o.process_set = ps;
        return PyHandle{Rt().AlltoallAsync(name, MakeTensor(in, dtype, shape), o)};
      },
      py::arg("name"), py::arg("input"), py::arg("dtype"), py::arg("shape"),
      py::arg("splits") = std::vector<int64_t>{}, py::arg("process_set") = 0);
  m.def(
      "reducescatter_async",
      [](const std::string& name, uintptr_t in, int dtype, const std::vector<int64_t>& shape,
         int op, double prescale, double postscale, int ps) {
        ReducescatterOptions o;
        o.op = ToReduceOp(op);
        o.prescale_factor = prescale;
        o.postscale_factor = postscale;
        o.process_set = ps;
        return PyHandle{Rt().ReducescatterAsync(name, MakeTensor(in, dtype, shape), o)};
      },
      py::arg("name"), py::arg("input"), py::arg("dtype"), py::arg("shape"), py::arg("op"),
      py::arg("prescale") = 1.0, py::arg("postscale") = 1.0, py::arg("process_set") = 0);
  m.def(
      "barrier",
      [](int ps) {
        Runtime& rt = Rt();
        Status st;
        {
          py::gil_scoped_release release;
          st = rt.Barrier(ps);
        }
        CheckOp(st);
      },
      py::arg("process_set") = 0);
  m.def(
      "join_async", [](int ps) { return PyHandle{Rt().JoinAsync(ps)}; },
      py::arg("process_set") = 0);

  m.def("add_process_set", [](std::vector<int> ranks) {
    Runtime& rt = Rt();
    Result<ProcessSetId> id = [&] {
      py::gil_scoped_release release;
      return rt.AddProcessSet(std::move(ranks));
    }();
    if (!id.ok()) CheckArg(id.status());
    return *id;
  });
  m.def("remove_process_set", [](int id) {
    Runtime& rt = Rt();
    Status st;
    {
      py::gil_scoped_release release;
      st = rt.RemoveProcessSet(id);
    }
    CheckArg(st);
  });
  // (ranks, rank within the set or -1) of a registered set.
  m.def("process_set_info", [](int id) {
    Result<ProcessSetInfo> info = Rt().GetProcessSet(id);
    if (!info.ok()) CheckArg(info.status());
    return py::make_tuple(info->ranks, info->rank);
  });
  m.def("process_set_ids", [] { return Rt().ProcessSetIds(); });

  m.def(
      "start_timeline",
      [](const std::string& path, bool mark_cycles) {
        CheckArg(Rt().StartTimeline(path, mark_cycles));
      },
      py::arg("path"), py::arg("mark_cycles") = false);
  m.def("stop_timeline", [] { CheckArg(Rt().StopTimeline()); });
}
