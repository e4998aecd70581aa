#include "serve/tensor.h"

#include <array>

namespace trainyard::serve {
namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  size_t size;
};

constexpr std::array<DTypeRow, 14> kDTypes = {{
    {DType::kBool, "BOOL", 1},
    {DType::kUInt8, "UINT8", 1},
    {DType::kUInt16, "UINT16", 2},
    {DType::kUInt32, "UINT32", 4},
    {DType::kUInt64, "UINT64", 8},
    {DType::kInt8, "INT8", 1},
    {DType::kInt16, "INT16", 2},
    {DType::kInt32, "INT32", 4},
    {DType::kInt64, "INT64", 8},
    {DType::kFP16, "FP16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kFP32, "FP32", 4},
    {DType::kFP64, "FP64", 8},
    {DType::kBytes, "BYTES", 0},
}};

const DTypeRow& Row(DType dtype) { return kDTypes[static_cast<size_t>(dtype)]; }

}  // namespace

std::string_view DTypeName(DType dtype) { return Row(dtype).name; }

size_t DTypeSize(DType dtype) { return Row(dtype).size; }

std::optional<DType> ParseDType(std::string_view name) {
  for (const auto& row : kDTypes) {
    if (row.name == name) return row.dtype;
  }
  return std::nullopt;
}

int64_t Tensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace trainyard::serve
