#include "env/python_env.h"

#include <gtest/gtest.h>

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

// A fake base interpreter: `-m venv ... DIR` makes DIR/bin/python, a fake whose `-m pip install`
// prints a line per package, fails for a package named "broken", sleeps `sleep` seconds, and
// counts its installs in `counter`.
void WriteFakeBase(const std::string& path, const std::string& counter,
                   const std::string& sleep = "0") {
  std::string venv_python =
      "#!/bin/sh\n"
      "if [ \"$2\" = pip ] && [ \"$3\" = --version ]; then echo pip 0.0; exit 0; fi\n"
      "echo install >> '" +
      counter +
      "'\n"
      "sleep " +
      sleep +
      "\n"
      "for a in \"$@\"; do\n"
      "  case \"$a\" in\n"
      "    broken) echo 'ERROR: No matching distribution found for broken'; exit 1;;\n"
      "    -*|install|pip) ;;\n"
      "    *) echo \"Installing $a\";;\n"
      "  esac\n"
      "done\n";
  WriteExecutable(path,
                  "#!/bin/sh\n"
                  "for last in \"$@\"; do :; done\n"
                  "mkdir -p \"$last/bin\"\n"
                  "cat > \"$last/bin/python\" <<'PY'\n" +
                      venv_python +
                      "PY\n"
                      "chmod +x \"$last/bin/python\"\n"
                      "echo created venv\n");
}

EnvRequest Request(const std::string& interpreter, std::vector<std::string> packages) {
  EnvRequest r;
  r.interpreter = interpreter;
  r.python_version = "3.11.2";
  r.packages = NormalizePackages(packages);
  return r;
}

TEST(NormalizePackage, LowersNameAndFoldsSeparators) {
  EXPECT_EQ(NormalizePackage(" TyHello_Pkg >= 1.0 "), "tyhello-pkg>=1.0");
  EXPECT_EQ(NormalizePackage("a..b__c"), "a-b-c");
  EXPECT_EQ(NormalizePackage("NumPy"), "numpy");
}

TEST(NormalizePackages, SortsAndDropsDuplicates) {
  EXPECT_EQ(NormalizePackages({"b", "A", "a", " "}), (std::vector<std::string>{"a", "b"}));
}

TEST(EnvHash, SameRequestSameHashInAnyOrder) {
  EnvRequest a = Request("/usr/bin/env", {"b", "a"});
  EnvRequest b = Request("/usr/bin/env", {"A", "B"});
  EXPECT_EQ(EnvHash(a), EnvHash(b));
  EXPECT_EQ(EnvHash(a).size(), 64u);
}

TEST(EnvHash, EveryPartOfTheRequestCounts) {
  EnvRequest base = Request("/usr/bin/env", {"a"});
  std::string h = EnvHash(base);
  EnvRequest r = base;
  r.packages = {"a", "b"};
  EXPECT_NE(EnvHash(r), h);
  r = base;
  r.python_version = "3.12.0";
  EXPECT_NE(EnvHash(r), h);
  r = base;
  r.requirements = "c\n";
  EXPECT_NE(EnvHash(r), h);
  r = base;
  r.index_url = "http://index";
  EXPECT_NE(EnvHash(r), h);
  r = base;
  r.extra_index_url = "http://extra";
  EXPECT_NE(EnvHash(r), h);
  r = base;
  r.find_links = {"/wheels"};
  EXPECT_NE(EnvHash(r), h);
  r = base;
  r.interpreter = "/bin/sh";
  EXPECT_NE(EnvHash(r), h);
}

TEST(EnvHash, InterpreterIsKeyedByItsRealPath) {
  TempDir tmp;
  ASSERT_EQ(symlink("/usr/bin/env", (tmp / "link").c_str()), 0);
  EXPECT_EQ(EnvHash(Request(tmp / "link", {"a"})), EnvHash(Request("/usr/bin/env", {"a"})));
}

