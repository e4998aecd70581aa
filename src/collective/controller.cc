#include "collective/controller.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/clock.h"

namespace trainyard::collective {
namespace {

constexpr uint64_t kNotShutdown = 1u << 0;
constexpr uint64_t kNotUncached = 1u << 1;
constexpr uint64_t kNotStallReport = 1u << 2;
constexpr uint64_t kAllJoined = 1u << 3;

const char* NegotiateActivity(OpType type) {
  switch (type) {
    case OpType::kAllreduce: return "NEGOTIATE_ALLREDUCE";
    case OpType::kAllgather: return "NEGOTIATE_ALLGATHER";
    case OpType::kBroadcast: return "NEGOTIATE_BROADCAST";
    case OpType::kAlltoall: return "NEGOTIATE_ALLTOALL";
    case OpType::kReducescatter: return "NEGOTIATE_REDUCESCATTER";
    case OpType::kBarrier: return "NEGOTIATE_BARRIER";
    case OpType::kJoin: return "NEGOTIATE_JOIN";
    case OpType::kAddProcessSet: return "NEGOTIATE_ADD_PROCESS_SET";
    case OpType::kRemoveProcessSet: return "NEGOTIATE_REMOVE_PROCESS_SET";
  }
  return "NEGOTIATE";
}

}  // namespace

Controller::Controller(Communicator* comm, std::vector<int> ranks, const Config& config,
                       Timeline* timeline)
    : comm_(comm),
      ranks_(std::move(ranks)),
      coordinator_(comm->rank() == 0),
      timeline_(timeline),
      cache_(static_cast<size_t>(config.cache_capacity)),
      table_(ranks_),
      stall_(config.stall_check, config.stall_warning_seconds, config.stall_shutdown_seconds,
             config.stall_fail_seconds) {}

void Controller::StartNegotiation(const Request& request) {
  if (timeline_ != nullptr) timeline_->Begin(request.name, NegotiateActivity(request.type));
}

void Controller::EndNegotiation(const Response& response) {
  if (timeline_ != nullptr && by_name_.count(response.name)) {
    timeline_->End(response.name, NegotiateActivity(response.type));
  }
}

void Controller::Forget(const std::string& name) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return;
  pending_.erase(it->second);
  by_name_.erase(it);
}

bool Controller::IsStallFailure(const Response& r) {
  return r.is_error() && r.error_code == kStallFailureCode;
}

Response Controller::FailStalled(const StallInspector::Stalled& stalled, int64_t now) {
  Response err;
  err.name = stalled.name;
  err.error_code = kStallFailureCode;
  bool found = false;
  for (const MessageTable::Pending& p : table_.PendingSince(now + 1)) {
    if (p.name != stalled.name) continue;
    found = true;
    err.type = p.type;
    table_.Erase(p.name);  // a later request with this name starts a new entry
    break;
  }
  if (!found) {
    // Pending through the response cache only: the coordinator's cache knows the operation.
    const int bit = cache_.BitOf(stalled.name);
    const Response* cached = bit >= 0 ? cache_.Get(bit) : nullptr;
    if (cached != nullptr) err.type = cached->type;
  }
  err.error = stall_.FailMessage(OpTypeName(err.type), stalled);
  return err;
}

