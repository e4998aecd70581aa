// The JSON codec (codec.h). Elements are converted by one loop per datatype (a template over the
// C++ element type picked once per tensor), so no per-element dispatch on the datatype; an error
// message is only formatted once something is wrong.
#include "serve/codec.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/json_number.h"
#include "serve/half.h"

namespace trainyard::serve {
namespace {

using json = nlohmann::json;

// Element converters: From(j, &out) is false when `j` is not a value of the datatype.
template <typename T>
bool IntegerFrom(const json& j, T* out) {
  if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    *out = static_cast<T>(v);
    return true;
  }
  if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (v < 0 ||
          static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return false;
      }
    } else {
      if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          v > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        return false;
      }
    }
    *out = static_cast<T>(v);
    return true;
  }
  if (j.is_number_float()) {  // 3.0 is the integer 3; 2.5 is no integer
    double v = j.get<double>();
    if (!std::isfinite(v) || v != std::trunc(v)) return false;
    if (v < static_cast<double>(std::numeric_limits<T>::min()) ||
        v >= std::ldexp(1.0, std::numeric_limits<T>::digits)) {
      return false;
    }
    *out = static_cast<T>(v);
    return true;
  }
  return false;
}

bool DoubleFrom(const json& j, double* out) {
  if (j.is_number()) {
    *out = j.get<double>();
    return true;
  }
  if (j.is_string()) {  // the spellings common/json_number.h writes
    const auto& s = j.get_ref<const std::string&>();
    if (s == "NaN")
      *out = std::numeric_limits<double>::quiet_NaN();
    else if (s == "Infinity")
      *out = std::numeric_limits<double>::infinity();
    else if (s == "-Infinity")
      *out = -std::numeric_limits<double>::infinity();
    else
      return false;
    return true;
  }
  return false;
}

struct BoolConv {
  using T = uint8_t;
  static bool From(const json& j, T* out) {
    if (j.is_boolean()) {
      *out = j.get<bool>() ? 1 : 0;
      return true;
    }
    if (j.is_number_integer() || j.is_number_unsigned()) {
      int64_t v = j.get<int64_t>();
      if (v != 0 && v != 1) return false;
      *out = static_cast<T>(v);
      return true;
    }
    return false;
  }
  static json To(T v) { return v != 0; }
};

template <typename I>
struct IntConv {
  using T = I;
  static bool From(const json& j, T* out) { return IntegerFrom(j, out); }
  static json To(T v) { return v; }
};

