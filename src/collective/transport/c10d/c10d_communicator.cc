#include "collective/transport/c10d/c10d_communicator.h"

#include <algorithm>
#include <cstring>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <utility>

namespace trainyard::collective {
namespace {

::c10d::ReduceOp C10dOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin: return ::c10d::ReduceOp::MIN;
    case ReduceOp::kMax: return ::c10d::ReduceOp::MAX;
    case ReduceOp::kProduct: return ::c10d::ReduceOp::PRODUCT;
    default: return ::c10d::ReduceOp::SUM;
  }
}

// A byte that empty tensors point at (c10d and Gloo want a valid pointer even for 0 bytes).
uint8_t empty_byte = 0;

}  // namespace

at::ScalarType ScalarTypeOf(DataType dtype) {
  switch (dtype) {
    case DataType::kUInt8:
    case DataType::kBool: return at::kByte;
    case DataType::kInt8: return at::kChar;
    case DataType::kInt16: return at::kShort;
    case DataType::kInt32: return at::kInt;
    case DataType::kInt64: return at::kLong;
    case DataType::kFloat16: return at::kHalf;
    case DataType::kBFloat16: return at::kBFloat16;
    case DataType::kFloat32: return at::kFloat;
    case DataType::kFloat64: return at::kDouble;
  }
  return at::kByte;
}

Status C10dCall(const std::string& what, const std::function<void()>& fn) {
  try {
    fn();
    return Status::Ok();
  } catch (const c10::Error& e) {
    return Unavailable(what + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Unavailable(what + ": " + e.what());
  }
}

C10dCommunicator::C10dCommunicator(c10::intrusive_ptr<C10dGroup> group,
                                   std::shared_ptr<C10dShared> shared, std::vector<int> world_ranks,
                                   std::string prefix)
    : group_(std::move(group)),
      shared_(std::move(shared)),
      world_ranks_(std::move(world_ranks)),
      prefix_(std::move(prefix)) {
  rank_ = group_->getRank();
  size_ = group_->getSize();
  const std::string& host = shared_->hosts[static_cast<size_t>(world_ranks_.front())];
  one_host_ = std::all_of(world_ranks_.begin(), world_ranks_.end(),
                          [&](int r) { return shared_->hosts[static_cast<size_t>(r)] == host; });
}

C10dCommunicator::~C10dCommunicator() {
  // Destroying a process group joins its worker threads, which finish their current operation
  // first. After a failure that operation completed (with the error), so this does not block.
  group_.reset();
}

Status C10dCommunicator::Call(const char* what, const std::function<void()>& fn) {
  if (shared_->broken) {
    return Unavailable(std::string(shared_->name) + " " + what +
                       ": the transport failed earlier (" + shared_->broken_reason + ")");
  }
  Status st = C10dCall(std::string(shared_->name) + " " + what + " failed", fn);
  if (!st.ok()) {
    shared_->broken_reason = st.message();
    shared_->broken = true;
  }
  return st;
}

Status C10dCommunicator::Run(const char* what,
                             const std::function<c10::intrusive_ptr<::c10d::Work>()>& start) {
  return Call(what, [&] {
    c10::intrusive_ptr<::c10d::Work> work = start();
    work->wait();
    if (shared_->after_wait) shared_->after_wait();
  });
}

at::Tensor C10dCommunicator::Wrap(const void* data, int64_t count, DataType dtype) const {
  at::TensorOptions options =
      at::TensorOptions().dtype(ScalarTypeOf(dtype)).device(shared_->device);
  if (count == 0 || data == nullptr) {
    if (shared_->device.is_cpu()) return at::from_blob(&empty_byte, {0}, options);
    return at::empty({0}, options);
  }
  // from_blob never writes through a pointer it did not get; c10d writes only to outputs.
  return at::from_blob(const_cast<void*>(data), {count}, options);  // NOLINT
}

at::Tensor C10dCommunicator::WrapHost(const void* data, int64_t count, DataType dtype) const {
  at::TensorOptions options = at::TensorOptions().dtype(ScalarTypeOf(dtype));
  if (count == 0 || data == nullptr) return at::from_blob(&empty_byte, {0}, options);
  return at::from_blob(const_cast<void*>(data), {count}, options);  // NOLINT
}

Status C10dCommunicator::OnDevice(const void* in, int64_t in_bytes, void* out, int64_t out_bytes,
                                  const std::function<Status(const void*, void*)>& op) {
  if (shared_->device.is_cpu()) return op(in, out);
  at::Tensor din;
  at::Tensor dout;
  RETURN_IF_ERROR(Call("staging to the device", [&] {
    din = WrapHost(in, in_bytes, DataType::kUInt8).to(shared_->device);
    dout = in == out ? din
                     : at::empty({out_bytes},
                                 at::TensorOptions().dtype(at::kByte).device(shared_->device));
  }));
  RETURN_IF_ERROR(op(din.data_ptr(), dout.data_ptr()));
  return Call("staging to the host",
              [&] { WrapHost(out, out_bytes, DataType::kUInt8).copy_(dout); });
}

at::Tensor C10dCommunicator::WrapBytes(const void* data, int64_t bytes) const {
  return Wrap(data, bytes, DataType::kUInt8);
}

Status C10dCommunicator::ReduceTensor(at::Tensor& t, ReduceOp op, const char* what) {
  if (t.numel() == 0) return Status::Ok();
  ::c10d::AllreduceOptions options;
  options.reduceOp = C10dOp(op);
  if (t.scalar_type() == at::kBFloat16 && !shared_->native_bfloat16) {
    // Computes in float32; copy_ rounds back to nearest even.
    std::vector<at::Tensor> wide{t.to(at::kFloat)};
    RETURN_IF_ERROR(Run(what, [&] { return group_->allreduce(wide, options); }));
    t.copy_(wide[0]);
    return Status::Ok();
  }
  if (t.scalar_type() == at::kShort) {
    // Gloo has no int16 reduction: compute in int32. Sums and products keep their low 16 bits
    // (copy_ wraps, as the int16 arithmetic would); Min/Max are exact.
    std::vector<at::Tensor> wide{t.to(at::kInt)};
    RETURN_IF_ERROR(Run(what, [&] { return group_->allreduce(wide, options); }));
    t.copy_(wide[0]);
    return Status::Ok();
  }
  std::vector<at::Tensor> tensors{t};
  return Run(what, [&] { return group_->allreduce(tensors, options); });
}

Status C10dCommunicator::AllgatherEqual(const at::Tensor& in, const at::Tensor& out,
                                        const char* what) {
  const int64_t n = in.numel();
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < size_; ++r) outputs[0].push_back(out.narrow(0, r * n, n));
  std::vector<at::Tensor> inputs{in};
  return Run(what, [&] { return group_->allgather(outputs, inputs); });
}

