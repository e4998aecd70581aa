#include "store/run_index.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <variant>

#include "common/clock.h"

namespace trainyard::store {

namespace {

// What a batch adds to one summary or one block.
struct Fold {
  int64_t count = 0;
  int64_t first_step = 0;
  int64_t last_step = 0;
  int64_t last_ts = 0;
  double last = 0;  // NaN = NULL
  std::optional<double> min, max;

  void Add(const tracking::Point& p, bool last_by_step) {
    if (count == 0) first_step = p.step;
    first_step = std::min(first_step, p.step);
    // A summary's last point is the one logged last; a block's is the one at its highest step
    // (the one logged last among equal steps).
    if (count == 0 || !last_by_step || p.step >= last_step) {
      last_step = p.step;
      last_ts = p.ts_us;
      last = p.value;
    }
    ++count;
    if (!std::isnan(p.value)) {
      min = min ? std::min(*min, p.value) : p.value;
      max = max ? std::max(*max, p.value) : p.value;
    }
  }
};

void BindOptDouble(Stmt& s, int i, const std::optional<double>& v) {
  if (v) {
    s.Bind(i, *v);
  } else {
    s.BindNull(i);
  }
}

void BindDouble(Stmt& s, int i, double v) {
  if (std::isnan(v)) {
    s.BindNull(i);
  } else {
    s.Bind(i, v);
  }
}

std::optional<double> OptDouble(const Stmt& s, int col) {
  if (s.IsNull(col)) return std::nullopt;
  return s.Double(col);
}

// `text` as a number when all of it is one.
std::optional<double> ParseNumber(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double v = 0;
  const char* begin = text.data();
  if (*begin == '+') ++begin;
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

struct BlockKey {
  int64_t name_id;
  int level;
  int64_t block;
  bool operator<(const BlockKey& o) const {
    return std::tie(name_id, level, block) < std::tie(o.name_id, o.level, o.block);
  }
};

}  // namespace

Status IndexMetricPoints(Db* db, int64_t run_seq,
                         const std::unordered_map<std::string, int64_t>& name_ids,
                         const std::vector<tracking::Point>& points) {
  if (points.empty()) return Status::Ok();
  // Fold in memory first: a batch of 1,000 points of one metric is one summary upsert and a few
  // block upserts, not 1,000 of each.
  std::map<std::string, Fold> summaries;
  std::map<BlockKey, Fold> blocks;
  for (const auto& p : points) {
    auto id = name_ids.find(p.name);
    if (id == name_ids.end()) return Internal("metric name without an id: " + p.name);
    summaries[p.name].Add(p, /*last_by_step=*/false);
    for (int level : kBlockLevels) {
      blocks[BlockKey{id->second, level, p.step >> level}].Add(p, /*last_by_step=*/true);
    }
  }
  ASSIGN_OR_RETURN(
      Stmt sum,
      db->Prepare("INSERT INTO metric_summary(run_seq, name, count, last_value, last_step, "
                  "last_ts, min_value, max_value) VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(run_seq, "
                  "name) DO UPDATE SET count = count + excluded.count, last_value = "
                  "excluded.last_value, last_step = excluded.last_step, last_ts = "
                  "excluded.last_ts, min_value = min(coalesce(min_value, excluded.min_value), "
                  "coalesce(excluded.min_value, min_value)), max_value = max(coalesce(max_value, "
                  "excluded.max_value), coalesce(excluded.max_value, max_value))"));
  for (const auto& [name, f] : summaries) {
    sum.Bind(1, run_seq).Bind(2, name).Bind(3, f.count);
    BindDouble(sum, 4, f.last);
    sum.Bind(5, f.last_step).Bind(6, f.last_ts);
    BindOptDouble(sum, 7, f.min);
    BindOptDouble(sum, 8, f.max);
    RETURN_IF_ERROR(sum.Run());
    RETURN_IF_ERROR(sum.Reset());
  }
  ASSIGN_OR_RETURN(
      Stmt blk,
      db->Prepare("INSERT INTO metric_blocks(name_id, level, block, count, first_step, last_step, "
                  "last_value, min_value, max_value) VALUES(?,?,?,?,?,?,?,?,?) ON "
                  "CONFLICT(name_id, level, block) DO UPDATE SET count = count + excluded.count, "
                  "first_step = min(first_step, excluded.first_step), last_value = CASE WHEN "
                  "excluded.last_step >= last_step THEN excluded.last_value ELSE last_value END, "
                  "last_step = max(last_step, excluded.last_step), min_value = "
                  "min(coalesce(min_value, excluded.min_value), coalesce(excluded.min_value, "
                  "min_value)), max_value = max(coalesce(max_value, excluded.max_value), "
                  "coalesce(excluded.max_value, max_value))"));
  for (const auto& [key, f] : blocks) {
    blk.Bind(1, key.name_id).Bind(2, key.level).Bind(3, key.block).Bind(4, f.count);
    blk.Bind(5, f.first_step).Bind(6, f.last_step);
    BindDouble(blk, 7, f.last);
    BindOptDouble(blk, 8, f.min);
    BindOptDouble(blk, 9, f.max);
    RETURN_IF_ERROR(blk.Run());
    RETURN_IF_ERROR(blk.Reset());
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> RunParamsOf(const std::string& spec_json,
                                                             const std::string& plan_json) {
  std::map<std::string, std::string> params;
  auto plan = nlohmann::json::parse(plan_json, nullptr, false);
  if (plan.is_object() && plan.contains("processes") && plan["processes"].is_array() &&
      !plan["processes"].empty() && plan["processes"][0].contains("argv") &&
      plan["processes"][0]["argv"].is_array()) {
    const auto& argv = plan["processes"][0]["argv"];
    // Arguments that are not UTF-8 are objects ({"bytes_b64"}); they are neither names nor values.
    auto text = [&](size_t i) -> std::optional<std::string> {
      if (i >= argv.size() || !argv[i].is_string()) return std::nullopt;
      return argv[i].get<std::string>();
    };
    for (size_t i = 0; i < argv.size(); ++i) {
      std::optional<std::string> a = text(i);
      if (!a || a->size() <= 2 || a->compare(0, 2, "--") != 0) continue;
      size_t eq = a->find('=');
      if (eq != std::string::npos) {
        if (eq > 2) params[a->substr(2, eq - 2)] = a->substr(eq + 1);
        continue;
      }
      std::optional<std::string> next = text(i + 1);
      if (next && next->compare(0, 2, "--") != 0) {
        params[a->substr(2)] = *next;
        ++i;
      }
    }
  }
  // A trial's values win over the argv (they are what the sweep chose).
  auto spec = nlohmann::json::parse(spec_json, nullptr, false);
  if (spec.is_object() && spec.contains("search_space_values")) {
    auto add = [&](std::string name, const nlohmann::json& v) {
      name.erase(0, name.find_first_not_of('-'));
      if (name.empty()) return;
      params[name] = v.is_string() ? v.get<std::string>() : v.dump();
    };
    const auto& values = spec["search_space_values"];
    if (values.is_object()) {
      for (const auto& [k, v] : values.items()) add(k, v);
    } else if (values.is_array()) {
      for (const auto& kv : values) {
        if (kv.is_array() && kv.size() == 2 && kv[0].is_string()) add(kv[0], kv[1]);
      }
    }
  }
  return {params.begin(), params.end()};
}

Status IndexRunParams(Db* db, int64_t run_seq, const std::string& spec_json,
                      const std::string& plan_json) {
  ASSIGN_OR_RETURN(Stmt del, db->Prepare("DELETE FROM run_params WHERE run_seq = ?"));
  RETURN_IF_ERROR(del.Bind(1, run_seq).Run());
  ASSIGN_OR_RETURN(Stmt ins, db->Prepare("INSERT INTO run_params(run_seq, name, value, num) "
                                         "VALUES(?,?,?,?)"));
  for (const auto& [name, value] : RunParamsOf(spec_json, plan_json)) {
    ins.Bind(1, run_seq).Bind(2, name).Bind(3, value);
    BindOptDouble(ins, 4, ParseNumber(value));
    RETURN_IF_ERROR(ins.Run());
    RETURN_IF_ERROR(ins.Reset());
  }
  return Status::Ok();
}

// --- The runs list -------------------------------------------------------------------------

namespace {

using SqlValue = std::variant<int64_t, double, std::string>;

void BindAll(Stmt& s, const std::vector<SqlValue>& values, int first = 1) {
  int i = first;
  for (const auto& v : values) {
    std::visit([&](const auto& x) { s.Bind(i, x); }, v);
    ++i;
  }
}

// "metrics.NAME[.last|.min|.max]" → (NAME, column of metric_summary).
std::pair<std::string, std::string> MetricField(const std::string& rest) {
  static const std::pair<const char*, const char*> kAggs[] = {
      {".last", "last_value"}, {".min", "min_value"}, {".max", "max_value"}};
  for (const auto& [suffix, column] : kAggs) {
    std::string_view sv(suffix);
    if (rest.size() > sv.size() && rest.compare(rest.size() - sv.size(), sv.size(), sv) == 0) {
      return {rest.substr(0, rest.size() - sv.size()), column};
    }
  }
  return {rest, "last_value"};
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

const char* const kOps[] = {"<=", ">=", "!=", "=", "<", ">"};

// The FROM + WHERE of a query (joins for the conditions), with its bound values.
struct Where {
  std::string joins;
  std::string where;
  std::vector<SqlValue> values;
};

Result<Where> BuildWhere(const RunQuery& q) {
  Where w;
  auto add = [&](const std::string& cond) {
    w.where += (w.where.empty() ? " WHERE " : " AND ") + cond;
  };
  if (!q.experiment.empty()) {
    add("e.name = ?");
    w.values.emplace_back(q.experiment);
  }
  if (!q.status.empty()) {
    add("r.status = ?");
    w.values.emplace_back(q.status);
  }
  if (!q.parent.empty()) {
    add("r.parent_id = ?");
    w.values.emplace_back(q.parent);
  }
  if (!q.kind.empty()) {
    add("r.kind = ?");
    w.values.emplace_back(q.kind);
  }
  if (!q.text.empty()) {
    add("(instr(r.id, ?) > 0 OR instr(r.display_name, ?) > 0)");
    w.values.emplace_back(q.text);
    w.values.emplace_back(q.text);
  }
  // Joins come before WHERE in the SQL, so their values are collected apart and put first.
  std::vector<SqlValue> join_values;
  int n = 0;
  for (const auto& c : q.conditions) {
    bool known_op = false;
    for (const char* op : kOps) known_op = known_op || c.op == op;
    if (!known_op) return InvalidArgument("filter: unknown operator \"" + c.op + "\"");
    const std::string alias = "f" + std::to_string(n++);
    if (StartsWith(c.field, "metrics.")) {
      auto [name, column] = MetricField(c.field.substr(8));
      std::optional<double> v = ParseNumber(c.value);
      if (!v) {
        return InvalidArgument("filter " + c.field + c.op + c.value +
                               ": a metric is compared with a number");
      }
      w.joins += " JOIN metric_summary " + alias + " ON " + alias + ".run_seq = r.seq AND " +
                 alias + ".name = ?";
      join_values.emplace_back(name);
      add(alias + "." + column + " " + c.op + " ?");
      w.values.emplace_back(*v);
    } else if (StartsWith(c.field, "params.")) {
      w.joins += " JOIN run_params " + alias + " ON " + alias + ".run_seq = r.seq AND " + alias +
                 ".name = ?";
      join_values.emplace_back(c.field.substr(7));
      if (std::optional<double> v = ParseNumber(c.value)) {
        add(alias + ".num " + c.op + " ?");
        w.values.emplace_back(*v);
      } else {
        add(alias + ".value " + c.op + " ?");
        w.values.emplace_back(c.value);
      }
    } else {
      static const std::pair<const char*, const char*> kFields[] = {
          {"status", "r.status"}, {"experiment", "e.name"},           {"kind", "r.kind"},
          {"target", "r.target"}, {"display_name", "r.display_name"}, {"id", "r.id"}};
      const char* column = nullptr;
      for (const auto& [field, col] : kFields) {
        if (c.field == field) column = col;
      }
      if (column == nullptr) {
        return InvalidArgument("filter: unknown field \"" + c.field +
                               "\" (params.NAME, metrics.NAME[.last|.min|.max], status, "
                               "experiment, kind, target, display_name, id)");
      }
      add(std::string(column) + " " + c.op + " ?");
      w.values.emplace_back(c.value);
    }
  }
  join_values.insert(join_values.end(), w.values.begin(), w.values.end());
  w.values = std::move(join_values);
  return w;
}

constexpr char kFrom[] = " FROM runs r JOIN experiments e ON e.id = r.experiment_id";

}  // namespace

Result<RunCondition> ParseRunCondition(const std::string& text) {
  // The first operator character splits field from value ("params.lr>=0.01").
  size_t pos = text.find_first_of("<>=!");
  if (pos == std::string::npos || pos == 0) {
    return InvalidArgument("filter \"" + text +
                           "\": expected FIELD OP VALUE with OP one of = != < <= > >=");
  }
  RunCondition c;
  c.field = text.substr(0, pos);
  std::string rest = text.substr(pos);
  for (const char* op : kOps) {
    if (StartsWith(rest, op)) {
      c.op = op;
      c.value = rest.substr(std::string_view(op).size());
      return c;
    }
  }
  return InvalidArgument("filter \"" + text +
                         "\": expected FIELD OP VALUE with OP one of = != < <= > >=");
}

Result<RunPage> QueryRuns(Db* db, const RunQuery& q) {
  ASSIGN_OR_RETURN(Where w, BuildWhere(q));
  // The sort: an expression over r, e and a joined summary or parameter (its name is bound).
  std::string sort_join;
  std::vector<SqlValue> sort_values;
  std::vector<std::string> keys;  // ORDER BY terms; NULLs always last
  const char* dir = q.descending ? " DESC" : " ASC";
  if (q.sort == "created_at") {
    keys = {std::string("r.created_at") + dir};
  } else if (q.sort == "status") {
    keys = {std::string("r.status") + dir};
  } else if (q.sort == "id") {
    keys = {std::string("r.id") + dir};
  } else if (q.sort == "duration") {
    std::string d = "(coalesce(r.ended_at, " + std::to_string(NowMicros()) + ") - r.started_at)";
    keys = {d + dir + " NULLS LAST"};
  } else if (StartsWith(q.sort, "metrics.") && q.sort.size() > 8) {
    auto [name, column] = MetricField(q.sort.substr(8));
    sort_join = " LEFT JOIN metric_summary so ON so.run_seq = r.seq AND so.name = ?";
    sort_values.emplace_back(name);
    keys = {"so." + column + dir + " NULLS LAST"};
  } else if (StartsWith(q.sort, "params.") && q.sort.size() > 7) {
    sort_join = " LEFT JOIN run_params po ON po.run_seq = r.seq AND po.name = ?";
    sort_values.emplace_back(q.sort.substr(7));
    // Numbers before text, each in order.
    keys = {"(po.value IS NULL)", "(po.num IS NULL)", std::string("po.num") + dir,
            std::string("po.value") + dir};
  } else {
    return InvalidArgument("sort: unknown column \"" + q.sort +
                           "\" (created_at, status, duration, id, params.NAME, "
                           "metrics.NAME[.last|.min|.max])");
  }
  keys.push_back(std::string("r.seq") + dir);

  // The sort of up to every run is a temporary b-tree: in memory, not in a temporary file
  // (half the time of a 10,000-run sort on a loaded machine).
  // A page of the list touches the index and the runs' rows at random: with SQLite's default
  // 2 MiB page cache, 10,000 runs (their specs and plans) no longer fit and every query reads
  // them again (3-10x slower). 16 MiB per connection keeps them.
  RETURN_IF_ERROR(db->Exec("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384"));
  RunPage page;
  {
    ASSIGN_OR_RETURN(Stmt count,
                     db->Prepare(std::string("SELECT COUNT(*)") + kFrom + w.joins + w.where));
    BindAll(count, w.values);
    ASSIGN_OR_RETURN(bool row, count.Step());
    page.total = row ? count.Int(0) : 0;
  }
  static constexpr char kColumns[] =
      "SELECT r.seq, r.id, e.name, r.display_name, r.status, r.status_detail, r.target, r.kind, "
      "r.parent_id, r.trial_index, r.created_at, r.started_at, r.ended_at";
  std::map<int64_t, size_t> index;  // seq → position in page.runs
  // Appends the rows of `sql` (bound with `values`) to the page.
  auto read_rows = [&](const std::string& sql, const std::vector<SqlValue>& values) -> Status {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare(sql));
    BindAll(s, values);
    return s.ForEachRow([&](const Stmt& row) {
      RunRow r;
      r.seq = row.Int(0);
      r.id = row.Text(1);
      r.experiment = row.Text(2);
      r.display_name = row.Text(3);
      r.status = row.Text(4);
      r.status_detail = row.Text(5);
      r.target = row.Text(6);
      r.kind = row.Text(7);
      r.parent_id = row.Text(8);
      r.trial_index = row.OptInt(9);
      r.created_at = row.Int(10);
      r.started_at = row.OptInt(11);
      r.ended_at = row.OptInt(12);
      index[r.seq] = page.runs.size();
      page.runs.push_back(std::move(r));
    });
  };
  auto with = [](std::vector<SqlValue> a, const std::vector<SqlValue>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  if (StartsWith(q.sort, "metrics.")) {
    // Sorted by a metric: the runs that have a value come in the order of the summary's
    // (name, value, run) index, which a first page reads 50 entries of, without sorting every
    // run; the runs without one (no such metric, NaN) follow in submission order.
    auto [name, column] = MetricField(q.sort.substr(8));
    const std::string valued = std::string(
                                   " FROM metric_summary so JOIN runs r ON r.seq = "
                                   "so.run_seq JOIN experiments e ON e.id = "
                                   "r.experiment_id") +
                               w.joins + " WHERE so.name = ? AND so." + column + " IS NOT NULL" +
                               (w.where.empty() ? "" : " AND " + w.where.substr(7));
    // The joins' values come first in w.values, then the WHERE's; so.name sits between.
    size_t join_values = 0;
    for (size_t pos = 0; (pos = w.joins.find('?', pos)) != std::string::npos; ++pos) ++join_values;
    std::vector<SqlValue> vv(w.values.begin(), w.values.begin() + static_cast<long>(join_values));
    vv.emplace_back(name);
    vv.insert(vv.end(), w.values.begin() + static_cast<long>(join_values), w.values.end());
    int64_t with_value = 0;
    {
      // Unfiltered, the index alone counts them (every summary belongs to a run).
      const bool unfiltered = w.where.empty() && w.joins.empty();
      ASSIGN_OR_RETURN(Stmt count,
                       db->Prepare(unfiltered ? "SELECT COUNT(*) FROM metric_summary so WHERE "
                                                "so.name = ? AND so." +
                                                    column + " IS NOT NULL"
                                              : "SELECT COUNT(*)" + valued));
      BindAll(count, vv);
      ASSIGN_OR_RETURN(bool row, count.Step());
      with_value = row ? count.Int(0) : 0;
    }
    if (q.offset < with_value) {
      RETURN_IF_ERROR(read_rows(kColumns + valued + " ORDER BY so." + column + dir +
                                    ", so.run_seq" + dir + " LIMIT ? OFFSET ?",
                                with(vv, {q.limit, q.offset})));
    }
    const int64_t left = q.limit - static_cast<int64_t>(page.runs.size());
    if (left > 0 && q.offset + q.limit > with_value) {
      RETURN_IF_ERROR(read_rows(
          std::string(kColumns) + kFrom + sort_join + w.joins +
              (w.where.empty() ? " WHERE " : w.where + " AND ") + "so." + column +
              " IS NULL ORDER BY r.seq" + dir + " LIMIT ? OFFSET ?",
          with(with(sort_values, w.values), {left, std::max<int64_t>(0, q.offset - with_value)})));
    }
  } else {
    std::string order;
    for (const auto& k : keys) order += (order.empty() ? " ORDER BY " : ", ") + k;
    RETURN_IF_ERROR(read_rows(
        std::string(kColumns) + kFrom + sort_join + w.joins + w.where + order + " LIMIT ? OFFSET ?",
        with(with(sort_values, w.values), {q.limit, q.offset})));
  }

  if (!page.runs.empty()) {
    std::string in;
    for (const auto& r : page.runs) in += (in.empty() ? "" : ",") + std::to_string(r.seq);
    ASSIGN_OR_RETURN(Stmt p, db->Prepare("SELECT run_seq, name, value FROM run_params WHERE "
                                         "run_seq IN (" +
                                         in + ") ORDER BY run_seq, name"));
    RETURN_IF_ERROR(p.ForEachRow([&](const Stmt& row) {
      page.runs[index[row.Int(0)]].params.emplace_back(row.Text(1), row.Text(2));
    }));
    ASSIGN_OR_RETURN(Stmt m, db->Prepare("SELECT run_seq, name, count, last_value, min_value, "
                                         "max_value, last_step FROM metric_summary WHERE "
                                         "run_seq IN (" +
                                         in + ") ORDER BY run_seq, name"));
    RETURN_IF_ERROR(m.ForEachRow([&](const Stmt& row) {
      page.runs[index[row.Int(0)]].metrics.push_back({row.Text(1), row.Int(2), OptDouble(row, 3),
                                                      OptDouble(row, 4), OptDouble(row, 5),
                                                      row.Int(6)});
    }));
  }

  if (q.with_columns) {
    // Each distinct name by a skip scan of the (name, ...) index, then, when the runs are
    // filtered, whether a matching run has it (stops at the first).
    for (const auto& [table, out] :
         {std::pair<const char*, std::vector<std::string>*>{"run_params", &page.param_columns},
          {"metric_summary", &page.metric_columns}}) {
      std::string t = table;
      ASSIGN_OR_RETURN(
          Stmt names,
          db->Prepare("WITH RECURSIVE n(name) AS (SELECT (SELECT min(name) FROM " + t +
                      ") UNION ALL SELECT (SELECT min(name) FROM " + t +
                      " WHERE name > n.name) FROM n WHERE n.name IS NOT NULL) SELECT name FROM "
                      "n WHERE name IS NOT NULL"));
      std::vector<std::string> all;
      RETURN_IF_ERROR(names.ForEachRow([&](const Stmt& row) { all.push_back(row.Text(0)); }));
      if (w.where.empty() && w.joins.empty()) {
        *out = std::move(all);
        continue;
      }
      ASSIGN_OR_RETURN(
          Stmt has, db->Prepare("SELECT 1 FROM " + t +
                                " c JOIN runs r ON r.seq = "
                                "c.run_seq JOIN experiments e ON e.id = "
                                "r.experiment_id" +
                                w.joins + " WHERE c.name = ?" +
                                (w.where.empty() ? "" : " AND " + w.where.substr(7)) + " LIMIT 1"));
      for (const auto& name : all) {
        // The joins' values come first in w.values, then the WHERE's; c.name sits between.
        size_t joins = 0;
        for (size_t pos = 0; (pos = w.joins.find('?', pos)) != std::string::npos; ++pos) ++joins;
        std::vector<SqlValue> v(w.values.begin(), w.values.begin() + static_cast<long>(joins));
        v.emplace_back(name);
        v.insert(v.end(), w.values.begin() + static_cast<long>(joins), w.values.end());
        BindAll(has, v);
        ASSIGN_OR_RETURN(bool found, has.Step());
        if (found) out->push_back(name);
        RETURN_IF_ERROR(has.Reset());
      }
    }
  }
  return page;
}

Result<std::vector<std::pair<std::string, std::string>>> RunParams(Db* db, int64_t run_seq) {
  ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT name, value FROM run_params WHERE run_seq = ? "
                                       "ORDER BY name"));
  s.Bind(1, run_seq);
  std::vector<std::pair<std::string, std::string>> out;
  RETURN_IF_ERROR(
      s.ForEachRow([&](const Stmt& row) { out.emplace_back(row.Text(0), row.Text(1)); }));
  return out;
}

Result<std::vector<MetricSummaryRow>> RunMetricSummaries(Db* db, int64_t run_seq) {
  ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT name, count, last_value, min_value, max_value, "
                                       "last_step FROM metric_summary WHERE run_seq = ? ORDER BY "
                                       "name"));
  s.Bind(1, run_seq);
  std::vector<MetricSummaryRow> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    out.push_back({row.Text(0), row.Int(1), OptDouble(row, 2), OptDouble(row, 3), OptDouble(row, 4),
                   row.Int(5)});
  }));
  return out;
}

