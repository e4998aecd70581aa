#include "serve/codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "serve/half.h"

namespace trainyard::serve {
namespace {

using json = nlohmann::json;

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> out(t.data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

template <typename T>
Tensor Make(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t;
  t.name = "out";
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(T));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

TEST(Codec, DataBecomesABatchOfNestedRows) {
  auto t = TensorFromData(json::parse(R"({"data": [[1, 2, 3], [4, 5, 6.5]]})"), DType::kFP32);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->name, "input__0");
  EXPECT_EQ(t->dtype, DType::kFP32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Values<float>(*t), (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));
  // A bare list is the same request.
  auto bare = TensorFromData(json::parse("[[[1], [2]]]"), DType::kFP64);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->shape, (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(Values<double>(*bare), (std::vector<double>{1, 2}));
}

TEST(Codec, RaggedRowsAreNamed) {
  auto t = TensorFromData(json::parse("[[1, 2, 3], [4, 5, 6], [7, 8]]"), DType::kFP32);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(), "data[2] has 2 values, data[0] has 3");
  auto deep = TensorFromData(json::parse("[[[1, 2], [3, 4]], [[5, 6], [7]]]"), DType::kFP32);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().message(), "data[1][1] has 1 values, data[0][0] has 2");
  auto mixed = TensorFromData(json::parse("[[1, 2], 3]"), DType::kFP32);
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().message(), "data[1] is a number, data[0] is a list");
  auto too_deep = TensorFromData(json::parse("[[1, 2], [3, [4]]]"), DType::kFP32);
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.status().message(), "data[1][1] is a list, data[0][0] is a value");
}

TEST(Codec, BadBodiesAndElementsAreRefused) {
  auto no_data = TensorFromData(json::parse(R"({"input": [1]})"), DType::kFP32);
  ASSERT_FALSE(no_data.ok());
  EXPECT_NE(no_data.status().message().find("without \"data\""), std::string::npos);
  auto scalar = TensorFromData(json::parse(R"({"data": 3})"), DType::kFP32);
  ASSERT_FALSE(scalar.ok());
  EXPECT_NE(scalar.status().message().find("got a number"), std::string::npos);
  auto text = TensorFromData(json::parse(R"([[1, "x"]])"), DType::kFP32);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(), "data[0][1]: \"x\" is not a FP32 value");
}

TEST(Codec, IntegersStayExactAndInRange) {
  auto big = TensorFromData(json::parse("[9007199254740993, -5, 3.0]"), DType::kInt64);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(Values<int64_t>(*big), (std::vector<int64_t>{9007199254740993LL, -5, 3}));
  auto range = TensorFromData(json::parse("[1, 300]"), DType::kInt8);
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.status().message(), "data[1]: 300 is not a INT8 value");
  auto negative = TensorFromData(json::parse("[-1]"), DType::kUInt8);
  EXPECT_FALSE(negative.ok());
  auto fraction = TensorFromData(json::parse("[2.5]"), DType::kInt32);
  ASSERT_FALSE(fraction.ok());
  EXPECT_EQ(fraction.status().message(), "data[0]: 2.5 is not a INT32 value");
  auto u64 = TensorFromData(json::parse("[18446744073709551615]"), DType::kUInt64);
  ASSERT_TRUE(u64.ok());
  EXPECT_EQ(TensorToNested(*u64), json::parse("[18446744073709551615]"));
  auto bools = TensorFromData(json::parse("[[true, false, 1]]"), DType::kBool);
  ASSERT_TRUE(bools.ok());
  EXPECT_EQ(Values<uint8_t>(*bools), (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(TensorToNested(*bools), json::parse("[[true, false, true]]"));
  EXPECT_FALSE(TensorFromData(json::parse("[2]"), DType::kBool).ok());
}

TEST(Codec, HalfAndBfloat16TravelAsNumbers) {
  auto half = TensorFromData(json::parse("[1.5, -2, 65504, 0.0001, 1e6]"), DType::kFP16);
  ASSERT_TRUE(half.ok());
  auto bits = Values<uint16_t>(*half);
  EXPECT_EQ(bits[0], 0x3e00);  // 1.5
  EXPECT_EQ(bits[1], 0xc000);  // -2
  EXPECT_EQ(bits[2], 0x7bff);  // 65504, the largest half
  EXPECT_EQ(bits[4], 0x7c00);  // overflows to infinity
  json back = TensorToNested(*half);
  EXPECT_EQ(back[0], 1.5);
  EXPECT_EQ(back[1], -2.0);
  EXPECT_EQ(back[2], 65504.0);
  EXPECT_NEAR(back[3].get<double>(), 0.0001, 1e-7);  // a subnormal half
  EXPECT_EQ(back[4], "Infinity");
  auto bf = TensorFromData(json::parse("[1.5, -3.0, 1e30]"), DType::kBF16);
  ASSERT_TRUE(bf.ok());
  EXPECT_EQ(Values<uint16_t>(*bf)[0], 0x3fc0);
  json bf_back = TensorToNested(*bf);
  EXPECT_EQ(bf_back[0], 1.5);
  EXPECT_EQ(bf_back[1], -3.0);
  EXPECT_NEAR(bf_back[2].get<double>(), 1e30, 1e28);
  // Round to nearest even, both ways of a tie.
  EXPECT_EQ(FloatToFp16(1.0f + 1.0f / 2048), 0x3c00);
  EXPECT_EQ(FloatToFp16(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_TRUE(std::isnan(Fp16ToFloat(FloatToFp16(NAN))));
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(NAN))));
}

