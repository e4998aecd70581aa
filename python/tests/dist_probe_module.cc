// trainyard_dist_probe: a C++ extension of its own that links trainyard::dist, as a user's
// extension would (test_hvd_one_runtime.py checks that it and horovod.torch share one runtime).
#include <torch/extension.h>

#include <string>

#include "trainyard/dist.h"

namespace dist = trainyard::dist;

PYBIND11_MODULE(trainyard_dist_probe, m) {
  pybind11::module_::import("torch");
  m.def("init", [] { dist::Init(); });
  m.def("shutdown", [] { dist::Shutdown(); });
  m.def("is_initialized", [] { return dist::IsInitialized(); });
  m.def("rank", [] { return dist::Rank(); });
  m.def("size", [] { return dist::Size(); });
  m.def("transport", [] { return dist::Transport(); });
  m.def("allreduce_sum", [](const at::Tensor& tensor, const std::string& name) {
    pybind11::gil_scoped_release release;
    return dist::Allreduce(tensor, dist::Sum, name);
  });
}
