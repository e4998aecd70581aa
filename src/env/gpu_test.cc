#include "env/gpu.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/files.h"
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

TEST(Gpu, RealCountMatchesTheSources) {
  GpuSources real;
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES")) real.cuda_visible_devices = v;
  EXPECT_EQ(CountGpus(), CountGpusFrom(real));
  EXPECT_GE(CountGpus(), 0);
}

}  // namespace
}  // namespace trainyard::env