TEST(PipInstallArgs, FindLinksAloneMeansNoIndex) {
  EnvRequest r = Request("/p", {"tyhello"});
  r.find_links = {"/w1", "/w2"};
  r.requirements = "x\n";
  EXPECT_EQ(Join(PipInstallArgs(r, "/req.txt"), " "),
            "install --no-input --disable-pip-version-check --find-links /w1 --find-links /w2 "
            "--no-index tyhello -r /req.txt");
  r.index_url = "http://i";
  EXPECT_EQ(Join(PipInstallArgs(r, "/req.txt"), " "),
            "install --no-input --disable-pip-version-check --index-url http://i --find-links /w1 "
            "--find-links /w2 tyhello -r /req.txt");
}

TEST(SetPipSourcesFromEnvironment, ReadsTheThreeVariables) {
  ScopedEnv a("TRAINYARD_PIP_INDEX_URL", "http://i");
  ScopedEnv b("TRAINYARD_PIP_EXTRA_INDEX_URL", std::nullopt);
  ScopedEnv c("TRAINYARD_PIP_FIND_LINKS", "/w1::/w2");
  EnvRequest r;
  SetPipSourcesFromEnvironment(&r);
  EXPECT_EQ(r.index_url, "http://i");
  EXPECT_EQ(r.extra_index_url, "");
  EXPECT_EQ(r.find_links, (std::vector<std::string>{"/w1", "/w2"}));
}

TEST(EnvRequest, JsonRoundTrip) {
  EnvRequest r = Request("/p", {"a", "b"});
  r.requirements = "c\n";
  r.find_links = {"/w"};
  auto back = EnvRequestFromJson(EnvRequestToJson(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EnvHash(*back), EnvHash(r));
}

TEST(EnsureEnv, BuildsOnceThenReusesFromTheMarker) {
  TempDir tmp;
  WriteFakeBase(tmp / "python", tmp / "count");
  EnvRequest r = Request(tmp / "python", {"tyhello"});
  std::vector<std::string> lines;
  auto first = EnsureEnv(r, tmp / "envs", [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->reused);
  EXPECT_EQ(first->hash, EnvHash(r));
  EXPECT_EQ(first->python, tmp / "envs/" + EnvHash(r) + "/bin/python");
  EXPECT_TRUE(PathExists(first->dir + "/trainyard-env.json"));
  EXPECT_NE(Join(lines, "\n").find("Installing tyhello"), std::string::npos);
  auto log = ReadFile(tmp / "envs/" + EnvHash(r) + ".log");
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("Installing tyhello"), std::string::npos);

  auto second = EnsureEnv(r, tmp / "envs", nullptr);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->reused);
  EXPECT_EQ(second->packages, (std::vector<std::string>{"tyhello"}));
  EXPECT_EQ(CountRuns(tmp / "count"), 1);
}

TEST(EnsureEnv, FailureLeavesNothingAndCarriesPipsMessage) {
  TempDir tmp;
  WriteFakeBase(tmp / "python", tmp / "count");
  EnvRequest r = Request(tmp / "python", {"broken"});
  auto env = EnsureEnv(r, tmp / "envs", nullptr);
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("No matching distribution found for broken"),
            std::string::npos)
      << env.status().message();
  EXPECT_FALSE(PathExists(tmp / "envs/" + EnvHash(r)));
  EXPECT_TRUE(PathExists(tmp / "envs/" + EnvHash(r) + ".log"));
  auto list = ListEnvs(tmp / "envs");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST(EnsureEnv, PartialFolderWithoutMarkerIsRebuilt) {
  TempDir tmp;
  WriteFakeBase(tmp / "python", tmp / "count");
  EnvRequest r = Request(tmp / "python", {"tyhello"});
  std::string dir = tmp / "envs/" + EnvHash(r);
  ASSERT_TRUE(MakeDirs(dir + "/lib").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/lib/half-made", "x").ok());
  auto env = EnsureEnv(r, tmp / "envs", nullptr);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_FALSE(env->reused);
  EXPECT_FALSE(PathExists(dir + "/lib/half-made"));
}

TEST(EnsureEnv, ConcurrentCallersBuildOnce) {
  TempDir tmp;
  WriteFakeBase(tmp / "python", tmp / "count", "0.5");
  EnvRequest r = Request(tmp / "python", {"tyhello"});
  std::vector<std::thread> threads;
  std::vector<Result<EnvInfo>> results(3, Internal("not run"));
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] { results[i] = EnsureEnv(r, tmp / "envs", nullptr); });
  }
  for (auto& t : threads) t.join();
  int built = 0;
  for (auto& res : results) {
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    built += res->reused ? 0 : 1;
  }
  EXPECT_EQ(built, 1);
  EXPECT_EQ(CountRuns(tmp / "count"), 1);
}

