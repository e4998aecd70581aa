// TorchScript services (engine.h) with real libtorch: the models are scripted at test time by
// /usr/bin/python3 (skipped where that Python has no torch).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "common/process.h"
#include "serve/engine.h"
#include "testing/temp_dir.h"

namespace trainyard::serve {
namespace {

using std::chrono::milliseconds;

constexpr const char* kMakeModels = R"PY(
import sys, torch
from typing import Dict
out = sys.argv[1]
torch.manual_seed(0)

class Doubler(torch.nn.Module):
    def forward(self, x):
        return x * 2 + 1

class Digits(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(64, 10)
        with torch.no_grad():
            self.fc.weight.fill_(0.01)
            self.fc.bias.fill_(0.5)
    def forward(self, image):
        return self.fc(image.reshape(image.shape[0], -1))

class Pair(torch.nn.Module):
    def forward(self, x):
        return x + 1, x.sum(dim=1)

class Named(torch.nn.Module):
    def forward(self, x) -> Dict[str, torch.Tensor]:
        return {"double": x * 2, "neg": -x}

class Clone(torch.nn.Module):
    def forward(self, x):
        return x.clone()

class Raiser(torch.nn.Module):
    def forward(self, x):
        if x.shape[1] != 3:
            raise ValueError("expected 3 features per item")
        return x

class TwoInputs(torch.nn.Module):
    def forward(self, a, b):
        return a * b

for name, module in [("doubler", Doubler()), ("digits", Digits()), ("pair", Pair()),
                     ("clone", Clone()), ("two", TwoInputs()), ("raiser", Raiser())]:
    torch.jit.script(module.eval()).save(f"{out}/{name}.pt")
torch.jit.script(Named()).save(f"{out}/named.pt")
torch.save(Digits().state_dict(), f"{out}/state_dict.pt")
)PY";

class TorchScript : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto have = RunCommand({"/usr/bin/python3", "-c", "import torch"}, {.timeout_seconds = 120});
    if (!have.ok() || have->exit_code != 0) {
      skip_ = "/usr/bin/python3 has no torch to script the test models with";
      return;
    }
    std::ofstream(*dir_ / "make.py") << kMakeModels;
    auto r =
        RunCommand({"/usr/bin/python3", *dir_ / "make.py", dir_->path()}, {.timeout_seconds = 300});
    if (!r.ok() || r->exit_code != 0) {
      make_error_ =
          "scripting the test models failed: " + (r.ok() ? r->err : r.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_EQ(make_error_, "");
  }

  static std::string Model(const std::string& name) { return *dir_ / (name + ".pt"); }

  std::unique_ptr<ModelService> Serve(const std::string& path, EngineOptions options = {},
                                      std::map<std::string, std::string> tags = {}) {
    options.intra_op_threads = options.intra_op_threads ? options.intra_op_threads : 1;
    auto s = MakeTorchScriptService("m", "1", path, tags, options, &metrics_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    auto until = Clock::now() + std::chrono::seconds(60);
    while (!(*s)->Ready() && (*s)->LoadError().empty() && Clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(2));
    }
    return std::move(s).value();
  }

  static Clock::time_point Deadline() { return Clock::now() + std::chrono::seconds(30); }

  Metrics metrics_;
  static testing::TempDir* dir_;
  static std::string skip_;
  static std::string make_error_;
};

testing::TempDir* TorchScript::dir_ = nullptr;
std::string TorchScript::skip_;
std::string TorchScript::make_error_;

template <typename T>
Tensor Make(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t;
  t.name = "x";
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> out(t.data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

std::vector<Tensor> One(Tensor t) {
  std::vector<Tensor> v;
  v.push_back(std::move(t));
  return v;
}

TEST_F(TorchScript, RunsAModel) {
  EXPECT_TRUE(HaveLibtorch());
  auto s = Serve(Model("doubler"));
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  EXPECT_EQ(s->Info().platform, "pytorch_torchscript");
  auto r = s->Infer(One(Make<float>(DType::kFP32, {2, 2}, {1, 2, 3, 4})), Deadline());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name, "output__0");
  EXPECT_EQ((*r)[0].dtype, DType::kFP32);
  EXPECT_EQ((*r)[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 5, 7, 9}));
  ModelInfo info = s->Info();
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "x");  // forward's argument
  EXPECT_EQ(info.inputs[0].shape, (std::vector<int64_t>{-1, 2}));
  ASSERT_EQ(info.outputs.size(), 1u);
  EXPECT_EQ(info.outputs[0].shape, (std::vector<int64_t>{-1, 2}));
}

TEST_F(TorchScript, AWrongShapeIsRefusedWithTheTorchErrorThenWithTheLearnedShape) {
  auto s = Serve(Model("digits"));
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  auto wrong =
      s->Infer(One(Make<float>(DType::kFP32, {2, 32}, std::vector<float>(64, 1))), Deadline());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("mat1 and mat2 shapes cannot be multiplied"),
            std::string::npos)
      << wrong.status().message();
  EXPECT_EQ(wrong.status().message(), "mat1 and mat2 shapes cannot be multiplied (2x32 and 64x10)");
  auto right =
      s->Infer(One(Make<float>(DType::kFP32, {1, 1, 8, 8}, std::vector<float>(64, 1))), Deadline());
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_EQ((*right)[0].shape, (std::vector<int64_t>{1, 10}));
  EXPECT_NEAR(Values<float>((*right)[0])[3], 64 * 0.01 + 0.5, 1e-5);
  auto later =
      s->Infer(One(Make<float>(DType::kFP32, {2, 64}, std::vector<float>(128, 1))), Deadline());
  EXPECT_EQ(later.status().message(), "expected shape [-1, 1, 8, 8] (FP32), got [2, 64]");
}

