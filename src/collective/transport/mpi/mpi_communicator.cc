#include "collective/transport/mpi/mpi_communicator.h"

#include <sched.h>

#include <algorithm>
#include <climits>

#include "collective/reduce.h"
#include "common/clock.h"
#include "common/process.h"

namespace trainyard::collective {
namespace {

constexpr int64_t kSpinMicros = 50;
constexpr int64_t kYieldMicros = 2000;
constexpr int64_t kSleepMicros = 50;
constexpr int64_t kPeerCheckMicros = 200'000;

bool MpiFinalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

int OpIndex(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin: return 1;
    case ReduceOp::kMax: return 2;
    case ReduceOp::kProduct: return 3;
    default: return 0;
  }
}

Status CheckCounts(const std::vector<int64_t>& counts, std::vector<int>* ints,
                   std::vector<int>* displs, const char* what) {
  int64_t offset = 0;
  for (int64_t c : counts) {
    if (c > INT_MAX || offset > INT_MAX) {
      return InvalidArgument(std::string(what) + ": more than 2^31 elements per rank in one call");
    }
    ints->push_back(static_cast<int>(c));
    displs->push_back(static_cast<int>(offset));
    offset += c;
  }
  return Status::Ok();
}

}  // namespace

Status MpiError(int code, const char* what) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return Unavailable(std::string(what) + " failed: " + std::string(text, static_cast<size_t>(len)));
}

MPI_Datatype MpiType(DataType dtype) {
  switch (dtype) {
    case DataType::kUInt8:
    case DataType::kBool: return MPI_UINT8_T;
    case DataType::kInt8: return MPI_INT8_T;
    case DataType::kInt16: return MPI_INT16_T;
    case DataType::kInt32: return MPI_INT32_T;
    case DataType::kInt64: return MPI_INT64_T;
    case DataType::kFloat16:
    case DataType::kBFloat16: return MPI_UINT16_T;
    case DataType::kFloat32: return MPI_FLOAT;
    case DataType::kFloat64: return MPI_DOUBLE;
  }
  return MPI_BYTE;
}

MpiShared::~MpiShared() {
  if (broken || MpiFinalized()) return;
  for (auto& row : half_ops) {
    for (MPI_Op& op : row) {
      if (op != MPI_OP_NULL && op != MPI_Op{}) MPI_Op_free(&op);
    }
  }
}

Status MpiShared::CheckPeers() const {
  const int my_host = host_of[static_cast<size_t>(world_rank)];
  for (size_t r = 0; r < pid.size(); ++r) {
    if (static_cast<int>(r) == world_rank || host_of[r] != my_host) continue;
    if (!ProcessAlive(pid[r], start_ticks[r])) {
      return Unavailable("rank " + std::to_string(r) + " (pid " + std::to_string(pid[r]) +
                         " on this host) has exited");
    }
  }
  return Status::Ok();
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::shared_ptr<MpiShared> shared,
                                 std::vector<int> world_ranks)
    : comm_(comm), shared_(std::move(shared)), world_ranks_(std::move(world_ranks)) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  int host = shared_->host_of[static_cast<size_t>(world_ranks_.front())];
  one_host_ = std::all_of(world_ranks_.begin(), world_ranks_.end(),
                          [&](int r) { return shared_->host_of[static_cast<size_t>(r)] == host; });
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL && !shared_->broken && !MpiFinalized()) MPI_Comm_free(&comm_);
}

Status MpiCommunicator::Broken(Status status) {
  shared_->broken = true;
  return status;
}

Status MpiCommunicator::Wait(MPI_Request* request, const char* what) {
  const int64_t start = MonotonicMicros();
  int64_t next_check = start + kPeerCheckMicros;
  while (true) {
    int done = 0;
    int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return Broken(MpiError(rc, what));
    if (done) return Status::Ok();
    const int64_t now = MonotonicMicros();
    const int64_t waited = now - start;
    if (waited < kSpinMicros) continue;
    if (waited < kYieldMicros) {
      sched_yield();
    } else {
      SleepMicros(kSleepMicros);
    }
    if (now >= next_check) {
      next_check = now + kPeerCheckMicros;
      Status alive = shared_->CheckPeers();
      if (!alive.ok()) {
        // The request can never complete; abandon it (the runtime stops using MPI).
        return Broken(alive.WithContext(what));
      }
    }
  }
}