template <typename F>
struct FloatConv {
  using T = F;
  static bool From(const json& j, T* out) {
    double v;
    if (!DoubleFrom(j, &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  static json To(T v) {
    if (!std::isfinite(v)) return JsonNumber(v);
    return static_cast<double>(v);
  }
};

struct Fp16Conv {
  using T = uint16_t;
  static bool From(const json& j, T* out) {
    double v;
    if (!DoubleFrom(j, &v)) return false;
    *out = FloatToFp16(static_cast<float>(v));
    return true;
  }
  static json To(T v) { return FloatConv<float>::To(Fp16ToFloat(v)); }
};

struct Bf16Conv {
  using T = uint16_t;
  static bool From(const json& j, T* out) {
    double v;
    if (!DoubleFrom(j, &v)) return false;
    *out = FloatToBf16(static_cast<float>(v));
    return true;
  }
  static json To(T v) { return FloatConv<float>::To(Bf16ToFloat(v)); }
};

struct BytesConv {
  using T = std::string;
  static bool From(const json& j, T* out) {
    if (!j.is_string()) return false;
    *out = j.get<std::string>();
    return true;
  }
  static json To(const T& v) { return v; }
};

// Calls fn(Conv{}) with the converter of `dtype`.
template <typename Fn>
auto WithConv(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kBool: return fn(BoolConv{});
    case DType::kUInt8: return fn(IntConv<uint8_t>{});
    case DType::kUInt16: return fn(IntConv<uint16_t>{});
    case DType::kUInt32: return fn(IntConv<uint32_t>{});
    case DType::kUInt64: return fn(IntConv<uint64_t>{});
    case DType::kInt8: return fn(IntConv<int8_t>{});
    case DType::kInt16: return fn(IntConv<int16_t>{});
    case DType::kInt32: return fn(IntConv<int32_t>{});
    case DType::kInt64: return fn(IntConv<int64_t>{});
    case DType::kFP16: return fn(Fp16Conv{});
    case DType::kBF16: return fn(Bf16Conv{});
    case DType::kFP32: return fn(FloatConv<float>{});
    case DType::kFP64: return fn(FloatConv<double>{});
    case DType::kBytes: break;
  }
  return fn(BytesConv{});
}

std::string Path(const std::string& root, const std::vector<size_t>& index) {
  std::string out = root;
  for (size_t i : index) out += "[" + std::to_string(i) + "]";
  return out;
}

std::string Kind(const json& j) {
  if (j.is_array()) return "a list";
  if (j.is_object()) return "an object";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_null()) return "null";
  return "a number";
}

std::string Shown(const json& j) {
  std::string text = j.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

Status BadElement(const std::string& where, const json& j, DType dtype) {
  return InvalidArgument(where + ": " + Shown(j) + " is not a " + std::string(DTypeName(dtype)) +
                         " value");
}

// Where `data` (rectangular nested lists of `shape`) goes into `out` in row-major order.
template <typename Conv>
class NestedReader {
 public:
  using T = typename Conv::T;
  NestedReader(const std::string& root, const std::vector<int64_t>& shape, DType dtype, T* out)
      : root_(root), shape_(shape), dtype_(dtype), out_(out) {}

  Status Read(const json& node, size_t depth) {
    const size_t n = node.size();
    if (static_cast<int64_t>(n) != shape_[depth]) {
      std::vector<size_t> first(depth, 0);
      return InvalidArgument(Path(root_, index_) + " has " + std::to_string(n) + " values, " +
                             Path(root_, first) + " has " + std::to_string(shape_[depth]));
    }
    const bool leaf = depth + 1 == shape_.size();
    index_.push_back(0);
    for (const json& child : node) {
      if (leaf) {
        if (!Conv::From(child, out_)) {
          if (child.is_array()) return Mismatch("a list", "a value");
          return BadElement(Path(root_, index_), child, dtype_);
        }
        ++out_;
      } else {
        if (!child.is_array()) return Mismatch(Kind(child), "a list");
        RETURN_IF_ERROR(Read(child, depth + 1));
      }
      ++index_.back();
    }
    index_.pop_back();
    return Status::Ok();
  }

 private:
  Status Mismatch(const std::string& is, const std::string& first_is) {
    std::vector<size_t> first(index_.size(), 0);
    return InvalidArgument(Path(root_, index_) + " is " + is + ", " + Path(root_, first) + " is " +
                           first_is);
  }

  const std::string& root_;
  const std::vector<int64_t>& shape_;
  DType dtype_;
  T* out_;
  std::vector<size_t> index_;
};

// Counts the values of flat or nested `data` (the leaves of its lists).
size_t CountLeaves(const json& data) {
  if (!data.is_array()) return 1;
  size_t n = 0;
  for (const json& child : data) n += child.is_array() ? CountLeaves(child) : 1;
  return n;
}

// Reads the leaves of flat or nested `data` in order into `out` (room for all of them).
template <typename Conv>
Status ReadFlat(const json& data, const std::string& root, DType dtype, typename Conv::T** out,
                size_t* position) {
  for (const json& child : data) {
    if (child.is_array()) {
      RETURN_IF_ERROR(ReadFlat<Conv>(child, root, dtype, out, position));
      continue;
    }
    if (!Conv::From(child, *out)) {
      return BadElement(root + "[" + std::to_string(*position) + "]", child, dtype);
    }
    ++*out;
    ++*position;
  }
  return Status::Ok();
}

// Sizes the storage of `tensor` for its shape and returns where its elements go.
template <typename Conv>
typename Conv::T* Storage(Tensor* tensor, size_t elements) {
  if constexpr (std::is_same_v<typename Conv::T, std::string>) {
    tensor->strings.resize(elements);
    return tensor->strings.data();
  } else {
    tensor->data.resize(elements * sizeof(typename Conv::T));
    return reinterpret_cast<typename Conv::T*>(tensor->data.data());
  }
}

template <typename Conv>
const typename Conv::T* Elements(const Tensor& tensor) {
  if constexpr (std::is_same_v<typename Conv::T, std::string>) {
    return tensor.strings.data();
  } else {
    return reinterpret_cast<const typename Conv::T*>(tensor.data.data());
  }
}

size_t StoredElements(const Tensor& tensor) {
  return tensor.dtype == DType::kBytes ? tensor.strings.size()
                                       : tensor.data.size() / DTypeSize(tensor.dtype);
}

template <typename Conv>
json Nested(const typename Conv::T*& p, const std::vector<int64_t>& shape, size_t depth) {
  json::array_t list;
  list.reserve(static_cast<size_t>(shape[depth]));
  const bool leaf = depth + 1 == shape.size();
  for (int64_t i = 0; i < shape[depth]; ++i) {
    if (leaf)
      list.emplace_back(Conv::To(*p++));
    else
      list.emplace_back(Nested<Conv>(p, shape, depth + 1));
  }
  return json(std::move(list));
}

json FlatData(const Tensor& tensor) {
  return WithConv(tensor.dtype, [&](auto conv) {
    using Conv = decltype(conv);
    const auto* p = Elements<Conv>(tensor);
    const size_t n = StoredElements(tensor);
    json::array_t list;
    list.reserve(n);
    for (size_t i = 0; i < n; ++i) list.emplace_back(Conv::To(p[i]));
    return json(std::move(list));
  });
}

json SpecJson(const TensorSpec& spec) {
  return {{"name", spec.name}, {"datatype", DTypeName(spec.dtype)}, {"shape", spec.shape}};
}

bool ShapeMatches(const std::vector<int64_t>& expected, const std::vector<int64_t>& got) {
  if (expected.size() != got.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (expected[i] != -1 && expected[i] != got[i]) return false;
  }
  return true;
}

std::string Names(const std::vector<TensorSpec>& specs) {
  std::string out;
  for (const auto& s : specs) out += (out.empty() ? "" : ", ") + s.name;
  return out;
}

Result<Tensor> ParseOipInput(const json& input, size_t i) {
  const std::string where = "inputs[" + std::to_string(i) + "]";
  if (!input.is_object())
    return InvalidArgument(where + ": expected an object, got " + Kind(input));
  Tensor tensor;
  auto name = input.find("name");
  if (name == input.end() || !name->is_string()) {
    return InvalidArgument(where + ".name: expected a string");
  }
  tensor.name = name->get<std::string>();
  auto datatype = input.find("datatype");
  if (datatype == input.end() || !datatype->is_string()) {
    return InvalidArgument(where + ".datatype: expected a string such as \"FP32\"");
  }
  auto dtype = ParseDType(datatype->get_ref<const std::string&>());
  if (!dtype) {
    return InvalidArgument(where + ".datatype: unknown datatype " + datatype->dump() +
                           " (BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64, BYTES)");
  }
  tensor.dtype = *dtype;
  auto shape = input.find("shape");
  if (shape == input.end() || !shape->is_array()) {
    return InvalidArgument(where + ".shape: expected a list of dimensions");
  }
  for (const json& d : *shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return InvalidArgument(where + ".shape: " + Shown(d) +
                             " is not a dimension (an integer >= 0)");
    }
    tensor.shape.push_back(d.get<int64_t>());
  }
  auto parameters = input.find("parameters");
  if (parameters != input.end() && parameters->is_object() &&
      parameters->contains("binary_data_size")) {
    return InvalidArgument(where + ": binary tensor data is not supported; send \"data\" as JSON");
  }
  auto data = input.find("data");
  if (data == input.end()) return InvalidArgument(where + ".data: missing");
  const json scalar_list = data->is_array() ? json() : json::array({*data});
  const json& values = data->is_array() ? *data : scalar_list;
  const size_t count = CountLeaves(values);
  const size_t needed = static_cast<size_t>(tensor.elements());
  if (count != needed) {
    return InvalidArgument(where + ".data has " + std::to_string(count) + " values, shape " +
                           ShapeText(tensor.shape) + " needs " + std::to_string(needed));
  }
  RETURN_IF_ERROR(WithConv(tensor.dtype, [&](auto conv) {
    using Conv = decltype(conv);
    auto* out = Storage<Conv>(&tensor, needed);
    size_t position = 0;
    return ReadFlat<Conv>(values, where + ".data", tensor.dtype, &out, &position);
  }));
  return tensor;
}

// Puts the inputs in the model's order and checks them against its declared inputs.
Status CheckExpected(std::vector<Tensor>* inputs, const std::vector<TensorSpec>& expected) {
  if (inputs->size() != expected.size()) {
    return InvalidArgument("expected " + std::to_string(expected.size()) + " input" +
                           (expected.size() == 1 ? "" : "s") + " (" + Names(expected) + "), got " +
                           std::to_string(inputs->size()));
  }
  // One input: any name will do. Several: matched by name.
  if (expected.size() > 1) {
    std::vector<Tensor> ordered(expected.size());
    std::vector<bool> seen(expected.size(), false);
    for (size_t i = 0; i < inputs->size(); ++i) {
      Tensor& t = (*inputs)[i];
      size_t k = 0;
      while (k < expected.size() && expected[k].name != t.name) ++k;
      if (k == expected.size()) {
        return InvalidArgument("inputs[" + std::to_string(i) +
                               "]: the model has no input named \"" + t.name +
                               "\" (its inputs: " + Names(expected) + ")");
      }
      if (seen[k]) return InvalidArgument("inputs: \"" + t.name + "\" is given twice");
      seen[k] = true;
      ordered[k] = std::move(t);
    }
    *inputs = std::move(ordered);
  }
  for (size_t i = 0; i < inputs->size(); ++i) {
    const Tensor& t = (*inputs)[i];
    const TensorSpec& spec = expected[i];
    if (t.dtype != spec.dtype) {
      return InvalidArgument("input \"" + t.name + "\": expected datatype " +
                             std::string(DTypeName(spec.dtype)) + ", got " +
                             std::string(DTypeName(t.dtype)));
    }
    if (!ShapeMatches(spec.shape, t.shape)) {
      return InvalidArgument("input \"" + t.name + "\": expected shape " + ShapeText(spec.shape) +
                             ", got " + ShapeText(t.shape));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Tensor> TensorFromData(const json& body, DType dtype) {
  const json* data = &body;
  if (body.is_object()) {
    auto it = body.find("data");
    if (it == body.end()) {
      return InvalidArgument(
          "expected {\"data\": [...]} or a list, got an object without \"data\"");
    }
    data = &*it;
  }
  if (!data->is_array()) {
    return InvalidArgument("data: expected a list of items (nested lists), got " + Kind(*data));
  }
  Tensor tensor;
  tensor.name = "input__0";
  tensor.dtype = dtype;
  for (const json* node = data;; node = &(*node)[0]) {
    tensor.shape.push_back(static_cast<int64_t>(node->size()));
    if (node->empty() || !(*node)[0].is_array()) break;
  }
  RETURN_IF_ERROR(WithConv(dtype, [&](auto conv) {
    using Conv = decltype(conv);
    auto* out = Storage<Conv>(&tensor, static_cast<size_t>(tensor.elements()));
    return NestedReader<Conv>("data", tensor.shape, dtype, out).Read(*data, 0);
  }));
  return tensor;
}

json TensorToNested(const Tensor& tensor) {
  return WithConv(tensor.dtype, [&](auto conv) -> json {
    using Conv = decltype(conv);
    const auto* p = Elements<Conv>(tensor);
    if (tensor.shape.empty()) return StoredElements(tensor) ? Conv::To(*p) : json();
    if (StoredElements(tensor) < static_cast<size_t>(tensor.elements())) return json::array();
    return Nested<Conv>(p, tensor.shape, 0);
  });
}

Result<OipRequest> ParseOipRequest(const json& body, const std::vector<TensorSpec>& expected) {
  if (!body.is_object()) {
    return InvalidArgument("expected an inference request object {\"inputs\": [...]}, got " +
                           Kind(body));
  }
  OipRequest request;
  if (auto id = body.find("id"); id != body.end()) {
    if (!id->is_string()) return InvalidArgument("id: expected a string");
    request.id = id->get<std::string>();
  }
  auto inputs = body.find("inputs");
  if (inputs == body.end() || !inputs->is_array() || inputs->empty()) {
    return InvalidArgument("inputs: expected a non-empty list of tensors");
  }
  request.inputs.reserve(inputs->size());
  for (size_t i = 0; i < inputs->size(); ++i) {
    ASSIGN_OR_RETURN(Tensor tensor, ParseOipInput((*inputs)[i], i));
    request.inputs.push_back(std::move(tensor));
  }
  if (auto outputs = body.find("outputs"); outputs != body.end()) {
    if (!outputs->is_array()) return InvalidArgument("outputs: expected a list of {\"name\": ...}");
    for (size_t i = 0; i < outputs->size(); ++i) {
      const json& o = (*outputs)[i];
      auto name = o.is_object() ? o.find("name") : o.end();
      if (!o.is_object() || name == o.end() || !name->is_string()) {
        return InvalidArgument("outputs[" + std::to_string(i) + "].name: expected a string");
      }
      request.output_names.push_back(name->get<std::string>());
    }
  }
  if (!expected.empty()) RETURN_IF_ERROR(CheckExpected(&request.inputs, expected));
  return request;
}

json OipResponse(const ModelInfo& model, const std::string& id,
                 const std::vector<Tensor>& outputs) {
  json response = {{"model_name", model.name}, {"model_version", model.version}};
  if (!id.empty()) response["id"] = id;
  json::array_t list;
  list.reserve(outputs.size());
  for (const Tensor& t : outputs) {
    list.push_back({{"name", t.name},
                    {"datatype", DTypeName(t.dtype)},
                    {"shape", t.shape},
                    {"data", FlatData(t)}});
  }
  response["outputs"] = std::move(list);
  return response;
}

json OipModelMetadata(const ModelInfo& model) {
  json inputs = json::array(), outputs = json::array();
  for (const auto& s : model.inputs) inputs.push_back(SpecJson(s));
  for (const auto& s : model.outputs) outputs.push_back(SpecJson(s));
  return {{"name", model.name},
          {"versions", json::array({model.version})},
          {"platform", model.platform},
          {"inputs", std::move(inputs)},
          {"outputs", std::move(outputs)}};
}

}  // namespace trainyard::serve