TEST_F(TorchScript, AnExceptionInTheModelIsRefusedWithItsMessage) {
  auto s = Serve(Model("raiser"));
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  auto r = s->Infer(One(Make<float>(DType::kFP32, {1, 4}, {1, 2, 3, 4})), Deadline());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "ValueError: expected 3 features per item");
  EXPECT_TRUE(s->Infer(One(Make<float>(DType::kFP32, {1, 3}, {1, 2, 3})), Deadline()).ok());
}

TEST_F(TorchScript, DeclaredInputShapeFromTags) {
  auto s = Serve(Model("digits"), {}, {{"input_shape", "1,8,8"}, {"input_dtype", "FP32"}});
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  ModelInfo info = s->Info();
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "image");
  EXPECT_EQ(info.inputs[0].shape, (std::vector<int64_t>{-1, 1, 8, 8}));
  ASSERT_EQ(info.outputs.size(), 1u);  // from the warm-up
  EXPECT_EQ(info.outputs[0].shape, (std::vector<int64_t>{-1, 10}));
  auto r =
      s->Infer(One(Make<float>(DType::kFP32, {2, 64}, std::vector<float>(128, 1))), Deadline());
  EXPECT_EQ(r.status().message(), "expected shape [-1, 1, 8, 8] (FP32), got [2, 64]");

  auto bad = Serve(Model("digits"), {}, {{"input_shape", "1,x"}});
  EXPECT_FALSE(bad->Ready());
  EXPECT_NE(bad->LoadError().find("tag input_shape=1,x"), std::string::npos) << bad->LoadError();
  auto misfit = Serve(Model("digits"), {}, {{"input_shape", "[3, 8, 8]"}});
  EXPECT_FALSE(misfit->Ready());
  EXPECT_NE(misfit->LoadError().find("does not fit the model"), std::string::npos);
  auto dtype_only = Serve(Model("digits"), {}, {{"input_dtype", "INT64"}});
  EXPECT_NE(dtype_only->LoadError().find("needs tag input_shape too"), std::string::npos);
}

TEST_F(TorchScript, EveryTorchDatatypeGoesThroughUnchanged) {
  auto s = Serve(Model("clone"));
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  // Each datatype is a new signature: a fresh service per datatype, since the first success
  // fixes the input's datatype.
  for (DType dtype : {DType::kBool, DType::kUInt8, DType::kInt8, DType::kInt16, DType::kInt32,
                      DType::kInt64, DType::kFP16, DType::kBF16, DType::kFP32, DType::kFP64}) {
    auto each = Serve(Model("clone"));
    Tensor t;
    t.dtype = dtype;
    t.shape = {1, 3};
    t.data.resize(3 * DTypeSize(dtype));
    for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<uint8_t>(i % 2);
    auto r = each->Infer(One(t), Deadline());
    ASSERT_TRUE(r.ok()) << DTypeName(dtype) << ": " << r.status().ToString();
    EXPECT_EQ((*r)[0].dtype, dtype) << DTypeName(dtype);
    EXPECT_EQ((*r)[0].data, t.data) << DTypeName(dtype);
  }
  for (DType dtype : {DType::kUInt16, DType::kUInt32, DType::kUInt64}) {
    Tensor t;
    t.dtype = dtype;
    t.shape = {1};
    t.data.resize(DTypeSize(dtype));
    auto r = s->Infer(One(t), Deadline());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("has no tensor type in this libtorch"), std::string::npos)
        << r.status().message();
  }
  Tensor words;
  words.dtype = DType::kBytes;
  words.shape = {1};
  words.strings = {"hello"};
  auto r = s->Infer(One(words), Deadline());
  EXPECT_EQ(r.status().message(),
            "BYTES inputs cannot go to a TorchScript model (it takes tensors)");
}

