// The controller: the coordination protocol of one process set (Horovod's model).
//
// Why coordinate at all
// ---------------------
// A collective only completes when every rank calls it, and MPI requires the calls to come in the
// same order on every rank. Training code does not give that order: gradients become ready in
// whatever order backward happens to produce them on each rank, and ranks run at different
// speeds. So ranks never call the transport directly. A caller *enqueues* a named request
// (allreduce of "grad.fc1.weight", ...) and gets a Handle; a background thread per process
// (runtime.cc) runs *cycles*, and in every cycle the ranks agree on which requests are ready on
// all of them and on one order in which every rank then executes them.
//
// One cycle, per process set (Controller::RunCycle)
// -------------------------------------------------
// 1. Classify. The requests enqueued since the last cycle join this rank's pending list. Each
//    pending request is looked up in the response cache (response_cache.h):
//      - hit: the tensor was negotiated before with identical parameters; announce it by setting
//        its cache bit;
//      - miss or stale entry: it must be *negotiated* — sent by name to the coordinator.
// 2. Coordinate: one bitwise-AND allreduce of a small vector of 64-bit words:
//      word 0          flags; "any rank wants X" is encoded as the AND of "not X":
//                        bit 0  nobody asked to shut down
//                        bit 1  nobody has a request to negotiate
//                        bit 2  the coordinator does not want a stall report
//                        bit 3  every rank has joined (plain AND)
//      words 1..W      cache bits: the AND is the set of cached tensors ready on every rank
//      words W+1..2W   inverted cache bits: the AND is the complement of "ready on some rank"
//    W = ceil(cache bits in use / 64), the same on every rank. In the steady state of a training
//    loop every tensor is cached, nobody needs to negotiate, and this allreduce of a few words is
//    all the coordination a cycle costs.
// 3. Negotiate (only when a flag asks for it): every rank sends the coordinator (rank 0 of the set)
//    its uncached requests in a RequestList (a gather). The coordinator's MessageTable collects
//    them; a tensor is ready when every rank has announced it (joined ranks count as having
//    announced everything). For each ready tensor the table either makes an execute Response, or,
//    if the ranks disagree on operation, dtype, shape, reduce op, scaling, root or device, an
//    error Response that names the tensor and what each rank sent. A request for a name that is
//    cached with other parameters makes the coordinator tell everyone to evict that entry. The
//    coordinator broadcasts the ResponseList (responses in the order the tensors were first
//    announced, evictions, shutdown).
// 4. Decide. Every rank now computes the same list: the ready cached responses in bit order, then
//    the negotiated ones in the coordinator's order. Every rank updates its cache identically
//    (touch the cached ones, apply evictions, insert the new ones), so the caches stay equal.
// The runtime then fuses and executes the list (fusion.h, ops/) and completes the handles.
//
// Different submission orders therefore cannot deadlock: nothing executes until it is ready
// everywhere, and then in one agreed order. Ranks that submit a tensor others never submit do not
// deadlock either — they wait, and the stall inspector (stall_inspector.h) says who is missing.
//
// Join: a rank that ran out of data submits a join request. From that cycle on it sets every cache
// bit, and the coordinator counts it as having announced every name, so tensors of the other
// ranks execute with this rank contributing zeros (allreduce, reducescatter), no rows (allgather)
// or only receiving (broadcast). When all ranks have joined, a join response (with the rank that
// joined last) completes every rank's join.
//
// Stall failure (TRAINYARD_STALL_FAIL_SECONDS): a name that some ranks of the set hold and others
// (not joined) did not submit for that long fails instead of waiting: in a stall report the
// coordinator adds an error response for it (error code kTimeout), drops its table entry, and
// every rank that holds the name fails that operation ("allreduce 'a': stalled 1.0 s: ranks [0]
// submitted it, ranks [1] did not ..."); ranks that do not hold it ignore the response. A name
// that ranks submit differently (rank 0 'a', rank 1 'b') or on different process sets therefore
// fails on every rank instead of hanging, and later operations run normally.
//
// Shutdown: a rank that shuts down sets the flag; every rank sees it in the same cycle and stops
// after it. A stall past HOROVOD_STALL_SHUTDOWN_TIME_SECONDS makes the coordinator broadcast a
// shutdown with the stall report as the reason.
//
// Thread-safety: not thread-safe; one Controller per process set, used only by the background
// thread. The Communicator and Timeline passed in must outlive it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "collective/communicator.h"
#include "collective/config.h"
#include "collective/message_table.h"
#include "collective/response_cache.h"
#include "collective/stall_inspector.h"
#include "collective/timeline.h"
#include "collective/wire.h"

namespace trainyard::collective {

class Controller {
 public:
  // `ranks`: global ranks of the process set by set rank; `comm` is its communicator.
  Controller(Communicator* comm, std::vector<int> ranks, const Config& config, Timeline* timeline);

  struct Input {
    std::vector<Request> new_requests;  // enqueued since the last cycle, in order
    bool shutdown = false;              // this rank wants the runtime to stop
    std::string shutdown_reason;
  };
  struct Output {
    std::vector<Response> responses;  // to execute now, in this order, on every rank
    bool shutdown = false;            // some rank asked to stop: stop after this cycle
    std::string shutdown_reason;
  };
  // Runs one cycle (collective over the communicator). A transport error is returned as is.
  Result<Output> RunCycle(Input input);

  // Requests this rank has enqueued that have not been decided yet.
  size_t pending() const { return pending_.size(); }

  struct Stats {
    int64_t cycles = 0;
    int64_t negotiations = 0;          // cycles that needed the gather/broadcast round
    int64_t cached_responses = 0;      // responses decided through the cache bits
    int64_t negotiated_responses = 0;  // responses decided by the coordinator
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Pending {
    Request request;
    bool announced = false;  // sent to the coordinator; wait for its response
    int bit = -1;            // cache bit used in the last cycle, or -1
  };
  void StartNegotiation(const Request& request);
  void EndNegotiation(const Response& response);
  void Forget(const std::string& name);
  // Coordinator: the error response of a name that stalled past the fail time; drops the name's
  // table entry.
  Response FailStalled(const StallInspector::Stalled& stalled, int64_t now);
  // The error code of stall failures, which only ranks that hold the name execute. No other
  // response carries it (the message table's errors are InvalidArgument / FailedPrecondition).
  static constexpr StatusCode kStallFailureCode = StatusCode::kTimeout;
  static bool IsStallFailure(const Response& r);

  Communicator* comm_;
  std::vector<int> ranks_;
  bool coordinator_;
  Timeline* timeline_;
  ResponseCache cache_;
  std::list<Pending> pending_;
  std::unordered_map<std::string, std::list<Pending>::iterator> by_name_;
  bool joined_ = false;
  // Coordinator only.
  MessageTable table_;
  StallInspector stall_;
  bool stall_report_due_ = false;
  Stats stats_;
};

}  // namespace trainyard::collective