TEST(EnvCache, ListFindAndPrune) {
  TempDir tmp;
  WriteFakeBase(tmp / "python", tmp / "count");
  auto a = EnsureEnv(Request(tmp / "python", {"a"}), tmp / "envs", nullptr);
  auto b = EnsureEnv(Request(tmp / "python", {"b"}), tmp / "envs", nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  auto list = ListEnvs(tmp / "envs");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
  auto found = FindEnv(tmp / "envs", a->hash.substr(0, 12));
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->packages, (std::vector<std::string>{"a"}));
  EXPECT_EQ(FindEnv(tmp / "envs", "ffffffffffff").status().code(), StatusCode::kNotFound);

  auto removed = PruneEnvs(tmp / "envs", {a->hash});
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, (std::vector<std::string>{b->hash}));
  EXPECT_TRUE(PathExists(a->dir));
  EXPECT_FALSE(PathExists(b->dir));
  EXPECT_FALSE(PathExists(tmp / "envs/" + b->hash + ".log"));
}

// A fake conda: `create --yes --prefix DIR ...` logs its argv to `counter` and makes
// DIR/bin/python3 (the fake base interpreter's venv python: it "installs" pip packages); fails for
// "broken".
void WriteFakeConda(const std::string& path, const std::string& counter) {
  WriteFakeBase(path + ".base", counter + ".pip");
  WriteExecutable(path,
                  "#!/bin/sh\n"
                  "echo \"$*\" >> '" +
                      counter +
                      "'\n"
                      "for a in \"$@\"; do [ \"$a\" = broken ] && { echo "
                      "'PackagesNotFoundError: broken'; exit 1; }; done\n"
                      "'" +
                      path +
                      ".base' -m venv \"$4\"\n"
                      "cp \"$4/bin/python\" \"$4/bin/python3\"\n");
}

EnvRequest CondaRequest(const std::string& conda, std::vector<std::string> packages) {
  EnvRequest r;
  ScopedEnv channels("TRAINYARD_CONDA_CHANNELS", "conda-forge, defaults");
  SetCondaFromEnvironment(conda, packages, &r);
  return r;
}

TEST(CondaRequest, PackagesSortedChannelsInOrder) {
  EnvRequest r = CondaRequest("/opt/conda/bin/conda", {"numpy", " python=3.11", "numpy", ""});
  EXPECT_EQ(r.kind, "conda");
  EXPECT_EQ(r.conda_packages, (std::vector<std::string>{"numpy", "python=3.11"}));
  EXPECT_EQ(r.conda_channels, (std::vector<std::string>{"conda-forge", "defaults"}));
  EXPECT_EQ(Join(CondaCreateArgs(r, "/envs/h"), " "),
            "/opt/conda/bin/conda create --yes --prefix /envs/h -c conda-forge -c defaults numpy "
            "python=3.11");
  EXPECT_EQ(DescribeInstall(r), "conda create numpy python=3.11");
  r.packages = {"tyhello"};
  EXPECT_EQ(DescribeInstall(r), "conda create numpy python=3.11, then pip install tyhello");
}

TEST(CondaRequest, HashCoversExecutablePackagesAndChannels) {
  EnvRequest base = CondaRequest("/usr/bin/env", {"numpy"});
  std::string h = EnvHash(base);
  EnvRequest r = base;
  r.conda = "/bin/sh";
  EXPECT_NE(EnvHash(r), h);
  r = base;
  r.conda_packages = {"numpy", "scipy"};
  EXPECT_NE(EnvHash(r), h);
  r = base;
  r.conda_channels = {"defaults", "conda-forge"};  // order matters to conda
  EXPECT_NE(EnvHash(r), h);
  auto back = EnvRequestFromJson(EnvRequestToJson(base));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EnvHash(*back), h);
  EXPECT_EQ(back->conda_channels, base.conda_channels);
  // A pip request's hash does not move because conda fields exist.
  EnvRequest pip = Request("/usr/bin/env", {"a"});
  EnvRequest pip2 = pip;
  pip2.conda_packages = {"ignored"};
  EXPECT_EQ(EnvHash(pip), EnvHash(pip2));
}

