// Adasum: the adaptive summation of Maleki et al. (https://arxiv.org/abs/2006.02924), with
// Horovod's semantics. Two gradients a and b combine into
//
//   Adasum(a, b) = (1 - a.b / (2 |a|^2)) a + (1 - a.b / (2 |b|^2)) b
//
// which is a + b for orthogonal gradients and their average for parallel ones. Ranks combine in
// Horovod's tree (distance doubling): at level d, rank i (a multiple of 2d) combines with i + d,
// so 4 ranks give Adasum(Adasum(g0, g1), Adasum(g2, g3)). A rank without a partner at some level
// (non-power-of-two sizes) passes its vector up unchanged. Each tensor of a fused group gets its
// own dot products and norms, as in Horovod.
//
// How the bytes move: one Allgatherv of every rank's (prescaled) tensors through the transport,
// then every rank evaluates the same tree in double precision, in the same order, so all ranks
// end with bitwise identical results. This costs size x the tensor in memory and bandwidth, where
// Horovod's vector-halving distance-doubling moves each byte log2(size) times: it is exact and
// simple, and meant for the rank counts of one or a few hosts (see docs/collective.md).
//
// Float dtypes only (checked at enqueue); a joined rank contributes zeros (Adasum(a, 0) = a).
#include <cstring>
#include <vector>

#include "collective/half.h"
#include "collective/ops/ops.h"
#include "collective/reduce.h"

namespace trainyard::collective {
namespace {

double Load(const std::byte* base, int64_t i, DataType dtype) {
  switch (dtype) {
    case DataType::kFloat16: {
      uint16_t h;
      std::memcpy(&h, base + i * 2, 2);
      return HalfToFloat(h);
    }
    case DataType::kBFloat16: {
      uint16_t h;
      std::memcpy(&h, base + i * 2, 2);
      return BFloat16ToFloat(h);
    }
    case DataType::kFloat32: {
      float f;
      std::memcpy(&f, base + i * 4, 4);
      return f;
    }
    default: {
      double d;
      std::memcpy(&d, base + i * 8, 8);
      return d;
    }
  }
}

void Store(std::byte* base, int64_t i, DataType dtype, double v) {
  switch (dtype) {
    case DataType::kFloat16: {
      uint16_t h = FloatToHalf(static_cast<float>(v));
      std::memcpy(base + i * 2, &h, 2);
      return;
    }
    case DataType::kBFloat16: {
      uint16_t h = FloatToBFloat16(static_cast<float>(v));
      std::memcpy(base + i * 2, &h, 2);
      return;
    }
    case DataType::kFloat32: {
      auto f = static_cast<float>(v);
      std::memcpy(base + i * 4, &f, 4);
      return;
    }
    default: std::memcpy(base + i * 8, &v, 8); return;
  }
}

// a <- Adasum(a, b).
void Combine(std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  // A zero vector contributes nothing whatever its coefficient; keep the other one as it is.
  const double ca = aa > 0 ? 1.0 - dot / (2 * aa) : 1.0;
  const double cb = bb > 0 ? 1.0 - dot / (2 * bb) : 1.0;
  for (size_t i = 0; i < a.size(); ++i) a[i] = ca * a[i] + cb * b[i];
}

}  // namespace

Status ExecuteAdasum(OpContext& ctx, const std::vector<Slot*>& slots) {
  const Response& r = *slots.front()->response;
  const DataType dtype = r.dtype;
  const int64_t esize = static_cast<int64_t>(DataTypeSize(dtype));
  const int size = ctx.comm->size();
  int64_t total = 0;
  for (Slot* s : slots) total += NumElements(s->response->shape);
  for (Slot* s : slots) {
    if (s->entry != nullptr) s->entry->handle->output = s->entry->output;
  }
  if (total == 0) return Status::Ok();

  // This rank's tensors, prescaled, back to back; then every rank's, in rank order.
  std::vector<std::byte> mine(static_cast<size_t>(total * esize));
  int64_t offset = 0;
  for (Slot* s : slots) {
    const int64_t count = NumElements(s->response->shape);
    if (s->entry != nullptr) {
      ScaleCopy(mine.data() + offset * esize, s->entry->input.data, count, dtype, r.prescale);
    } else {
      std::memset(mine.data() + offset * esize, 0, static_cast<size_t>(count * esize));
    }
    offset += count;
  }
  std::vector<std::byte> all(static_cast<size_t>(total * esize * size));
  const std::string activity = ctx.TransportActivity(OpType::kAllgather);
  for (Slot* s : slots) ctx.timeline->Begin(s->response->name, activity.c_str());
  Status st =
      ctx.comm->Allgatherv(mine.data(), all.data(), std::vector<int64_t>(size, total), dtype);
  for (Slot* s : slots) ctx.timeline->End(s->response->name, activity.c_str());
  RETURN_IF_ERROR(st);

  offset = 0;
  std::vector<std::vector<double>> v(static_cast<size_t>(size));
  for (Slot* s : slots) {
    const int64_t count = NumElements(s->response->shape);
    ctx.timeline->Begin(s->response->name, "ADASUM");
    for (int k = 0; k < size; ++k) {
      auto& vk = v[static_cast<size_t>(k)];
      vk.resize(static_cast<size_t>(count));
      const std::byte* base = all.data() + (static_cast<int64_t>(k) * total + offset) * esize;
      for (int64_t i = 0; i < count; ++i) vk[static_cast<size_t>(i)] = Load(base, i, dtype);
    }
    const auto n = static_cast<size_t>(size);
    for (size_t d = 1; d < n; d *= 2) {
      for (size_t i = 0; i + d < n; i += 2 * d) Combine(v[i], v[i + d]);
    }
    if (s->entry != nullptr && count > 0) {
      auto* out = static_cast<std::byte*>(s->entry->output.data);
      const std::vector<double>& result = v.front();
      for (int64_t i = 0; i < count; ++i) {
        Store(out, i, dtype, result[static_cast<size_t>(i)] * r.postscale);
      }
    }
    ctx.timeline->End(s->response->name, "ADASUM");
    offset += count;
  }
  return Status::Ok();
}

}  // namespace trainyard::collective
