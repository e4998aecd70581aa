#include "env/interpreter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/test_util.h"

namespace trainyard::env {
namespace {

using testing::CountRuns;
using testing::ScopedEnv;
using testing::TempDir;
using testing::WriteExecutable;
using testing::WriteFakePythonWithoutTorch;
using testing::WriteFakePythonWithTorch;

constexpr char kDebianPython[] = "/usr/bin/python3";

TEST(ChooseInterpreter, RequestedPathWinsOverEnvironment) {
  TempDir tmp;
  WriteFakePythonWithoutTorch(tmp / "a", tmp / "count");
  WriteFakePythonWithoutTorch(tmp / "b", tmp / "count");
  ScopedEnv env("TRAINYARD_PYTHON", tmp / "a");
  auto choice = ChooseInterpreter(tmp / "b");
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->path, tmp / "b");
  EXPECT_EQ(choice->how, "job spec python");
}

TEST(ChooseInterpreter, TrainyardPythonComesBeforeDefault) {
  TempDir tmp;
  WriteFakePythonWithoutTorch(tmp / "a", tmp / "count");
  ScopedEnv env("TRAINYARD_PYTHON", tmp / "a");
  auto choice = ChooseInterpreter("");
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->path, tmp / "a");
  EXPECT_EQ(choice->how, "$TRAINYARD_PYTHON");
}

TEST(ChooseInterpreter, DefaultIsDebianPython) {
  if (!PathExists(kDebianPython)) GTEST_SKIP() << "no /usr/bin/python3 here";
  ScopedEnv env("TRAINYARD_PYTHON", std::nullopt);
  auto choice = ChooseInterpreter("");
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->path, kDebianPython);
  EXPECT_EQ(choice->how, "/usr/bin/python3 (default)");
}

TEST(ChooseInterpreter, EmptyTrainyardPythonCountsAsUnset) {
  if (!PathExists(kDebianPython)) GTEST_SKIP() << "no /usr/bin/python3 here";
  ScopedEnv env("TRAINYARD_PYTHON", "");
  auto choice = ChooseInterpreter("");
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->how, "/usr/bin/python3 (default)");
}

TEST(ChooseInterpreter, FallsBackToPython3OnPath) {
  TempDir tmp;
  ASSERT_TRUE(MakeDirs(tmp / "bin").ok());
  WriteFakePythonWithoutTorch(tmp / "bin/python3", tmp / "count");
  ScopedEnv env("TRAINYARD_PYTHON", std::nullopt);
  ScopedEnv path("PATH", tmp / "bin");
  auto choice = ChooseInterpreter("", tmp / "no-default-python3");
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->path, tmp / "bin/python3");
  EXPECT_EQ(choice->how, "python3 on PATH");
}

TEST(ChooseInterpreter, NothingFoundSaysWhereItLooked) {
  TempDir tmp;
  ScopedEnv env("TRAINYARD_PYTHON", std::nullopt);
  ScopedEnv path("PATH", tmp.Path());
  auto choice = ChooseInterpreter("", tmp / "no-default-python3");
  ASSERT_FALSE(choice.ok());
  EXPECT_EQ(choice.status().code(), StatusCode::kNotFound);
  EXPECT_NE(choice.status().message().find("no-default-python3 does not exist"), std::string::npos)
      << choice.status().message();
  EXPECT_NE(choice.status().message().find("TRAINYARD_PYTHON"), std::string::npos);
}

TEST(ChooseInterpreter, BareNameIsSearchedOnPath) {
  TempDir tmp;
  ASSERT_TRUE(MakeDirs(tmp / "bin").ok());
  WriteFakePythonWithoutTorch(tmp / "bin/mypython", tmp / "count");
  ScopedEnv path("PATH", tmp / "bin");
  auto choice = ChooseInterpreter("mypython");
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->path, tmp / "bin/mypython");

  auto missing = ChooseInterpreter("python9");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "interpreter python9 (job spec python) was not found on PATH");
}

