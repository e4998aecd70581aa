// Runtime: lifecycle, the background thread's loop, and process sets. The enqueueing side of the
// operations is in runtime_ops.cc.
#include <algorithm>
#include <cstdio>

#include "collective/collective.h"
#include "collective/executor.h"
#include "collective/runtime_impl.h"
#include "collective/transport_registry.h"
#include "common/clock.h"

namespace trainyard::collective {
namespace {

std::string RanksText(const std::vector<int>& ranks) {
  return ShapeToString(Shape(ranks.begin(), ranks.end()));
}

}  // namespace

Result<std::shared_ptr<ProcessSet>> Runtime::Impl::MakeProcessSet(ProcessSetId id,
                                                                  std::vector<int> ranks) {
  auto ps = std::make_shared<ProcessSet>();
  ps->id = id;
  ps->ranks = std::move(ranks);
  if (id == kGlobalProcessSet) {
    ps->comm = world.get();
    ps->device_comm = device_world.get();
  } else {
    ASSIGN_OR_RETURN(ps->owned, world->Split(ps->ranks));
    ps->comm = ps->owned.get();
    if (device_world != nullptr) {
      // Collective over the device world too, on every rank, in the same order as above.
      ASSIGN_OR_RETURN(ps->device_owned, device_world->Split(ps->ranks));
      ps->device_comm = ps->device_owned.get();
    }
  }
  if (ps->comm != nullptr) {
    ps->controller = std::make_unique<Controller>(ps->comm, ps->ranks, config, &timeline);
    ps->policy =
        ChooseFusionPolicy(config, ps->comm->transport_name(), ps->comm->all_on_one_host());
  }
  return ps;
}

Result<std::unique_ptr<Runtime>> Runtime::Init(InitOptions options) {
  auto impl = std::make_unique<Impl>();
  if (options.config) {
    impl->config = *options.config;
  } else {
    ASSIGN_OR_RETURN(impl->config, ConfigFromEnv());
  }
  World world;
  if (options.world.comm != nullptr) {
    world = std::move(options.world);
  } else {
    ASSIGN_OR_RETURN(world, CreateWorld(options.transport, impl->config));
  }
  impl->topology = world.topology;
  impl->world = std::move(world.comm);
  impl->device_world = std::move(world.device);
  // Splits of the device world must happen on every rank: all ranks have one, or none.
  uint64_t has_device = impl->device_world != nullptr ? 1 : 0;
  uint64_t lacks_device = 1 - has_device;
  uint64_t bits[2] = {has_device, lacks_device};
  RETURN_IF_ERROR(impl->world->AllreduceBitsAnd(bits, 2));
  if (bits[0] == 0 && bits[1] == 0) {
    return FailedPrecondition(
        "some ranks have a device communicator (NCCL) and others do not; rank " +
        std::to_string(impl->topology.rank) + (has_device != 0 ? " has one" : " has none"));
  }
  if (impl->device_world != nullptr && (impl->device_world->size() != impl->topology.size ||
                                        impl->device_world->rank() != impl->topology.rank)) {
    return InvalidArgument(
        "the device communicator (rank " + std::to_string(impl->device_world->rank()) + " of " +
        std::to_string(impl->device_world->size()) + ") does not match the world (rank " +
        std::to_string(impl->topology.rank) + " of " + std::to_string(impl->topology.size) + ")");
  }

  // Rank 0's shared settings win, so that every rank runs the same protocol.
  std::string shared = EncodeSharedConfig(impl->config);
  RETURN_IF_ERROR(impl->world->BroadcastBytes(&shared));
  RETURN_IF_ERROR(DecodeSharedConfig(shared, &impl->config));

  std::vector<int> all(static_cast<size_t>(impl->topology.size));
  for (int i = 0; i < impl->topology.size; ++i) all[static_cast<size_t>(i)] = i;
  ASSIGN_OR_RETURN(auto global, impl->MakeProcessSet(kGlobalProcessSet, all));
  impl->sets[kGlobalProcessSet] = std::move(global);

  // Process sets given at init: every rank must pass the same lists; check before splitting.
  std::string lists;
  for (const auto& ranks : options.process_sets) lists += RanksText(ranks) + ";";
  std::string from_root = lists;
  RETURN_IF_ERROR(impl->world->BroadcastBytes(&from_root));
  uint64_t same = from_root == lists ? 1 : 0;
  RETURN_IF_ERROR(impl->world->AllreduceBitsAnd(&same, 1));
  if (same == 0) {
    return InvalidArgument("InitOptions.process_sets differ between ranks (rank 0 has " +
                           (from_root.empty() ? std::string("none") : from_root) + ")");
  }
  for (std::vector<int> ranks : options.process_sets) {
    std::sort(ranks.begin(), ranks.end());
    if (ranks.empty() || ranks.front() < 0 || ranks.back() >= impl->topology.size ||
        std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end()) {
      return InvalidArgument("process set " + RanksText(ranks) +
                             ": ranks must be distinct and in [0, " +
                             std::to_string(impl->topology.size) + ")");
    }
    ProcessSetId id = impl->next_set_id++;
    ASSIGN_OR_RETURN(auto ps, impl->MakeProcessSet(id, ranks));
    impl->sets[id] = std::move(ps);
  }

  std::unique_ptr<Runtime> rt(new Runtime(std::move(impl)));
  if (!rt->impl_->config.timeline_path.empty()) {
    RETURN_IF_ERROR(
        rt->StartTimeline(rt->impl_->config.timeline_path, rt->impl_->config.timeline_mark_cycles));
  }
  rt->impl_->running = true;
  Impl* p = rt->impl_.get();
  p->thread = std::thread([p] { p->Loop(); });
  return rt;
}

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Runtime::~Runtime() { Shutdown().IgnoreError(); }

Status Runtime::Shutdown() {
  if (!impl_) return Status::Ok();
  impl_->shutdown_requested = true;
  impl_->queue.Wake();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->timeline.Stop();
  return Status::Ok();
}

bool Runtime::is_initialized() const { return impl_ && impl_->running.load(); }

Status Runtime::stop_status() const {
  MutexLock lock(impl_->state_mu);
  return impl_->stop_status;
}

int Runtime::rank() const { return impl_->topology.rank; }
int Runtime::size() const { return impl_->topology.size; }
int Runtime::local_rank() const { return impl_->topology.local_rank; }
int Runtime::local_size() const { return impl_->topology.local_size; }
int Runtime::cross_rank() const { return impl_->topology.cross_rank; }
int Runtime::cross_size() const { return impl_->topology.cross_size; }

std::vector<std::string> Runtime::BuiltTransports() { return collective::BuiltTransports(); }
bool Runtime::MpiBuilt() {
  auto b = collective::BuiltTransports();
  return std::find(b.begin(), b.end(), "mpi") != b.end();
}
bool Runtime::GlooBuilt() { return TransportBuilt("gloo"); }
// True when the NCCL communicator is compiled in (a CUDA libtorch at build time): worlds then get
// a device communicator when a CUDA device is there (transport_registry.cc), and CUDA tensors are
// routed to it.
bool Runtime::NcclBuilt() { return NcclCompiled(); }

Status Runtime::StartTimeline(const std::string& path, bool mark_cycles) {
  std::string p = path;
  size_t pos = p.find("{rank}");
  if (pos == std::string::npos) {
    if (rank() != 0) return Status::Ok();
  } else {
    p.replace(pos, 6, std::to_string(rank()));
  }
  return impl_->timeline.Start(p, mark_cycles);
}

Status Runtime::StopTimeline() {
  impl_->timeline.Stop();
  return Status::Ok();
}

RuntimeStats Runtime::stats() const {
  MutexLock lock(impl_->state_mu);
  RuntimeStats s = impl_->stats;
  s.fused_tensors = impl_->counters.fused_tensors.load();
  s.device_tensors = impl_->counters.device_tensors.load();
  return s;
}

Result<ProcessSetInfo> Runtime::GetProcessSet(ProcessSetId id) const {
  MutexLock lock(impl_->sets_mu);
  auto it = impl_->sets.find(id);
  if (it == impl_->sets.end()) {
    return NotFound("process set " + std::to_string(id) + " is not registered");
  }
  ProcessSetInfo info;
  info.id = id;
  info.ranks = it->second->ranks;
  info.rank = it->second->comm != nullptr ? it->second->comm->rank() : -1;
  return info;
}

std::vector<ProcessSetId> Runtime::ProcessSetIds() const {
  MutexLock lock(impl_->sets_mu);
  std::vector<ProcessSetId> out;
  for (const auto& [id, ps] : impl_->sets) out.push_back(id);
  return out;
}

// --- the background thread ---

Status Runtime::Impl::Control(const Response& r, Slot& slot) {
  internal::HandleState* h = slot.entry != nullptr ? slot.entry->handle.get() : nullptr;
  switch (r.type) {
    case OpType::kJoin:
      if (h != nullptr) h->value = r.last_joined_rank;
      return Status::Ok();
    case OpType::kAddProcessSet: {
      // Every rank executes this at the same point of set 0's cycle, so the set exists from here
      // on everywhere (members start coordinating it in this very cycle, after set 0).
      std::vector<int> ranks(r.ranks.begin(), r.ranks.end());
      for (const auto& [id, other] : sets) {
        if (other->ranks == ranks) {
          slot.status = AlreadyExists("process set " + RanksText(ranks) +
                                      " already exists with id " + std::to_string(id));
          return Status::Ok();
        }
      }
      ProcessSetId id = next_set_id++;
      ASSIGN_OR_RETURN(auto created, MakeProcessSet(id, ranks));
      {
        MutexLock lock(sets_mu);
        sets[id] = std::move(created);
      }
      if (h != nullptr) h->value = id;
      return Status::Ok();
    }
    case OpType::kRemoveProcessSet: {
      ProcessSetId id = r.ranks.empty() ? -1 : r.ranks.front();
      if (id == kGlobalProcessSet) {
        slot.status = InvalidArgument("the global process set cannot be removed");
        return Status::Ok();
      }
      auto it = sets.find(id);
      if (it == sets.end()) {
        slot.status = NotFound("process set " + std::to_string(id) + " is not registered");
        return Status::Ok();
      }
      {
        MutexLock lock(sets_mu);
        dropped.push_back(it->second);
        sets.erase(it);
      }
      for (TensorEntry& e : queue.TakeAll(id)) {
        e.handle->Complete(Status(StatusCode::kCanceled, "process set " + std::to_string(id) +
                                                             " was removed while '" +
                                                             e.request.name + "' was pending"));
      }
      return Status::Ok();
    }
    default: return Internal(std::string("unexpected control response ") + OpTypeName(r.type));
  }
}

void Runtime::Impl::Stop(const Status& why) {
  {
    MutexLock lock(state_mu);
    stop_status = why;
  }
  running = false;
  Status closed =
      FailedPrecondition("the collective runtime is not running (" + why.message() + ")");
  for (TensorEntry& e : queue.Close(closed)) e.handle->Complete(why);
  MutexLock lock(sets_mu);
  // Sub-communicators go before the world communicator they came from.
  for (auto it = sets.rbegin(); it != sets.rend(); ++it) {
    it->second->controller.reset();
    it->second->device_owned.reset();
    it->second->owned.reset();
  }
}

void Runtime::Impl::Loop() {
  // How long to wait before the next cycle: not at all after a cycle that executed something while
  // more is pending; 50 us while this rank has requests the others have not submitted yet (so that
  // it is back in the coordination step soon after they do, without spinning when all ranks wait);
  // a whole cycle time when idle. New work always wakes the thread at once.
  constexpr int64_t kPendingPollMicros = 50;
  const int64_t cycle_micros = static_cast<int64_t>(config.cycle_time_ms * 1000.0);
  // After a cycle that executed something, the next request of a training loop usually follows
  // within microseconds: poll for it briefly instead of paying a futex wake-up.
  constexpr int64_t kAfterProgressPollMicros = 50;
  int64_t wait_until = MonotonicMicros();
  int64_t poll = 0;
  Status why;
  bool stop = false;
  while (!stop) {
    queue.WaitForWork(wait_until, poll);
    const int64_t start = MonotonicMicros();
    timeline.MarkCycle();
    bool progress = false;
    bool busy = false;
    for (auto& [id, ps] : sets) {
      if (ps->controller == nullptr) continue;
      Controller::Input in;
      in.new_requests = queue.PopNew(id);
      if (id == kGlobalProcessSet) {
        if (shutdown_requested) {
          in.shutdown = true;
          in.shutdown_reason = "rank " + std::to_string(topology.rank) + " called Shutdown";
        } else if (!pending_shutdown_reason.empty()) {
          in.shutdown = true;
          in.shutdown_reason = pending_shutdown_reason;
        }
      }
      Result<Controller::Output> out = ps->controller->RunCycle(std::move(in));
      if (!out.ok()) {
        why = Unavailable("collective runtime stopped: " + out.status().message());
        stop = true;
        break;
      }
      progress = progress || !out->responses.empty();
      {
        // Before executing, so that a caller woken by its handle sees this cycle counted.
        MutexLock lock(state_mu);
        const Controller::Stats& c = ps->controller->stats();
        stats.cycles += c.cycles - ps->last_stats.cycles;
        stats.negotiations += c.negotiations - ps->last_stats.negotiations;
        stats.cached_responses += c.cached_responses - ps->last_stats.cached_responses;
        stats.negotiated_responses += c.negotiated_responses - ps->last_stats.negotiated_responses;
        ps->last_stats = c;
      }
      OpContext ctx;
      ctx.comm = ps->comm;
      ctx.device_comm = ps->device_comm;
      ctx.ranks = &ps->ranks;
      ctx.fusion_buffer = &fusion_buffer;
      ctx.timeline = &timeline;
      ctx.scratch = &scratch;
      Status st = ExecuteResponses(
          ctx, ps->policy, id, queue, out->responses,
          [&](const Response& r, Slot& s) { return Control(r, s); }, &counters);
      if (!st.ok()) {
        why = Unavailable("collective runtime stopped: " + st.message());
        stop = true;
        break;
      }
      if (out->shutdown) {
        if (id == kGlobalProcessSet) {
          bool stalled = out->shutdown_reason.rfind("stalled", 0) == 0;
          why = stalled ? Timeout("collective runtime shut down: " + out->shutdown_reason)
                        : Status(StatusCode::kCanceled,
                                 "collective runtime shut down (" + out->shutdown_reason + ")");
          stop = true;
          break;
        }
        if (pending_shutdown_reason.empty()) pending_shutdown_reason = out->shutdown_reason;
      }
      if (ps->controller->pending() > 0) busy = true;
    }
    dropped.clear();
    poll = progress ? kAfterProgressPollMicros : 0;
    if (!pending_shutdown_reason.empty() || (progress && busy)) {
      wait_until = start;
    } else if (busy) {
      wait_until = MonotonicMicros() + std::min(kPendingPollMicros, cycle_micros);
    } else {
      wait_until = start + cycle_micros;
    }
  }
  Stop(why);
}

}  // namespace trainyard::collective
