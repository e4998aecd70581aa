// trainyard._collective: the Python binding of trainyard::dist (include/trainyard/dist.h), the one
// torch adapter of the collective runtime.
//
// The horovod.torch API (trainyard/torch/*.py) sits on this module. Tensors cross the boundary as
// torch tensors (torch's pybind11 type casters; this module links libtorch_python, so it must be
// imported after torch, which trainyard.torch does). Everything an operation does with them (dtype
// mapping, views, staging of non-contiguous in-place tensors, outputs sized by the other ranks,
// compression, the gradient reducer behind DistributedOptimizer with its flat gradient layout,
// broadcasting parameters) is trainyard::dist's, in libty_dist.so: the runtime is that library's,
// so a C++ extension linking trainyard::dist in the same process sees the same runtime, whichever
// side called Init.
//
// Errors: bad arguments found at the call (dtype, device, no tensors, ...) raise ValueError;
// failed operations (mismatch, duplicate name, dead peer, ...) raise HorovodInternalError (a
// RuntimeError) with trainyard::dist's message; calls before init raise ValueError like Horovod's
// "Horovod has not been initialized". Blocking calls release the GIL.
#include <torch/extension.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "trainyard/dist.h"

namespace py = pybind11;
namespace dist = trainyard::dist;

namespace {

// Raised for a failed operation (mismatch, duplicate name, dead peer, ...).
class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr const char* kNotInitialized = "Horovod has not been initialized; use hvd.init().";

void RequireInit() {
  if (!dist::IsInitialized()) throw py::value_error(kNotInitialized);
}

// An error at the call (argument checks, enqueue): ValueError for bad arguments, else internal.
[[noreturn]] void RaiseAtCall(const dist::Error& e) {
  const trainyard::StatusCode code = e.status().code();
  if (code == trainyard::StatusCode::kInvalidArgument ||
      code == trainyard::StatusCode::kUnimplemented) {
    throw py::value_error(e.what());
  }
  if (!dist::IsInitialized()) throw py::value_error(kNotInitialized);
  throw InternalError(e.what());
}

// Runs `f` (which starts an operation or checks arguments) translating dist::Error.
template <typename F>
auto AtCall(F&& f) -> decltype(f()) {
  RequireInit();
  try {
    return f();
  } catch (const dist::Error& e) {
    RaiseAtCall(e);
  }
}

// Runs `f` (which waits) without the GIL; its errors are failed operations.
template <typename F>
auto Blocking(F&& f) -> decltype(f()) {
  try {
    py::gil_scoped_release release;
    return f();
  } catch (const dist::Error& e) {
    throw InternalError(e.what());
  }
}

dist::ReduceOp ToReduceOp(int code) {
  // The values of horovod.torch's constants (trainyard/torch/mpi_ops.py), which are Horovod's.
  switch (code) {
    case 0: return dist::ReduceOp::kAverage;
    case 1: return dist::ReduceOp::kSum;
    case 2: return dist::ReduceOp::kAdasum;
    case 3: return dist::ReduceOp::kMin;
    case 4: return dist::ReduceOp::kMax;
    case 5: return dist::ReduceOp::kProduct;
    default: throw py::value_error("invalid reduce op " + std::to_string(code));
  }
}

dist::AllreduceOptions ToOptions(int op, double prescale, double postscale, int process_set) {
  dist::AllreduceOptions o;
  o.op = ToReduceOp(op);
  o.prescale_factor = prescale;
  o.postscale_factor = postscale;
  o.process_set = process_set;
  return o;
}

// A dist::Handle as seen from Python.
struct PyHandle {
  dist::Handle handle;

