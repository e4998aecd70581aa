#include "collective/transport/c10d/gloo_world.h"

// c10d's Gloo header is only visible with USE_C10D_GLOO (set by CMake for this target).
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "collective/transport/c10d/c10d_communicator.h"

#if TRAINYARD_GLOO_DIRECT
#include <gloo/allgather.h>
#include <gloo/allreduce.h>

#include <cstring>

#include "collective/reduce.h"
#endif

namespace trainyard::collective {
namespace {

#if TRAINYARD_GLOO_DIRECT
// ProcessGroupGloo with its Gloo context exposed.
class GlooGroup final : public ::c10d::ProcessGroupGloo {
 public:
  using ProcessGroupGloo::ProcessGroupGloo;
  std::shared_ptr<::gloo::Context> context() const { return contexts_.front(); }
};

// Allreduces (the coordination step of every cycle, and the data) run Gloo's own allreduce
// algorithm on the group's context, on the calling thread, instead of being queued to the group's
// worker thread and waited for: that hand-off costs two thread wake-ups per operation, paid twice
// per synchronous allreduce (coordination, data). The element-wise kernel is the runtime's
// ReduceInto (the one the MPI transport plugs into MPI_Op), which also reduces float16 and
// bfloat16. Everything else goes through c10d (C10dCommunicator). Tags of these calls count down
// from 2^32 - 1, far from c10d's own (which count up from 0), so the two never share a Gloo slot.
class GlooCommunicator final : public C10dCommunicator {
 public:
  GlooCommunicator(c10::intrusive_ptr<C10dGroup> group, std::shared_ptr<C10dShared> shared,
                   std::vector<int> world_ranks, std::string prefix,
                   std::chrono::milliseconds timeout)
      : C10dCommunicator(group, std::move(shared), std::move(world_ranks), std::move(prefix)),
        context_(dynamic_cast<GlooGroup&>(*group).context()),
        timeout_(timeout) {}

  // The coordination step as an allgather of every rank's words, ANDed here: Gloo's ring
  // allgather takes size - 1 message steps, its ring allreduce 2 * (size - 1), and each step costs
  // a TCP round of thread wake-ups (~50-100 us on an idle VM), so this halves what every cycle
  // adds before its data.
  Status AllreduceBitsAnd(uint64_t* words, size_t count) override {
    if (size() == 1 || count == 0) return Status::Ok();
    gathered_.resize(count * static_cast<size_t>(size()));
    RETURN_IF_ERROR(Call("allgather (coordination)", [&] {
      ::gloo::AllgatherOptions opts(context_);
      opts.setInput(words, count);
      opts.setOutput(gathered_.data(), gathered_.size());
      opts.setTag(next_tag_--);
      opts.setTimeout(timeout_);
      ::gloo::allgather(opts);
    }));
    for (size_t r = 0; r < static_cast<size_t>(size()); ++r) {
      for (size_t i = 0; i < count; ++i) words[i] &= gathered_[r * count + i];
    }
    return Status::Ok();
  }

  Status Allreduce(const void* in, void* out, int64_t count, DataType dtype, ReduceOp op) override {
    if (count == 0) return Status::Ok();
    const size_t esize = DataTypeSize(dtype);
    if (in != out) std::memcpy(out, in, static_cast<size_t>(count) * esize);
    return Call("allreduce", [&] {
      ::gloo::AllreduceOptions opts(context_);
      // Gloo only needs the element size (for segmenting) from the type.
      switch (esize) {
        case 1: opts.setOutput(static_cast<uint8_t*>(out), static_cast<size_t>(count)); break;
        case 2: opts.setOutput(static_cast<uint16_t*>(out), static_cast<size_t>(count)); break;
        case 4: opts.setOutput(static_cast<uint32_t*>(out), static_cast<size_t>(count)); break;
        default: opts.setOutput(static_cast<uint64_t*>(out), static_cast<size_t>(count)); break;
      }
      opts.setReduceFunction([dtype, op, esize](void* c, const void* a, const void* b, size_t n) {
        // c = a op b; the ops are commutative, so whichever input c aliases can be the target.
        const void* other = b;
        if (c == b) {
          other = a;
        } else if (c != a) {
          std::memcpy(c, a, n * esize);
        }
        ReduceInto(c, other, static_cast<int64_t>(n), dtype, op);
      });
      opts.setTag(next_tag_--);
      opts.setTimeout(timeout_);
      ::gloo::allreduce(opts);
    });
  }

