#include "collective/wire.h"

#include <algorithm>
#include <cstring>

namespace trainyard::collective {

const char* OpTypeName(OpType type) {
  switch (type) {
    case OpType::kAllreduce: return "allreduce";
    case OpType::kAllgather: return "allgather";
    case OpType::kBroadcast: return "broadcast";
    case OpType::kAlltoall: return "alltoall";
    case OpType::kReducescatter: return "reducescatter";
    case OpType::kBarrier: return "barrier";
    case OpType::kJoin: return "join";
    case OpType::kAddProcessSet: return "add_process_set";
    case OpType::kRemoveProcessSet: return "remove_process_set";
  }
  return "unknown";
}

const char* OpTypeUpperName(OpType type) {
  switch (type) {
    case OpType::kAllreduce: return "ALLREDUCE";
    case OpType::kAllgather: return "ALLGATHER";
    case OpType::kBroadcast: return "BROADCAST";
    case OpType::kAlltoall: return "ALLTOALL";
    case OpType::kReducescatter: return "REDUCESCATTER";
    case OpType::kBarrier: return "BARRIER";
    case OpType::kJoin: return "JOIN";
    case OpType::kAddProcessSet: return "ADD_PROCESS_SET";
    case OpType::kRemoveProcessSet: return "REMOVE_PROCESS_SET";
  }
  return "UNKNOWN";
}

bool Response::Cacheable() const {
  if (is_error()) return false;
  switch (type) {
    case OpType::kAllreduce:
    case OpType::kAllgather:
    case OpType::kBroadcast:
    case OpType::kAlltoall:
    case OpType::kReducescatter:
    case OpType::kBarrier: return true;
    default: return false;
  }
}

Response ResponseFor(const Request& r) {
  Response out;
  out.type = r.type;
  out.name = r.name;
  out.dtype = r.dtype;
  out.shape = r.shape;
  out.reduce_op = r.reduce_op;
  out.prescale = r.prescale;
  out.postscale = r.postscale;
  out.root = r.root;
  out.device = r.device;
  out.ranks = r.ranks;
  return out;
}

bool SameSignature(const Request& r, const Response& c) {
  if (!r.error.empty()) return false;  // a refusal is always negotiated
  if (r.type != c.type || r.name != c.name || r.dtype != c.dtype || r.device != c.device) {
    return false;
  }
  switch (r.type) {
    case OpType::kAllreduce:
    case OpType::kReducescatter:
      return r.shape == c.shape && r.reduce_op == c.reduce_op && r.prescale == c.prescale &&
             r.postscale == c.postscale;
    case OpType::kBroadcast: return r.shape == c.shape && r.root == c.root;
    case OpType::kAllgather:
    case OpType::kAlltoall:
      // The first dimension may change from step to step; it is exchanged at execution.
      return r.shape.size() == c.shape.size() && !r.shape.empty() &&
             std::equal(r.shape.begin() + 1, r.shape.end(), c.shape.begin() + 1);
    case OpType::kBarrier: return true;
    default: return false;
  }
}

namespace {

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void I32(int32_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void Str(const std::string& s) {
    I64(static_cast<int64_t>(s.size()));
    out_ += s;
  }
  void Shape64(const std::vector<int64_t>& v) {
    I64(static_cast<int64_t>(v.size()));
    for (int64_t x : v) I64(x);
  }
  void Ints(const std::vector<int32_t>& v) {
    I64(static_cast<int64_t>(v.size()));
    for (int32_t x : v) I32(x);
  }
  std::string Take() { return std::move(out_); }

 private:
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  bool ok() const { return ok_; }
  bool AtEnd() const { return pos_ == in_.size(); }
  uint8_t U8() {
    uint8_t v = 0;
    Raw(&v, 1);
    return v;
  }
  int32_t I32() {
    int32_t v = 0;
    Raw(&v, sizeof v);
    return v;
  }
  int64_t I64() {
    int64_t v = 0;
    Raw(&v, sizeof v);
    return v;
  }
  double F64() {
    double v = 0;
    Raw(&v, sizeof v);
    return v;
  }
  std::string Str() {
    int64_t n = Count(1);
    std::string s;
    if (!ok_) return s;
    s.assign(in_, pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  std::vector<int64_t> Shape64() {
    int64_t n = Count(8);
    std::vector<int64_t> v;
    for (int64_t i = 0; ok_ && i < n; ++i) v.push_back(I64());
    return v;
  }
  std::vector<int32_t> Ints() {
    int64_t n = Count(4);
    std::vector<int32_t> v;
    for (int64_t i = 0; ok_ && i < n; ++i) v.push_back(I32());
    return v;
  }
  // A count of items of `item_bytes` each that must fit in what is left.
  int64_t Count(size_t item_bytes) {
    int64_t n = I64();
    if (n < 0 || static_cast<uint64_t>(n) * item_bytes > in_.size() - pos_) ok_ = false;
    return ok_ ? n : 0;
  }
  void Fail() { ok_ = false; }

 private:
  void Raw(void* p, size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      std::memset(p, 0, n);
      return;
    }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  const std::string& in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void PutCommon(Writer& w, OpType type, const std::string& name, DataType dtype, const Shape& shape,
               ReduceOp op, double pre, double post, int32_t root, const Device& device,
               const std::vector<int32_t>& ranks) {
  w.U8(static_cast<uint8_t>(type));
  w.Str(name);
  w.U8(static_cast<uint8_t>(dtype));
  w.Shape64(shape);
  w.U8(static_cast<uint8_t>(op));
  w.F64(pre);
  w.F64(post);
  w.I32(root);
  w.U8(static_cast<uint8_t>(device.type));
  w.I32(device.index);
  w.Ints(ranks);
}

template <typename M>
void GetCommon(Reader& r, M* m) {
  uint8_t type = r.U8();
  if (type > static_cast<uint8_t>(OpType::kRemoveProcessSet)) r.Fail();
  m->type = static_cast<OpType>(type);
  m->name = r.Str();
  uint8_t dtype = r.U8();
  if (!IsValidDataType(dtype)) r.Fail();
  m->dtype = static_cast<DataType>(dtype);
  m->shape = r.Shape64();
  uint8_t op = r.U8();
  if (!IsValidReduceOp(op)) r.Fail();
  m->reduce_op = static_cast<ReduceOp>(op);
  m->prescale = r.F64();
  m->postscale = r.F64();
  m->root = r.I32();
  uint8_t dev = r.U8();
  if (dev > 1) r.Fail();
  m->device.type = static_cast<DeviceType>(dev);
  m->device.index = r.I32();
  m->ranks = r.Ints();
}

Status Corrupt(const char* what) {
  return Internal(std::string("corrupt ") + what + " received from another rank");
}

}  // namespace

std::string EncodeRequestList(const RequestList& list) {
  Writer w;
  w.I32(list.rank);
  w.I64(static_cast<int64_t>(list.requests.size()));
  for (const Request& q : list.requests) {
    PutCommon(w, q.type, q.name, q.dtype, q.shape, q.reduce_op, q.prescale, q.postscale, q.root,
              q.device, q.ranks);
    w.I32(q.rank);
    w.Str(q.error);
    w.U8(static_cast<uint8_t>(q.error_code));
  }
  w.I64(static_cast<int64_t>(list.cached_pending.size()));
  for (const std::string& s : list.cached_pending) w.Str(s);
  w.U8(list.shutdown ? 1 : 0);
  w.Str(list.shutdown_reason);
  return w.Take();
}

Result<RequestList> DecodeRequestList(const std::string& bytes) {
  Reader r(bytes);
  RequestList list;
  list.rank = r.I32();
  int64_t n = r.Count(1);
  for (int64_t i = 0; r.ok() && i < n; ++i) {
    Request q;
    GetCommon(r, &q);
    q.rank = r.I32();
    q.error = r.Str();
    uint8_t code = r.U8();
    if (code > static_cast<uint8_t>(StatusCode::kCanceled)) r.Fail();
    q.error_code = static_cast<StatusCode>(code);
    list.requests.push_back(std::move(q));
  }
  int64_t m = r.Count(8);
  for (int64_t i = 0; r.ok() && i < m; ++i) list.cached_pending.push_back(r.Str());
  list.shutdown = r.U8() != 0;
  list.shutdown_reason = r.Str();
  if (!r.ok() || !r.AtEnd()) return Corrupt("request list");
  return list;
}

std::string EncodeResponseList(const ResponseList& list) {
  Writer w;
  w.I64(static_cast<int64_t>(list.responses.size()));
  for (const Response& p : list.responses) {
    PutCommon(w, p.type, p.name, p.dtype, p.shape, p.reduce_op, p.prescale, p.postscale, p.root,
              p.device, p.ranks);
    w.Str(p.error);
    w.U8(static_cast<uint8_t>(p.error_code));
    w.I32(p.last_joined_rank);
  }
  w.I64(static_cast<int64_t>(list.evict.size()));
  for (const std::string& s : list.evict) w.Str(s);
  w.U8(list.shutdown ? 1 : 0);
  w.Str(list.shutdown_reason);
  return w.Take();
}

Result<ResponseList> DecodeResponseList(const std::string& bytes) {
  Reader r(bytes);
  ResponseList list;
  int64_t n = r.Count(1);
  for (int64_t i = 0; r.ok() && i < n; ++i) {
    Response p;
    GetCommon(r, &p);
    p.error = r.Str();
    uint8_t code = r.U8();
    if (code > static_cast<uint8_t>(StatusCode::kCanceled)) r.Fail();
    p.error_code = static_cast<StatusCode>(code);
    p.last_joined_rank = r.I32();
    list.responses.push_back(std::move(p));
  }
  int64_t m = r.Count(8);
  for (int64_t i = 0; r.ok() && i < m; ++i) list.evict.push_back(r.Str());
  list.shutdown = r.U8() != 0;
  list.shutdown_reason = r.Str();
  if (!r.ok() || !r.AtEnd()) return Corrupt("response list");
  return list;
}

}  // namespace trainyard::collective