MPI_Op MpiCommunicator::OpFor(DataType dtype, ReduceOp op) const {
  if (dtype == DataType::kFloat16 || dtype == DataType::kBFloat16) {
    return shared_->half_ops[dtype == DataType::kFloat16 ? 0 : 1][OpIndex(op)];
  }
  switch (op) {
    case ReduceOp::kMin: return MPI_MIN;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kProduct: return MPI_PROD;
    default: return MPI_SUM;
  }
}

Status MpiCommunicator::AllreduceBitsAnd(uint64_t* words, size_t count) {
  MPI_Request req;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, words, static_cast<int>(count), MPI_UINT64_T, MPI_BAND,
                          comm_, &req);
  if (rc != MPI_SUCCESS) return Broken(MpiError(rc, "MPI_Iallreduce (coordination)"));
  return Wait(&req, "MPI_Iallreduce (coordination)");
}

Status MpiCommunicator::GatherBytes(const std::string& mine, std::vector<std::string>* all) {
  all->clear();
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(rank_ == 0 ? static_cast<size_t>(size_) : 0);
  MPI_Request req;
  int rc = MPI_Igather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, comm_, &req);
  if (rc != MPI_SUCCESS) return Broken(MpiError(rc, "MPI_Igather (coordination)"));
  RETURN_IF_ERROR(Wait(&req, "MPI_Igather (coordination)"));
  std::vector<int> displs;
  std::string buf;
  if (rank_ == 0) {
    int total = 0;
    for (int l : lens) {
      displs.push_back(total);
      total += l;
    }
    buf.resize(static_cast<size_t>(total));
  }
  rc = MPI_Igatherv(mine.data(), len, MPI_CHAR, buf.data(), lens.data(), displs.data(), MPI_CHAR, 0,
                    comm_, &req);
  if (rc != MPI_SUCCESS) return Broken(MpiError(rc, "MPI_Igatherv (coordination)"));
  RETURN_IF_ERROR(Wait(&req, "MPI_Igatherv (coordination)"));
  if (rank_ == 0) {
    for (int i = 0; i < size_; ++i) {
      all->push_back(buf.substr(static_cast<size_t>(displs[static_cast<size_t>(i)]),
                                static_cast<size_t>(lens[static_cast<size_t>(i)])));
    }
  }
  return Status::Ok();
}

Status MpiCommunicator::BroadcastBytes(std::string* bytes) {
  int64_t len = static_cast<int64_t>(bytes->size());
  MPI_Request req;
  int rc = MPI_Ibcast(&len, 1, MPI_INT64_T, 0, comm_, &req);
  if (rc != MPI_SUCCESS) return Broken(MpiError(rc, "MPI_Ibcast (coordination)"));
  RETURN_IF_ERROR(Wait(&req, "MPI_Ibcast (coordination)"));
  bytes->resize(static_cast<size_t>(len));
  if (len == 0) return Status::Ok();
  rc = MPI_Ibcast(bytes->data(), static_cast<int>(len), MPI_CHAR, 0, comm_, &req);
  if (rc != MPI_SUCCESS) return Broken(MpiError(rc, "MPI_Ibcast (coordination)"));
  return Wait(&req, "MPI_Ibcast (coordination)");
}

Status MpiCommunicator::AllgatherInt64(int64_t mine, std::vector<int64_t>* all) {
  all->assign(static_cast<size_t>(size_), 0);
  int rc = MPI_Allgather(&mine, 1, MPI_INT64_T, all->data(), 1, MPI_INT64_T, comm_);
  return rc == MPI_SUCCESS ? Status::Ok() : Broken(MpiError(rc, "MPI_Allgather"));
}

Status MpiCommunicator::AlltoallInt64(const std::vector<int64_t>& send,
                                      std::vector<int64_t>* recv) {
  recv->assign(static_cast<size_t>(size_), 0);
  int rc = MPI_Alltoall(send.data(), 1, MPI_INT64_T, recv->data(), 1, MPI_INT64_T, comm_);
  return rc == MPI_SUCCESS ? Status::Ok() : Broken(MpiError(rc, "MPI_Alltoall"));
}