TEST(FindConda, ConfiguredExecutableFirst) {
  TempDir tmp;
  WriteExecutable(tmp / "myconda", "#!/bin/sh\n");
  {
    ScopedEnv c("TRAINYARD_CONDA", tmp / "myconda");
    EXPECT_EQ(FindConda(), tmp / "myconda");
  }
  {
    ScopedEnv c("TRAINYARD_CONDA", tmp / "missing");
    EXPECT_EQ(FindConda(), "");
  }
  ScopedEnv c("TRAINYARD_CONDA", std::nullopt);
  ScopedEnv path("PATH", tmp.Path());
  EXPECT_EQ(FindConda(), "");
  WriteExecutable(tmp / "mamba", "#!/bin/sh\n");
  EXPECT_EQ(FindConda(), tmp / "mamba");
}

TEST(EnsureEnv, CondaPrefixBuiltOnceWithPipOnTop) {
  TempDir tmp;
  WriteFakeConda(tmp / "conda", tmp / "count");
  EnvRequest r = CondaRequest(tmp / "conda", {"python=3.11"});
  r.packages = {"tyhello"};
  std::vector<std::string> lines;
  auto first = EnsureEnv(r, tmp / "envs", [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->python, tmp / "envs/" + EnvHash(r) + "/bin/python3");
  EXPECT_EQ(first->python, EnvPythonFor(r, tmp / "envs"));
  EXPECT_NE(Join(lines, "\n").find("Installing tyhello"), std::string::npos);
  auto argv = ReadFile(tmp / "count");
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(*argv,
            "create --yes --prefix " + first->dir + " -c conda-forge -c defaults python=3.11\n");
  auto again = EnsureEnv(r, tmp / "envs", nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->reused);
  EXPECT_EQ(CountRuns(tmp / "count"), 1);
  auto list = ListEnvs(tmp / "envs");
  ASSERT_TRUE(list.ok() && list->size() == 1u);
  EXPECT_EQ(list->front().kind, "conda");
  EXPECT_EQ(list->front().conda_packages, (std::vector<std::string>{"python=3.11"}));
}

TEST(EnsureEnv, CondaFailureCarriesCondasMessage) {
  TempDir tmp;
  WriteFakeConda(tmp / "conda", tmp / "count");
  EnvRequest r = CondaRequest(tmp / "conda", {"broken"});
  auto env = EnsureEnv(r, tmp / "envs", nullptr);
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("conda create failed"), std::string::npos);
  EXPECT_NE(env.status().message().find("PackagesNotFoundError: broken"), std::string::npos)
      << env.status().message();
  EXPECT_FALSE(PathExists(tmp / "envs/" + EnvHash(r)));
}

