// The stall inspector: finds tensors that some ranks announced and others did not, for too long.
//
// A rank that never submits a tensor the others submitted (a bug in the training script, a rank
// stuck in data loading, ranks submitting in an order that cannot complete) would make the others
// wait forever. The coordinator (rank 0 of each process set) feeds the inspector, every cycle, the
// names that are pending somewhere but not everywhere. Once one has waited longer than the warning
// time, the coordinator asks every rank which tensors it holds (one extra gather) and the
// inspector turns that into a warning naming each stalled tensor, the ranks that submitted it and
// the ranks that did not. Past the shutdown time (if set) it asks for a shutdown.
//
// Past the fail time (TRAINYARD_STALL_FAIL_SECONDS, if set) it lists the name as failed instead:
// the coordinator then sends every rank an error response for it (controller.h), the ranks that
// submitted it fail that one operation, and the runtime goes on. A failed name is not warned
// about nor counted towards the shutdown.
//
// Not thread-safe; used by one Controller on the background thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace trainyard::collective {

class StallInspector {
 public:
  // A time of 0 seconds disables that action; `enabled` false disables the warning and the
  // shutdown (HOROVOD_STALL_CHECK_DISABLE), not the failure.
  StallInspector(bool enabled, double warning_seconds, double shutdown_seconds,
                 double fail_seconds = 0);

  // The names pending somewhere but not everywhere at `now_micros`; names no longer listed are
  // forgotten.
  void Observe(const std::vector<std::string>& pending, int64_t now_micros);
  // True when a report should be gathered: a name has waited past the warning time and no report
  // was made within the last warning interval (or past the shutdown or fail time).
  bool ReportDue(int64_t now_micros) const;

  // A name that waited past the fail time: it fails on the ranks in `submitted`.
  struct Stalled {
    std::string name;
    std::vector<int> submitted;  // global ranks that hold it
    std::vector<int> missing;    // global ranks that neither hold it nor joined
    double waited_seconds = 0;
  };
  struct Report {
    std::string warning;  // empty if nothing is stalled any more
    bool shutdown = false;
    std::string shutdown_reason;
    std::vector<Stalled> failed;  // in name order
  };
  // `announced_by`: for each pending name, the global ranks that hold it; `ranks`: the process
  // set's global ranks; `joined`: ranks that joined (never counted as missing).
  Report MakeReport(const std::map<std::string, std::vector<int>>& announced_by,
                    const std::vector<int>& ranks, const std::vector<int>& joined,
                    int64_t now_micros);

  // The error of a failed name, e.g. "allreduce 'a': stalled 2.0 s: ranks [0] submitted it, ranks
  // [1] did not (TRAINYARD_STALL_FAIL_SECONDS=2)". `op`: the operation's name.
  std::string FailMessage(const char* op, const Stalled& stalled) const;

 private:
  bool enabled_;
  int64_t warning_micros_;
  int64_t shutdown_micros_;
  int64_t fail_micros_;
  double fail_seconds_;
  std::unordered_map<std::string, int64_t> first_seen_;
  int64_t last_report_ = 0;
  bool reported_ = false;
};

}  // namespace trainyard::collective
