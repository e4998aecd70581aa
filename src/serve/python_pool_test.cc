// The scoring pool with real /usr/bin/python3 workers running real score.py files (each test writes
// its script into a temp folder), and its frame and line plumbing on their own.
#include "serve/python_pool.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "serve/python_pool_io.h"

namespace trainyard::serve {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

Clock::time_point In(Clock::duration d) { return Clock::now() + d; }

class PythonPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                       "/ty_python_pool_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Write(const std::string& rel, const std::string& contents) {
    const fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << contents;
    return p.string();
  }

  ScoringOptions Options(const std::string& script, int workers = 1) {
    ScoringOptions o;
    o.python = "/usr/bin/python3";
    o.entry = Write("src/score.py", script);
    o.workers = workers;
    return o;
  }

  static std::unique_ptr<ScoringPool> StartOrDie(const ScoringOptions& o) {
    Result<std::unique_ptr<ScoringPool>> pool = ScoringPool::Start(o);
    EXPECT_TRUE(pool.ok()) << pool.status().ToString();
    return pool.ok() ? std::move(pool).value() : nullptr;
  }

  // Waits (up to a minute) for Ready(); false with the load error otherwise.
  static ::testing::AssertionResult WaitReady(ScoringPool* pool) {
    const Clock::time_point until = In(seconds(60));
    while (Clock::now() < until) {
      if (pool->Ready()) return ::testing::AssertionSuccess();
      if (!pool->LoadError().empty()) {
        return ::testing::AssertionFailure() << "load error: " << pool->LoadError();
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return ::testing::AssertionFailure() << "not ready after 60 s";
  }

  // Waits (up to a minute) for a load error.
  static std::string WaitLoadError(ScoringPool* pool) {
    const Clock::time_point until = In(seconds(60));
    while (Clock::now() < until && pool->LoadError().empty()) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    return pool->LoadError();
  }

  static json ScoreJson(ScoringPool* pool, const std::string& body) {
    Result<std::string> r = pool->Score(body, In(seconds(60)));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return nullptr;
    return json::parse(*r);
  }

  std::string dir_;
};

// Whether a process exists and is not a zombie.
bool Running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

// Waits up to 10 s for a process to be gone.
bool GoneSoon(pid_t pid) {
  for (int i = 0; i < 500 && Running(pid); ++i) std::this_thread::sleep_for(milliseconds(20));
  return !Running(pid);
}

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

// --- the plumbing ---

TEST(PoolIo, FramesRoundTripWhenComplete) {
  std::string buffer =
      pool_io::EncodeFrame("hello") + pool_io::EncodeFrame("") + pool_io::EncodeFrame("wor");
  std::string payload;
  ASSERT_TRUE(*pool_io::TakeFrame(&buffer, &payload, 100));
  EXPECT_EQ(payload, "hello");
  ASSERT_TRUE(*pool_io::TakeFrame(&buffer, &payload, 100));
  EXPECT_EQ(payload, "");
  buffer.pop_back();  // "wo": incomplete
  EXPECT_FALSE(*pool_io::TakeFrame(&buffer, &payload, 100));
  buffer += "r";
  ASSERT_TRUE(*pool_io::TakeFrame(&buffer, &payload, 100));
  EXPECT_EQ(payload, "wor");
  EXPECT_TRUE(buffer.empty());
  std::string header_only = pool_io::EncodeFrame("x").substr(0, 3);
  EXPECT_FALSE(*pool_io::TakeFrame(&header_only, &payload, 100));
}

TEST(PoolIo, OversizedFrameIsAnError) {
  std::string buffer = pool_io::EncodeFrame(std::string(101, 'x'));
  std::string payload;
  Result<bool> got = pool_io::TakeFrame(&buffer, &payload, 100);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("101 bytes"), std::string::npos);
}

TEST(PoolIo, ForwarderPrefixesEachLineAndKeepsTheLast) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    pool_io::LineForwarder forward("[worker 2] ", fds[1]);
    forward.Feed("one\ntw");
    forward.Feed("o\r\n\nthree");
    EXPECT_EQ(forward.LastLines(2), "two\n");
    forward.Flush();
    EXPECT_EQ(forward.LastLines(2), "\nthree");
  }
  close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fds[0]);
  EXPECT_EQ(out, "[worker 2] one\n[worker 2] two\n[worker 2] \n[worker 2] three\n");
}

