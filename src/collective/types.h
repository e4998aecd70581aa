// Data types, reduction operations, devices and tensor views of the collective runtime.
//
// The runtime knows nothing about any tensor library: a tensor is described by a Tensor view
// ({data, dtype, shape, device}) that points at memory owned by the caller. Adapters (torch,
// Python) translate their tensors into these views. All types here are plain values, safe to copy
// and to pass between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace trainyard::collective {

// Element types. The numeric values travel between ranks; never renumber them.
enum class DataType : uint8_t {
  kUInt8 = 0,
  kInt8 = 1,
  kInt32 = 2,
  kInt64 = 3,
  kFloat16 = 4,   // IEEE 754 half precision
  kBFloat16 = 5,  // bfloat16 (the upper 16 bits of a float32)
  kFloat32 = 6,
  kFloat64 = 7,
  kBool = 8,   // one byte per element, 0 is false and anything else is true
  kInt16 = 9,  // appended last so that the values above keep their meaning on the wire
};
inline constexpr int kNumDataTypes = 10;

// Bytes per element.
size_t DataTypeSize(DataType dtype);
// "float32", "bfloat16", ...
const char* DataTypeName(DataType dtype);
bool IsFloatingPoint(DataType dtype);
// True for the values of the enum above (used when decoding what another rank sent).
bool IsValidDataType(int value);

// Reductions. Average is Sum followed by a division by the number of ranks in the process set
// (applied as a postscale factor). On bool tensors Sum and Max are logical or, Min and Product are
// logical and, and Average is rejected. Adasum is not implemented (requests fail with
// Unimplemented).
enum class ReduceOp : uint8_t {
  kAverage = 0,
  kSum = 1,
  kAdasum = 2,
  kMin = 3,
  kMax = 4,
  kProduct = 5,
};
// "Average", "Sum", ...
const char* ReduceOpName(ReduceOp op);
bool IsValidReduceOp(int value);

enum class DeviceType : uint8_t { kCpu = 0, kCuda = 1 };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = -1;  // GPU ordinal for kCuda; -1 for the CPU

  bool operator==(const Device&) const = default;
  // "cpu", "cuda:1"; "cuda" when the index is -1 (a device type as ranks coordinate it).
  std::string ToString() const;
};

using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a scalar, whose shape is empty).
int64_t NumElements(const Shape& shape);
// "[4, 3]"; "[]" for a scalar.
std::string ShapeToString(const Shape& shape);

// A view of a tensor. Does not own `data`; the caller keeps the memory alive (and does not touch
// it) until the operation's Handle is done. `data` may be null only when the tensor is empty.
struct Tensor {
  void* data = nullptr;
  DataType dtype = DataType::kFloat32;
  Shape shape;
  Device device;

  int64_t num_elements() const { return NumElements(shape); }
  int64_t byte_size() const { return num_elements() * static_cast<int64_t>(DataTypeSize(dtype)); }
};

}  // namespace trainyard::collective
