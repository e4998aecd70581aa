// Without libtorch: TorchScript models cannot load (torchscript.h).
#include "serve/torchscript.h"

namespace trainyard::serve {

Result<std::unique_ptr<Backend>> LoadTorchScript(const std::string& file, bool, int, int) {
  return Unavailable("cannot load " + file +
                     ": this trainyard was built without libtorch, so it cannot run TorchScript "
                     "models (rebuild it with libtorch, e.g. Debian's libtorch-dev)");
}

bool HaveLibtorch() { return false; }

bool HaveCuda() { return false; }

}  // namespace trainyard::serve