// --- coordination ---

Status C10dCommunicator::AllreduceBitsAnd(uint64_t* words, size_t count) {
  ::c10d::AllreduceOptions options;
  if (shared_->device.is_cpu()) {
    // Bitwise AND is the same on int64 as on uint64.
    std::vector<at::Tensor> tensors{WrapHost(words, static_cast<int64_t>(count), DataType::kInt64)};
    options.reduceOp = ::c10d::ReduceOp::BAND;
    return Run("allreduce (coordination)", [&] { return group_->allreduce(tensors, options); });
  }
  // NCCL has no bitwise AND: one byte per bit, and the AND of bits is their minimum.
  std::vector<uint8_t> bits(count * 64);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = (words[i / 64] >> (i % 64)) & 1U;
  RETURN_IF_ERROR(OnDevice(bits.data(), static_cast<int64_t>(bits.size()), bits.data(),
                           static_cast<int64_t>(bits.size()), [&](const void*, void* dbits) {
                             std::vector<at::Tensor> tensors{
                                 Wrap(dbits, static_cast<int64_t>(bits.size()), DataType::kUInt8)};
                             options.reduceOp = ::c10d::ReduceOp::MIN;
                             return Run("allreduce (coordination)",
                                        [&] { return group_->allreduce(tensors, options); });
                           }));
  for (size_t w = 0; w < count; ++w) {
    uint64_t v = 0;
    for (size_t b = 0; b < 64; ++b) v |= static_cast<uint64_t>(bits[w * 64 + b]) << b;
    words[w] = v;
  }
  return Status::Ok();
}