 private:
  std::shared_ptr<::gloo::Context> context_;
  std::chrono::milliseconds timeout_;
  uint32_t next_tag_ = 0xFFFFFFFFu;
  std::vector<uint64_t> gathered_;  // the coordination allgather's output, reused
};
#else
using GlooGroup = ::c10d::ProcessGroupGloo;
#endif

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::shared_ptr<::gloo::transport::Device> CreateDevice() {
  for (const char* var : {"GLOO_SOCKET_IFNAME", "HOROVOD_GLOO_IFACE"}) {
    const char* iface = std::getenv(var);
    if (iface != nullptr && *iface != '\0') {
      return ::c10d::ProcessGroupGloo::createDeviceForInterface(iface);
    }
  }
  return ::c10d::ProcessGroupGloo::createDefaultDevice();
}

// Local and cross ranks from every rank's host name and LOCAL_RANK (-1 when unset).
Topology TopologyOf(int rank, const std::vector<std::string>& hosts,
                    const std::vector<int>& env_local_ranks, int env_local_size) {
  const int size = static_cast<int>(hosts.size());
  std::vector<int> local_rank(static_cast<size_t>(size));
  std::map<std::string, int> seen;
  for (int r = 0; r < size; ++r) {
    const size_t i = static_cast<size_t>(r);
    const int derived = seen[hosts[i]]++;
    local_rank[i] = env_local_ranks[i] >= 0 ? env_local_ranks[i] : derived;
  }
  Topology t;
  t.rank = rank;
  t.size = size;
  t.local_rank = local_rank[static_cast<size_t>(rank)];
  t.local_size = env_local_size > 0 ? env_local_size : seen[hosts[static_cast<size_t>(rank)]];
  t.cross_rank = 0;
  t.cross_size = 0;
  for (int r = 0; r < size; ++r) {
    if (local_rank[static_cast<size_t>(r)] != t.local_rank) continue;
    if (r < rank) ++t.cross_rank;
    ++t.cross_size;
  }
  return t;
}

// Rank 0's rendezvous server for each (address, port, size), kept for the life of the process,
// and how many worlds each rank started there. Ranks that shut the runtime down and init again
// would otherwise race: a rank quicker than rank 0 could reach rank 0's previous TCPStore while it
// is being destroyed. So rank 0's server stays up (other ranks connect anew each time), and every
// init is a new generation under its own key prefix ("trainyard/<generation>/..."): every rank
// counts every init, failed or not. Deliberately never destroyed (a TCPStore server owns a
// thread; destroying it during exit would race with the process's end).
struct Rendezvous {
  c10::intrusive_ptr<::c10d::Store> server;  // rank 0 only
  int generation = 0;
};
std::mutex rendezvous_mu;
std::map<std::string, Rendezvous>& RendezvousByAddress() {
  static auto* stores = new std::map<std::string, Rendezvous>();
  return *stores;
}

}  // namespace

Result<World> CreateGlooWorld(const Config& config, const LaunchEnv& env) {
  if (!env.torch) {
    return Unavailable(
        "the Gloo transport needs torch.distributed's environment: RANK and WORLD_SIZE (and "
        "MASTER_ADDR, MASTER_PORT) are not set");
  }
  if (env.rendezvous_addr.empty() || env.rendezvous_port == 0) {
    return Unavailable(
        "the Gloo transport needs a rendezvous address: set MASTER_ADDR and MASTER_PORT (the "
        "runtime uses MASTER_PORT + 1), or HOROVOD_GLOO_RENDEZVOUS_ADDR and "
        "HOROVOD_GLOO_RENDEZVOUS_PORT");
  }
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.gloo_timeout_seconds * 1000.0));
  const std::string where = env.rendezvous_addr + ":" + std::to_string(env.rendezvous_port);
  const std::string who = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.size);
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%g", config.gloo_timeout_seconds);

  auto shared = std::make_shared<C10dShared>();
  shared->name = "GLOO";
  std::lock_guard<std::mutex> rendezvous_lock(rendezvous_mu);
  Rendezvous& rendezvous = RendezvousByAddress()[where + "/" + std::to_string(env.rank) + "/" +
                                                 std::to_string(env.size)];
  const std::string generation = "trainyard/" + std::to_string(rendezvous.generation++);
  c10::intrusive_ptr<::c10d::Store> store = rendezvous.server;
  if (store) {
    store->setTimeout(timeout);
  } else {
    RETURN_IF_ERROR(C10dCall("Gloo rendezvous: " + who + " could not " +
                                 (env.rank == 0 ? "host" : "reach") + " the TCPStore at " + where +
                                 " within " + seconds + " s (HOROVOD_GLOO_TIMEOUT_SECONDS)",
                             [&] {
                               ::c10d::TCPStoreOptions options;
                               options.port = static_cast<std::uint16_t>(env.rendezvous_port);
                               options.isServer = env.rank == 0;
                               options.numWorkers = static_cast<std::size_t>(env.size);
                               // The world's process group below is the barrier; waiting here would
                               // only duplicate it.
                               options.waitWorkers = false;
                               options.timeout = timeout;
                               store = c10::make_intrusive<::c10d::TCPStore>(env.rendezvous_addr,
                                                                             options);
                             }));
    if (env.rank == 0) rendezvous.server = store;
  }
  // After a failure the server may be unusable: rank 0 starts a new one next time.
  auto forget_store = [&] { rendezvous.server.reset(); };
  shared->store = store;

  // Host names (and LOCAL_RANK) of every rank.
  std::vector<int> env_local_ranks(static_cast<size_t>(env.size), -1);
  Status met = C10dCall(
      "Gloo rendezvous at " + where + ": " + who + " did not hear from every rank within " +
          seconds + " s (HOROVOD_GLOO_TIMEOUT_SECONDS)",
      [&] {
        const std::string mine = std::to_string(env.local_rank) + " " + HostName();
        store->set(generation + "/host/" + std::to_string(env.rank),
                   std::vector<uint8_t>(mine.begin(), mine.end()));
        for (int r = 0; r < env.size; ++r) {
          std::vector<uint8_t> v = store->get(generation + "/host/" + std::to_string(r));
          std::string s(v.begin(), v.end());
          size_t space = s.find(' ');
          env_local_ranks[static_cast<size_t>(r)] = std::atoi(s.substr(0, space).c_str());
          shared->hosts.push_back(space == std::string::npos ? s : s.substr(space + 1));
        }
      });
  if (!met.ok()) {
    forget_store();
    return met;
  }

  shared->make_group = [timeout](const c10::intrusive_ptr<::c10d::Store>& group_store, int rank,
                                 int size) -> c10::intrusive_ptr<C10dGroup> {
    auto options = ::c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(CreateDevice());
    return c10::make_intrusive<GlooGroup>(group_store, rank, size, options);
  };