// --- starting ---

TEST_F(PythonPoolTest, StartRejectsBadOptions) {
  ScoringOptions o = Options("def run(data):\n    return 1\n");
  ScoringOptions missing = o;
  missing.entry = dir_ + "/nope.py";
  Result<std::unique_ptr<ScoringPool>> r = ScoringPool::Start(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("nope.py"), std::string::npos);

  ScoringOptions none = o;
  none.workers = 0;
  EXPECT_EQ(ScoringPool::Start(none).status().code(), StatusCode::kInvalidArgument);

  ScoringOptions no_python = o;
  no_python.python = dir_ + "/bin/python3";
  r = ScoringPool::Start(no_python);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("interpreter"), std::string::npos);

  ScoringOptions no_model = o;
  no_model.models = {{"digits", "1", dir_ + "/models/digits/1/model.pt"}};
  r = ScoringPool::Start(no_model);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("digits:1"), std::string::npos);
}

// --- answers ---

constexpr const char* kKinds = R"PY(
import json, os
import numpy as np

state = None

def init():
    global state
    state = {"initialized": True, "pid": os.getpid()}

class Opaque:
    pass

def run(raw):
    request = json.loads(raw)
    kind = request["kind"]
    if kind == "dict":
        return {"echo": request["data"], "state": state}
    if kind == "list":
        return [1, 2.5, "three", None]
    if kind == "str":
        return "plain text"
    if kind == "numpy":
        return {"array": np.arange(6, dtype=np.int64).reshape(2, 3),
                "scalar": np.float32(0.5), "flag": np.bool_(True)}
    if kind == "bytes":
        return b"raw bytes"
    if kind == "opaque":
        return Opaque()
    if kind == "raise":
        raise ValueError("bad input: " + str(request["data"]))
    if kind == "cwd":
        import sys
        return {"cwd": os.getcwd(), "path0": sys.path[0], "unicode": raw}
    return None
)PY";

TEST_F(PythonPoolTest, RunAnswersJsonForEachKindOfValue) {
  auto pool = StartOrDie(Options(kKinds));
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  EXPECT_EQ(pool->LoadError(), "");

  json d = ScoreJson(pool.get(), R"({"kind": "dict", "data": [[1, 2], [3, 4]]})");
  EXPECT_EQ(d["echo"], json::parse("[[1, 2], [3, 4]]"));
  EXPECT_EQ(d["state"]["initialized"], true);

  EXPECT_EQ(ScoreJson(pool.get(), R"({"kind": "list"})"),
            json::parse(R"([1, 2.5, "three", null])"));
  // A str is answered as a JSON string, as the hosted service does.
  Result<std::string> s = pool->Score(R"({"kind": "str"})", In(seconds(60)));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, "\"plain text\"");

  json n = ScoreJson(pool.get(), R"({"kind": "numpy"})");
  EXPECT_EQ(n["array"], json::parse("[[0, 1, 2], [3, 4, 5]]"));
  EXPECT_DOUBLE_EQ(n["scalar"].get<double>(), 0.5);
  EXPECT_EQ(n["flag"], true);

  EXPECT_EQ(ScoreJson(pool.get(), R"({"kind": "bytes"})"), "raw bytes");
  EXPECT_EQ(ScoreJson(pool.get(), R"({"kind": "none"})"), nullptr);

  Result<std::string> opaque = pool->Score(R"({"kind": "opaque"})", In(seconds(60)));
  ASSERT_FALSE(opaque.ok());
  EXPECT_EQ(opaque.status().code(), StatusCode::kInternal);
  EXPECT_NE(opaque.status().message().find("Opaque"), std::string::npos)
      << opaque.status().message();

  // Non-ASCII text arrives as the same text; the script runs in its folder, first on sys.path.
  json c = ScoreJson(pool.get(), "{\"kind\": \"cwd\", \"x\": \"d\xc3\xa9j\xc3\xa0\"}");
  EXPECT_EQ(c["cwd"], dir_ + "/src");
  EXPECT_EQ(c["path0"], dir_ + "/src");
  EXPECT_NE(c["unicode"].get<std::string>().find("d\xc3\xa9j\xc3\xa0"), std::string::npos);

  EXPECT_EQ(pool->StartedWorkers(), 1);
}