TEST(ResolveInterpreter, NonexistentPathIsNotFoundNamingHowItWasChosen) {
  TempDir tmp;
  auto info = ResolveInterpreter(tmp / "nope/python", tmp / "cache");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(info.status().message(),
            "interpreter " + (tmp / "nope/python") + " (job spec python) does not exist");

  ScopedEnv env("TRAINYARD_PYTHON", tmp / "gone");
  auto from_env = ResolveInterpreter("", tmp / "cache");
  ASSERT_FALSE(from_env.ok());
  EXPECT_EQ(from_env.status().message(),
            "interpreter " + (tmp / "gone") + " ($TRAINYARD_PYTHON) does not exist");
}

TEST(ResolveInterpreter, DirectoryIsNotAnInterpreter) {
  TempDir tmp;
  auto info = ResolveInterpreter(tmp.Path(), "");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(info.status().message().find("is not an executable file"), std::string::npos);
}

TEST(ResolveInterpreter, ProbesDebianPythonWithTorch) {
  if (!PathExists(kDebianPython)) GTEST_SKIP() << "no /usr/bin/python3 here";
  TempDir tmp;
  auto info = ResolveInterpreter(kDebianPython, tmp / "cache");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->path, kDebianPython);
  EXPECT_EQ(info->how, "job spec python");
  EXPECT_TRUE(StartsWith(info->python_version, "3.")) << info->python_version;
  ASSERT_TRUE(info->has_torch) << info->torch_error;
  EXPECT_TRUE(RequireTorch(*info).ok());
  EXPECT_FALSE(info->torch_version.empty());
  EXPECT_TRUE(info->torch_error.empty());
  EXPECT_GE(info->torch_threads, 1);
  EXPECT_FALSE(info->blas.empty());
  EXPECT_TRUE(PathExists(tmp / "cache/interpreters.json"));

  // The second call is answered from the cache, with the same facts.
  auto start = std::chrono::steady_clock::now();
  auto again = ResolveInterpreter(kDebianPython, tmp / "cache");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->torch_version, info->torch_version);
  EXPECT_EQ(again->blas, info->blas);
  // Generous bound for a noisy machine; the real point is that no ~1 s `import torch` ran.
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 200);
}

TEST(ResolveInterpreter, MissingTorchGivesActionableError) {
  TempDir tmp;
  WriteFakePythonWithoutTorch(tmp / "python3", tmp / "count");
  ScopedEnv path("PATH", tmp.Path());
  ScopedEnv env("TRAINYARD_PYTHON", std::nullopt);
  auto choice = ChooseInterpreter("", tmp / "no-default");
  ASSERT_TRUE(choice.ok());
  auto info = ResolveInterpreter(tmp / "python3", "");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(info->has_torch);
  EXPECT_EQ(info->python_version, "3.12.1");
  EXPECT_EQ(info->torch_error, "ModuleNotFoundError: No module named 'torch'");
  // As the "python3 on PATH" choice would report it.
  info->how = choice->how;
  Status status = RequireTorch(*info);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "interpreter " + (tmp / "python3") +
                " (python3 on PATH) cannot import torch: ModuleNotFoundError: No module named "
                "'torch'. Install PyTorch for it (Debian: apt-get install python3-torch, which "
                "serves /usr/bin/python3), or choose another interpreter with \"python:\" in the "
                "job file, --set python=/path, or TRAINYARD_PYTHON.");
}

TEST(ResolveInterpreter, FakeTorchFactsAreParsed) {
  TempDir tmp;
  WriteFakePythonWithTorch(tmp / "py", tmp / "torch", tmp / "count");
  auto info = ResolveInterpreter(tmp / "py", "");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(info->has_torch);
  EXPECT_EQ(info->python_version, "3.9.7");
  EXPECT_EQ(info->torch_version, "9.9.9");
  EXPECT_EQ(info->torch_threads, 3);
  EXPECT_FALSE(info->cuda_available);
  EXPECT_EQ(info->blas, "reference (netlib, /usr/lib/x86_64-linux-gnu/blas/libblas.so.3)");
}