#if TRAINYARD_GLOO_DIRECT
  shared->make_communicator = [timeout](c10::intrusive_ptr<C10dGroup> group,
                                        std::shared_ptr<C10dShared> s, std::vector<int> ranks,
                                        std::string p) -> std::unique_ptr<Communicator> {
    return std::make_unique<GlooCommunicator>(std::move(group), std::move(s), std::move(ranks),
                                              std::move(p), timeout);
  };
#endif
  c10::intrusive_ptr<C10dGroup> group;
  const std::string prefix = generation + "/world";
  Status connected = C10dCall(
      "Gloo rendezvous at " + where + ": " + who + " could not connect to every rank within " +
          seconds + " s (HOROVOD_GLOO_TIMEOUT_SECONDS)",
      [&] {
        auto world_store = c10::make_intrusive<::c10d::PrefixStore>(prefix, store);
        group = shared->make_group(world_store, env.rank, env.size);
      });
  if (!connected.ok()) {
    forget_store();
    return connected;
  }

  World world;
  world.topology = TopologyOf(env.rank, shared->hosts, env_local_ranks, env.local_size);
  std::vector<int> all(static_cast<size_t>(env.size));
  for (int i = 0; i < env.size; ++i) all[static_cast<size_t>(i)] = i;
#if TRAINYARD_GLOO_DIRECT
  world.comm = shared->make_communicator(std::move(group), shared, std::move(all), prefix);
#else
  world.comm = std::make_unique<C10dCommunicator>(std::move(group), std::move(shared),
                                                  std::move(all), prefix);
#endif
  return world;
}

}  // namespace trainyard::collective