Status C10dCommunicator::GatherBytes(const std::string& mine, std::vector<std::string>* all) {
  // An allgather (every rank gets the bytes, only rank 0 keeps them): Gloo's gather would be a
  // second code path for the same few hundred bytes.
  all->clear();
  std::vector<int64_t> lens;
  RETURN_IF_ERROR(AllgatherInt64(static_cast<int64_t>(mine.size()), &lens));
  int64_t total = 0;
  for (int64_t l : lens) total += l;
  std::vector<char> buf(static_cast<size_t>(total));
  RETURN_IF_ERROR(OnDevice(
      mine.data(), static_cast<int64_t>(mine.size()), buf.data(), total,
      [&](const void* din, void* dout) { return Allgatherv(din, dout, lens, DataType::kUInt8); }));
  if (rank_ != 0) return Status::Ok();
  size_t offset = 0;
  for (int64_t l : lens) {
    all->emplace_back(buf.data() + offset, static_cast<size_t>(l));
    offset += static_cast<size_t>(l);
  }
  return Status::Ok();
}

Status C10dCommunicator::BroadcastBytes(std::string* bytes) {
  int64_t len = static_cast<int64_t>(bytes->size());
  RETURN_IF_ERROR(OnDevice(&len, sizeof len, &len, sizeof len, [&](const void*, void* dlen) {
    return Broadcast(dlen, 1, DataType::kInt64, 0);
  }));
  bytes->resize(static_cast<size_t>(len));
  if (len == 0) return Status::Ok();
  return OnDevice(bytes->data(), len, bytes->data(), len, [&](const void*, void* dbytes) {
    return Broadcast(dbytes, len, DataType::kUInt8, 0);
  });
}

Status C10dCommunicator::AllgatherInt64(int64_t mine, std::vector<int64_t>* all) {
  all->assign(static_cast<size_t>(size_), 0);
  const int64_t n = size_;
  return OnDevice(&mine, sizeof mine, all->data(), n * 8, [&](const void* din, void* dout) {
    return AllgatherEqual(WrapBytes(din, 8), WrapBytes(dout, n * 8), "allgather (coordination)");
  });
}

Status C10dCommunicator::AlltoallInt64(const std::vector<int64_t>& send,
                                       std::vector<int64_t>* recv) {
  recv->assign(static_cast<size_t>(size_), 0);
  const int64_t bytes = size_ * 8;
  return OnDevice(send.data(), bytes, recv->data(), bytes, [&](const void* din, void* dout) {
    at::Tensor in = Wrap(din, size_, DataType::kInt64);
    at::Tensor out = Wrap(dout, size_, DataType::kInt64);
    std::vector<int64_t> splits;  // empty: equal splits
    return Run("alltoall (coordination)",
               [&] { return group_->alltoall_base(out, in, splits, splits); });
  });
}

// --- data ---

Status C10dCommunicator::Allreduce(const void* in, void* out, int64_t count, DataType dtype,
                                   ReduceOp op) {
  if (count == 0) return Status::Ok();
  at::Tensor t = Wrap(out, count, dtype);
  if (in != out) t.copy_(Wrap(in, count, dtype));
  return ReduceTensor(t, op, "allreduce");
}

Status C10dCommunicator::Allgatherv(const void* in, void* out, const std::vector<int64_t>& counts,
                                    DataType dtype) {
  const int64_t esize = static_cast<int64_t>(DataTypeSize(dtype));
  const int64_t most = *std::max_element(counts.begin(), counts.end());
  if (most == 0) return Status::Ok();
  const int64_t mine = counts[static_cast<size_t>(rank_)];
  const bool equal =
      std::all_of(counts.begin(), counts.end(), [&](int64_t c) { return c == most; });
  if (equal) {
    return AllgatherEqual(WrapBytes(in, mine * esize), WrapBytes(out, size_ * most * esize),
                          "allgather");
  }
  // Pad every contribution to the largest, gather, then compact in rank order.
  at::TensorOptions bytes = at::TensorOptions().dtype(at::kByte).device(shared_->device);
  at::Tensor padded = at::zeros({most * esize}, bytes);
  if (mine > 0) padded.narrow(0, 0, mine * esize).copy_(WrapBytes(in, mine * esize));
  at::Tensor gathered = at::empty({size_ * most * esize}, bytes);
  RETURN_IF_ERROR(AllgatherEqual(padded, gathered, "allgather"));
  int64_t offset = 0;
  for (int r = 0; r < size_; ++r) {
    const int64_t n = counts[static_cast<size_t>(r)] * esize;
    if (n > 0) {
      WrapBytes(static_cast<char*>(out) + offset, n).copy_(gathered.narrow(0, r * most * esize, n));
    }
    offset += n;
  }
  return Status::Ok();
}