Result<Controller::Output> Controller::RunCycle(Input input) {
  ++stats_.cycles;
  const int64_t now = MonotonicMicros();
  for (Request& q : input.new_requests) {
    if (q.type == OpType::kJoin) joined_ = true;
    StartNegotiation(q);
    std::string name = q.name;
    pending_.push_back(Pending{std::move(q), false, -1});
    by_name_[name] = std::prev(pending_.end());
  }

  // 1. Classify.
  std::vector<Request> uncached;
  const int nbits = cache_.num_bits();
  const size_t nwords = (static_cast<size_t>(nbits) + 63) / 64;
  std::vector<uint64_t> words(1 + 2 * nwords, 0);
  uint64_t* and_bits = words.data() + 1;
  uint64_t* inv_bits = words.data() + 1 + nwords;
  for (size_t w = 0; w < nwords; ++w) inv_bits[w] = ~uint64_t{0};
  for (Pending& p : pending_) {
    if (p.announced) continue;
    ResponseCache::Lookup found = cache_.Find(p.request);
    if (found.state == ResponseCache::State::kHit) {
      p.bit = found.bit;
      and_bits[found.bit / 64] |= uint64_t{1} << (found.bit % 64);
      inv_bits[found.bit / 64] &= ~(uint64_t{1} << (found.bit % 64));
    } else {
      p.bit = -1;
      p.announced = true;
      uncached.push_back(p.request);
    }
  }
  if (joined_) {
    for (int b = 0; b < nbits; ++b) and_bits[b / 64] |= uint64_t{1} << (b % 64);
  }
  uint64_t flags = kNotShutdown | kNotUncached | kNotStallReport | kAllJoined;
  if (input.shutdown) flags &= ~kNotShutdown;
  if (!uncached.empty()) flags &= ~kNotUncached;
  if (coordinator_ && stall_report_due_) flags &= ~kNotStallReport;
  if (!joined_) flags &= ~kAllJoined;
  words[0] = flags;

  // 2. Coordinate.
  RETURN_IF_ERROR(comm_->AllreduceBitsAnd(words.data(), words.size()));
  flags = words[0];
  const bool any_shutdown = (flags & kNotShutdown) == 0;
  const bool any_uncached = (flags & kNotUncached) == 0;
  const bool stall_report = (flags & kNotStallReport) == 0;
  const bool all_joined = (flags & kAllJoined) != 0;

  Output out;
  // Cached tensors ready everywhere, in bit order.
  if (!all_joined) {
    for (int b = 0; b < nbits; ++b) {
      if ((and_bits[b / 64] >> (b % 64) & 1u) == 0) continue;
      const Response* cached = cache_.Get(b);
      if (cached == nullptr) continue;
      out.responses.push_back(*cached);
      cache_.Touch(b);
      EndNegotiation(*cached);
      Forget(cached->name);
      ++stats_.cached_responses;
    }
  }
  // Names pending on some ranks only (for the stall inspector).
  std::vector<std::string> somewhere;
  if (coordinator_) {
    for (int b = 0; b < nbits; ++b) {
      bool any = (inv_bits[b / 64] >> (b % 64) & 1u) == 0;
      bool all = (and_bits[b / 64] >> (b % 64) & 1u) != 0;
      if (any && !all && cache_.Get(b) != nullptr) somewhere.push_back(cache_.Get(b)->name);
    }
  }

  // 3. Negotiate.
  std::vector<std::string> failed;  // stalled names failed in this cycle (coordinator)
  if (any_uncached || stall_report || any_shutdown) {
    ++stats_.negotiations;
    RequestList mine;
    mine.rank = ranks_[static_cast<size_t>(comm_->rank())];
    mine.requests = std::move(uncached);
    if (stall_report) {
      for (const Pending& p : pending_) {
        if (!p.announced) mine.cached_pending.push_back(p.request.name);
      }
    }
    mine.shutdown = input.shutdown;
    mine.shutdown_reason = input.shutdown_reason;
    std::vector<std::string> gathered;
    RETURN_IF_ERROR(comm_->GatherBytes(EncodeRequestList(mine), &gathered));
    std::string bytes;
    if (coordinator_) {
      ResponseList decided;
      std::map<std::string, std::vector<int>> holders;
      for (size_t i = 0; i < gathered.size(); ++i) {
        ASSIGN_OR_RETURN(RequestList list, DecodeRequestList(gathered[i]));
        for (const Request& q : list.requests) {
          if (cache_.BitOf(q.name) >= 0 && std::find(decided.evict.begin(), decided.evict.end(),
                                                     q.name) == decided.evict.end()) {
            decided.evict.push_back(q.name);
          }
          table_.Add(static_cast<int>(i), q, now);
        }
        for (const std::string& name : list.cached_pending) holders[name].push_back(list.rank);
        if (list.shutdown && !decided.shutdown) {
          decided.shutdown = true;
          decided.shutdown_reason = list.shutdown_reason;
        }
      }
      decided.responses = table_.PopReady();
      if (stall_report) {
        for (const MessageTable::Pending& p : table_.PendingSince(now + 1)) {
          auto& h = holders[p.name];
          h.insert(h.end(), p.announced.begin(), p.announced.end());
        }
        StallInspector::Report report =
            stall_.MakeReport(holders, ranks_, table_.JoinedRanks(), now);
        if (!report.warning.empty()) std::fprintf(stderr, "%s\n", report.warning.c_str());
        if (report.shutdown && !decided.shutdown) {
          decided.shutdown = true;
          decided.shutdown_reason = report.shutdown_reason;
        }
        for (const StallInspector::Stalled& s : report.failed) {
          decided.responses.push_back(FailStalled(s, now));
          failed.push_back(s.name);
        }
      }
      bytes = EncodeResponseList(decided);
    }
    RETURN_IF_ERROR(comm_->BroadcastBytes(&bytes));
    ASSIGN_OR_RETURN(ResponseList decided, DecodeResponseList(bytes));

    // 4. Decide: evictions, then the new responses (inserted into the cache).
    for (const std::string& name : decided.evict) cache_.Erase(name);
    for (Response& r : decided.responses) {
      // A stall failure reaches every rank; only the ranks that hold the name fail it (the others
      // never submitted it, or submit it later as a new operation).
      if (IsStallFailure(r) && by_name_.count(r.name) == 0) continue;
      if (r.type == OpType::kJoin) joined_ = false;
      int evicted = -1;
      cache_.Put(r, &evicted);
      EndNegotiation(r);
      Forget(r.name);
      ++stats_.negotiated_responses;
      out.responses.push_back(std::move(r));
    }
    if (decided.shutdown) {
      out.shutdown = true;
      out.shutdown_reason = decided.shutdown_reason;
    }
  }
  if (any_shutdown && !out.shutdown) {
    out.shutdown = true;
    out.shutdown_reason = "another rank shut the collective runtime down";
  }

  if (coordinator_) {
    for (const MessageTable::Pending& p : table_.PendingSince(now + 1)) {
      somewhere.push_back(p.name);
    }
    // The cached names were listed before this cycle's failures.
    for (const std::string& name : failed) {
      somewhere.erase(std::remove(somewhere.begin(), somewhere.end(), name), somewhere.end());
    }
    stall_.Observe(somewhere, now);
    stall_report_due_ = stall_.ReportDue(now);
  }
  return out;
}

}  // namespace trainyard::collective
