#include "store/metrics.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "store/run_index.h"

namespace trainyard::store {

namespace {

// Tags and properties are stored as text: a JSON string value is stored unquoted, null as "".
std::string JsonValueText(const std::string& value_json) {
  auto v = nlohmann::json::parse(value_json, nullptr, false);
  if (v.is_discarded() || v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

Result<std::string> RunIdOf(Db* db, int64_t run_seq) {
  ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT id FROM runs WHERE seq = ?"));
  s.Bind(1, run_seq);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("run #" + std::to_string(run_seq));
  return s.Text(0);
}

}  // namespace

Result<bool> ApplyBatch(Db* db, int64_t run_seq, const tracking::Batch& batch) {
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db));
  ASSIGN_OR_RETURN(Stmt seen,
                   db->Prepare("SELECT last_seq FROM tracking_clients WHERE run_seq = ? AND "
                               "client = ?"));
  seen.Bind(1, run_seq).Bind(2, batch.client);
  ASSIGN_OR_RETURN(bool known, seen.Step());
  if (known && seen.Int(0) >= batch.seq) return false;
  ASSIGN_OR_RETURN(Stmt mark,
                   db->Prepare("INSERT INTO tracking_clients(run_seq, client, last_seq) "
                               "VALUES(?,?,?) ON CONFLICT(run_seq, client) DO UPDATE SET "
                               "last_seq = excluded.last_seq"));
  RETURN_IF_ERROR(mark.Bind(1, run_seq).Bind(2, batch.client).Bind(3, batch.seq).Run());

  if (!batch.points.empty()) {
    std::unordered_map<std::string, int64_t> ids;
    ASSIGN_OR_RETURN(Stmt add_name,
                     db->Prepare("INSERT INTO metric_names(run_seq, name) VALUES(?, ?) "
                                 "ON CONFLICT(run_seq, name) DO NOTHING"));
    ASSIGN_OR_RETURN(Stmt get_name,
                     db->Prepare("SELECT id FROM metric_names WHERE run_seq = ? AND name = ?"));
    ASSIGN_OR_RETURN(Stmt ins, db->Prepare("INSERT INTO metrics(name_id, step, ts, rank, value) "
                                           "VALUES(?,?,?,?,?)"));
    for (const auto& p : batch.points) {
      auto it = ids.find(p.name);
      if (it == ids.end()) {
        RETURN_IF_ERROR(add_name.Bind(1, run_seq).Bind(2, p.name).Run());
        RETURN_IF_ERROR(add_name.Reset());
        get_name.Bind(1, run_seq).Bind(2, p.name);
        ASSIGN_OR_RETURN(bool row, get_name.Step());
        if (!row) return Internal("metric name vanished: " + p.name);
        it = ids.emplace(p.name, get_name.Int(0)).first;
        RETURN_IF_ERROR(get_name.Reset());
      }
      ins.Bind(1, it->second).Bind(2, p.step).Bind(3, p.ts_us).Bind(4, int64_t{batch.rank});
      if (std::isnan(p.value)) {
        ins.BindNull(5);
      } else {
        ins.Bind(5, p.value);
      }
      RETURN_IF_ERROR(ins.Run());
      RETURN_IF_ERROR(ins.Reset());
    }
    // The runs list's summaries and the series' blocks change with the points (store/run_index.h).
    RETURN_IF_ERROR(IndexMetricPoints(db, run_seq, ids, batch.points));
  }
  if (!batch.rows.empty()) {
    ASSIGN_OR_RETURN(Stmt ins, db->Prepare("INSERT INTO metric_rows(run_seq, name, step, ts, "
                                           "rank, columns_json) VALUES(?,?,?,?,?,?)"));
    for (const auto& r : batch.rows) {
      RETURN_IF_ERROR(ins.Bind(1, run_seq)
                          .Bind(2, r.name)
                          .Bind(3, r.step)
                          .Bind(4, r.ts_us)
                          .Bind(5, int64_t{batch.rank})
                          .Bind(6, r.columns_json)
                          .Run());
      RETURN_IF_ERROR(ins.Reset());
    }
  }
  if (!batch.images.empty()) {
    ASSIGN_OR_RETURN(Stmt ins, db->Prepare("INSERT INTO metric_images(run_seq, name, step, ts, "
                                           "rank, path) VALUES(?,?,?,?,?,?)"));
    for (const auto& im : batch.images) {
      RETURN_IF_ERROR(ins.Bind(1, run_seq)
                          .Bind(2, im.name)
                          .Bind(3, im.step)
                          .Bind(4, im.ts_us)
                          .Bind(5, int64_t{batch.rank})
                          .Bind(6, im.path)
                          .Run());
      RETURN_IF_ERROR(ins.Reset());
    }
  }
  if (!batch.tags.empty() || !batch.properties.empty()) {
    ASSIGN_OR_RETURN(std::string run_id, RunIdOf(db, run_seq));
    for (const char* table : {"run_tags", "run_properties"}) {
      const auto& kvs = std::string(table) == "run_tags" ? batch.tags : batch.properties;
      if (kvs.empty()) continue;
      ASSIGN_OR_RETURN(Stmt ins, db->Prepare(std::string("INSERT INTO ") + table +
                                             "(run_id, key, value) VALUES(?,?,?) ON CONFLICT("
                                             "run_id, key) DO UPDATE SET value = excluded.value"));
      for (const auto& kv : kvs) {
        RETURN_IF_ERROR(
            ins.Bind(1, run_id).Bind(2, kv.key).Bind(3, JsonValueText(kv.value_json)).Run());
        RETURN_IF_ERROR(ins.Reset());
      }
    }
  }
  RETURN_IF_ERROR(tx->Commit());
  return true;
}

Result<std::map<std::string, std::vector<MetricPoint>>> ReadMetrics(Db* db, int64_t run_seq,
                                                                    const std::string& name) {
  std::string sql =
      "SELECT n.name, m.step, m.ts, m.rank, m.value FROM metric_names n JOIN metrics m ON "
      "m.name_id = n.id WHERE n.run_seq = ?1";
  if (!name.empty()) sql += " AND n.name = ?2";
  sql += " ORDER BY n.name, m.rowid";
  ASSIGN_OR_RETURN(Stmt s, db->Prepare(sql));
  s.Bind(1, run_seq);
  if (!name.empty()) s.Bind(2, name);
  std::map<std::string, std::vector<MetricPoint>> out;
  std::string cur_name;
  std::vector<MetricPoint>* cur = nullptr;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    std::string n = row.Text(0);
    if (!cur || n != cur_name) {
      cur_name = n;
      cur = &out[n];
    }
    double v = row.IsNull(4) ? std::numeric_limits<double>::quiet_NaN() : row.Double(4);
    cur->push_back({row.Int(1), row.Int(2), row.Int(3), v});
  }));
  return out;
}