Status C10dCommunicator::Broadcast(void* data, int64_t count, DataType dtype, int root) {
  if (count == 0) return Status::Ok();
  std::vector<at::Tensor> tensors{
      WrapBytes(data, count * static_cast<int64_t>(DataTypeSize(dtype)))};
  ::c10d::BroadcastOptions options;
  options.rootRank = root;
  return Run("broadcast", [&] { return group_->broadcast(tensors, options); });
}

Status C10dCommunicator::Alltoallv(const void* in, const std::vector<int64_t>& send_counts,
                                   void* out, const std::vector<int64_t>& recv_counts,
                                   DataType dtype) {
  const int64_t esize = static_cast<int64_t>(DataTypeSize(dtype));
  std::vector<int64_t> send_bytes;
  std::vector<int64_t> recv_bytes;
  int64_t send_total = 0;
  int64_t recv_total = 0;
  for (int64_t c : send_counts) {
    send_bytes.push_back(c * esize);
    send_total += c * esize;
  }
  for (int64_t c : recv_counts) {
    recv_bytes.push_back(c * esize);
    recv_total += c * esize;
  }
  at::Tensor input = WrapBytes(in, send_total);
  at::Tensor output = WrapBytes(out, recv_total);
  return Run("alltoall",
             [&] { return group_->alltoall_base(output, input, recv_bytes, send_bytes); });
}

Status C10dCommunicator::ReduceScatter(const void* in, void* out,
                                       const std::vector<int64_t>& counts, DataType dtype,
                                       ReduceOp op) {
  // Gloo has no reduce_scatter in torch 1.13: reduce a copy of everything, keep this rank's block.
  int64_t total = 0;
  int64_t offset = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    if (static_cast<int>(r) == rank_) offset = total;
    total += counts[r];
  }
  if (total == 0) return Status::Ok();
  at::Tensor all = Wrap(in, total, dtype).clone();
  RETURN_IF_ERROR(ReduceTensor(all, op, "allreduce (reducescatter)"));
  const int64_t mine = counts[static_cast<size_t>(rank_)];
  if (mine > 0) Wrap(out, mine, dtype).copy_(all.narrow(0, offset, mine));
  return Status::Ok();
}

Status C10dCommunicator::Barrier() {
  return Run("barrier", [&] { return group_->barrier(); });
}

Result<std::unique_ptr<Communicator>> C10dCommunicator::Split(const std::vector<int>& members) {
  // Every rank of this communicator advances the counter, members or not, so the members of this
  // split meet under the same prefix whatever splits happened before.
  const std::string prefix = prefix_ + "/" + std::to_string(splits_++);
  auto it = std::find(members.begin(), members.end(), rank_);
  if (it == members.end()) return std::unique_ptr<Communicator>();
  if (shared_->broken) {
    return Unavailable(std::string(shared_->name) + " split: the transport failed earlier (" +
                       shared_->broken_reason + ")");
  }
  const int index = static_cast<int>(it - members.begin());
  c10::intrusive_ptr<C10dGroup> group;
  RETURN_IF_ERROR(
      C10dCall(std::string(shared_->name) + ": creating the process group of ranks " +
                   ShapeToString(Shape(members.begin(), members.end())),
               [&] {
                 auto store = c10::make_intrusive<::c10d::PrefixStore>(prefix, shared_->store);
                 group = shared_->make_group(store, index, static_cast<int>(members.size()));
               }));
  std::vector<int> world;
  for (int m : members) world.push_back(world_ranks_[static_cast<size_t>(m)]);
  if (shared_->make_communicator) {
    return shared_->make_communicator(std::move(group), shared_, std::move(world), prefix);
  }
  return std::unique_ptr<Communicator>(
      new C10dCommunicator(std::move(group), shared_, std::move(world), prefix));
}

}  // namespace trainyard::collective