TEST(ResolveInterpreter, CacheHitDoesNotRunTheInterpreter) {
  TempDir tmp;
  WriteFakePythonWithTorch(tmp / "py", tmp / "torch", tmp / "count");
  for (int i = 0; i < 3; ++i) {
    auto info = ResolveInterpreter(tmp / "py", tmp / "cache");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->torch_version, "9.9.9");
    EXPECT_EQ(info->path, tmp / "py");
  }
  EXPECT_EQ(CountRuns(tmp / "count"), 1);
}

TEST(ResolveInterpreter, CacheHitKeepsTheCallersChoice) {
  TempDir tmp;
  WriteFakePythonWithTorch(tmp / "py", tmp / "torch", tmp / "count");
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  ScopedEnv env("TRAINYARD_PYTHON", tmp / "py");
  auto info = ResolveInterpreter("", tmp / "cache");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->how, "$TRAINYARD_PYTHON");
  EXPECT_EQ(CountRuns(tmp / "count"), 1);
}

TEST(ResolveInterpreter, CacheIsInvalidatedWhenTorchOrInterpreterChanges) {
  TempDir tmp;
  WriteFakePythonWithTorch(tmp / "py", tmp / "torch", tmp / "count");
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  ASSERT_EQ(CountRuns(tmp / "count"), 1);

  // A torch upgrade changes the package directory.
  struct timespec times[2] = {{1000, 0}, {1000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (tmp / "torch").c_str(), times, 0), 0);
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  EXPECT_EQ(CountRuns(tmp / "count"), 2);

  // A replaced interpreter (different size) is probed again.
  WriteFakePythonWithTorch(tmp / "py2", tmp / "torch", tmp / "count");
  auto text = ReadFile(tmp / "py2");
  ASSERT_TRUE(text.ok());
  WriteExecutable(tmp / "py", *text + "# changed\n");
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  EXPECT_EQ(CountRuns(tmp / "count"), 3);

  // So is one that sees another PYTHONPATH.
  ScopedEnv env("PYTHONPATH", tmp / "elsewhere");
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  EXPECT_EQ(CountRuns(tmp / "count"), 4);
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  EXPECT_EQ(CountRuns(tmp / "count"), 4);
}

TEST(ResolveInterpreter, InterpretersWithoutTorchAreNotCached) {
  TempDir tmp;
  WriteFakePythonWithoutTorch(tmp / "py", tmp / "count");
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  EXPECT_EQ(CountRuns(tmp / "count"), 2);
}

TEST(ResolveInterpreter, CorruptCacheIsIgnoredAndRewritten) {
  TempDir tmp;
  ASSERT_TRUE(MakeDirs(tmp / "cache").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp / "cache/interpreters.json", "{not json").ok());
  WriteFakePythonWithTorch(tmp / "py", tmp / "torch", tmp / "count");
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  ASSERT_TRUE(ResolveInterpreter(tmp / "py", tmp / "cache").ok());
  EXPECT_EQ(CountRuns(tmp / "count"), 1);
}

TEST(ResolveInterpreter, ConcurrentCallersLeaveAValidCache) {
  TempDir tmp;
  constexpr int kThreads = 6;
  for (int i = 0; i < kThreads; ++i) {
    std::string n = std::to_string(i);
    WriteFakePythonWithTorch(tmp / ("py" + n), tmp / ("torch" + n), tmp / ("count" + n));
  }
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::vector<int> ok(kThreads, 0);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        ok[i] += ResolveInterpreter(tmp / ("py" + std::to_string(i)), tmp / "cache").ok();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(ok[i], 5);
  // The file is whole: every interpreter is either a hit or re-probed once more, never an error,
  // and no temporary files are left behind.
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(ResolveInterpreter(tmp / ("py" + std::to_string(i)), tmp / "cache").ok());
  }
  auto text = ReadFile(tmp / "cache/interpreters.json");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->front(), '{');
  EXPECT_EQ(text->back(), '\n');
  int entries = 0;
  for (const auto& line : Split(*text, '\n')) entries += line.find("\"info\"") != line.npos;
  EXPECT_GE(entries, 1);
  auto listing = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(tmp / "cache")) {
      n += e.path().filename() != "interpreters.json" && e.path().extension() != ".lock";
    }
    return n;
  }();
  EXPECT_EQ(listing, 0);
}

