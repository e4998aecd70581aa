#include "env/doctor.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/test_util.h"

namespace trainyard::env {
namespace {

using Level = DoctorCheck::Level;
using testing::FakeHeader;
using testing::ScopedEnv;
using testing::TempDir;
using testing::WriteExecutable;
using testing::WriteFakePythonWithoutTorch;
using testing::WriteFakePythonWithTorch;

const std::vector<std::string> kNames = {"interpreter", "python",   "torch",   "torchvision",
                                         "blas",        "threads",  "openmpi", "slurm",
                                         "gpu",         "workspace"};

std::vector<std::string> Names(const std::vector<DoctorCheck>& checks) {
  std::vector<std::string> names;
  names.reserve(checks.size());
  for (const auto& c : checks) names.push_back(c.name);
  return names;
}

const DoctorCheck& Find(const std::vector<DoctorCheck>& checks, const std::string& name) {
  for (const auto& c : checks) {
    if (c.name == name) return c;
  }
  static const DoctorCheck kMissing{"missing", Level::kError, "", ""};
  ADD_FAILURE() << "no check named " << name;
  return kMissing;
}

DoctorInputs Inputs(const TempDir& tmp) {
  DoctorInputs in;
  in.cache_dir = tmp / "cache";
  in.workspace_dir = tmp / "ws";
  in.workspace_source = "--workspace";
  in.schema_version = -1;
  in.expected_schema_version = 3;
  return in;
}

// As Inputs, with a fake interpreter that answers at once (no ~1 s `import torch`).
DoctorInputs FastInputs(const TempDir& tmp) {
  DoctorInputs in = Inputs(tmp);
  WriteFakePythonWithTorch(tmp / "py", tmp / "torch", tmp / "count");
  in.python_requested = tmp / "py";
  return in;
}

// Every problem comes with something to do about it.
void ExpectFixesForProblems(const std::vector<DoctorCheck>& checks) {
  for (const auto& c : checks) {
    EXPECT_FALSE(c.value.empty()) << c.name;
    if (c.level == Level::kWarn || c.level == Level::kError) {
      EXPECT_FALSE(c.fix.empty()) << c.name << ": " << c.value;
    }
  }
}

TEST(Doctor, ReturnsEveryCheckInOrder) {
  TempDir tmp;
  auto checks = RunDoctor(Inputs(tmp));
  EXPECT_EQ(Names(checks), kNames);
  ExpectFixesForProblems(checks);
  EXPECT_EQ(Find(checks, "workspace").level, Level::kInfo);
  EXPECT_NE(Find(checks, "workspace").value.find("not created yet"), std::string::npos);
  EXPECT_EQ(Find(checks, "threads").level, Level::kInfo);
  if (PathExists("/usr/bin/python3")) {
    EXPECT_NE(Find(checks, "interpreter").value.find("/usr/bin/python3"), std::string::npos);
  }
}

TEST(Doctor, InterpreterWithoutTorchIsAnErrorWithAFix) {
  TempDir tmp;
  WriteFakePythonWithoutTorch(tmp / "py", tmp / "count");
  DoctorInputs in = Inputs(tmp);
  in.python_requested = tmp / "py";
  auto checks = RunDoctor(in);
  EXPECT_EQ(Names(checks), kNames);
  EXPECT_EQ(Find(checks, "interpreter").value, (tmp / "py") + " (job spec python)");
  EXPECT_EQ(Find(checks, "python").value, "3.12.1");
  const DoctorCheck& torch = Find(checks, "torch");
  EXPECT_EQ(torch.level, Level::kError);
  EXPECT_NE(torch.value.find("No module named 'torch'"), std::string::npos);
  EXPECT_NE(torch.fix.find("apt-get install python3-torch"), std::string::npos);
}

TEST(Doctor, MissingInterpreterStillReportsEveryCheck) {
  TempDir tmp;
  DoctorInputs in = Inputs(tmp);
  in.python_requested = tmp / "nope";
  auto checks = RunDoctor(in);
  EXPECT_EQ(Names(checks), kNames);
  ExpectFixesForProblems(checks);
  EXPECT_EQ(Find(checks, "interpreter").level, Level::kError);
  EXPECT_NE(Find(checks, "interpreter").value.find("does not exist"), std::string::npos);
}

TEST(Doctor, MissingToolsHaveInstallAdvice) {
  TempDir tmp;
  ScopedEnv path("PATH", tmp.Path());  // no mpirun, no sbatch
  auto checks = RunDoctor(FastInputs(tmp));
  const DoctorCheck& mpi = Find(checks, "openmpi");
  EXPECT_EQ(mpi.level, Level::kWarn);
  EXPECT_NE(mpi.fix.find("apt-get install openmpi-bin libopenmpi-dev"), std::string::npos);
  const DoctorCheck& slurm = Find(checks, "slurm");
  EXPECT_EQ(slurm.level, Level::kInfo);
  EXPECT_NE(slurm.value.find("only needed for slurm targets"), std::string::npos);
}

// Fake Slurm client commands in `dir`: sbatch and scontrol print `sbatch_err` / `ping_out` and
// exit with the given codes.
void WriteFakeSlurm(const std::string& dir, const std::string& sbatch_err, int sbatch_code,
                    const std::string& ping_out, int ping_code) {
  testing::WriteExecutable(dir + "/sbatch",
                           "#!/bin/sh\n" +
                               (sbatch_code == 0 ? std::string("echo 'slurm 22.05.8'\n")
                                                 : "echo '" + sbatch_err + "' >&2\n") +
                               "exit " + std::to_string(sbatch_code) + "\n");
  testing::WriteExecutable(dir + "/scontrol", "#!/bin/sh\necho '" + ping_out + "'\nexit " +
                                                  std::to_string(ping_code) + "\n");
}

TEST(Doctor, SlurmClientWithoutConfigurationIsNotMissing) {
  TempDir tmp;
  ScopedEnv path("PATH", tmp.Path());
  WriteFakeSlurm(tmp.Path(),
                 "sbatch: error: fetch_config: DNS SRV lookup failed\nsbatch: fatal: Could not "
                 "establish a configuration source",
                 1, "", 1);
  const DoctorCheck slurm = Find(RunDoctor(FastInputs(tmp)), "slurm");
  EXPECT_EQ(slurm.level, Level::kInfo) << slurm.value;
  EXPECT_NE(slurm.value.find("client installed"), std::string::npos) << slurm.value;
  EXPECT_NE(slurm.value.find("no controller reachable"), std::string::npos) << slurm.value;
  EXPECT_EQ(slurm.fix.find("apt-get install"), std::string::npos) << slurm.fix;
  EXPECT_NE(slurm.fix.find("slurm.conf"), std::string::npos) << slurm.fix;
}

TEST(Doctor, SlurmControllerDownIsReported) {
  TempDir tmp;
  ScopedEnv path("PATH", tmp.Path());
  WriteFakeSlurm(tmp.Path(), "", 0, "Slurmctld(primary) at vm is DOWN", 1);
  const DoctorCheck slurm = Find(RunDoctor(FastInputs(tmp)), "slurm");
  EXPECT_EQ(slurm.level, Level::kWarn) << slurm.value;
  EXPECT_NE(slurm.value.find("slurm 22.05.8 client installed"), std::string::npos) << slurm.value;
  EXPECT_NE(slurm.value.find("no controller reachable: Slurmctld(primary) at vm is DOWN"),
            std::string::npos)
      << slurm.value;
  EXPECT_EQ(slurm.fix.find("apt-get install"), std::string::npos) << slurm.fix;
}

TEST(Doctor, SlurmControllerUpIsOk) {
  TempDir tmp;
  ScopedEnv path("PATH", tmp.Path());
  WriteFakeSlurm(tmp.Path(), "", 0, "Slurmctld(primary) at vm is UP", 0);
  const DoctorCheck slurm = Find(RunDoctor(FastInputs(tmp)), "slurm");
  EXPECT_EQ(slurm.level, Level::kOk) << slurm.value;
  EXPECT_NE(slurm.value.find("slurm 22.05.8"), std::string::npos) << slurm.value;
  EXPECT_NE(slurm.value.find("is UP"), std::string::npos) << slurm.value;
  EXPECT_TRUE(slurm.fix.empty()) << slurm.fix;
}

// The real client on this machine: installed without a reachable controller, it must not be told
// to install the client.
TEST(Doctor, RealSlurmClientIsNeverToldToInstallItself) {
  if (FindOnPath("sbatch").empty()) GTEST_SKIP() << "no Slurm client here";
  TempDir tmp;
  const DoctorCheck slurm = Find(RunDoctor(FastInputs(tmp)), "slurm");
  if (slurm.level == Level::kOk) GTEST_SKIP() << "a controller answers here: " << slurm.value;
  EXPECT_NE(slurm.value.find("no controller reachable"), std::string::npos) << slurm.value;
  EXPECT_EQ(slurm.fix.find("apt-get install slurm-client"), std::string::npos) << slurm.fix;
}

TEST(Doctor, FindsOpenMpiWhenInstalled) {
  if (FindOnPath("mpirun").empty()) GTEST_SKIP() << "no mpirun here";
  TempDir tmp;
  const DoctorCheck mpi = Find(RunDoctor(FastInputs(tmp)), "openmpi");
  EXPECT_EQ(mpi.level, Level::kOk) << mpi.value;
  EXPECT_NE(mpi.value.find("Open MPI"), std::string::npos) << mpi.value;
}

TEST(Doctor, WorkspaceSchemaIsComparedWithThisBinary) {
  TempDir tmp;
  ASSERT_TRUE(MakeDirs(tmp / "ws").ok());
  DoctorInputs in = FastInputs(tmp);
  in.schema_version = 3;
  EXPECT_EQ(Find(RunDoctor(in), "workspace").level, Level::kOk);
  in.schema_version = 4;
  const DoctorCheck newer = Find(RunDoctor(in), "workspace");
  EXPECT_EQ(newer.level, Level::kWarn);
  EXPECT_NE(newer.value.find("schema v4, this binary supports v3"), std::string::npos);
  EXPECT_NE(newer.fix.find("upgrade trainyard"), std::string::npos);
}

TEST(Doctor, ReferenceBlasUnderTorchWarnsWithFix) {
  TempDir tmp;  // the fake torch reports that it loaded netlib's libblas.so.3
  auto checks = RunDoctor(FastInputs(tmp));
  const DoctorCheck& blas = Find(checks, "blas");
  EXPECT_EQ(blas.level, Level::kWarn) << blas.value;
  EXPECT_NE(blas.value.find("torch loads reference"), std::string::npos) << blas.value;
  EXPECT_NE(blas.fix.find("apt-get install libopenblas0-pthread"), std::string::npos);
  EXPECT_NE(blas.fix.find("update-alternatives --config libblas.so.3-"), std::string::npos);
  EXPECT_NE(Find(checks, "threads").value.find("torch uses 3 thread(s)"), std::string::npos);
  ExpectFixesForProblems(checks);
}

TEST(Doctor, LevelNames) {
  EXPECT_STREQ(DoctorLevelName(Level::kOk), "ok");
  EXPECT_STREQ(DoctorLevelName(Level::kInfo), "info");
  EXPECT_STREQ(DoctorLevelName(Level::kWarn), "warn");
  EXPECT_STREQ(DoctorLevelName(Level::kError), "error");
}

TEST(Doctor, TorchvisionIsAskedOfTheInterpreter) {
  TempDir tmp;
  // The fake interpreter has torch but answers nothing about torchvision: a warning with a fix.
  auto fake = RunDoctor(FastInputs(tmp));
  const DoctorCheck& missing = Find(fake, "torchvision");
  EXPECT_EQ(missing.level, Level::kWarn);
  EXPECT_NE(missing.fix.find("apt-get install python3-torchvision"), std::string::npos);
  EXPECT_NE(missing.fix.find("torch 9.9.9"), std::string::npos) << missing.fix;
  // One that says it has none.
  WriteExecutable(tmp / "py2", FakeHeader(tmp / "count2") +
                                   "TRAINYARD_PROBE_PY {\"python_version\": \"3.9.7\"}\n"
                                   "TRAINYARD_PROBE_TORCH {\"ok\": true, \"version\": \"9.9.9\", "
                                   "\"dir\": \"" +
                                   tmp / "torch" +
                                   "\", \"threads\": 3, \"mkl\": false, \"cuda\": false, "
                                   "\"cuda_count\": 0, \"blas_libs\": []}\n"
                                   "TRAINYARD_TORCHVISION \n"
                                   "JSON\n");
  DoctorInputs in = Inputs(tmp);
  in.python_requested = tmp / "py2";
  const DoctorCheck none = Find(RunDoctor(in), "torchvision");
  EXPECT_EQ(none.level, Level::kWarn);
  EXPECT_EQ(none.value.find("not installed"), 0u) << none.value;
  // Debian's, after the set-up.
  if (PathExists("/usr/lib/python3/dist-packages/torchvision/__init__.py")) {
    DoctorInputs debian = Inputs(tmp);
    debian.python_requested = "/usr/bin/python3";
    const DoctorCheck ok = Find(RunDoctor(debian), "torchvision");
    EXPECT_EQ(ok.level, Level::kOk) << ok.value;
    EXPECT_TRUE(StartsWith(ok.value, "0.")) << ok.value;
  }
}

}  // namespace
}  // namespace trainyard::env