TEST(Codec, NonFiniteFloatsUseTheJsonNumberSpellings) {
  auto t = TensorFromData(json::parse(R"(["NaN", "Infinity", "-Infinity", 1])"), DType::kFP32);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(TensorToNested(*t), json::parse(R"(["NaN", "Infinity", "-Infinity", 1.0])"));
}

TEST(Codec, NestedOutputFollowsTheShape) {
  Tensor t = Make<int32_t>(DType::kInt32, {2, 1, 2}, {1, 2, 3, 4});
  EXPECT_EQ(TensorToNested(t), json::parse("[[[1, 2]], [[3, 4]]]"));
  Tensor scalar = Make<double>(DType::kFP64, {}, {2.5});
  EXPECT_EQ(TensorToNested(scalar), json(2.5));
  Tensor empty = Make<float>(DType::kFP32, {2, 0}, {});
  EXPECT_EQ(TensorToNested(empty), json::parse("[[], []]"));
  Tensor words;
  words.dtype = DType::kBytes;
  words.shape = {2};
  words.strings = {"a", "b"};
  EXPECT_EQ(TensorToNested(words), json::parse(R"(["a", "b"])"));
}

TEST(Codec, OipRequestWithFlatOrNestedData) {
  auto r = ParseOipRequest(json::parse(R"({"id": "r1", "inputs": [
      {"name": "x", "shape": [2, 2], "datatype": "INT64", "data": [1, 2, 3, 4]},
      {"name": "y", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}],
      "outputs": [{"name": "out"}]})"),
                           {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "r1");
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].name, "x");
  EXPECT_EQ(r->inputs[0].dtype, DType::kInt64);
  EXPECT_EQ(Values<int64_t>(r->inputs[0]), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(Values<float>(r->inputs[1]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(r->output_names, (std::vector<std::string>{"out"}));
  auto words = ParseOipRequest(json::parse(R"({"inputs": [
      {"name": "t", "shape": [2], "datatype": "BYTES", "data": ["a", "bc"]}]})"),
                               {});
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(words->inputs[0].strings, (std::vector<std::string>{"a", "bc"}));
}

TEST(Codec, OipRequestErrorsNameTheField) {
  json body = {{"inputs",
                {{{"name", "x"},
                  {"shape", {1, 64}},
                  {"datatype", "FP32"},
                  {"data", std::vector<float>(63, 1.0f)}}}}};
  auto count = ParseOipRequest(body, {});
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().message(), "inputs[0].data has 63 values, shape [1, 64] needs 64");
  auto cases = std::vector<std::pair<std::string, std::string>>{
      {R"({})", "inputs: expected a non-empty list of tensors"},
      {R"([1])", "expected an inference request object"},
      {R"({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]})",
       "inputs[0].name: expected a string"},
      {R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]})",
       "inputs[0].datatype: unknown datatype \"FP99\""},
      {R"({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]})",
       "inputs[0].shape: -1 is not a dimension"},
      {R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]})",
       "inputs[0].data: missing"},
      {R"({"inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "data": [1, 1.5]}]})",
       "inputs[0].data[1]: 1.5 is not a INT32 value"},
      {R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1],
           "parameters": {"binary_data_size": 4}}]})",
       "binary tensor data is not supported"},
      {R"({"id": 3, "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})",
       "id: expected a string"},
  };
  for (const auto& [text, message] : cases) {
    auto r = ParseOipRequest(json::parse(text), {});
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(message), std::string::npos)
        << r.status().message() << " should contain " << message;
  }
}