// --- Series --------------------------------------------------------------------------------

namespace {

struct Bucket {
  int64_t index = 0;
  int64_t count = 0;
  int64_t first_step = 0, last_step = 0;
  std::optional<double> last, min, max;
};

// Adds a point or a block (in increasing step order) to the bucket list.
void AddToBuckets(std::vector<Bucket>* buckets, int64_t index, int64_t count, int64_t first_step,
                  int64_t last_step, std::optional<double> last, std::optional<double> min,
                  std::optional<double> max) {
  if (buckets->empty() || buckets->back().index != index) {
    buckets->push_back({index, 0, first_step, last_step, last, min, max});
  }
  Bucket& b = buckets->back();
  if (b.count > 0) {
    b.first_step = std::min(b.first_step, first_step);
    if (last_step >= b.last_step) {
      b.last_step = last_step;
      b.last = last;
    }
    if (min) b.min = b.min ? std::min(*b.min, *min) : *min;
    if (max) b.max = b.max ? std::max(*b.max, *max) : *max;
  }
  b.count += count;
}

int64_t FloorShift(int64_t v, int k) { return v >> k; }  // arithmetic: floor for negatives

}  // namespace

Result<Series> ReadSeries(Db* db, int64_t run_seq, const std::string& name,
                          const SeriesQuery& query) {
  ASSIGN_OR_RETURN(Stmt id,
                   db->Prepare("SELECT id FROM metric_names WHERE run_seq = ? AND name = ?"));
  id.Bind(1, run_seq).Bind(2, name);
  ASSIGN_OR_RETURN(bool found, id.Step());
  if (!found) return NotFound("the run has no metric \"" + name + "\"");
  const int64_t name_id = id.Int(0);
  Series out;
  ASSIGN_OR_RETURN(Stmt range, db->Prepare("SELECT (SELECT min(step) FROM metrics WHERE name_id = "
                                           "?1), (SELECT max(step) FROM metrics WHERE name_id = "
                                           "?1)"));
  range.Bind(1, name_id);
  ASSIGN_OR_RETURN(bool has_range, range.Step());
  if (!has_range || range.IsNull(0)) return out;  // no points
  const int64_t lo = std::max(query.min_step.value_or(range.Int(0)), range.Int(0));
  const int64_t hi = std::min(query.max_step.value_or(range.Int(1)), range.Int(1));
  if (lo > hi) return out;
  const int64_t points = std::max<int64_t>(query.points, 1);

  ASSIGN_OR_RETURN(Stmt raw, db->Prepare("SELECT step, value FROM metrics INDEXED BY "
                                         "metrics_by_step WHERE name_id = ? AND step BETWEEN ? "
                                         "AND ? ORDER BY step, rowid"));
  // The bucket width 2^k: the smallest with at most `points` buckets over [lo, hi].
  int k = 0;
  while (k < 62 && FloorShift(hi, k) - FloorShift(lo, k) + 1 > points) ++k;
  std::vector<Bucket> buckets;
  auto add_raw = [&](int64_t from, int64_t to) -> Status {
    if (from > to) return Status::Ok();
    raw.Bind(1, name_id).Bind(2, from).Bind(3, to);
    RETURN_IF_ERROR(raw.ForEachRow([&](const Stmt& row) {
      std::optional<double> v = OptDouble(row, 1);
      AddToBuckets(&buckets, FloorShift(row.Int(0), k), 1, row.Int(0), row.Int(0), v, v, v);
    }));
    return raw.Reset();
  };
  int level = -1;
  for (int l : kBlockLevels) {
    if (l <= k) level = l;
  }
  if (level < 0) {
    RETURN_IF_ERROR(add_raw(lo, hi));
  } else {
    // Whole blocks inside [lo, hi]; raw points in the partial blocks at either end. Without a
    // bound the end blocks are whole: no point lies beyond the series' own first and last step.
    const int64_t width = int64_t{1} << level;
    int64_t first_block = FloorShift(lo, level);
    if (query.min_step && (first_block << level) < lo) ++first_block;
    int64_t last_block = FloorShift(hi, level);
    if (query.max_step && ((last_block << level) + width - 1) > hi) --last_block;
    if (first_block > last_block) {
      RETURN_IF_ERROR(add_raw(lo, hi));
    } else {
      RETURN_IF_ERROR(add_raw(lo, (first_block << level) - 1));
      ASSIGN_OR_RETURN(Stmt blocks,
                       db->Prepare("SELECT block, count, first_step, last_step, last_value, "
                                   "min_value, max_value FROM metric_blocks WHERE name_id = ? AND "
                                   "level = ? AND block BETWEEN ? AND ?"));
      blocks.Bind(1, name_id).Bind(2, level).Bind(3, first_block).Bind(4, last_block);
      const int shift = k - level;
      RETURN_IF_ERROR(blocks.ForEachRow([&](const Stmt& row) {
        AddToBuckets(&buckets, FloorShift(row.Int(0), shift), row.Int(1), row.Int(2), row.Int(3),
                     OptDouble(row, 4), OptDouble(row, 5), OptDouble(row, 6));
      }));
      RETURN_IF_ERROR(add_raw((last_block << level) + width, hi));
    }
  }
  for (const auto& b : buckets) out.total += b.count;
  if (out.total <= points) {
    // Few enough to send as they are.
    raw.Bind(1, name_id).Bind(2, lo).Bind(3, hi);
    RETURN_IF_ERROR(raw.ForEachRow([&](const Stmt& row) {
      out.step.push_back(row.Int(0));
      out.value.push_back(OptDouble(row, 1));
    }));
    return out;
  }
  out.downsampled = true;
  for (const auto& b : buckets) {
    out.step.push_back(b.first_step);
    out.value.push_back(b.last);
    out.min.push_back(b.min);
    out.max.push_back(b.max);
  }
  return out;
}

}  // namespace trainyard::store
