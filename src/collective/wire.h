// The messages of the coordination protocol (see controller.h) and their byte encoding.
//
// A Request is one rank's announcement "tensor NAME is ready here, with these properties"; a
// Response is the coordinator's decision "execute NAME now, like this" (or "fail NAME with this
// error"). Requests travel to the coordinator in a RequestList, decisions come back in a
// ResponseList. The encoding is a private little-endian format between ranks of the same build;
// decoding checks every length and enum so that a corrupt message gives a Status, not a crash.
// Plain values; safe to copy between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collective/types.h"
#include "common/status.h"

namespace trainyard::collective {

enum class OpType : uint8_t {
  kAllreduce = 0,
  kAllgather = 1,
  kBroadcast = 2,
  kAlltoall = 3,
  kReducescatter = 4,
  kBarrier = 5,
  kJoin = 6,
  kAddProcessSet = 7,
  kRemoveProcessSet = 8,
};
// "allreduce", "allgather", ...
const char* OpTypeName(OpType type);
// "ALLREDUCE", ... (timeline activity names).
const char* OpTypeUpperName(OpType type);

// Reserved names of the runtime's own requests (user tensors should not start with "__trainyard").
inline constexpr char kJoinName[] = "__trainyard.join";
inline constexpr char kBarrierName[] = "__trainyard.barrier";
inline constexpr char kAddProcessSetPrefix[] = "__trainyard.add_process_set.";
inline constexpr char kRemoveProcessSetPrefix[] = "__trainyard.remove_process_set.";

struct Request {
  OpType type = OpType::kAllreduce;
  std::string name;
  int32_t rank = 0;  // global rank of the sender
  DataType dtype = DataType::kFloat32;
  Shape shape;
  ReduceOp reduce_op = ReduceOp::kSum;
  double prescale = 1.0;
  double postscale = 1.0;
  int32_t root = -1;  // broadcast: global rank of the root
  Device device;
  std::vector<int32_t> ranks;  // kAddProcessSet: the new set's global ranks; kRemove: {id}
  // Non-empty: the sender refused the operation at the call with this message (error_code: the
  // refusal's code); only `type` and `name` are meaningful then. The coordinator fails the name
  // on every rank (see MessageTable), so that the other ranks' matching operations do not wait
  // for it forever. Never served from the response cache.
  std::string error;
  StatusCode error_code = StatusCode::kOk;
};

struct Response {
  OpType type = OpType::kAllreduce;
  std::string name;
  DataType dtype = DataType::kFloat32;
  // The tensor shape: the common shape (allreduce, broadcast, reducescatter) or the shape of the
  // first rank that sent it (allgather, alltoall: only dims 1.. are common).
  Shape shape;
  ReduceOp reduce_op = ReduceOp::kSum;
  double prescale = 1.0;
  double postscale = 1.0;
  int32_t root = -1;
  Device device;
  std::vector<int32_t> ranks;
  // Non-empty: this is an error response and every rank fails the tensor with it.
  std::string error;
  StatusCode error_code = StatusCode::kOk;
  int32_t last_joined_rank = -1;  // kJoin

  bool is_error() const { return !error.empty(); }
  // True when the response may be kept in the response cache.
  bool Cacheable() const;
};

// Builds the response that executes `r` alone (used for the cache's copy and by tests).
Response ResponseFor(const Request& r);
// True when request `r` would be executed by response `cached` with identical parameters (used by
// the response cache to tell a hit from a stale entry).
bool SameSignature(const Request& r, const Response& cached);

struct RequestList {
  int32_t rank = 0;
  std::vector<Request> requests;
  // Stall reports only: names this rank holds pending through the response cache.
  std::vector<std::string> cached_pending;
  bool shutdown = false;
  std::string shutdown_reason;
};

struct ResponseList {
  std::vector<Response> responses;
  // Cache entries every rank drops before executing `responses` (a rank sent a request whose
  // parameters differ from the cached ones).
  std::vector<std::string> evict;
  bool shutdown = false;
  std::string shutdown_reason;
};

std::string EncodeRequestList(const RequestList& list);
Result<RequestList> DecodeRequestList(const std::string& bytes);
std::string EncodeResponseList(const ResponseList& list);
Result<ResponseList> DecodeResponseList(const std::string& bytes);

}  // namespace trainyard::collective
