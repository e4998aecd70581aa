// Internals of Runtime shared by runtime.cc (lifecycle, background thread, process sets) and
// runtime_ops.cc (validating and enqueueing operations). Not part of the public API.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "collective/collective.h"
#include "collective/controller.h"
#include "collective/executor.h"
#include "collective/fusion.h"
#include "collective/ops/ops.h"
#include "collective/tensor_queue.h"
#include "collective/timeline.h"
#include "common/mutex.h"

namespace trainyard::collective {

struct ProcessSet {
  ProcessSetId id = kGlobalProcessSet;
  std::vector<int> ranks;               // global ranks, ascending
  std::unique_ptr<Communicator> owned;  // this set's communicator (null for non-members)
  Communicator* comm = nullptr;         // `owned`, or the world communicator for set 0
  // The set's device communicator (CUDA tensors), split from the world's alongside `owned`; null
  // when the world has none (then device tensors are refused at enqueue).
  std::unique_ptr<Communicator> device_owned;
  Communicator* device_comm = nullptr;  // `device_owned`, or the world's device communicator
  std::unique_ptr<Controller> controller;
  FusionPolicy policy;
  Controller::Stats last_stats;
};

struct Runtime::Impl {
  Topology topology;
  std::unique_ptr<Communicator> world;
  // World::device: declared after `world`, so destroyed before it.
  std::unique_ptr<Communicator> device_world;
  Config config;
  TensorQueue queue;
  Timeline timeline;

  // Background thread only.
  FusionBuffer fusion_buffer;
  std::vector<std::byte> scratch;
  std::string pending_shutdown_reason;               // a process set asked to shut down
  std::vector<std::shared_ptr<ProcessSet>> dropped;  // removed this cycle; freed after it

  // Process sets: changed by the background thread only, under `sets_mu`; read by any thread
  // under `sets_mu`, or by the background thread without it.
  mutable Mutex sets_mu;
  std::map<ProcessSetId, std::shared_ptr<ProcessSet>> sets;
  ProcessSetId next_set_id = 1;

  std::thread thread;
  std::atomic<bool> shutdown_requested{false};
  std::atomic<bool> running{false};
  mutable Mutex state_mu;
  Status stop_status TY_GUARDED_BY(state_mu);
  RuntimeStats stats TY_GUARDED_BY(state_mu);  // except what `counters` holds
  ExecutorCounters counters;
  std::atomic<int64_t> noname_counter{0};
  std::atomic<int64_t> add_set_counter{0};

  // Creates a process set of `ranks` over the world communicator (collective over all ranks).
  Result<std::shared_ptr<ProcessSet>> MakeProcessSet(ProcessSetId id, std::vector<int> ranks);
  void Loop();
  // Finishes join / add / remove process set responses (ExecuteResponses' ControlHandler).
  Status Control(const Response& r, Slot& slot);
  void Stop(const Status& why);

  // Enqueue helpers (runtime_ops.cc).
  struct SetView {
    std::vector<int> ranks;
    int rank = -1;
    // The device of the set's device communicator; nullopt when it has none.
    std::optional<Device> device;
  };
  Status CheckSet(ProcessSetId id, SetView* view) const;
  std::string NameOr(const std::string& name, const char* op);
  Handle Enqueue(std::vector<TensorEntry> entries, int parts);
  // A refused handle with `why`. Unless the refusal is purely local (this rank has joined, or a
  // name is in flight: the duplicate-name error is returned instead), each of `names` (already
  // NameOr'd) is also enqueued as an error request, so that the coordinator fails the name on
  // every rank instead of leaving the others' operations waiting (docs/collective.md).
  Handle Refuse(ProcessSetId process_set, OpType type, const std::vector<std::string>& names,
                const Status& why);
};

}  // namespace trainyard::collective
