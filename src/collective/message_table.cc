#include "collective/message_table.h"

#include <algorithm>
#include <cstdio>

namespace trainyard::collective {
namespace {

std::string FormatScale(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string RanksToString(const std::vector<int32_t>& ranks) {
  Shape s(ranks.begin(), ranks.end());
  return ShapeToString(s);
}

}  // namespace

std::string DescribeByRank(const std::vector<std::pair<int, std::string>>& rank_values,
                           const char* verb) {
  std::vector<std::pair<std::string, std::vector<int>>> groups;
  for (const auto& rank_value : rank_values) {
    const std::string& value = rank_value.second;
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == value; });
    if (it == groups.end()) {
      groups.push_back({value, {rank_value.first}});
    } else {
      it->second.push_back(rank_value.first);
    }
  }
  std::string out;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (g) out += "; ";
    const std::vector<int>& rs = groups[g].second;
    out += rs.size() == 1 ? "rank " : "ranks ";
    for (size_t i = 0; i < rs.size(); ++i) {
      if (i) out += ", ";
      out += std::to_string(rs[i]);
    }
    out += std::string(" ") + verb + " " + groups[g].first;
  }
  return out;
}

MessageTable::MessageTable(std::vector<int> ranks)
    : ranks_(std::move(ranks)), joined_(ranks_.size(), false) {}

void MessageTable::Add(int index, const Request& request, int64_t now_micros) {
  if (request.type == OpType::kJoin) {
    if (!joined_[static_cast<size_t>(index)]) {
      joined_[static_cast<size_t>(index)] = true;
      ++joined_count_;
    }
    last_joined_ = ranks_[static_cast<size_t>(index)];
    return;
  }
  auto [it, inserted] = entries_.try_emplace(request.name);
  Entry& e = it->second;
  if (inserted) {
    e.by_index.resize(ranks_.size());
    e.first_seen = now_micros;
    order_.push_back(request.name);
  }
  if (!e.by_index[static_cast<size_t>(index)]) ++e.count;
  e.by_index[static_cast<size_t>(index)] = request;
}

void MessageTable::Erase(const std::string& name) {
  if (entries_.erase(name) != 0) order_.remove(name);
}

std::vector<Response> MessageTable::PopReady() {
  std::vector<Response> out;
  const int needed = static_cast<int>(ranks_.size());
  for (auto it = order_.begin(); it != order_.end();) {
    Entry& e = entries_.at(*it);
    int have = 0;
    for (size_t i = 0; i < ranks_.size(); ++i) {
      if (e.by_index[i] || joined_[i]) ++have;
    }
    if (have < needed || e.count == 0) {
      ++it;
      continue;
    }
    out.push_back(Decide(*it, e));
    entries_.erase(*it);
    it = order_.erase(it);
  }
  if (joined_count_ == needed) {
    Response join;
    join.type = OpType::kJoin;
    join.name = kJoinName;
    join.last_joined_rank = last_joined_;
    out.push_back(std::move(join));
    joined_.assign(ranks_.size(), false);
    joined_count_ = 0;
    last_joined_ = -1;
  }
  return out;
}

