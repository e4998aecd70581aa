// The coordinator's table of announced tensors (rank 0 of each process set keeps one).
//
// Ranks announce tensors that are not in the response cache by sending Requests to the
// coordinator. The table collects them per tensor name until every rank of the process set has
// announced the name, or has joined (see Runtime::Join: a joined rank takes part in everything
// with zeros). Then the tensor is "ready" and the table turns the collected requests into one
// Response: an execute decision when the requests agree, or an error response naming the tensor
// and what each rank sent when they do not (different operations, dtypes, shapes, reduce ops,
// scale factors, roots or devices).
//
// Join bookkeeping lives here too: a kJoin request marks its rank joined; when every rank of the
// set has joined, PopReady() ends with a kJoin response carrying the rank that joined last, and
// the joined marks are cleared.
//
// Not thread-safe; used by one Controller on the background thread.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "collective/wire.h"

namespace trainyard::collective {

class MessageTable {
 public:
  // `ranks`: the global ranks of the process set, indexed by rank within the set.
  explicit MessageTable(std::vector<int> ranks);

  // Records that the rank with set index `index` announced `request` at `now_micros`.
  void Add(int index, const Request& request, int64_t now_micros);

  // Removes and returns the responses of every tensor that all non-joined ranks have announced,
  // in the order the tensors were first announced; if every rank has joined, a kJoin response
  // comes last.
  std::vector<Response> PopReady();

  // Drops the entry of `name` (what its ranks announced so far), if any: a later request with
  // this name starts a new entry.
  void Erase(const std::string& name);

  bool Contains(const std::string& name) const { return entries_.count(name) != 0; }
  bool empty() const { return order_.empty(); }

  struct Pending {
    std::string name;
    OpType type = OpType::kAllreduce;
    int64_t first_seen_micros = 0;
    std::vector<int> announced;  // global ranks that have announced it
  };
  // Tensors waiting since before `before_micros`.
  std::vector<Pending> PendingSince(int64_t before_micros) const;
  // Global ranks that have joined and wait for the others.
  std::vector<int> JoinedRanks() const;

 private:
  struct Entry {
    std::vector<std::optional<Request>> by_index;
    int64_t first_seen = 0;
    int count = 0;
  };
  Response Decide(const std::string& name, const Entry& entry) const;

  std::vector<int> ranks_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;
  std::vector<bool> joined_;
  int joined_count_ = 0;
  int last_joined_ = -1;
};

// "ranks 0, 2 sent [4, 3]; rank 1 sent [4]": groups ranks by the value they sent, in order of
// first appearance. Exposed for tests.
std::string DescribeByRank(const std::vector<std::pair<int, std::string>>& rank_values,
                           const char* verb);

}  // namespace trainyard::collective
