// Unit tests of the C++ entry pieces that need no compiler run: entry classification, target
// scanning, hashing, request round trips, error extraction, the toolchain's refusals. Building
// real programs is covered end to end by tests/e2e/test_cpp_programs.py.
#include "env/cpp_build.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "common/files.h"
#include "spec/entry.h"
#include "spec/parse.h"
#include "targets/local_target.h"
#include "targets/mpi_target.h"
#include "testing/temp_dir.h"

namespace trainyard {
namespace {

spec::JobSpec Estimator(const std::string& source, const std::string& entry) {
  spec::JobSpec s;
  s.source_directory = source;
  s.entry_script = entry;
  return s;
}

TEST(EntryKind, FollowsTheDocumentedRule) {
  testing::TempDir dir;
  const std::string& src = dir.path();
  ASSERT_TRUE(WriteFileAtomic(src + "/train.py", "print(1)\n").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/run.sh", "#!/bin/sh\n").ok());
  EXPECT_EQ(spec::ClassifyEntry(Estimator(src, "train.py")), spec::EntryKind::kPython);
  EXPECT_EQ(spec::ClassifyEntry(Estimator(src, "src/train.cpp")), spec::EntryKind::kCppFile);
  EXPECT_EQ(spec::ClassifyEntry(Estimator(src, "a.cc")), spec::EntryKind::kCppFile);
  EXPECT_EQ(spec::ClassifyEntry(Estimator(src, "a.cxx")), spec::EntryKind::kCppFile);
  // Without a CMakeLists.txt a name is an executable file (missing ones fail validation).
  EXPECT_EQ(spec::ClassifyEntry(Estimator(src, "train")), spec::EntryKind::kExecutable);
  ASSERT_TRUE(WriteFileAtomic(src + "/CMakeLists.txt", "add_executable(train t.cpp)\n").ok());
  EXPECT_EQ(spec::ClassifyEntry(Estimator(src, "train")), spec::EntryKind::kCppTarget);
  // An existing file still runs as it is, and paths are never target names.
  EXPECT_EQ(spec::ClassifyEntry(Estimator(src, "run.sh")), spec::EntryKind::kExecutable);
  EXPECT_EQ(spec::ClassifyEntry(Estimator(src, "bin/train")), spec::EntryKind::kExecutable);
  spec::JobSpec command = Estimator(src, "");
  command.form = "command";
  EXPECT_EQ(spec::ClassifyEntry(command), spec::EntryKind::kCommand);
}

TEST(EntryKind, ProgramNames) {
  EXPECT_EQ(spec::CppProgramName(Estimator("/s", "src/train.cpp"), spec::EntryKind::kCppFile),
            "train");
  EXPECT_EQ(spec::CppProgramName(Estimator("/s", "my model.cc"), spec::EntryKind::kCppFile),
            "my_model");
  EXPECT_EQ(spec::CppProgramName(Estimator("/s", "digits"), spec::EntryKind::kCppTarget), "digits");
}

TEST(CMakeTargets, ScansEveryCMakeListsButBuildTreesAndComments) {
  testing::TempDir dir;
  const std::string& src = dir.path();
  ASSERT_TRUE(WriteFileAtomic(src + "/CMakeLists.txt",
                              "project(x)\nADD_EXECUTABLE( train  train.cpp)\n"
                              "# add_executable(commented c.cpp)\n"
                              "add_executable(tool IMPORTED)\nadd_library(lib a.cpp)\n"
                              "add_subdirectory(tools)\n")
                  .ok());
  ASSERT_TRUE(MakeDirs(src + "/tools").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/tools/CMakeLists.txt",
                              "# the tools\nadd_executable(eval-model e.cpp)\n")
                  .ok());
  ASSERT_TRUE(MakeDirs(src + "/build/sub").ok());
  ASSERT_TRUE(
      WriteFileAtomic(src + "/build/sub/CMakeLists.txt", "add_executable(stale s.cpp)\n").ok());
  EXPECT_EQ(spec::CMakeExecutableTargets(src), (std::vector<std::string>{"eval-model", "train"}));
  EXPECT_TRUE(spec::CMakeExecutableTargets(src + "/nowhere").empty());
}

TEST(CMakeTargets, ValidationNamesABadTarget) {
  testing::TempDir dir;
  const std::string& src = dir.path();
  ASSERT_TRUE(WriteFileAtomic(src + "/CMakeLists.txt", "add_executable(train t.cpp)\n").ok());
  EXPECT_TRUE(spec::ValidatePaths(Estimator(src, "train")).ok());
  Status bad = spec::ValidatePaths(Estimator(src, "trian"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("entry_script: \"trian\" is neither a file in"), std::string::npos)
      << bad.message();
  EXPECT_NE(bad.message().find("add_executable targets: train"), std::string::npos);
  EXPECT_NE(bad.message().find("did you mean \"train\"?"), std::string::npos);
  // A missing single-file program is the usual "does not exist".
  Status missing = spec::ValidatePaths(Estimator(src, "nope.cpp"));
  EXPECT_NE(missing.message().find("\"nope.cpp\" does not exist"), std::string::npos);
}

env::CppBuildRequest Request() {
  env::CppBuildRequest r;
  r.kind = "file";
  r.entry = "train.cpp";
  r.program = "train";
  r.source_dir = "/src";
  r.snapshot_id = std::string(64, 'a');
  r.toolchain.cmake = "/usr/bin/cmake";
  r.toolchain.cmake_version = "cmake version 3.25.1";
  r.toolchain.generator = "Ninja";
  r.toolchain.make_program = "/usr/bin/ninja";
  r.toolchain.cxx = "/usr/bin/g++-12";
  r.toolchain.cxx_version = "g++ 12.2.0";
  r.toolchain.torch_dir = "/usr/lib/x86_64-linux-gnu/cmake/Torch";
  r.toolchain.torch_version = "1.13.1";
  r.toolchain.torch_how = "system";
  r.toolchain.client_dir = "/b/cmake";
  r.toolchain.client_hash = "c1";
  return r;
}

TEST(CppBuildHash, CoversSnapshotToolchainAndEntry) {
  env::CppBuildRequest a = Request();
  std::string h = env::CppBuildHash(a);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, env::CppBuildHash(Request()));
  auto changed = [&](auto edit) {
    env::CppBuildRequest b = Request();
    edit(b);
    return env::CppBuildHash(b) != h;
  };
  EXPECT_TRUE(changed([](auto& r) { r.snapshot_id = std::string(64, 'b'); }));
  EXPECT_TRUE(changed([](auto& r) { r.toolchain.cxx_version = "g++ 13.1.0"; }));
  EXPECT_TRUE(changed([](auto& r) { r.toolchain.cmake_version = "cmake version 3.27"; }));
  EXPECT_TRUE(changed([](auto& r) { r.toolchain.torch_dir = "/opt/torch"; }));
  EXPECT_TRUE(changed([](auto& r) { r.toolchain.torch_cuda = true; }));
  EXPECT_TRUE(changed([](auto& r) { r.toolchain.client_hash = "c2"; }));
  EXPECT_TRUE(changed([](auto& r) { r.toolchain.build_type = "Debug"; }));
  EXPECT_TRUE(changed([](auto& r) { r.entry = "other.cpp"; }));
  // How libtorch was chosen, and where the source came from, do not change the binary.
  EXPECT_FALSE(changed([](auto& r) { r.toolchain.torch_how = "$TRAINYARD_TORCH_PREFIX"; }));
  EXPECT_FALSE(changed([](auto& r) { r.source_dir = "/elsewhere"; }));
}

TEST(CppBuildRequest, JsonRoundTrip) {
  env::CppBuildRequest a = Request();
  a.toolchain.torch_cuda = true;
  auto b = env::CppBuildRequestFromJson(env::CppBuildRequestToJson(a));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(env::CppBuildHash(*b), env::CppBuildHash(a));
  EXPECT_EQ(b->source_dir, "/src");
  EXPECT_TRUE(b->toolchain.torch_cuda);
  EXPECT_FALSE(env::CppBuildRequestFromJson("[]").ok());
  EXPECT_FALSE(env::CppBuildRequestFromJson("{\"kind\": \"file\"}").ok());
}

TEST(FirstErrorLines, StartsAtTheFirstError) {
  std::vector<std::string> out = {"[1/2] Building CXX object x.o",
                                  "/src/train.cpp: In function 'int main()':",
                                  "/src/train.cpp:3:5: error: 'foo' was not declared in this scope",
                                  "    3 |     foo();", "ninja: build stopped: subcommand failed."};
  std::string first = env::FirstErrorLines(out, 3);
  EXPECT_EQ(first,
            "/src/train.cpp: In function 'int main()':\n"
            "/src/train.cpp:3:5: error: 'foo' was not declared in this scope\n"
            "    3 |     foo();");
  // Without an error line: the last lines.
  EXPECT_EQ(env::FirstErrorLines({"a", "b", "c"}, 2), "b\nc");
}

TEST(Toolchain, RefusesAMissingClientPackageOrLibrary) {
  testing::TempDir dir;
  env::CppToolchainOptions options;
  options.client_dir = dir.path();
  auto missing = env::ProbeCppToolchain(options);
  if (!missing.ok() &&
      missing.status().message().find("cmake is not on PATH") != std::string::npos) {
    GTEST_SKIP() << "no cmake here";
  }
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("trainyard CMake package is missing"),
            std::string::npos)
      << missing.status().message();
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/trainyardConfig.cmake", "\n").ok());
  ASSERT_TRUE(
      WriteFileAtomic(dir.path() + "/trainyard-client-files.txt",
                      "optional " + dir.path() + "/liby.a\nrequired " + dir.path() + "/libx.a\n")
          .ok());
  auto unbuilt = env::ProbeCppToolchain(options);
  ASSERT_FALSE(unbuilt.ok());
  EXPECT_NE(unbuilt.status().message().find("libx.a is not built"), std::string::npos)
      << unbuilt.status().message();
}

TEST(Toolchain, RefusesATorchPrefixWithoutCMakeFiles) {
  testing::TempDir dir;
  env::CppToolchainOptions options;
  options.torch_prefix = dir.path();
  options.client_dir = dir.path();
  auto r = env::ProbeCppToolchain(options);
  ASSERT_FALSE(r.ok());
  if (r.status().message().find("cmake is not on PATH") != std::string::npos) GTEST_SKIP();
  EXPECT_NE(r.status().message().find("TRAINYARD_TORCH_PREFIX=" + dir.path() +
                                      " holds no TorchConfig.cmake"),
            std::string::npos)
      << r.status().message();
}

TEST(CppEntryPlan, TheProgramRunsFromTheWorkFolderWhereverTheTargetPutsIt) {
  spec::JobSpec s = Estimator("/src", "train");
  s.script_params = {{"--epochs", std::string("3")}};
  targets::PlanContext c;
  c.run_id = "r1";
  c.workspace_dir = "/ws";
  c.run_dir = "/ws/runs/r1";
  c.work_dir = "/ws/runs/r1/work";
  c.interpreter = "/usr/bin/python3";
  c.trainyard_exe = "/opt/trainyard";
  c.program = ".trainyard/bin/train";
  auto argv = targets::ProgramArgv(s, c);
  ASSERT_TRUE(argv.ok()) << argv.status().ToString();
  EXPECT_EQ(*argv,
            (std::vector<std::string>{"/ws/runs/r1/work/.trainyard/bin/train", "--epochs", "3"}));
  // On hosts that share a folder the code (and the program with it) runs from there.
  auto t = targets::MpiTarget::Create(
      "lab", {{"hosts", "node1:2"}, {"shared_folder", "/nfs/runs"}, {"tracking_address", "head"}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto plan = (*t)->Plan(s, c);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_FALSE(plan->processes.empty());
  const auto& words = plan->processes[0].argv;
  auto it = std::find(words.begin(), words.end(), "--epochs");
  ASSERT_NE(it, words.end());
  ASSERT_NE(it, words.begin());
  EXPECT_EQ(*(it - 1), plan->staging.dir + "/.trainyard/bin/train");
  EXPECT_EQ(plan->staging.dir.rfind("/nfs/runs/", 0), 0u) << plan->staging.dir;
}

}  // namespace
}  // namespace trainyard
