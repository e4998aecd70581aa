// The in-process transport: N ranks that are threads of one process, for tests.
//
// Like gloo's tests, the runtime's protocol and operations are exercised with real concurrency
// and no processes: create an InProcWorld of N ranks, hand World i to the thread that plays rank
// i, and pass it to Runtime::Init through InitOptions::world. Collectives are rendezvous: every
// rank deposits a pointer to its contribution, waits for the others, computes its own result from
// all contributions, and waits again so the contributions stay valid while others read them.
// Reductions apply ranks in rank order on every rank, so results are identical everywhere.
//
// Kill(rank) simulates a dead process: every collective of a group containing that rank (in
// progress or later) fails with Unavailable on all of its ranks.
//
// Thread-safety: InProcWorld is safe to use from any thread; each World (and communicators split
// from it) belongs to the thread that plays its rank. The InProcWorld must outlive every World.
#pragma once

#include <memory>
#include <vector>

#include "collective/communicator.h"

namespace trainyard::collective {

class InProcWorld {
 public:
  // `hosts[i]` is the host id of rank i (default: all ranks on one host).
  explicit InProcWorld(int size, std::vector<int> hosts = {});
  ~InProcWorld();
  InProcWorld(const InProcWorld&) = delete;
  InProcWorld& operator=(const InProcWorld&) = delete;

  int size() const;
  // The world of rank `rank`; call once per rank.
  World Connect(int rank);
  void Kill(int rank);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace trainyard::collective
