#include "collective/transport/inproc/inproc_world.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "collective/reduce.h"
#include "common/mutex.h"

namespace trainyard::collective {

// The ranks of one communicator meet here.
struct Group {
  std::vector<int> members;  // world ranks, by rank in the group
  Mutex mu;
  CondVar cv;
  uint64_t generation TY_GUARDED_BY(mu) = 0;
  int arrived TY_GUARDED_BY(mu) = 0;
  std::vector<const void*> slots;
  bool dead TY_GUARDED_BY(mu) = false;
  std::string why TY_GUARDED_BY(mu);
};

struct InProcWorld::State {
  int size = 0;
  std::vector<int> hosts;
  Mutex mu;
  std::vector<std::weak_ptr<Group>> groups TY_GUARDED_BY(mu);
  std::map<std::pair<const Group*, uint64_t>, std::shared_ptr<Group>> splits TY_GUARDED_BY(mu);
  std::vector<bool> killed TY_GUARDED_BY(mu);

  std::shared_ptr<Group> NewGroup(std::vector<int> members) TY_REQUIRES(mu) {
    auto g = std::make_shared<Group>();
    g->members = std::move(members);
    g->slots.assign(g->members.size(), nullptr);
    MutexLock glock(g->mu);  // not shared yet; taken for the analysis (no contention)
    for (size_t i = 0; i < g->members.size(); ++i) {
      if (killed[static_cast<size_t>(g->members[i])]) {
        g->dead = true;
        g->why = "rank " + std::to_string(g->members[i]) + " died";
      }
    }
    groups.push_back(g);
    return g;
  }
};

namespace {

class InProcCommunicator : public Communicator {
 public:
  InProcCommunicator(std::shared_ptr<InProcWorld::State> world, std::shared_ptr<Group> group,
                     int rank)
      : world_(std::move(world)), group_(std::move(group)), rank_(rank) {
    int host = world_->hosts[static_cast<size_t>(group_->members.front())];
    one_host_ = std::all_of(group_->members.begin(), group_->members.end(),
                            [&](int r) { return world_->hosts[static_cast<size_t>(r)] == host; });
  }

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(group_->members.size()); }
  const char* transport_name() const override { return "INPROC"; }
  bool all_on_one_host() const override { return one_host_; }

  Status AllreduceBitsAnd(uint64_t* words, size_t count) override {
    std::vector<uint64_t> mine(words, words + count);
    return Exchange(&mine, [&](const std::vector<const void*>& all) {
      for (size_t w = 0; w < count; ++w) {
        uint64_t v = ~uint64_t{0};
        for (const void* p : all) v &= (*static_cast<const std::vector<uint64_t>*>(p))[w];
        words[w] = v;
      }
    });
  }

  Status GatherBytes(const std::string& mine, std::vector<std::string>* all) override {
    all->clear();
    return Exchange(&mine, [&](const std::vector<const void*>& slots) {
      if (rank_ != 0) return;
      for (const void* p : slots) all->push_back(*static_cast<const std::string*>(p));
    });
  }

  Status BroadcastBytes(std::string* bytes) override {
    return Exchange(bytes, [&](const std::vector<const void*>& slots) {
      if (rank_ != 0) *bytes = *static_cast<const std::string*>(slots[0]);
    });
  }

  Status AllgatherInt64(int64_t mine, std::vector<int64_t>* all) override {
    return Exchange(&mine, [&](const std::vector<const void*>& slots) {
      all->clear();
      for (const void* p : slots) all->push_back(*static_cast<const int64_t*>(p));
    });
  }

  Status AlltoallInt64(const std::vector<int64_t>& send, std::vector<int64_t>* recv) override {
    return Exchange(&send, [&](const std::vector<const void*>& slots) {
      recv->clear();
      for (const void* p : slots) {
        recv->push_back((*static_cast<const std::vector<int64_t>*>(p))[static_cast<size_t>(rank_)]);
      }
    });
  }