TEST(EnsureEnv, RealVenvSeesSystemPackages) {
  if (!PathExists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  TempDir tmp;
  EnvRequest r = Request("/usr/bin/python3", {});
  r.requirements = "# nothing\n";
  r.find_links = {tmp.Path()};  // --no-index: pip never reaches the network
  auto env = EnsureEnv(r, tmp / "envs", nullptr);
  if (!env.ok() && env.status().message().find("venv") != std::string::npos &&
      env.status().message().find("ensurepip") != std::string::npos) {
    GTEST_SKIP() << "python3-venv is not installed: " << env.status().message();
  }
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_TRUE(PathExists(env->python));
}

TEST(ProvidedPackages, AzuremlNamesInAnySpelling) {
  for (const char* p : {"azureml-defaults", "azureml-core==1.0.21", "AzureML_SDK[notebooks]>=1.0",
                        "azureml.train.core", "azureml", " azureml-dataprep ; python_version>'3'",
                        "conda-forge::azureml-core=1.0", "azureml-core 1.0"}) {
    EXPECT_TRUE(IsProvidedPackage(p)) << p;
  }
  for (const char* p :
       {"azure-storage-blob", "azuremlx", "torch", "my-azureml-tools", "", "-r x"}) {
    EXPECT_FALSE(IsProvidedPackage(p)) << p;
  }
  EXPECT_EQ(WithoutProvidedPackages({"torch", "azureml-defaults", "numpy"}),
            (std::vector<std::string>{"torch", "numpy"}));
  EXPECT_EQ(ProvidedNote("azureml-defaults"),
            "azureml-defaults: provided by trainyard's azureml compatibility package (not "
            "installed)");
}

TEST(ProvidedPackages, MovedOutOfEveryListAndTheRequirements) {
  EnvRequest r = Request("/p", {"tyhello", "azureml-defaults", "azureml-core==1.0.21"});
  r.kind = "conda";
  r.conda_packages = {"azureml-sdk", "numpy"};
  r.requirements =
      "# mine\n"
      "tyworld>=1\n"
      "azureml-train-core  # the estimators\n"
      "--index-url https://example.invalid/simple\n";
  SetProvidedPackages(&r);
  EXPECT_EQ(r.packages, (std::vector<std::string>{"tyhello"}));
  EXPECT_EQ(r.conda_packages, (std::vector<std::string>{"numpy"}));
  EXPECT_EQ(r.provided, (std::vector<std::string>{"azureml-core==1.0.21", "azureml-defaults",
                                                  "azureml-sdk", "azureml-train-core"}));
  // The line stays, as a comment saying why: pip's line numbers in its messages still match.
  EXPECT_EQ(r.requirements,
            "# mine\n"
            "tyworld>=1\n"
            "# azureml-train-core: provided by trainyard's azureml compatibility package (not "
            "installed): azureml-train-core  # the estimators\n"
            "--index-url https://example.invalid/simple\n");
  EXPECT_TRUE(NeedsEnvironment(r));
}

TEST(ProvidedPackages, NothingElseMeansNoEnvironment) {
  EnvRequest r = Request("/p", {"azureml-defaults"});
  EXPECT_TRUE(NeedsEnvironment(r));  // before: azureml-defaults would be pip-installed
  std::string before = EnvHash(Request("/p", {}));
  SetProvidedPackages(&r);
  EXPECT_FALSE(NeedsEnvironment(r));
  EXPECT_EQ(EnvHash(r), before);  // provided packages are not part of the hash

  // Requirements with only provided lines (and comments) left are nothing to install.
  EnvRequest req = Request("/p", {});
  req.requirements = "# for the hosted run\nazureml-defaults\n\nazureml-core\n";
  SetProvidedPackages(&req);
  EXPECT_EQ(req.requirements, "");
  EXPECT_FALSE(NeedsEnvironment(req));
  // A file of comments alone is left as it is (pip is asked, as before).
  EnvRequest comments = Request("/p", {});
  comments.requirements = "# nothing\n";
  SetProvidedPackages(&comments);
  EXPECT_EQ(comments.requirements, "# nothing\n");
}

TEST(ProvidedPackages, SameEnvironmentWithOrWithoutThemAndJsonKeepsThem) {
  EnvRequest with = Request("/p", {"tyhello", "azureml-defaults"});
  SetProvidedPackages(&with);
  EXPECT_EQ(EnvHash(with), EnvHash(Request("/p", {"tyhello"})));
  auto back = EnvRequestFromJson(EnvRequestToJson(with));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->provided, (std::vector<std::string>{"azureml-defaults"}));
  EXPECT_EQ(EnvHash(*back), EnvHash(with));
  // A request without any keeps the JSON it had.
  EXPECT_EQ(EnvRequestToJson(Request("/p", {"tyhello"})).find("provided"), std::string::npos);
}