Result<std::vector<MetricSummary>> SummarizeMetrics(Db* db, int64_t run_seq) {
  // Schema 7 keeps the summaries as the points arrive (store/run_index.h): read them rather than
  // every point (1.5 s for a run of 2,000,000). An older workspace opened read-only has no table.
  if (Result<Stmt> kept = db->Prepare("SELECT name, count, last_value, min_value, max_value, "
                                      "last_step, last_ts FROM metric_summary WHERE run_seq = ? "
                                      "ORDER BY name");
      kept.ok()) {
    constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    kept->Bind(1, run_seq);
    std::vector<MetricSummary> out;
    RETURN_IF_ERROR(kept->ForEachRow([&](const Stmt& row) {
      out.push_back({row.Text(0), row.Int(1), row.IsNull(2) ? kNaN : row.Double(2),
                     row.IsNull(3) ? kNaN : row.Double(3), row.IsNull(4) ? kNaN : row.Double(4),
                     row.Int(5), row.Int(6)});
    }));
    return out;
  }
  ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT n.id, n.name, COUNT(*), MIN(m.value), "
                                       "MAX(m.value) FROM metric_names n JOIN metrics m ON "
                                       "m.name_id = n.id WHERE n.run_seq = ? GROUP BY n.id "
                                       "ORDER BY n.name"));
  // The last point is the one logged last (highest rowid), not the one with the highest step.
  ASSIGN_OR_RETURN(Stmt last, db->Prepare("SELECT value, step, ts FROM metrics WHERE name_id = ? "
                                          "ORDER BY rowid DESC LIMIT 1"));
  s.Bind(1, run_seq);
  std::vector<MetricSummary> out;
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Status read = s.ForEachRow([&](const Stmt& row) -> Status {
    MetricSummary m;
    m.name = row.Text(1);
    m.count = row.Int(2);
    m.min = row.IsNull(3) ? kNaN : row.Double(3);
    m.max = row.IsNull(4) ? kNaN : row.Double(4);
    last.Bind(1, row.Int(0));
    ASSIGN_OR_RETURN(bool has_last, last.Step());
    if (has_last) {
      m.last = last.IsNull(0) ? kNaN : last.Double(0);
      m.last_step = last.Int(1);
      m.last_ts = last.Int(2);
    }
    RETURN_IF_ERROR(last.Reset());
    out.push_back(m);
    return Status::Ok();
  });
  RETURN_IF_ERROR(read);
  return out;
}

Result<std::vector<MetricRow>> ReadRows(Db* db, int64_t run_seq, const std::string& name) {
  std::string sql = "SELECT name, step, ts, rank, columns_json FROM metric_rows WHERE run_seq = ?1";
  if (!name.empty()) sql += " AND name = ?2";
  sql += " ORDER BY rowid";
  ASSIGN_OR_RETURN(Stmt s, db->Prepare(sql));
  s.Bind(1, run_seq);
  if (!name.empty()) s.Bind(2, name);
  std::vector<MetricRow> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    out.push_back({row.Text(0), row.Int(1), row.Int(2), row.Int(3), row.Text(4)});
  }));
  return out;
}

Result<std::vector<MetricImage>> ReadImages(Db* db, int64_t run_seq) {
  ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT name, step, ts, rank, path FROM metric_images "
                                       "WHERE run_seq = ? ORDER BY rowid"));
  s.Bind(1, run_seq);
  std::vector<MetricImage> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    out.push_back({row.Text(0), row.Int(1), row.Int(2), row.Int(3), row.Text(4)});
  }));
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ReadProperties(Db* db, int64_t run_seq) {
  ASSIGN_OR_RETURN(std::string run_id, RunIdOf(db, run_seq));
  ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT key, value FROM run_properties WHERE run_id = ? "
                                       "ORDER BY key"));
  s.Bind(1, run_id);
  std::vector<std::pair<std::string, std::string>> out;
  RETURN_IF_ERROR(
      s.ForEachRow([&](const Stmt& row) { out.emplace_back(row.Text(0), row.Text(1)); }));
  return out;
}

}  // namespace trainyard::store