Response MessageTable::Decide(const std::string& name, const Entry& e) const {
  std::vector<std::pair<int, const Request*>> sent;
  std::vector<int> joined_ranks;
  for (size_t i = 0; i < ranks_.size(); ++i) {
    if (e.by_index[i]) {
      sent.push_back({ranks_[i], &*e.by_index[i]});
    } else {
      joined_ranks.push_back(ranks_[i]);
    }
  }
  // Refusals first: a rank that refused the operation at the call sent an error request, and
  // every rank fails the name with the refusal (the other ranks' operations would wait for it
  // forever otherwise).
  std::vector<std::pair<int, std::string>> refusals;
  const Request* refused = nullptr;
  for (const auto& [rank, q] : sent) {
    if (q->error.empty()) continue;
    if (refused == nullptr) refused = q;
    // The refusing rank's message starts with "<op> '<name>': "; said once, in front.
    const std::string prefix = std::string(OpTypeName(q->type)) + " '" + name + "': ";
    refusals.push_back(
        {rank, q->error.rfind(prefix, 0) == 0 ? q->error.substr(prefix.size()) : q->error});
  }
  if (refused != nullptr) {
    Response err;
    err.type = refused->type;
    err.name = name;
    err.error = std::string(OpTypeName(refused->type)) + " '" + name +
                "': " + DescribeByRank(refusals, "refused it:");
    err.error_code =
        refused->error_code == StatusCode::kOk ? StatusCode::kInvalidArgument : refused->error_code;
    return err;
  }
  const Request& first = *sent.front().second;
  Response r = ResponseFor(first);
  auto fail = [&](StatusCode code, std::string message) {
    Response err;
    err.type = first.type;
    err.name = name;
    err.error = std::move(message);
    err.error_code = code;
    return err;
  };
  // Compares one property across ranks; returns the description when they differ.
  auto differs = [&](auto key, const char* verb) -> std::string {
    std::vector<std::pair<int, std::string>> values;
    bool all_same = true;
    for (const auto& [rank, q] : sent) {
      values.push_back({rank, key(*q)});
      if (values.back().second != values.front().second) all_same = false;
    }
    return all_same ? std::string() : DescribeByRank(values, verb);
  };
  std::string what = std::string(OpTypeName(first.type)) + " '" + name + "'";

  std::string d =
      differs([](const Request& q) { return std::string(OpTypeName(q.type)); }, "asked for");
  if (!d.empty()) {
    return fail(StatusCode::kInvalidArgument,
                "mismatched operations for tensor '" + name + "': " + d);
  }
  d = differs([](const Request& q) { return std::string(DataTypeName(q.dtype)); }, "sent");
  if (!d.empty())
    return fail(StatusCode::kInvalidArgument, "mismatched data types for " + what + ": " + d);
  d = differs([](const Request& q) { return q.device.ToString(); }, "sent a tensor on");
  if (!d.empty())
    return fail(StatusCode::kInvalidArgument, "mismatched devices for " + what + ": " + d);

  switch (first.type) {
    case OpType::kAllreduce:
    case OpType::kReducescatter:
    case OpType::kBroadcast:
      d = differs([](const Request& q) { return ShapeToString(q.shape); }, "sent");
      if (!d.empty()) {
        return fail(StatusCode::kInvalidArgument, "mismatched shapes for " + what + ": " + d);
      }
      break;
    case OpType::kAllgather:
    case OpType::kAlltoall:
      d = differs(
          [](const Request& q) {
            Shape rest = q.shape.empty() ? Shape{} : Shape(q.shape.begin() + 1, q.shape.end());
            return std::to_string(q.shape.size()) + "-d tensor with trailing dims " +
                   ShapeToString(rest);
          },
          "sent a");
      if (!d.empty()) {
        return fail(
            StatusCode::kInvalidArgument,
            "mismatched shapes for " + what + " (all dimensions but the first must agree): " + d);
      }
      break;
    default: break;
  }
  if (first.type == OpType::kAllreduce || first.type == OpType::kReducescatter) {
    d = differs([](const Request& q) { return std::string(ReduceOpName(q.reduce_op)); },
                "asked for");
    if (!d.empty()) {
      return fail(StatusCode::kInvalidArgument,
                  "mismatched reduce operations for " + what + ": " + d);
    }
    d = differs(
        [](const Request& q) {
          return "prescale " + FormatScale(q.prescale) + ", postscale " + FormatScale(q.postscale);
        },
        "asked for");
    if (!d.empty()) {
      return fail(StatusCode::kInvalidArgument, "mismatched scale factors for " + what + ": " + d);
    }
  }
  if (first.type == OpType::kBroadcast) {
    d = differs([](const Request& q) { return "root " + std::to_string(q.root); }, "asked for");
    if (!d.empty())
      return fail(StatusCode::kInvalidArgument, "mismatched roots for " + what + ": " + d);
  }
  if (first.type == OpType::kAddProcessSet || first.type == OpType::kRemoveProcessSet) {
    d = differs([](const Request& q) { return RanksToString(q.ranks); }, "asked for");
    if (!d.empty()) {
      return fail(StatusCode::kInvalidArgument,
                  std::string("mismatched ") + OpTypeName(first.type) + " calls: " + d);
    }
  }
  if (!joined_ranks.empty()) {
    // As Horovod's coordinator: only allreduce, reducescatter and barrier run with joined ranks
    // (which contribute zeros); the others fail on every rank that called them.
    const std::string ranks = ShapeToString(Shape(joined_ranks.begin(), joined_ranks.end()));
    const std::string joined = " (ranks " + ranks + " have joined)";
    switch (first.type) {
      case OpType::kAllgather:
        return fail(StatusCode::kFailedPrecondition,
                    what +
                        ": Allgather is not supported with Join at this time. Specify "
                        "sparse_to_dense=True if using DistributedOptimizer" +
                        joined);
      case OpType::kBroadcast:
        return fail(StatusCode::kFailedPrecondition,
                    what + ": Broadcast is not supported with Join at this time." + joined);
      case OpType::kAlltoall:
        return fail(StatusCode::kFailedPrecondition,
                    what + ": Alltoall is not supported with Join at this time." + joined);
      case OpType::kAddProcessSet:
      case OpType::kRemoveProcessSet:
        return fail(StatusCode::kFailedPrecondition,
                    what + " cannot run while ranks " + ranks + " have joined");
      default: break;
    }
  }
  return r;
}

std::vector<MessageTable::Pending> MessageTable::PendingSince(int64_t before_micros) const {
  std::vector<Pending> out;
  for (const std::string& name : order_) {
    const Entry& e = entries_.at(name);
    if (e.first_seen >= before_micros) continue;
    Pending p;
    p.name = name;
    p.first_seen_micros = e.first_seen;
    for (size_t i = 0; i < ranks_.size(); ++i) {
      if (e.by_index[i]) {
        p.type = e.by_index[i]->type;
        p.announced.push_back(ranks_[i]);
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<int> MessageTable::JoinedRanks() const {
  std::vector<int> out;
  for (size_t i = 0; i < ranks_.size(); ++i) {
    if (joined_[i]) out.push_back(ranks_[i]);
  }
  return out;
}

}  // namespace trainyard::collective