TEST(ResolveInterpreter, ConcurrentCallersProbeOnceAndShareTheAnswer) {
  // A slow fake interpreter (like `import torch` on a cold cache): without the probe lock every
  // caller that arrives while the first probe runs misses the cache and probes too.
  TempDir tmp;
  ASSERT_TRUE(MakeDirs(tmp / "torch").ok());
  WriteExecutable(tmp / "py",
                  "#!/bin/sh\necho run >> '" + tmp / "count" +
                      "'\nsleep 0.5\n/bin/cat <<'JSON'\n"
                      "TRAINYARD_PROBE_PY {\"python_version\": \"3.9.7\"}\n"
                      "TRAINYARD_PROBE_TORCH {\"ok\": true, \"version\": \"9.9.9\", \"dir\": \"" +
                      tmp / "torch" +
                      "\", \"threads\": 3, \"mkl\": false, \"cuda\": false, \"cuda_count\": 0, "
                      "\"blas_libs\": []}\nJSON\n");
  constexpr int kCallers = 8;
  std::vector<std::thread> threads;
  std::vector<int> ok(kCallers, 0);
  std::vector<std::string> versions(kCallers);
  threads.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      auto info = ResolveInterpreter(tmp / "py", tmp / "cache");
      ok[i] = info.ok();
      if (info.ok()) versions[i] = info->torch_version;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kCallers; ++i) {
    EXPECT_EQ(ok[i], 1) << "caller " << i;
    EXPECT_EQ(versions[i], "9.9.9") << "caller " << i;
  }
  EXPECT_EQ(CountRuns(tmp / "count"), 1);
}

TEST(ResolveInterpreter, SomethingThatIsNotPythonIsUnavailable) {
  TempDir tmp;
  WriteExecutable(tmp / "notpython", "#!/bin/sh\necho 'usage: notpython' >&2\nexit 2\n");
  auto info = ResolveInterpreter(tmp / "notpython", "");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(info.status().message(),
            "interpreter " + (tmp / "notpython") +
                " (job spec python) does not look like Python: the probe exited with code 2 "
                "(usage: notpython)");
}

TEST(ResolveInterpreter, ImportThatKillsTheInterpreterIsReportedAsNoTorch) {
  TempDir tmp;
  WriteExecutable(tmp / "py",
                  "#!/bin/sh\n"
                  "echo 'TRAINYARD_PROBE_PY {\"python_version\": \"3.11.2\"}'\n"
                  "echo 'Illegal instruction' >&2\n"
                  "exit 132\n");
  auto info = ResolveInterpreter(tmp / "py", tmp / "cache");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(info->has_torch);
  EXPECT_EQ(info->torch_error,
            "import torch killed the interpreter (exit code 132): Illegal instruction");
  EXPECT_EQ(RequireTorch(*info).code(), StatusCode::kFailedPrecondition);
}

