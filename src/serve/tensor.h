// Tensors as the serving front end sees them: a name, an Open Inference Protocol datatype, a
// shape and row-major bytes, independent of torch. The JSON forms (codec.h) and the loaders
// (backend.h) convert to and from this.
//
// Plain values; safe to move between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard::serve {

// The Open Inference Protocol's tensor datatypes (its "Tensor Data Types" table), BF16 besides.
enum class DType {
  kBool,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFP16,
  kBF16,
  kFP32,
  kFP64,
  kBytes,
};

// "BOOL", "UINT8", ..., "FP16", "BF16", "FP32", "FP64", "BYTES".
std::string_view DTypeName(DType dtype);
// The datatype an OIP name denotes; nullopt for an unknown name.
std::optional<DType> ParseDType(std::string_view name);
// Bytes per element; 0 for kBytes (variable length).
size_t DTypeSize(DType dtype);

struct Tensor {
  std::string name;
  DType dtype = DType::kFP32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;         // row-major, DTypeSize(dtype) bytes per element
  std::vector<std::string> strings;  // the elements of a kBytes tensor (data is empty)

  // The product of the shape (1 for a scalar).
  int64_t elements() const;
};

// "[2, 1, 8, 8]".
std::string ShapeText(const std::vector<int64_t>& shape);

}  // namespace trainyard::serve
