// transport_registry.h: which transport a process uses (InitOptions::transport "auto"), the launch
// environment it is read from, the Horovod knobs that force one, the single-rank world of a plain
// `python train.py`, and — when the Gloo transport is built — a one-rank Gloo world and the bounded
// failure of a rendezvous whose peer never comes. Multi-rank runs on MPI and Gloo are
// collective.mpi.* and collective.gloo.* (multirank_test.cc).
#include "collective/transport_registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "collective/collective.h"
#include "common/clock.h"
#include "common/process.h"

namespace trainyard::collective {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  auto owned = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [owned](const char* name) -> const char* {
    auto it = owned->find(name);
    return it == owned->end() ? nullptr : it->second.c_str();
  };
}

LaunchEnv MustRead(std::map<std::string, std::string> vars) {
  Result<LaunchEnv> env = ReadLaunchEnv(Env(std::move(vars)));
  EXPECT_TRUE(env.ok()) << env.status().ToString();
  return env.ok() ? *env : LaunchEnv{};
}

TEST(LaunchEnv, Empty) {
  LaunchEnv env = MustRead({});
  EXPECT_FALSE(env.open_mpi);
  EXPECT_FALSE(env.torch);
  EXPECT_EQ(env.size, 1);
  EXPECT_EQ(env.local_rank, -1);
  EXPECT_TRUE(env.rendezvous_addr.empty());
  EXPECT_EQ(env.rendezvous_port, 0);
}

TEST(LaunchEnv, TorchContractUsesMasterPortPlusOne) {
  LaunchEnv env = MustRead({{"RANK", "2"},
                            {"WORLD_SIZE", "4"},
                            {"LOCAL_RANK", "0"},
                            {"LOCAL_WORLD_SIZE", "2"},
                            {"MASTER_ADDR", "node7"},
                            {"MASTER_PORT", "29500"}});
  EXPECT_TRUE(env.torch);
  EXPECT_EQ(env.rank, 2);
  EXPECT_EQ(env.size, 4);
  EXPECT_EQ(env.local_rank, 0);
  EXPECT_EQ(env.local_size, 2);
  EXPECT_EQ(env.rendezvous_addr, "node7");
  EXPECT_EQ(env.rendezvous_port, 29501);  // MASTER_PORT stays free for the user's script
}

TEST(LaunchEnv, HorovodRendezvousVariablesWin) {
  LaunchEnv env = MustRead({{"RANK", "0"},
                            {"WORLD_SIZE", "2"},
                            {"MASTER_ADDR", "node7"},
                            {"MASTER_PORT", "29500"},
                            {"HOROVOD_GLOO_RENDEZVOUS_ADDR", "10.0.0.1"},
                            {"HOROVOD_GLOO_RENDEZVOUS_PORT", "4000"}});
  EXPECT_EQ(env.rendezvous_addr, "10.0.0.1");
  EXPECT_EQ(env.rendezvous_port, 4000);
}

TEST(LaunchEnv, OpenMpi) {
  LaunchEnv env = MustRead({{"OMPI_COMM_WORLD_SIZE", "3"}});
  EXPECT_TRUE(env.open_mpi);
  EXPECT_EQ(env.ompi_size, 3);
  EXPECT_FALSE(env.torch);
}