TEST_F(PythonPoolTest, RunRaisingIsInternalAndTheWorkerGoesOn) {
  auto pool = StartOrDie(Options(kKinds));
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  Result<std::string> r = pool->Score(R"({"kind": "raise", "data": 7})", In(seconds(60)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_EQ(r.status().message(), "ValueError: bad input: 7");

  Result<std::string> bad_json = pool->Score("not json", In(seconds(60)));
  ASSERT_FALSE(bad_json.ok());
  EXPECT_NE(bad_json.status().message().find("JSONDecodeError"), std::string::npos);

  Result<std::string> not_text = pool->Score("\xff\xfe", In(seconds(60)));
  ASSERT_FALSE(not_text.ok());
  EXPECT_EQ(not_text.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(not_text.status().message().find("UTF-8"), std::string::npos);

  EXPECT_EQ(ScoreJson(pool.get(), R"({"kind": "list"})").size(), 4u);
  EXPECT_EQ(pool->StartedWorkers(), 1);  // errors in run() do not cost the worker
}

TEST_F(PythonPoolTest, TorchTensorsBecomeLists) {
  auto pool = StartOrDie(Options(R"PY(
def run(raw):
    try:
        import torch
    except ImportError:
        return "no torch"
    return {"t": torch.tensor([[1.5, 2.0]], requires_grad=True) * 2, "i": torch.tensor(3)}
)PY"));
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  json t = ScoreJson(pool.get(), "{}");
  if (t == "no torch") GTEST_SKIP() << "no torch for /usr/bin/python3";
  EXPECT_EQ(t["t"], json::parse("[[3.0, 4.0]]"));
  EXPECT_EQ(t["i"], 3);
}

// --- failures of the script ---

TEST_F(PythonPoolTest, InitRaisingIsALoadErrorWithoutRestartSpinning) {
  auto pool = StartOrDie(Options(R"PY(
def init():
    raise RuntimeError("no weights in " + "here")

def run(raw):
    return 1
)PY"));
  ASSERT_TRUE(pool);
  const std::string error = WaitLoadError(pool.get());
  EXPECT_NE(error.find("Traceback"), std::string::npos) << error;
  EXPECT_NE(error.find("RuntimeError: no weights in here"), std::string::npos) << error;
  EXPECT_FALSE(pool->Ready());
  Result<std::string> r = pool->Score("{}", In(seconds(5)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("no weights in here"), std::string::npos);
  // Restarts back off (0.5 s, then 1 s, ...): a spinning pool would have started many by now.
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_GE(pool->StartedWorkers(), 1);
  EXPECT_LE(pool->StartedWorkers(), 3);
  EXPECT_FALSE(pool->Ready());
}

TEST_F(PythonPoolTest, ImportErrorsAndMissingRunAreLoadErrors) {
  auto syntax = StartOrDie(Options("def run(raw)\n    return 1\n"));
  ASSERT_TRUE(syntax);
  EXPECT_NE(WaitLoadError(syntax.get()).find("SyntaxError"), std::string::npos);
  syntax.reset();

  auto no_run = StartOrDie(Options("def init():\n    pass\n"));
  ASSERT_TRUE(no_run);
  EXPECT_NE(WaitLoadError(no_run.get()).find("score.py defines no run(raw_data)"),
            std::string::npos);
}

TEST_F(PythonPoolTest, WorkerExitingInInitIsALoadErrorWithItsLastOutput) {
  auto pool = StartOrDie(Options(R"PY(
import os, sys
def init():
    print("loading the model from nowhere", flush=True)
    os._exit(3)
def run(raw):
    return 1
)PY"));
  ASSERT_TRUE(pool);
  const std::string error = WaitLoadError(pool.get());
  EXPECT_NE(error.find("exited (exit code 3) before init() returned"), std::string::npos) << error;
  EXPECT_NE(error.find("loading the model from nowhere"), std::string::npos) << error;
}

TEST_F(PythonPoolTest, RequestsBeforeInitReturnsAreUnavailable) {
  auto pool = StartOrDie(Options(R"PY(
import time
def init():
    time.sleep(1)
def run(raw):
    return "served"
)PY"));
  ASSERT_TRUE(pool);
  EXPECT_FALSE(pool->Ready());
  EXPECT_EQ(pool->LoadError(), "");
  Result<std::string> early = pool->Score("{}", In(seconds(60)));
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(early.status().message().find("still loading"), std::string::npos);
  ASSERT_TRUE(WaitReady(pool.get()));
  EXPECT_EQ(ScoreJson(pool.get(), "{}"), "served");
}

TEST_F(PythonPoolTest, InitPastItsTimeoutIsALoadError) {
  ScoringOptions o = Options(R"PY(
import time
def init():
    time.sleep(60)
def run(raw):
    return 1
)PY");
  o.init_timeout_seconds = 1;
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  EXPECT_EQ(WaitLoadError(pool.get()), "init() did not return within 1 s");
  EXPECT_FALSE(pool->Ready());
}

constexpr const char* kSlow = R"PY(
import json, os, time

def init():
    open(os.path.join(os.environ["MARKS"], "init-%d" % os.getpid()), "w").close()

def run(raw):
    request = json.loads(raw)
    if request.get("pid_file"):
        with open(request["pid_file"] + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(request["pid_file"] + ".tmp", request["pid_file"])
    if request.get("spin"):
        while True:
            pass
    time.sleep(request.get("sleep", 0))
    return {"pid": os.getpid()}
)PY";

TEST_F(PythonPoolTest, WorkerKilledMidRequestAnswersItAndRestarts) {
  ScoringOptions o = Options(kSlow);
  o.env["MARKS"] = dir_;
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  const std::string pid_file = dir_ + "/running.pid";
  Result<std::string> killed = Internal("not run");
  std::thread caller([&] {
    killed = pool->Score(json({{"pid_file", pid_file}, {"sleep", 60}}).dump(), In(seconds(60)));
  });
  std::string pid_text;
  for (int i = 0; i < 3000 && pid_text.empty(); ++i) {
    std::ifstream(pid_file) >> pid_text;
    if (pid_text.empty()) std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_FALSE(pid_text.empty());
  const pid_t first = std::stoi(pid_text);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  caller.join();
  ASSERT_FALSE(killed.ok());
  EXPECT_EQ(killed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(killed.status().message(),
            "scoring worker 1 died (signal 9) while running this request; restarted");

  // The next request waits for the restarted worker and is answered by it.
  json next = ScoreJson(pool.get(), "{}");
  EXPECT_NE(next["pid"].get<int>(), first);
  EXPECT_EQ(pool->StartedWorkers(), 2);
  EXPECT_TRUE(pool->Ready());
  EXPECT_FALSE(Running(first));  // reaped, not a zombie
}

TEST_F(PythonPoolTest, StuckRunTimesOutAndTheWorkerIsReplaced) {
  ScoringOptions o = Options(kSlow);
  o.env["MARKS"] = dir_;
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  const int stuck_pid = ScoreJson(pool.get(), "{}")["pid"];

  Result<std::string> r = pool->Score(R"({"spin": true})", In(milliseconds(1500)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_NE(r.status().message().find("run() did not return within"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(GoneSoon(stuck_pid));

  json next = ScoreJson(pool.get(), "{}");
  EXPECT_NE(next["pid"].get<int>(), stuck_pid);
  EXPECT_EQ(pool->StartedWorkers(), 2);
}

TEST_F(PythonPoolTest, NoFreeWorkerBeforeTheDeadlineIsATimeout) {
  ScoringOptions o = Options(kSlow);
  o.env["MARKS"] = dir_;
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  const std::string pid_file = dir_ + "/busy.pid";
  Result<std::string> busy = Internal("not run");
  std::thread caller([&] {
    busy = pool->Score(json({{"pid_file", pid_file}, {"sleep", 2}}).dump(), In(seconds(60)));
  });
  while (!fs::exists(pid_file)) std::this_thread::sleep_for(milliseconds(10));
  Result<std::string> r = pool->Score("{}", In(milliseconds(300)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_NE(r.status().message().find("no scoring worker free within"), std::string::npos)
      << r.status().message();
  caller.join();
  EXPECT_TRUE(busy.ok()) << busy.status().ToString();
  EXPECT_EQ(pool->StartedWorkers(), 1);  // waiting in the queue costs no worker
}

TEST_F(PythonPoolTest, ConcurrentRequestsSpreadOverThreeWorkers) {
  ScoringOptions o = Options(kSlow, 3);
  o.env["MARKS"] = dir_;
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  std::vector<Result<std::string>> answers(9, Internal("not run"));
  std::vector<std::thread> callers;
  for (int i = 0; i < 9; ++i) {
    callers.emplace_back(
        [&, i] { answers[i] = pool->Score(R"({"sleep": 0.5})", In(seconds(60))); });
  }
  for (auto& t : callers) t.join();
  std::set<int> pids;
  for (const auto& a : answers) {
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    pids.insert(json::parse(*a)["pid"].get<int>());
  }
  EXPECT_EQ(pids.size(), 3u);
  EXPECT_EQ(pool->StartedWorkers(), 3);
}

// --- environment and output ---

constexpr const char* kModels = R"PY(
import json, os
def run(raw):
    root = os.environ.get("AZUREML_MODEL_DIR")
    found = {}
    for folder, _, files in os.walk(root, followlinks=True):
        for name in files:
            path = os.path.join(folder, name)
            with open(path) as f:
                found[os.path.relpath(path, root)] = f.read()
    return {"dir": root, "models": json.loads(os.environ["TRAINYARD_MODELS"]), "files": found,
            "extra": os.environ.get("EXTRA")}
)PY";

TEST_F(PythonPoolTest, ModelDirWithOneModelIsTheFolderHoldingIt) {
  ScoringOptions o = Options(kModels);
  const std::string model = Write("ws/models/digits/3/model.pt", "weights");
  o.models = {{"digits", "3", model}};
  o.env["EXTRA"] = "from the caller";
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  json r = ScoreJson(pool.get(), "{}");
  EXPECT_EQ(r["dir"], dir_ + "/ws/models/digits/3");
  EXPECT_EQ(r["files"], json({{"model.pt", "weights"}}));
  EXPECT_EQ(r["models"],
            json::parse(R"([{"name": "digits", "version": 3, "path": ")" + model + R"("}])"));
  EXPECT_EQ(r["extra"], "from the caller");
}

TEST_F(PythonPoolTest, ModelDirWithTwoModelsHoldsNameAndVersionFolders) {
  ScoringOptions o = Options(kModels);
  Write("ws/models/digits/1/model.pt", "d1");
  Write("ws/models/resnet/2/model/weights.bin", "r2");
  o.models = {{"digits", "1", dir_ + "/ws/models/digits/1/model.pt"},
              {"resnet", "2", dir_ + "/ws/models/resnet/2/model"}};
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  json r = ScoreJson(pool.get(), "{}");
  EXPECT_EQ(r["dir"], dir_ + "/ws/models");
  EXPECT_EQ(r["files"], json({{"digits/1/model.pt", "d1"}, {"resnet/2/model/weights.bin", "r2"}}));
  ASSERT_EQ(r["models"].size(), 2u);
  EXPECT_EQ(r["models"][1]["name"], "resnet");
  EXPECT_EQ(r["models"][1]["version"], 2);
}

TEST_F(PythonPoolTest, ModelsOutsideTheLayoutAreLinkedIntoOne) {
  ScoringOptions o = Options(kModels);
  Write("a/first.pt", "A");
  Write("b/second.pt", "B");
  o.models = {{"first", "1", dir_ + "/a/first.pt"}, {"second", "4", dir_ + "/b/second.pt"}};
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  json r = ScoreJson(pool.get(), "{}");
  const std::string linked = r["dir"];
  EXPECT_NE(linked.find("trainyard-models-"), std::string::npos);
  EXPECT_EQ(r["files"], json({{"first/1/first.pt", "A"}, {"second/4/second.pt", "B"}}));
  pool.reset();
  EXPECT_FALSE(fs::exists(linked));               // the links are removed with the pool
  EXPECT_TRUE(fs::exists(dir_ + "/a/first.pt"));  // and never what they point to
}

TEST_F(PythonPoolTest, ScriptsCanImportTheTrainyardAndAzuremlPackages) {
  auto pool = StartOrDie(Options(R"PY(
import importlib.util
def run(raw):
    return {name: getattr(importlib.util.find_spec(name), "origin", None)
            for name in ("trainyard", "azureml.core")}
)PY"));
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  json r = ScoreJson(pool.get(), "{}");
  EXPECT_TRUE(r["trainyard"].is_string()) << r.dump();
  EXPECT_TRUE(r["azureml.core"].is_string()) << r.dump();
}

TEST_F(PythonPoolTest, PrintsGoToStderrWithTheWorkerPrefixNotIntoAnswers) {
  ScoringOptions o = Options(R"PY(
import os, sys
def init():
    print("init says hi")
def run(raw):
    print("printed in run")
    sys.stdout.write("no newline yet ")
    sys.stdout.write("x" * 100000 + "\n")
    os.write(1, b"straight to fd 1\n")
    print("to stderr", file=sys.stderr)
    return {"ok": raw}
)PY");
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  testing::internal::CaptureStderr();
  ASSERT_TRUE(WaitReady(pool.get()));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ScoreJson(pool.get(), "[" + std::to_string(i) + "]"),
              json({{"ok", "[" + std::to_string(i) + "]"}}));
  }
  pool.reset();  // flushes what is still in the pipes
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("[worker 1] init says hi\n"), std::string::npos);
  EXPECT_NE(err.find("[worker 1] printed in run\n"), std::string::npos);
  EXPECT_NE(err.find("[worker 1] no newline yet xxx"), std::string::npos);
  EXPECT_NE(err.find("[worker 1] straight to fd 1\n"), std::string::npos);
  EXPECT_NE(err.find("[worker 1] to stderr\n"), std::string::npos);
}

// --- stopping ---

TEST_F(PythonPoolTest, StoppingEndsWorkersAndTheirChildrenAndLeaksNoDescriptors) {
  const int fds_before = OpenFds();
  ScoringOptions o = Options(R"PY(
import os, subprocess, signal
child = None
def init():
    global child
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker that will not stop politely
    child = subprocess.Popen(["sleep", "1000"])
def run(raw):
    return {"pid": os.getpid(), "child": child.pid}
)PY",
                             2);
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  json r = ScoreJson(pool.get(), "{}");
  const pid_t worker = r["pid"], child = r["child"];
  EXPECT_TRUE(Running(worker));
  EXPECT_TRUE(Running(child));
  pool.reset();  // SIGTERM ignored: SIGKILL after 5 s
  EXPECT_FALSE(Running(worker));
  EXPECT_TRUE(GoneSoon(child));
  EXPECT_EQ(OpenFds(), fds_before);
}

TEST_F(PythonPoolTest, StoppingAnswersTheRequestInFlight) {
  ScoringOptions o = Options(kSlow);
  o.env["MARKS"] = dir_;
  auto pool = StartOrDie(o);
  ASSERT_TRUE(pool);
  ASSERT_TRUE(WaitReady(pool.get()));
  const std::string pid_file = dir_ + "/long.pid";
  Result<std::string> r = Internal("not run");
  std::thread caller([&] {
    r = pool->Score(json({{"pid_file", pid_file}, {"sleep", 60}}).dump(), In(seconds(60)));
  });
  while (!fs::exists(pid_file)) std::this_thread::sleep_for(milliseconds(10));
  pool.reset();
  caller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("stopping"), std::string::npos);
}

}  // namespace
}  // namespace trainyard::serve