  bool Poll() const {
    try {
      return handle.Poll();
    } catch (const dist::Error& e) {
      throw InternalError(e.what());
    }
  }
  at::Tensor Wait() const {
    return Blocking([&] { return handle.Wait(); });
  }
  std::vector<at::Tensor> WaitAll() const {
    return Blocking([&] { return handle.WaitAll(); });
  }
  std::vector<int64_t> ReceivedSplits() const { return handle.ReceivedSplits(); }
};

// A horovod Compressor class of the user's (not Compression.none/fp16): called under the GIL,
// keeping each parameter's compression context until its decompression.
class PyCompressor : public dist::Compressor {
 public:
  explicit PyCompressor(py::object compressor) : compressor_(std::move(compressor)) {}
  ~PyCompressor() override {
    py::gil_scoped_acquire gil;
    contexts_.clear();
    compressor_ = py::object();
  }
  PyCompressor(const PyCompressor&) = delete;
  PyCompressor& operator=(const PyCompressor&) = delete;

  at::Tensor Compress(size_t index, const at::Tensor& grad) override {
    py::gil_scoped_acquire gil;
    py::tuple result = compressor_.attr("compress")(grad);
    if (contexts_.size() <= index) contexts_.resize(index + 1);
    contexts_[index] = result[1];
    return result[0].cast<at::Tensor>();
  }
  void Decompress(size_t index, const at::Tensor& reduced, at::Tensor& grad) override {
    py::gil_scoped_acquire gil;
    py::object context = index < contexts_.size() ? contexts_[index] : py::none();
    at::Tensor out = compressor_.attr("decompress")(reduced, context).cast<at::Tensor>();
    if (index < contexts_.size()) contexts_[index] = py::none();
    if (!out.is_same(grad)) grad.copy_(out);
  }

 private:
  py::object compressor_;
  std::vector<py::object> contexts_;
};

}  // namespace