Status MpiCommunicator::Allreduce(const void* in, void* out, int64_t count, DataType dtype,
                                  ReduceOp op) {
  const int64_t esize = static_cast<int64_t>(DataTypeSize(dtype));
  const int64_t chunk =
      std::min<int64_t>(std::max<int64_t>(shared_->chunk_bytes / esize, 1), INT_MAX);
  const MPI_Datatype type = MpiType(dtype);
  const MPI_Op mop = OpFor(dtype, op);
  for (int64_t done = 0; done < count; done += chunk) {
    const int n = static_cast<int>(std::min(chunk, count - done));
    void* o = static_cast<char*>(out) + done * esize;
    const void* i = in == out ? MPI_IN_PLACE : static_cast<const char*>(in) + done * esize;
    int rc = MPI_Allreduce(i, o, n, type, mop, comm_);
    if (rc != MPI_SUCCESS) return Broken(MpiError(rc, "MPI_Allreduce"));
  }
  return Status::Ok();
}

Status MpiCommunicator::Allgatherv(const void* in, void* out, const std::vector<int64_t>& counts,
                                   DataType dtype) {
  std::vector<int> ints;
  std::vector<int> displs;
  RETURN_IF_ERROR(CheckCounts(counts, &ints, &displs, "allgather"));
  int rc = MPI_Allgatherv(in, ints[static_cast<size_t>(rank_)], MpiType(dtype), out, ints.data(),
                          displs.data(), MpiType(dtype), comm_);
  return rc == MPI_SUCCESS ? Status::Ok() : Broken(MpiError(rc, "MPI_Allgatherv"));
}

Status MpiCommunicator::Broadcast(void* data, int64_t count, DataType dtype, int root) {
  const int64_t esize = static_cast<int64_t>(DataTypeSize(dtype));
  for (int64_t done = 0; done < count; done += INT_MAX) {
    const int n = static_cast<int>(std::min<int64_t>(INT_MAX, count - done));
    int rc = MPI_Bcast(static_cast<char*>(data) + done * esize, n, MpiType(dtype), root, comm_);
    if (rc != MPI_SUCCESS) return Broken(MpiError(rc, "MPI_Bcast"));
  }
  return Status::Ok();
}

Status MpiCommunicator::Alltoallv(const void* in, const std::vector<int64_t>& send_counts,
                                  void* out, const std::vector<int64_t>& recv_counts,
                                  DataType dtype) {
  std::vector<int> sc, sd, rc_counts, rd;
  RETURN_IF_ERROR(CheckCounts(send_counts, &sc, &sd, "alltoall"));
  RETURN_IF_ERROR(CheckCounts(recv_counts, &rc_counts, &rd, "alltoall"));
  int rc = MPI_Alltoallv(in, sc.data(), sd.data(), MpiType(dtype), out, rc_counts.data(), rd.data(),
                         MpiType(dtype), comm_);
  return rc == MPI_SUCCESS ? Status::Ok() : Broken(MpiError(rc, "MPI_Alltoallv"));
}

Status MpiCommunicator::ReduceScatter(const void* in, void* out, const std::vector<int64_t>& counts,
                                      DataType dtype, ReduceOp op) {
  std::vector<int> ints;
  std::vector<int> displs;
  RETURN_IF_ERROR(CheckCounts(counts, &ints, &displs, "reducescatter"));
  int rc = MPI_Reduce_scatter(in, out, ints.data(), MpiType(dtype), OpFor(dtype, op), comm_);
  return rc == MPI_SUCCESS ? Status::Ok() : Broken(MpiError(rc, "MPI_Reduce_scatter"));
}

Status MpiCommunicator::Barrier() {
  int rc = MPI_Barrier(comm_);
  return rc == MPI_SUCCESS ? Status::Ok() : Broken(MpiError(rc, "MPI_Barrier"));
}

Result<std::unique_ptr<Communicator>> MpiCommunicator::Split(const std::vector<int>& members) {
  MPI_Group all;
  MPI_Group sub;
  int rc = MPI_Comm_group(comm_, &all);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_group");
  rc = MPI_Group_incl(all, static_cast<int>(members.size()), members.data(), &sub);
  if (rc != MPI_SUCCESS) {
    MPI_Group_free(&all);
    return MpiError(rc, "MPI_Group_incl");
  }
  MPI_Comm created = MPI_COMM_NULL;
  rc = MPI_Comm_create(comm_, sub, &created);
  MPI_Group_free(&sub);
  MPI_Group_free(&all);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_create");
  if (created == MPI_COMM_NULL) return std::unique_ptr<Communicator>();
  std::vector<int> world;
  for (int m : members) world.push_back(world_ranks_[static_cast<size_t>(m)]);
  return std::unique_ptr<Communicator>(new MpiCommunicator(created, shared_, std::move(world)));
}

}  // namespace trainyard::collective
