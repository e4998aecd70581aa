#include "collective/transport/mpi/mpi_world.h"

#include <unistd.h>

#include <cstdlib>
#include <limits>
#include <mutex>

#include "collective/reduce.h"
#include "collective/transport/mpi/mpi_communicator.h"
#include "common/process.h"

namespace trainyard::collective {
namespace {

void FinalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

template <DataType kType, ReduceOp kOp>
void HalfReduce(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  ReduceInto(inout, in, *len, kType, kOp);
}

template <DataType kType>
Status CreateHalfOps(MPI_Op (&ops)[4]) {
  MPI_User_function* fns[4] = {HalfReduce<kType, ReduceOp::kSum>, HalfReduce<kType, ReduceOp::kMin>,
                               HalfReduce<kType, ReduceOp::kMax>,
                               HalfReduce<kType, ReduceOp::kProduct>};
  for (int i = 0; i < 4; ++i) {
    int rc = MPI_Op_create(fns[i], /*commute=*/1, &ops[i]);
    if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Op_create");
  }
  return Status::Ok();
}

}  // namespace

Result<World> CreateMpiWorld(const Config& config) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    int required = config.mpi_threads_disable ? MPI_THREAD_SERIALIZED : MPI_THREAD_MULTIPLE;
    int rc = MPI_Init_thread(nullptr, nullptr, required, &provided);
    if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Init_thread");
    static std::once_flag registered;
    std::call_once(registered, [] { std::atexit(FinalizeAtExit); });
  } else {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return Unavailable("MPI was already finalized in this process");
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    return Unavailable("MPI provides thread level " + std::to_string(provided) +
                       "; the collective runtime needs at least MPI_THREAD_SERIALIZED");
  }

  MPI_Comm comm;
  int rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);

  World world;
  Topology& t = world.topology;
  MPI_Comm_rank(comm, &t.rank);
  MPI_Comm_size(comm, &t.size);
  MPI_Comm local;
  rc = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, t.rank, MPI_INFO_NULL, &local);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_split_type");
  // In a trainyard run each rank knows its node (GROUP_RANK): a local target that simulates
  // several nodes on one machine gives them different ones, and local ranks follow them (as
  // LOCAL_RANK does). On real hosts the ranks of a host share their node: nothing changes.
  const char* group = std::getenv("GROUP_RANK");
  if (group != nullptr && std::getenv("TRAINYARD_RUN_ID") != nullptr) {
    char* end = nullptr;
    long node = std::strtol(group, &end, 10);
    if (end != group && *end == '\0' && node >= 0 && node <= std::numeric_limits<int>::max()) {
      MPI_Comm by_node;
      rc = MPI_Comm_split(local, static_cast<int>(node), t.rank, &by_node);
      if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_split");
      MPI_Comm_free(&local);
      local = by_node;
    }
  }
  MPI_Comm_rank(local, &t.local_rank);
  MPI_Comm_size(local, &t.local_size);
  int host = t.rank;  // a host is named by its lowest world rank
  MPI_Allreduce(MPI_IN_PLACE, &host, 1, MPI_INT, MPI_MIN, local);
  MPI_Comm_free(&local);
  MPI_Comm cross;
  rc = MPI_Comm_split(comm, t.local_rank, t.rank, &cross);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_split");
  MPI_Comm_rank(cross, &t.cross_rank);
  MPI_Comm_size(cross, &t.cross_size);
  MPI_Comm_free(&cross);

  auto shared = std::make_shared<MpiShared>();
  shared->world_rank = t.rank;
  if (const char* chunk = std::getenv("TRAINYARD_MPI_CHUNK_BYTES")) {
    long long v = std::atoll(chunk);
    if (v > 0) shared->chunk_bytes = v;
  }
  struct PeerInfo {
    int64_t host;
    int64_t pid;
    int64_t start_ticks;
  } mine{host, static_cast<int64_t>(getpid()), static_cast<int64_t>(ProcessStartTicks(getpid()))};
  std::vector<PeerInfo> peers(static_cast<size_t>(t.size));
  rc = MPI_Allgather(&mine, 3, MPI_INT64_T, peers.data(), 3, MPI_INT64_T, comm);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Allgather");
  for (const PeerInfo& p : peers) {
    shared->host_of.push_back(static_cast<int>(p.host));
    shared->pid.push_back(static_cast<pid_t>(p.pid));
    shared->start_ticks.push_back(static_cast<unsigned long long>(p.start_ticks));
  }
  RETURN_IF_ERROR(CreateHalfOps<DataType::kFloat16>(shared->half_ops[0]));
  RETURN_IF_ERROR(CreateHalfOps<DataType::kBFloat16>(shared->half_ops[1]));

  std::vector<int> all(static_cast<size_t>(t.size));
  for (int i = 0; i < t.size; ++i) all[static_cast<size_t>(i)] = i;
  world.comm = std::make_unique<MpiCommunicator>(comm, std::move(shared), std::move(all));
  return world;
}

}  // namespace trainyard::collective
