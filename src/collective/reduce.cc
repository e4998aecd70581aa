#include "collective/reduce.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "collective/half.h"

namespace trainyard::collective {
namespace {

template <typename T>
T Apply(ReduceOp op, T a, T b) {
  switch (op) {
    case ReduceOp::kMin: return std::min(a, b);
    case ReduceOp::kMax: return std::max(a, b);
    case ReduceOp::kProduct: return static_cast<T>(a * b);
    default: return static_cast<T>(a + b);
  }
}

template <typename T>
void ReduceTyped(T* dst, const T* src, int64_t count, ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin:
      for (int64_t i = 0; i < count; ++i) dst[i] = std::min(dst[i], src[i]);
      break;
    case ReduceOp::kMax:
      for (int64_t i = 0; i < count; ++i) dst[i] = std::max(dst[i], src[i]);
      break;
    case ReduceOp::kProduct:
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<T>(dst[i] * src[i]);
      break;
    default:
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<T>(dst[i] + src[i]);
      break;
  }
}

// Integer sums and products wrap: compute in the unsigned type of the same width.
template <typename T, typename U>
void ReduceWrapping(T* dst, const T* src, int64_t count, ReduceOp op) {
  if (op == ReduceOp::kMin || op == ReduceOp::kMax) {
    ReduceTyped(dst, src, count, op);
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    U a = static_cast<U>(dst[i]);
    U b = static_cast<U>(src[i]);
    dst[i] =
        static_cast<T>(op == ReduceOp::kProduct ? static_cast<U>(a * b) : static_cast<U>(a + b));
  }
}

template <float (*ToFloat)(uint16_t), uint16_t (*FromFloat)(float)>
void Reduce16(uint16_t* dst, const uint16_t* src, int64_t count, ReduceOp op) {
  for (int64_t i = 0; i < count; ++i) {
    dst[i] = FromFloat(Apply(op, ToFloat(dst[i]), ToFloat(src[i])));
  }
}

template <typename T>
void ScaleTyped(T* dst, const T* src, int64_t count, double factor) {
  if constexpr (std::is_floating_point_v<T>) {
    const T f = static_cast<T>(factor);
    for (int64_t i = 0; i < count; ++i) dst[i] = src[i] * f;
  } else {
    for (int64_t i = 0; i < count; ++i) {
      dst[i] = static_cast<T>(static_cast<double>(src[i]) * factor);
    }
  }
}

template <float (*ToFloat)(uint16_t), uint16_t (*FromFloat)(float)>
void Scale16(uint16_t* dst, const uint16_t* src, int64_t count, double factor) {
  const float f = static_cast<float>(factor);
  for (int64_t i = 0; i < count; ++i) dst[i] = FromFloat(ToFloat(src[i]) * f);
}

void ScaleAny(void* dst, const void* src, int64_t count, DataType dtype, double factor) {
  switch (dtype) {
    case DataType::kUInt8:
      ScaleTyped(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), count, factor);
      break;
    case DataType::kInt8:
      ScaleTyped(static_cast<int8_t*>(dst), static_cast<const int8_t*>(src), count, factor);
      break;
    case DataType::kInt16:
      ScaleTyped(static_cast<int16_t*>(dst), static_cast<const int16_t*>(src), count, factor);
      break;
    case DataType::kInt32:
      ScaleTyped(static_cast<int32_t*>(dst), static_cast<const int32_t*>(src), count, factor);
      break;
    case DataType::kInt64:
      ScaleTyped(static_cast<int64_t*>(dst), static_cast<const int64_t*>(src), count, factor);
      break;
    case DataType::kFloat16:
      Scale16<HalfToFloat, FloatToHalf>(static_cast<uint16_t*>(dst),
                                        static_cast<const uint16_t*>(src), count, factor);
      break;
    case DataType::kBFloat16:
      Scale16<BFloat16ToFloat, FloatToBFloat16>(static_cast<uint16_t*>(dst),
                                                static_cast<const uint16_t*>(src), count, factor);
      break;
    case DataType::kFloat32:
      ScaleTyped(static_cast<float*>(dst), static_cast<const float*>(src), count, factor);
      break;
    case DataType::kFloat64:
      ScaleTyped(static_cast<double*>(dst), static_cast<const double*>(src), count, factor);
      break;
    case DataType::kBool: break;  // rejected before we get here
  }
}

}  // namespace

void ReduceInto(void* dst, const void* src, int64_t count, DataType dtype, ReduceOp op) {
  switch (dtype) {
    case DataType::kUInt8:
      ReduceWrapping<uint8_t, uint8_t>(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src),
                                       count, op);
      break;
    case DataType::kInt8:
      ReduceWrapping<int8_t, uint8_t>(static_cast<int8_t*>(dst), static_cast<const int8_t*>(src),
                                      count, op);
      break;
    case DataType::kInt16:
      ReduceWrapping<int16_t, uint32_t>(static_cast<int16_t*>(dst),
                                        static_cast<const int16_t*>(src), count, op);
      break;
    case DataType::kInt32:
      ReduceWrapping<int32_t, uint32_t>(static_cast<int32_t*>(dst),
                                        static_cast<const int32_t*>(src), count, op);
      break;
    case DataType::kInt64:
      ReduceWrapping<int64_t, uint64_t>(static_cast<int64_t*>(dst),
                                        static_cast<const int64_t*>(src), count, op);
      break;
    case DataType::kFloat16:
      Reduce16<HalfToFloat, FloatToHalf>(static_cast<uint16_t*>(dst),
                                         static_cast<const uint16_t*>(src), count, op);
      break;
    case DataType::kBFloat16:
      Reduce16<BFloat16ToFloat, FloatToBFloat16>(static_cast<uint16_t*>(dst),
                                                 static_cast<const uint16_t*>(src), count, op);
      break;
    case DataType::kFloat32:
      ReduceTyped(static_cast<float*>(dst), static_cast<const float*>(src), count, op);
      break;
    case DataType::kFloat64:
      ReduceTyped(static_cast<double*>(dst), static_cast<const double*>(src), count, op);
      break;
    case DataType::kBool: {
      auto* d = static_cast<uint8_t*>(dst);
      const auto* s = static_cast<const uint8_t*>(src);
      bool logical_or = op == ReduceOp::kSum || op == ReduceOp::kMax;
      for (int64_t i = 0; i < count; ++i) {
        bool a = d[i] != 0;
        bool b = s[i] != 0;
        d[i] = (logical_or ? (a || b) : (a && b)) ? 1 : 0;
      }
      break;
    }
  }
}

void ScaleInPlace(void* buf, int64_t count, DataType dtype, double factor) {
  if (factor == 1.0) return;
  ScaleAny(buf, buf, count, dtype, factor);
}

void ScaleCopy(void* dst, const void* src, int64_t count, DataType dtype, double factor) {
  if (factor == 1.0 || dtype == DataType::kBool) {
    if (dst != src && count > 0) {
      std::memcpy(dst, src, static_cast<size_t>(count) * DataTypeSize(dtype));
    }
    return;
  }
  ScaleAny(dst, src, count, dtype, factor);
}

}  // namespace trainyard::collective