TEST(EnsureEnv, ProvidedPackagesAreSaidAndNotInstalled) {
  TempDir tmp;
  WriteFakeBase(tmp / "python", tmp / "count");
  EnvRequest r = Request(tmp / "python", {"tyhello", "azureml-defaults"});
  SetProvidedPackages(&r);
  std::vector<std::string> lines;
  auto env = EnsureEnv(r, tmp / "envs", [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  std::string out = Join(lines, "\n");
  EXPECT_NE(out.find(ProvidedNote("azureml-defaults")), std::string::npos) << out;
  EXPECT_NE(out.find("Installing tyhello"), std::string::npos) << out;
  EXPECT_EQ(out.find("Installing azureml"), std::string::npos) << out;
  auto log = ReadFile(tmp / "envs/" + env->hash + ".log");
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find(ProvidedNote("azureml-defaults")), std::string::npos) << *log;
  // Reused: said again (the run's own log gets it every time).
  lines.clear();
  auto again = EnsureEnv(r, tmp / "envs", [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->reused);
  EXPECT_EQ(lines.front(), ProvidedNote("azureml-defaults"));
  EXPECT_EQ(CountRuns(tmp / "count"), 1);
}

TEST(EnsureEnv, OnlyProvidedPackagesBuildNothing) {
  TempDir tmp;
  WriteFakeBase(tmp / "python", tmp / "count");
  EnvRequest r = Request(tmp / "python", {"azureml-defaults", "azureml-core"});
  SetProvidedPackages(&r);
  std::vector<std::string> lines;
  auto env = EnsureEnv(r, tmp / "envs", [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->hash, "");
  EXPECT_EQ(env->python, tmp / "python");
  ASSERT_EQ(lines.size(), 3u) << Join(lines, "\n");
  EXPECT_EQ(lines[0], ProvidedNote("azureml-core"));
  EXPECT_EQ(lines[1], ProvidedNote("azureml-defaults"));
  EXPECT_EQ(lines[2], "nothing else to install: no environment needed (the runs use " +
                          (tmp / "python") + ")");
  EXPECT_FALSE(PathExists(tmp / "envs"));
  EXPECT_EQ(CountRuns(tmp / "count"), 0);
}

// Packages the system interpreter has (Debian's torch, numpy; torchvision after the set-up) are
// not fetched: offline (--no-index, an empty find-links folder), pip finds them satisfied.
TEST(EnsureEnv, RealVenvDoesNotFetchWhatTheSystemHas) {
  if (!PathExists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  auto probe = RunCommand({"/usr/bin/python3", "-c", "import torch, numpy"});
  if (!probe.ok() || probe->exit_code != 0) GTEST_SKIP() << "the system python has no torch";
  TempDir tmp;
  ASSERT_TRUE(MakeDirs(tmp / "wheels").ok());
  EnvRequest r = Request("/usr/bin/python3", {"torch", "numpy>=1.0", "azureml-defaults"});
  r.find_links = {tmp / "wheels"};  // empty: nothing can be fetched
  SetProvidedPackages(&r);
  std::vector<std::string> lines;
  auto env = EnsureEnv(r, tmp / "envs", [&](const std::string& l) { lines.push_back(l); });
  std::string out = Join(lines, "\n");
  if (!env.ok() && env.status().message().find("ensurepip") != std::string::npos) {
    GTEST_SKIP() << "python3-venv is not installed: " << env.status().message();
  }
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_NE(out.find("--no-index"), std::string::npos) << out;
  EXPECT_NE(out.find("Requirement already satisfied: torch"), std::string::npos) << out;
  EXPECT_NE(out.find("Requirement already satisfied: numpy"), std::string::npos) << out;
  EXPECT_NE(out.find(ProvidedNote("azureml-defaults")), std::string::npos) << out;
  auto torch = RunCommand({env->python, "-c", "import torch; print(torch.__file__)"});
  ASSERT_TRUE(torch.ok());
  EXPECT_EQ(torch->exit_code, 0) << torch->err;
  EXPECT_TRUE(StartsWith(torch->out, "/usr/lib/python3")) << torch->out;

  // A version the system does not have is not pretended: offline, pip fails and says so.
  EnvRequest other = Request("/usr/bin/python3", {"torch==0.0.1"});
  other.find_links = {tmp / "wheels"};
  auto failed = EnsureEnv(other, tmp / "envs", nullptr);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("torch==0.0.1"), std::string::npos)
      << failed.status().message();
}

}  // namespace
}  // namespace trainyard::env