  Status Allreduce(const void* in, void* out, int64_t count, DataType dtype, ReduceOp op) override {
    const size_t bytes = static_cast<size_t>(count) * DataTypeSize(dtype);
    if (size() == 1) {
      // A world of one (hvd.init() in a plain `python train.py`): the result is the input.
      if (in != out && bytes > 0) std::memmove(out, in, bytes);
      return Status::Ok();
    }
    std::vector<std::byte> mine(bytes);
    if (bytes > 0) std::memcpy(mine.data(), in, bytes);
    const void* slot = mine.data();
    return Exchange(slot, [&](const std::vector<const void*>& all) {
      if (bytes == 0) return;
      std::memcpy(out, all[0], bytes);
      for (size_t i = 1; i < all.size(); ++i) ReduceInto(out, all[i], count, dtype, op);
    });
  }

  Status Allgatherv(const void* in, void* out, const std::vector<int64_t>& counts,
                    DataType dtype) override {
    const size_t esize = DataTypeSize(dtype);
    return Exchange(in, [&](const std::vector<const void*>& all) {
      size_t offset = 0;
      for (size_t i = 0; i < all.size(); ++i) {
        size_t n = static_cast<size_t>(counts[i]) * esize;
        if (n > 0) std::memcpy(static_cast<char*>(out) + offset, all[i], n);
        offset += n;
      }
    });
  }

  Status Broadcast(void* data, int64_t count, DataType dtype, int root) override {
    const size_t bytes = static_cast<size_t>(count) * DataTypeSize(dtype);
    return Exchange(data, [&](const std::vector<const void*>& all) {
      if (rank_ != root && bytes > 0) std::memcpy(data, all[static_cast<size_t>(root)], bytes);
    });
  }

  Status Alltoallv(const void* in, const std::vector<int64_t>& send_counts, void* out,
                   const std::vector<int64_t>& recv_counts, DataType dtype) override {
    struct Part {
      const void* data;
      const std::vector<int64_t>* counts;
    } mine{in, &send_counts};
    const size_t esize = DataTypeSize(dtype);
    return Exchange(&mine, [&](const std::vector<const void*>& all) {
      size_t out_offset = 0;
      for (size_t i = 0; i < all.size(); ++i) {
        const Part& p = *static_cast<const Part*>(all[i]);
        size_t in_offset = 0;
        for (int j = 0; j < rank_; ++j)
          in_offset += static_cast<size_t>((*p.counts)[static_cast<size_t>(j)]);
        size_t n = static_cast<size_t>(recv_counts[i]) * esize;
        if (n > 0) {
          std::memcpy(static_cast<char*>(out) + out_offset,
                      static_cast<const char*>(p.data) + in_offset * esize, n);
        }
        out_offset += n;
      }
    });
  }

  Status ReduceScatter(const void* in, void* out, const std::vector<int64_t>& counts,
                       DataType dtype, ReduceOp op) override {
    const size_t esize = DataTypeSize(dtype);
    size_t offset = 0;
    for (int j = 0; j < rank_; ++j) offset += static_cast<size_t>(counts[static_cast<size_t>(j)]);
    const int64_t n = counts[static_cast<size_t>(rank_)];
    return Exchange(in, [&](const std::vector<const void*>& all) {
      if (n == 0) return;
      std::memcpy(out, static_cast<const char*>(all[0]) + offset * esize,
                  static_cast<size_t>(n) * esize);
      for (size_t i = 1; i < all.size(); ++i) {
        ReduceInto(out, static_cast<const char*>(all[i]) + offset * esize, n, dtype, op);
      }
    });
  }

  Status Barrier() override {
    return Exchange(nullptr, [](const std::vector<const void*>&) {});
  }

  Result<std::unique_ptr<Communicator>> Split(const std::vector<int>& members) override {
    const uint64_t seq = splits_++;
    bool agree = true;
    RETURN_IF_ERROR(Exchange(&members, [&](const std::vector<const void*>& all) {
      for (const void* p : all)
        agree = agree && *static_cast<const std::vector<int>*>(p) == members;
    }));
    if (!agree) return InvalidArgument("in-process split: ranks passed different member lists");
    auto me = std::find(members.begin(), members.end(), rank_);
    if (me == members.end()) return std::unique_ptr<Communicator>();
    std::shared_ptr<Group> g;
    {
      MutexLock lock(world_->mu);
      auto& slot = world_->splits[{group_.get(), seq}];
      if (slot == nullptr) {
        std::vector<int> world_ranks;
        for (int m : members) world_ranks.push_back(group_->members[static_cast<size_t>(m)]);
        slot = world_->NewGroup(std::move(world_ranks));
      }
      g = slot;
    }
    return std::unique_ptr<Communicator>(
        new InProcCommunicator(world_, g, static_cast<int>(me - members.begin())));
  }