TEST(Codec, OipRequestIsCheckedAgainstTheModel) {
  std::vector<TensorSpec> one = {{"x", DType::kFP32, {-1, 1, 8, 8}}};
  json body = {{"inputs",
                {{{"name", "anything"},
                  {"shape", {1, 1, 8, 8}},
                  {"datatype", "FP32"},
                  {"data", std::vector<float>(64, 0.5f)}}}}};
  EXPECT_TRUE(ParseOipRequest(body, one).ok());
  body["inputs"][0]["shape"] = {2, 32};
  auto shape = ParseOipRequest(body, one);
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().message(),
            "input \"anything\": expected shape [-1, 1, 8, 8], got [2, 32]");
  body["inputs"][0]["shape"] = {1, 1, 8, 8};
  body["inputs"][0]["datatype"] = "FP64";
  auto dtype = ParseOipRequest(body, one);
  ASSERT_FALSE(dtype.ok());
  EXPECT_EQ(dtype.status().message(), "input \"anything\": expected datatype FP32, got FP64");

  std::vector<TensorSpec> two = {{"a", DType::kInt64, {-1}}, {"b", DType::kFP32, {-1}}};
  json pair = json::parse(R"({"inputs": [
      {"name": "b", "shape": [1], "datatype": "FP32", "data": [1.5]},
      {"name": "a", "shape": [1], "datatype": "INT64", "data": [7]}]})");
  auto ordered = ParseOipRequest(pair, two);
  ASSERT_TRUE(ordered.ok()) << ordered.status().ToString();
  EXPECT_EQ(ordered->inputs[0].name, "a");  // put in the model's order
  EXPECT_EQ(ordered->inputs[1].name, "b");
  pair["inputs"][0]["name"] = "c";
  auto unknown = ParseOipRequest(pair, two);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "inputs[0]: the model has no input named \"c\" (its inputs: a, b)");
  pair["inputs"].erase(0);
  auto missing = ParseOipRequest(pair, two);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "expected 2 inputs (a, b), got 1");
}

TEST(Codec, OipResponseAndMetadata) {
  ModelInfo info{"digits",
                 "3",
                 "pytorch_torchscript",
                 {{"x", DType::kFP32, {-1, 64}}},
                 {{"output__0", DType::kFP32, {-1, 10}}}};
  Tensor out = Make<float>(DType::kFP32, {1, 2}, {0.5f, -1});
  out.name = "output__0";
  json r = OipResponse(info, "abc", {out});
  EXPECT_EQ(r["model_name"], "digits");
  EXPECT_EQ(r["model_version"], "3");
  EXPECT_EQ(r["id"], "abc");
  ASSERT_EQ(r["outputs"].size(), 1u);
  EXPECT_EQ(r["outputs"][0]["name"], "output__0");
  EXPECT_EQ(r["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(r["outputs"][0]["shape"], json::parse("[1, 2]"));
  EXPECT_EQ(r["outputs"][0]["data"], json::parse("[0.5, -1.0]"));
  EXPECT_FALSE(OipResponse(info, "", {out}).contains("id"));
  Tensor half = Make<uint16_t>(DType::kFP16, {1}, {0x3e00});
  EXPECT_EQ(OipResponse(info, "", {half})["outputs"][0]["data"], json::parse("[1.5]"));

  json m = OipModelMetadata(info);
  EXPECT_EQ(m["name"], "digits");
  EXPECT_EQ(m["versions"], json::parse(R"(["3"])"));
  EXPECT_EQ(m["platform"], "pytorch_torchscript");
  EXPECT_EQ(m["inputs"], json::parse(R"([{"name": "x", "datatype": "FP32", "shape": [-1, 64]}])"));
  EXPECT_EQ(m["outputs"][0]["shape"], json::parse("[-1, 10]"));
}

}  // namespace
}  // namespace trainyard::serve
