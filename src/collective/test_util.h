// Helpers shared by the runtime tests (runtime_test.cc, ranks as threads) and the multi-process
// tests (multirank_test.cc): typed buffers set and read through doubles, and the expected results.
#pragma once

#include <cmath>
#include <cstring>
#include <vector>

#include "collective/half.h"
#include "collective/types.h"

namespace trainyard::collective::testing {

// A tensor's memory, owned; values are set and read as doubles.
class Buffer {
 public:
  Buffer(DataType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
    bytes_.resize(static_cast<size_t>(NumElements(shape_)) * DataTypeSize(dtype_) + 1);
  }
  Tensor tensor() { return Tensor{bytes_.data(), dtype_, shape_, {}}; }
  int64_t size() const { return NumElements(shape_); }
  const Shape& shape() const { return shape_; }

  void Set(int64_t i, double v) {
    void* p = bytes_.data() + i * static_cast<int64_t>(DataTypeSize(dtype_));
    switch (dtype_) {
      case DataType::kUInt8: Store<uint8_t>(p, static_cast<uint8_t>(v)); break;
      case DataType::kInt8: Store<int8_t>(p, static_cast<int8_t>(v)); break;
      case DataType::kInt16: Store<int16_t>(p, static_cast<int16_t>(v)); break;
      case DataType::kInt32: Store<int32_t>(p, static_cast<int32_t>(v)); break;
      case DataType::kInt64: Store<int64_t>(p, static_cast<int64_t>(v)); break;
      case DataType::kFloat16: Store<uint16_t>(p, FloatToHalf(static_cast<float>(v))); break;
      case DataType::kBFloat16: Store<uint16_t>(p, FloatToBFloat16(static_cast<float>(v))); break;
      case DataType::kFloat32: Store<float>(p, static_cast<float>(v)); break;
      case DataType::kFloat64: Store<double>(p, v); break;
      case DataType::kBool: Store<uint8_t>(p, v != 0 ? 1 : 0); break;
    }
  }
  double Get(int64_t i) const {
    const void* p = bytes_.data() + i * static_cast<int64_t>(DataTypeSize(dtype_));
    switch (dtype_) {
      case DataType::kUInt8: return Load<uint8_t>(p);
      case DataType::kInt8: return Load<int8_t>(p);
      case DataType::kInt16: return Load<int16_t>(p);
      case DataType::kInt32: return Load<int32_t>(p);
      case DataType::kInt64: return static_cast<double>(Load<int64_t>(p));
      case DataType::kFloat16: return HalfToFloat(Load<uint16_t>(p));
      case DataType::kBFloat16: return BFloat16ToFloat(Load<uint16_t>(p));
      case DataType::kFloat32: return Load<float>(p);
      case DataType::kFloat64: return Load<double>(p);
      case DataType::kBool: return Load<uint8_t>(p) != 0 ? 1 : 0;
    }
    return 0;
  }

 private:
  template <typename T>
  static void Store(void* p, T v) {
    std::memcpy(p, &v, sizeof v);
  }
  template <typename T>
  static T Load(const void* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  DataType dtype_;
  Shape shape_;
  std::vector<std::byte> bytes_;
};

inline std::vector<DataType> AllDataTypes() {
  return {DataType::kUInt8,   DataType::kInt8,    DataType::kInt16,    DataType::kInt32,
          DataType::kInt64,   DataType::kFloat16, DataType::kBFloat16, DataType::kFloat32,
          DataType::kFloat64, DataType::kBool};
}

// The value rank `rank` puts at element `i`: 1 or 2 (0 or 1 for bool), so that sums and products
// over up to 4 ranks are exact in every dtype.
inline double TestValue(DataType dtype, int rank, int64_t i) {
  int64_t v = (rank + i) % 2;
  return dtype == DataType::kBool ? static_cast<double>(v) : static_cast<double>(1 + v);
}

// What allreduce of TestValue over `size` ranks gives at element i.
inline double ExpectedAllreduce(DataType dtype, ReduceOp op, int size, int64_t i) {
  double sum = 0, prod = 1, mn = 1e300, mx = -1e300;
  for (int r = 0; r < size; ++r) {
    double v = TestValue(dtype, r, i);
    sum += v;
    prod *= v;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  if (dtype == DataType::kBool) {
    return (op == ReduceOp::kSum || op == ReduceOp::kMax) ? mx : mn;
  }
  switch (op) {
    case ReduceOp::kSum: return sum;
    case ReduceOp::kMin: return mn;
    case ReduceOp::kMax: return mx;
    case ReduceOp::kProduct: return prod;
    case ReduceOp::kAverage:
      if (IsFloatingPoint(dtype)) return sum / size;
      return std::trunc(sum * (1.0 / size));
    default: return 0;
  }
}

inline double Tolerance(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat16: return 2e-3;
    case DataType::kBFloat16: return 2e-2;
    case DataType::kFloat32: return 1e-6;
    case DataType::kFloat64: return 1e-12;
    default: return 0;
  }
}

inline std::vector<ReduceOp> OpsFor(DataType dtype) {
  if (dtype == DataType::kBool) {
    return {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kProduct};
  }
  return {ReduceOp::kSum, ReduceOp::kAverage, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kProduct};
}

}  // namespace trainyard::collective::testing