 private:
  // Deposits `mine`, waits for every rank, runs `compute` over all deposits, and waits again.
  template <typename F>
  Status Exchange(const void* mine, F compute) {
    RETURN_IF_ERROR(Arrive(mine));
    compute(group_->slots);
    return Arrive(nullptr);
  }

  Status Arrive(const void* mine) {
    Group& g = *group_;
    MutexLock lock(g.mu);
    if (g.dead) return Unavailable("in-process transport: " + g.why);
    const uint64_t gen = g.generation;
    if (mine != nullptr) g.slots[static_cast<size_t>(rank_)] = mine;
    if (++g.arrived == static_cast<int>(g.members.size())) {
      g.arrived = 0;
      ++g.generation;
      g.cv.NotifyAll();
      return Status::Ok();
    }
    g.cv.Wait(lock, [&]() TY_REQUIRES(g.mu) { return g.generation != gen || g.dead; });
    if (g.generation == gen) return Unavailable("in-process transport: " + g.why);
    return Status::Ok();
  }

  std::shared_ptr<InProcWorld::State> world_;
  std::shared_ptr<Group> group_;
  int rank_;
  bool one_host_ = true;
  uint64_t splits_ = 0;
};

}  // namespace

InProcWorld::InProcWorld(int size, std::vector<int> hosts) : state_(std::make_shared<State>()) {
  state_->size = size;
  state_->hosts = hosts.empty() ? std::vector<int>(static_cast<size_t>(size), 0) : std::move(hosts);
  std::vector<int> all(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) all[static_cast<size_t>(i)] = i;
  MutexLock lock(state_->mu);
  state_->killed.assign(static_cast<size_t>(size), false);
  state_->splits[{nullptr, 0}] = state_->NewGroup(all);
}

InProcWorld::~InProcWorld() = default;

int InProcWorld::size() const { return state_->size; }

World InProcWorld::Connect(int rank) {
  std::shared_ptr<Group> world_group;
  {
    MutexLock lock(state_->mu);
    world_group = state_->splits.at({nullptr, 0});
  }
  World w;
  w.comm = std::make_unique<InProcCommunicator>(state_, world_group, rank);
  const auto& hosts = state_->hosts;
  Topology& t = w.topology;
  t.rank = rank;
  t.size = state_->size;
  t.local_rank = 0;
  t.local_size = 0;
  for (int r = 0; r < state_->size; ++r) {
    if (hosts[static_cast<size_t>(r)] != hosts[static_cast<size_t>(rank)]) continue;
    if (r < rank) ++t.local_rank;
    ++t.local_size;
  }
  // cross: ranks with the same local rank, one per host, ordered by their first rank.
  t.cross_rank = 0;
  t.cross_size = 0;
  for (int r = 0; r < state_->size; ++r) {
    int lr = 0;
    for (int q = 0; q < r; ++q)
      lr += hosts[static_cast<size_t>(q)] == hosts[static_cast<size_t>(r)];
    if (lr != t.local_rank) continue;
    if (r < rank) ++t.cross_rank;
    ++t.cross_size;
  }
  return w;
}

void InProcWorld::Kill(int rank) {
  MutexLock lock(state_->mu);
  state_->killed[static_cast<size_t>(rank)] = true;
  for (auto& weak : state_->groups) {
    std::shared_ptr<Group> g = weak.lock();
    if (g == nullptr) continue;
    if (std::find(g->members.begin(), g->members.end(), rank) == g->members.end()) continue;
    MutexLock glock(g->mu);
    g->dead = true;
    g->why = "rank " + std::to_string(rank) + " died";
    g->cv.NotifyAll();
  }
}

}  // namespace trainyard::collective
