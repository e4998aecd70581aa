// Element-wise kernels on raw buffers: reduction of one buffer into another, and scaling.
//
// Used by the transports that reduce in our own code (the in-process transport, and the MPI
// transport's custom operations for float16/bfloat16) and by the ops layer for prescale and
// postscale factors. 16-bit floats are computed in float32 and rounded back. Pure functions over
// the given buffers; safe from any thread as long as the buffers are not shared.
#pragma once

#include <cstdint>

#include "collective/types.h"

namespace trainyard::collective {

// dst[i] = op(dst[i], src[i]) for i < count. `op` must be Sum, Min, Max or Product (Average and
// Adasum are resolved by the caller). On kBool, Sum/Max are logical or and Min/Product logical
// and. Integer Sum and Product wrap around.
void ReduceInto(void* dst, const void* src, int64_t count, DataType dtype, ReduceOp op);

// buf[i] *= factor. Floating types compute in float32 (float16, bfloat16, float32) or float64;
// integer types compute in float64 and convert back truncating toward zero (so an integer
// Average rounds toward zero). Must not be called on kBool.
void ScaleInPlace(void* buf, int64_t count, DataType dtype, double factor);

// dst[i] = src[i] * factor; a plain copy when factor is 1 (any dtype). `dst` and `src` must not
// overlap unless they are equal.
void ScaleCopy(void* dst, const void* src, int64_t count, DataType dtype, double factor);

}  // namespace trainyard::collective