TEST(LaunchEnv, MalformedValuesNameTheVariable) {
  struct Case {
    std::map<std::string, std::string> vars;
    std::string mention;
  };
  for (const Case& c : std::vector<Case>{
           {{{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK=x"},
           {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "WORLD_SIZE=2"},
           {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "65535"}},
            "MASTER_PORT=65535"},
           {{{"HOROVOD_GLOO_RENDEZVOUS_ADDR", "h"}, {"HOROVOD_GLOO_RENDEZVOUS_PORT", "70000"}},
            "HOROVOD_GLOO_RENDEZVOUS_PORT=70000"},
           {{{"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}}, "LOCAL_RANK=2"},
       }) {
    Result<LaunchEnv> env = ReadLaunchEnv(Env(c.vars));
    ASSERT_FALSE(env.ok()) << c.mention;
    EXPECT_EQ(env.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(env.status().message().find(c.mention), std::string::npos) << env.status().message();
  }
}

TEST(TransportConfig, HorovodKnobs) {
  Result<Config> c = ConfigFromEnv(Env({{"HOROVOD_CPU_OPERATIONS", "GLOO"}}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->transport, "gloo");
  c = ConfigFromEnv(Env({{"HOROVOD_CONTROLLER", "mpi"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->transport, "mpi");
  EXPECT_EQ(c->gloo_timeout_seconds, 60);
  c = ConfigFromEnv(Env({{"HOROVOD_CONTROLLER", "gloo"}, {"HOROVOD_CPU_OPERATIONS", "mpi"}}));
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  c = ConfigFromEnv(Env({{"HOROVOD_CPU_OPERATIONS", "ccl"}}));
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("HOROVOD_CPU_OPERATIONS=ccl"), std::string::npos);
  c = ConfigFromEnv(Env({{"HOROVOD_GLOO_TIMEOUT_SECONDS", "2.5"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->gloo_timeout_seconds, 2.5);
  c = ConfigFromEnv(Env({{"HOROVOD_GLOO_TIMEOUT_SECONDS", "0"}}));
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
}

std::string Resolve(const std::string& requested, const std::map<std::string, std::string>& vars) {
  Result<Config> config = ConfigFromEnv(Env(vars));
  EXPECT_TRUE(config.ok());
  Result<LaunchEnv> env = ReadLaunchEnv(Env(vars));
  EXPECT_TRUE(env.ok());
  Result<std::string> t = ResolveTransport(requested, *config, *env);
  return t.ok() ? *t : "error: " + t.status().ToString();
}

TEST(ResolveTransport, AutoRule) {
  const bool mpi = TransportBuilt("mpi");
  const bool gloo = TransportBuilt("gloo");
  EXPECT_EQ(Runtime::GlooBuilt(), gloo);
  EXPECT_EQ(Runtime::MpiBuilt(), mpi);
  // A plain `python train.py`: one rank, on the in-process transport.
  EXPECT_EQ(Resolve("auto", {}), "single");
  EXPECT_EQ(Resolve("", {}), "single");
  EXPECT_EQ(Resolve("auto", {{"RANK", "0"}, {"WORLD_SIZE", "1"}}), "single");
  // Explicit choices are kept (CreateWorld reports the ones not built).
  EXPECT_EQ(Resolve("mpi", {{"RANK", "0"}, {"WORLD_SIZE", "2"}}), "mpi");
  EXPECT_EQ(Resolve("carrier-pigeon", {}), "carrier-pigeon");
  // Forced by Horovod's knobs, whatever launched the process.
  EXPECT_EQ(Resolve("auto", {{"OMPI_COMM_WORLD_SIZE", "2"}, {"HOROVOD_CPU_OPERATIONS", "gloo"}}),
            "gloo");
  EXPECT_EQ(Resolve("auto", {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"HOROVOD_CONTROLLER", "mpi"}}),
            "mpi");
  // Open MPI's launcher.
  std::string under_mpirun = Resolve("auto", {{"OMPI_COMM_WORLD_SIZE", "2"}});
  if (mpi) {
    EXPECT_EQ(under_mpirun, "mpi");
    EXPECT_EQ(Resolve("auto", {{"OMPI_COMM_WORLD_SIZE", "1"}}), "mpi");
  } else {
    EXPECT_NE(under_mpirun.find("Unavailable"), std::string::npos) << under_mpirun;
    EXPECT_NE(under_mpirun.find("Open MPI with 2 ranks"), std::string::npos) << under_mpirun;
  }
  // torch.distributed's contract.
  std::string torchrun = Resolve("auto", {{"RANK", "1"}, {"WORLD_SIZE", "3"}});
  if (gloo) {
    EXPECT_EQ(torchrun, "gloo");
  } else {
    EXPECT_NE(torchrun.find("Gloo transport is not built"), std::string::npos) << torchrun;
  }
  // Both launchers' variables (mpirun running a torchrun-style script): MPI when it is built.
  EXPECT_EQ(Resolve("auto", {{"OMPI_COMM_WORLD_SIZE", "2"}, {"RANK", "0"}, {"WORLD_SIZE", "2"}}),
            mpi ? "mpi" : (gloo ? "gloo" : "error"));
}

// Clears the launch variables of this process (ctest may run under anything).
void ClearLaunchEnv() {
  for (const char* var :
       {"OMPI_COMM_WORLD_SIZE", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
        "MASTER_ADDR", "MASTER_PORT", "HOROVOD_CPU_OPERATIONS", "HOROVOD_CONTROLLER",
        "HOROVOD_GLOO_RENDEZVOUS_ADDR", "HOROVOD_GLOO_RENDEZVOUS_PORT"}) {
    unsetenv(var);
  }
}

TEST(SingleRankWorld, AutoInitWithoutLauncher) {
  ClearLaunchEnv();
  Result<std::unique_ptr<Runtime>> rt = Runtime::Init();
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  EXPECT_EQ((*rt)->size(), 1);
  EXPECT_EQ((*rt)->rank(), 0);
  EXPECT_EQ((*rt)->local_size(), 1);
  float v[3] = {1, 2, 3};
  Tensor t{v, DataType::kFloat32, {3}, {}};
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  ASSERT_TRUE((*rt)->Allreduce("single", t, t, sum).ok());
  EXPECT_EQ(v[2], 3);
  EXPECT_TRUE((*rt)->Shutdown().ok());
}

TEST(GlooWorld, OneRank) {
  if (!TransportBuilt("gloo")) GTEST_SKIP() << "the Gloo transport is not built";
  ClearLaunchEnv();
  setenv("RANK", "0", 1);
  setenv("WORLD_SIZE", "1", 1);
  setenv("HOROVOD_GLOO_RENDEZVOUS_ADDR", "127.0.0.1", 1);
  setenv("HOROVOD_GLOO_RENDEZVOUS_PORT", std::to_string(PickFreePort()).c_str(), 1);
  InitOptions options;
  options.transport = "gloo";
  Result<std::unique_ptr<Runtime>> rt = Runtime::Init(std::move(options));
  ClearLaunchEnv();
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  EXPECT_EQ((*rt)->size(), 1);
  EXPECT_EQ((*rt)->local_size(), 1);
  EXPECT_EQ((*rt)->cross_size(), 1);
  double v[2] = {1.5, -2};
  Tensor t{v, DataType::kFloat64, {2}, {}};
  ASSERT_TRUE((*rt)->Allreduce("one", t, t).ok());
  EXPECT_EQ(v[1], -2);
  EXPECT_TRUE((*rt)->Barrier().ok());
  EXPECT_TRUE((*rt)->Shutdown().ok());
}

// A rendezvous whose peer never comes fails with Unavailable after the configured time, for the
// rank hosting the store (rank 0) and for a rank that cannot reach it (rank 1).
TEST(GlooWorld, MissingPeerFailsAfterTheTimeout) {
  if (!TransportBuilt("gloo")) GTEST_SKIP() << "the Gloo transport is not built";
  for (const char* rank : {"0", "1"}) {
    ClearLaunchEnv();
    setenv("RANK", rank, 1);
    setenv("WORLD_SIZE", "2", 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", std::to_string(PickFreePort()).c_str(), 1);
    InitOptions options;
    Config config;
    config.gloo_timeout_seconds = 1;
    options.config = config;
    const int64_t start = MonotonicMicros();
    Result<std::unique_ptr<Runtime>> rt = Runtime::Init(std::move(options));
    const double seconds = static_cast<double>(MonotonicMicros() - start) / 1e6;
    ClearLaunchEnv();
    ASSERT_FALSE(rt.ok()) << "rank " << rank;
    EXPECT_EQ(rt.status().code(), StatusCode::kUnavailable) << rt.status().ToString();
    EXPECT_NE(rt.status().message().find("Gloo rendezvous"), std::string::npos)
        << rt.status().message();
    EXPECT_NE(rt.status().message().find("HOROVOD_GLOO_TIMEOUT_SECONDS"), std::string::npos)
        << rt.status().message();
    // No timing assertion: a hang would hit the test's timeout; the duration is only reported.
    std::printf("rank %s failed after %.1f s: %s\n", rank, seconds, rt.status().ToString().c_str());
  }
}

}  // namespace
}  // namespace trainyard::collective
