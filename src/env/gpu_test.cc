#include "env/gpu.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>

#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/test_util.h"

namespace trainyard::env {
namespace {

using testing::TempDir;

// Fake /proc/driver/nvidia/gpus and /dev with `proc` and `dev` GPUs.
GpuSources FakeMachine(const TempDir& tmp, int proc, int dev) {
  EXPECT_TRUE(MakeDirs(tmp / "proc").ok());
  EXPECT_TRUE(MakeDirs(tmp / "dev").ok());
  for (int i = 0; i < proc; ++i) {
    EXPECT_TRUE(MakeDirs(tmp / ("proc/0000:0" + std::to_string(i) + ":00.0")).ok());
  }
  for (int i = 0; i < dev; ++i) {
    EXPECT_TRUE(WriteFileAtomic(tmp / ("dev/nvidia" + std::to_string(i)), "").ok());
  }
  for (const char* other : {"nvidiactl", "nvidia-uvm", "nvidia-modeset", "null"}) {
    EXPECT_TRUE(WriteFileAtomic(tmp / (std::string("dev/") + other), "").ok());
  }
  return {tmp / "proc", tmp / "dev", std::nullopt};
}

TEST(Gpu, CountsDriverEntries) {
  TempDir tmp;
  EXPECT_EQ(CountGpusFrom(FakeMachine(tmp, 3, 0)), 3);
}

TEST(Gpu, FallsBackToDeviceFiles) {
  TempDir tmp;
  EXPECT_EQ(CountGpusFrom(FakeMachine(tmp, 0, 2)), 2);
}

TEST(Gpu, NoneWithoutDriverOrDevices) {
  TempDir tmp;
  EXPECT_EQ(CountGpusFrom(FakeMachine(tmp, 0, 0)), 0);
  EXPECT_EQ(CountGpusFrom({tmp / "missing", tmp / "missing", std::nullopt}), 0);
}

TEST(Gpu, HonoursCudaVisibleDevices) {
  TempDir tmp;
  GpuSources s = FakeMachine(tmp, 4, 4);
  auto with = [&](const std::string& v) {
    s.cuda_visible_devices = v;
    return CountGpusFrom(s);
  };
  EXPECT_EQ(with(""), 0);
  EXPECT_EQ(with("-1"), 0);
  EXPECT_EQ(with("1"), 1);
  EXPECT_EQ(with("0,1"), 2);
  EXPECT_EQ(with(" 2 , 3 "), 2);
  EXPECT_EQ(with("0,1,2,3"), 4);
  EXPECT_EQ(with("0,7,1"), 1);  // CUDA stops at the first invalid index
  EXPECT_EQ(with("0,-1,1"), 1);
  EXPECT_EQ(with("1,01"), 1);  // the same device twice
  EXPECT_EQ(with("GPU-8e4b2c1a-1111-2222-3333-444455556666"), 1);
  EXPECT_EQ(with("abc"), 0);

  TempDir none;
  GpuSources empty = FakeMachine(none, 0, 0);
  empty.cuda_visible_devices = "0,1";
  EXPECT_EQ(CountGpusFrom(empty), 0);  // listing ids does not conjure GPUs
}

// The GPUs of this machine counted without CountGpusFrom: entries of the driver's folder, else
// /dev/nvidia<N> files.
int PhysicalGpusOfThisMachine() {
  namespace fs = std::filesystem;
  std::error_code ec;
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    (void)e;
    ++n;
  }
  if (n > 0) return n;
  const std::regex device_file("nvidia[0-9]+");
  for (const auto& e : fs::directory_iterator("/dev", ec)) {
    if (std::regex_match(e.path().filename().string(), device_file)) ++n;
  }
  return n;
}

// Sets or unsets CUDA_VISIBLE_DEVICES for the scope, restoring the old value after.
class VisibleDevices {
 public:
  explicit VisibleDevices(const char* value) {
    if (const char* old = std::getenv(kVar)) old_ = old;
    if (value != nullptr) {
      setenv(kVar, value, 1);
    } else {
      unsetenv(kVar);
    }
  }
  ~VisibleDevices() {
    if (old_) {
      setenv(kVar, old_->c_str(), 1);
    } else {
      unsetenv(kVar);
    }
  }
  VisibleDevices(const VisibleDevices&) = delete;
  VisibleDevices& operator=(const VisibleDevices&) = delete;

 private:
  static constexpr const char* kVar = "CUDA_VISIBLE_DEVICES";
  std::optional<std::string> old_;
};

// CountGpus() reads the real driver folder and device files, and this process's
// CUDA_VISIBLE_DEVICES.
TEST(Gpu, RealCountMatchesTheSources) {
  const int physical = PhysicalGpusOfThisMachine();
  {
    VisibleDevices unset(nullptr);
    EXPECT_EQ(CountGpus(), physical);
  }
  {
    VisibleDevices none("");
    EXPECT_EQ(CountGpus(), 0) << "CUDA_VISIBLE_DEVICES= hides every GPU";
  }
  {
    VisibleDevices none("-1");
    EXPECT_EQ(CountGpus(), 0);
  }
  {
    VisibleDevices first("0");
    EXPECT_EQ(CountGpus(), std::min(physical, 1));
  }
  // On a machine with NVIDIA's tools, the count agrees with nvidia-smi.
  if (!FindOnPath("nvidia-smi").empty()) {
    VisibleDevices unset(nullptr);
    Result<CommandResult> smi = RunCommand({"nvidia-smi", "-L"}, {.timeout_seconds = 30});
    if (smi.ok() && smi->exit_code == 0) {
      int listed = 0;
      for (const std::string& line : Split(smi->out, '\n')) listed += StartsWith(line, "GPU ");
      EXPECT_EQ(CountGpus(), listed) << smi->out;
    }
  }
}

}  // namespace
}  // namespace trainyard::env