PYBIND11_MODULE(_collective, m) {
  // Tensors cross as torch's own objects: torch's Python types must exist first.
  py::module_::import("torch");
  m.doc() =
      "trainyard::dist (the torch adapter of trainyard's collective runtime), used by "
      "trainyard.torch";

  py::register_exception<InternalError>(m, "HorovodInternalError", PyExc_RuntimeError);

  py::class_<PyHandle>(m, "Handle")
      .def("poll", &PyHandle::Poll)
      .def("wait", &PyHandle::Wait)
      .def("wait_all", &PyHandle::WaitAll)
      .def("received_splits", &PyHandle::ReceivedSplits);

  // --- lifecycle and topology ---
  m.def(
      "init",
      [](const std::vector<std::vector<int>>& process_sets) {
        dist::InitOptions options;
        options.process_sets = process_sets;
        Blocking([&] { dist::Init(options); });
      },
      py::arg("process_sets") = std::vector<std::vector<int>>{});
  m.def("shutdown", [] { Blocking([] { dist::Shutdown(); }); });
  m.def("is_initialized", [] { return dist::IsInitialized(); });
  m.def("rank", [] { return AtCall([] { return dist::Rank(); }); });
  m.def("size", [] { return AtCall([] { return dist::Size(); }); });
  m.def("local_rank", [] { return AtCall([] { return dist::LocalRank(); }); });
  m.def("local_size", [] { return AtCall([] { return dist::LocalSize(); }); });
  m.def("cross_rank", [] { return AtCall([] { return dist::CrossRank(); }); });
  m.def("cross_size", [] { return AtCall([] { return dist::CrossSize(); }); });
  m.def("mpi_built", [] { return dist::MpiBuilt(); });
  m.def("gloo_built", [] { return dist::GlooBuilt(); });
  m.def("nccl_built", [] { return dist::NcclBuilt(); });
  m.def("transport", [] { return dist::Transport(); });
  m.def(
      "start_timeline",
      [](const std::string& path, bool mark_cycles) {
        AtCall([&] { dist::StartTimeline(path, mark_cycles); });
      },
      py::arg("path"), py::arg("mark_cycles") = false);
  m.def("stop_timeline", [] { AtCall([] { dist::StopTimeline(); }); });

  // --- process sets ---
  m.def("add_process_set", [](std::vector<int> ranks) {
    RequireInit();
    try {
      py::gil_scoped_release release;
      return dist::AddProcessSet(std::move(ranks));
    } catch (const dist::Error& e) {
      RaiseAtCall(e);
    }
  });
  m.def("remove_process_set", [](int id) {
    RequireInit();
    try {
      py::gil_scoped_release release;
      dist::RemoveProcessSet(id);
    } catch (const dist::Error& e) {
      RaiseAtCall(e);
    }
  });
  // (ranks, rank within the set or -1) of a registered set.
  m.def("process_set_info", [](int id) {
    return AtCall(
        [&] { return py::make_tuple(dist::ProcessSetRanks(id), dist::ProcessSetRank(id)); });
  });

  // --- operations: each returns a Handle; `in_place` writes into the given tensor(s) ---
  m.def(
      "allreduce_async",
      [](const at::Tensor& tensor, const std::string& name, int op, double prescale,
         double postscale, int process_set, bool in_place) {
        dist::AllreduceOptions o = ToOptions(op, prescale, postscale, process_set);
        return AtCall([&] {
          return PyHandle{in_place ? dist::AllreduceAsync_(tensor, o, name)
                                   : dist::AllreduceAsync(tensor, o, name)};
        });
      },
      py::arg("tensor"), py::arg("name"), py::arg("op"), py::arg("prescale") = 1.0,
      py::arg("postscale") = 1.0, py::arg("process_set") = 0, py::arg("in_place") = false);
  m.def(
      "grouped_allreduce_async",
      [](const std::vector<at::Tensor>& tensors, const std::string& name, int op, double prescale,
         double postscale, int process_set, bool in_place) {
        dist::AllreduceOptions o = ToOptions(op, prescale, postscale, process_set);
        return AtCall([&] {
          return PyHandle{in_place ? dist::GroupedAllreduceAsync_(tensors, o, name)
                                   : dist::GroupedAllreduceAsync(tensors, o, name)};
        });
      },
      py::arg("tensors"), py::arg("name"), py::arg("op"), py::arg("prescale") = 1.0,
      py::arg("postscale") = 1.0, py::arg("process_set") = 0, py::arg("in_place") = false);
  m.def(
      "allgather_async",
      [](const at::Tensor& tensor, const std::string& name, int process_set) {
        return AtCall([&] { return PyHandle{dist::AllgatherAsync(tensor, name, process_set)}; });
      },
      py::arg("tensor"), py::arg("name"), py::arg("process_set") = 0);
  m.def(
      "broadcast_async",
      [](const at::Tensor& tensor, int root_rank, const std::string& name, int process_set,
         bool in_place) {
        return AtCall([&] {
          return PyHandle{in_place ? dist::BroadcastAsync_(tensor, root_rank, name, process_set)
                                   : dist::BroadcastAsync(tensor, root_rank, name, process_set)};
        });
      },
      py::arg("tensor"), py::arg("root_rank"), py::arg("name"), py::arg("process_set") = 0,
      py::arg("in_place") = false);
  m.def(
      "alltoall_async",
      [](const at::Tensor& tensor, const std::vector<int64_t>& splits, const std::string& name,
         int process_set) {
        return AtCall(
            [&] { return PyHandle{dist::AlltoallAsync(tensor, splits, name, process_set)}; });
      },
      py::arg("tensor"), py::arg("splits"), py::arg("name"), py::arg("process_set") = 0);
  m.def(
      "reducescatter_async",
      [](const at::Tensor& tensor, const std::string& name, int op, double prescale,
         double postscale, int process_set) {
        dist::AllreduceOptions o = ToOptions(op, prescale, postscale, process_set);
        return AtCall([&] { return PyHandle{dist::ReducescatterAsync(tensor, o, name)}; });
      },
      py::arg("tensor"), py::arg("name"), py::arg("op"), py::arg("prescale") = 1.0,
      py::arg("postscale") = 1.0, py::arg("process_set") = 0);
  m.def(
      "refuse",
      [](const std::string& operation, const std::vector<std::string>& names,
         const std::string& message, bool invalid_argument, int process_set) {
        AtCall([&] { dist::Refuse(operation, names, message, invalid_argument, process_set); });
      },
      py::arg("operation"), py::arg("names"), py::arg("message"), py::arg("invalid_argument"),
      py::arg("process_set") = 0);
  m.def(
      "barrier",
      [](int process_set) {
        RequireInit();
        Blocking([&] { dist::Barrier(process_set); });
      },
      py::arg("process_set") = 0);
  // Returns the global rank that joined last.
  m.def(
      "join",
      [](int process_set) {
        RequireInit();
        return Blocking([&] { return dist::Join(process_set); });
      },
      py::arg("process_set") = 0);

  // --- model and optimizer state, compression, DistributedOptimizer ---
  m.def(
      "broadcast_parameters",
      [](const std::vector<std::pair<std::string, at::Tensor>>& named, int root_rank,
         int process_set) {
        RequireInit();
        Blocking([&] { dist::BroadcastParameters(named, root_rank, process_set); });
      },
      py::arg("named_tensors"), py::arg("root_rank"), py::arg("process_set") = 0);
  m.def("compress_fp16",
        [](const at::Tensor& tensor) { return dist::Compress(tensor, dist::Compression::kFp16); });
  m.def("decompress", [](const at::Tensor& tensor, py::object dtype) {
    return dist::Decompress(tensor, torch::python::detail::py_object_to_dtype(std::move(dtype)));
  });

  py::class_<dist::GradientReducer>(m, "GradientReducer")
      .def(py::init([](const std::vector<std::pair<std::string, at::Tensor>>& named,
                       int backward_passes_per_step, const std::string& compression,
                       py::object compressor, int op, double gradient_predivide_factor,
                       int process_set, bool force_hooks, bool sparse_as_dense, int num_groups,
                       std::vector<std::vector<size_t>> groups) {
             dist::GradientReducer::Options o;
             o.backward_passes_per_step = backward_passes_per_step;
             if (compression == "fp16") {
               o.compression = dist::Compression::kFp16;
             } else if (compression == "custom") {
               o.compressor = std::make_shared<PyCompressor>(std::move(compressor));
             } else if (compression != "none") {
               throw py::value_error("unknown compression " + compression);
             }
             o.op = ToReduceOp(op);
             o.gradient_predivide_factor = gradient_predivide_factor;
             o.process_set = process_set;
             o.force_hooks = force_hooks;
             o.view_layout = true;  // torch.optim's zero_grad handles views; grad._base is it
             o.sparse_as_dense = sparse_as_dense;
             o.num_groups = num_groups;
             o.groups = std::move(groups);
             return AtCall([&] { return std::make_unique<dist::GradientReducer>(named, o); });
           }),
           py::arg("named_parameters"), py::arg("backward_passes_per_step"), py::arg("compression"),
           py::arg("compressor"), py::arg("op"), py::arg("gradient_predivide_factor"),
           py::arg("process_set"), py::arg("force_hooks"), py::arg("sparse_as_dense") = false,
           py::arg("num_groups") = 0, py::arg("groups") = std::vector<std::vector<size_t>>{})
      .def("synchronize",
           [](dist::GradientReducer& reducer) { Blocking([&] { reducer.Synchronize(); }); })
      .def("pending", &dist::GradientReducer::Pending)
      .def("hooks", &dist::GradientReducer::hooks)
      .def("operations", &dist::GradientReducer::operations)
      .def("set_backward_passes_per_step", [](dist::GradientReducer& reducer, int passes) {
        AtCall([&] { reducer.set_backward_passes_per_step(passes); });
      });
}