TEST_F(TorchScript, TupleAndDictOutputsBecomeSeveralTensors) {
  auto pair = Serve(Model("pair"));
  ASSERT_TRUE(pair->Ready()) << pair->LoadError();
  auto r = pair->Infer(One(Make<float>(DType::kFP32, {2, 2}, {1, 2, 3, 4})), Deadline());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "output__0");
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{2, 3, 4, 5}));
  EXPECT_EQ((*r)[1].name, "output__1");
  EXPECT_EQ((*r)[1].shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(Values<float>((*r)[1]), (std::vector<float>{3, 7}));

  auto named = Serve(Model("named"));
  ASSERT_TRUE(named->Ready()) << named->LoadError();
  auto d = named->Infer(One(Make<double>(DType::kFP64, {1, 1}, {1.5})), Deadline());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].name, "double");
  EXPECT_EQ(Values<double>((*d)[0]), (std::vector<double>{3.0}));
  EXPECT_EQ((*d)[1].name, "neg");
  EXPECT_EQ(named->Info().outputs[1].name, "neg");
}

TEST_F(TorchScript, SeveralInputsArePositional) {
  auto s = Serve(Model("two"));
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  std::vector<Tensor> in;
  in.push_back(Make<float>(DType::kFP32, {2}, {2, 3}));
  in.push_back(Make<float>(DType::kFP32, {2}, {4, 5}));
  auto r = s->Infer(std::move(in), Deadline());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{8, 15}));
  ModelInfo info = s->Info();
  ASSERT_EQ(info.inputs.size(), 2u);
  EXPECT_EQ(info.inputs[0].name, "a");
  EXPECT_EQ(info.inputs[1].name, "b");
  auto missing = s->Infer(One(Make<float>(DType::kFP32, {2}, {2, 3})), Deadline());
  EXPECT_EQ(missing.status().message(), "expected 2 inputs, got 1");
}

TEST_F(TorchScript, ConcurrentRequestsShareAForward) {
  EngineOptions options;
  options.batch_size = 8;
  options.max_batch_delay_ms = 20000;  // a full batch leaves at once
  options.instances = 2;
  auto s = Serve(Model("doubler"), options);
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  std::vector<std::future<Result<std::vector<Tensor>>>> answers;
  for (int i = 0; i < 8; ++i) {
    answers.push_back(std::async(std::launch::async, [&s, i] {
      return s->Infer(One(Make<float>(DType::kFP32, {1, 3}, {1.0f * i, 0, -1})), Deadline());
    }));
  }
  for (int i = 0; i < 8; ++i) {
    auto r = answers[i].get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)[0].shape, (std::vector<int64_t>{1, 3}));
    EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{2.0f * i + 1, 1, -1}));
  }
  std::string text = metrics_.Render();
  EXPECT_NE(text.find("trainyard_batch_size_bucket{model=\"m\",version=\"1\",le=\"4\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("trainyard_batch_size_count{model=\"m\",version=\"1\"} 1\n"),
            std::string::npos);
}

TEST_F(TorchScript, PathsThatCannotLoadSayWhy) {
  auto missing = Serve(*dir_ / "nothing-here.pt");
  EXPECT_FALSE(missing->Ready());
  EXPECT_NE(missing->LoadError().find("does not exist"), std::string::npos);
  auto state_dict = Serve(Model("state_dict"));
  EXPECT_FALSE(state_dict->Ready());
  EXPECT_NE(state_dict->LoadError().find("as TorchScript"), std::string::npos)
      << state_dict->LoadError();
  auto infer = state_dict->Infer(One(Make<float>(DType::kFP32, {1}, {1})), Deadline());
  EXPECT_EQ(infer.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(infer.status().message().find("failed to load"), std::string::npos);
  // A folder: its one *.pt file is served; several are refused.
  testing::TempDir folder;
  std::filesystem::create_directories(folder / "one/sub");
  std::filesystem::copy_file(Model("doubler"), folder / "one/sub/model.pt");
  std::ofstream(folder / "one/README") << "not a model";
  auto one = Serve(folder / "one");
  EXPECT_TRUE(one->Ready()) << one->LoadError();
  std::filesystem::copy_file(Model("doubler"), folder / "one/a.pt");
  std::filesystem::copy_file(Model("doubler"), folder / "one/b.pth");
  auto two = Serve(folder / "one");
  EXPECT_NE(two->LoadError().find("holds several model files (a.pt, b.pth)"), std::string::npos)
      << two->LoadError();
  std::filesystem::create_directories(folder / "empty");
  auto none = Serve(folder / "empty");
  EXPECT_NE(none->LoadError().find("holds no *.pt or *.pth file"), std::string::npos);
}

TEST_F(TorchScript, GpuWhenAsked) {
  EngineOptions options;
  options.gpu = true;
  auto s = Serve(Model("doubler"), options);
  if (!HaveCuda()) {
    EXPECT_FALSE(s->Ready());
    EXPECT_NE(s->LoadError().find("GPU asked but"), std::string::npos) << s->LoadError();
    return;
  }
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  auto r = s->Infer(One(Make<float>(DType::kFP32, {1, 2}, {1, 2})), Deadline());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 5}));
}

}  // namespace
}  // namespace trainyard::serve