// trainyard.pth (scripts/install_python.sh) puts trainyard's own azureml compatibility package on
// every user's path; the probe must not take it for a real azureml (which would keep the run's own
// build of it off the ranks' PYTHONPATH), while the same package found otherwise still counts.
TEST(ResolveInterpreter, PackagesNamedByTrainyardPthAreNotRealOnes) {
  if (!PathExists(kDebianPython)) GTEST_SKIP() << "no /usr/bin/python3 here";
  TempDir tmp;
  ASSERT_TRUE(MakeDirs(tmp / "compat/azureml/azureml").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp / "compat/azureml/azureml/__init__.py", "").ok());
  ASSERT_TRUE(MakeDirs(tmp / "compat/horovod/horovod").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp / "compat/horovod/horovod/__init__.py", "").ok());
  ScopedEnv pythonpath("PYTHONPATH", std::nullopt);
  ScopedEnv no_user_site("PYTHONNOUSERSITE", std::nullopt);
  ScopedEnv userbase("PYTHONUSERBASE", tmp / "userbase");
  auto site = RunCommand({kDebianPython, "-c", "import site; print(site.getusersitepackages())"});
  ASSERT_TRUE(site.ok() && site->exit_code == 0);
  std::string user_site = Trim(site->out);
  ASSERT_TRUE(MakeDirs(user_site).ok());

  // Named by a .pth of another name: found, and real as far as trainyard can tell.
  ASSERT_TRUE(
      WriteFileAtomic(user_site + "/other.pth", tmp / "compat/azureml\n" + tmp / "compat/horovod\n")
          .ok());
  auto other = ResolveInterpreter(kDebianPython, tmp / "cache1");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_TRUE(other->has_azureml);
  EXPECT_TRUE(other->has_horovod);

  // Named by trainyard.pth: trainyard's own, not counted.
  ASSERT_TRUE(RemoveAll(user_site + "/other.pth").ok());
  ASSERT_TRUE(WriteFileAtomic(user_site + "/trainyard.pth",
                              "# trainyard\n" + tmp / "compat/azureml\n" + tmp / "compat/horovod\n")
                  .ok());
  auto ours = ResolveInterpreter(kDebianPython, tmp / "cache2");
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  EXPECT_FALSE(ours->has_azureml);
  EXPECT_FALSE(ours->has_horovod);

  // A real package earlier on the path still counts, the .pth notwithstanding.
  ScopedEnv real("PYTHONPATH", tmp / "compat/azureml");
  auto both = ResolveInterpreter(kDebianPython, tmp / "cache3");
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_FALSE(both->has_azureml);  // the same folder: still trainyard's own
  ASSERT_TRUE(MakeDirs(tmp / "real/azureml").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp / "real/azureml/__init__.py", "").ok());
  ScopedEnv real2("PYTHONPATH", tmp / "real");
  auto real_one = ResolveInterpreter(kDebianPython, tmp / "cache4");
  ASSERT_TRUE(real_one.ok()) << real_one.status().ToString();
  EXPECT_TRUE(real_one->has_azureml);
  EXPECT_FALSE(real_one->has_horovod);
}

// A real mlflow keeps trainyard's mlflow compatibility package off the ranks' path; the answer is
// kept in the probe cache like the others.
TEST(ResolveInterpreter, FindsARealMlflow) {
  if (!PathExists(kDebianPython)) GTEST_SKIP() << "no /usr/bin/python3 here";
  TempDir tmp;
  ScopedEnv no_pythonpath("PYTHONPATH", std::nullopt);
  auto without = ResolveInterpreter(kDebianPython, tmp / "cache1");
  ASSERT_TRUE(without.ok()) << without.status().ToString();
  EXPECT_FALSE(without->has_mlflow);  // Debian's interpreter here has none

  ASSERT_TRUE(MakeDirs(tmp / "real/mlflow").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp / "real/mlflow/__init__.py", "").ok());
  ScopedEnv real("PYTHONPATH", tmp / "real");
  auto with = ResolveInterpreter(kDebianPython, tmp / "cache2");
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  EXPECT_TRUE(with->has_mlflow);
  auto cached = ResolveInterpreter(kDebianPython, tmp / "cache2");
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  EXPECT_TRUE(cached->has_mlflow);
}

}  // namespace
}  // namespace trainyard::env
