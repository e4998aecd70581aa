#include "tracking/protocol.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <system_error>

#include "tracking/limits.h"

namespace trainyard::tracking {
namespace {

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

// "%.17g" without the locale and printf's cost; "nan", "inf", "-inf" for the rest.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "nan";
  } else if (std::isinf(v)) {
    out += v > 0 ? "inf" : "-inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 17);
    out.append(buf, end);
  }
}

void AppendRecord(std::string& out, char type, std::string_view name, int64_t step, int64_t ts,
                  std::string_view tail) {
  out += type;
  out += '\t';
  out += name;
  out += '\t';
  AppendInt(out, step);
  out += '\t';
  AppendInt(out, ts);
  out += '\t';
  out += tail;
  out += '\n';
}

Status LineError(size_t line, const std::string& message) {
  return InvalidArgument("tracking batch line " + std::to_string(line) + ": " + message);
}

// `status` with the line number prepended (built only on error: this runs for every line).
Status AtLine(size_t line, const Status& status) {
  return status.ok() ? status : status.WithContext("tracking batch line " + std::to_string(line));
}

// A line split at TABs into at most kMaxFields fields (the last keeps any further TABs).
struct Fields {
  static constexpr size_t kMaxFields = 6;
  std::string_view f[kMaxFields];
  size_t size = 0;
  std::string_view operator[](size_t i) const { return f[i]; }
};

Fields SplitFields(std::string_view line, size_t max_fields) {
  Fields fields;
  while (fields.size + 1 < max_fields) {
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) break;
    fields.f[fields.size++] = line.substr(0, tab);
    line.remove_prefix(tab + 1);
  }
  fields.f[fields.size++] = line;
  return fields;
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  if (s == "nan" || s == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (s == "inf" || s == "Infinity") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-inf" || s == "-Infinity") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  // from_chars reports out-of-range values (1e999) as an error; they cannot come from %.17g.
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(*out);
}

Status DecodeHeader(std::string_view line, Batch* batch) {
  nlohmann::json header = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object())
    return LineError(1, "expected the JSON header {\"client\",\"seq\",\"rank\"}");
  auto client = header.find("client");
  if (client == header.end() || !client->is_string() ||
      client->get_ref<const std::string&>().empty()) {
    return LineError(1, "header: \"client\" must be a non-empty string");
  }
  batch->client = client->get<std::string>();
  RETURN_IF_ERROR(CheckName("client id", batch->client).WithContext("tracking batch line 1"));
  auto seq = header.find("seq");
  if (seq == header.end() || !seq->is_number_integer() || seq->get<int64_t>() < 1) {
    return LineError(1, "header: \"seq\" must be an integer >= 1");
  }
  batch->seq = seq->get<int64_t>();
  auto rank = header.find("rank");
  if (rank == header.end() || !rank->is_number_integer() || rank->get<int64_t>() < 0 ||
      rank->get<int64_t>() > std::numeric_limits<int>::max()) {
    return LineError(1, "header: \"rank\" must be an integer >= 0");
  }
  batch->rank = static_cast<int>(rank->get<int64_t>());
  return Status::Ok();
}

// The "<name> <step> <ts_us>" fields shared by M, R and I records.
Status DecodeNamed(size_t n, const Fields& f, std::string* name, int64_t* step, int64_t* ts) {
  if (f.size != 5) {
    return LineError(n, "a " + std::string(f[0]) + " record has 5 TAB-separated fields, got " +
                            std::to_string(f.size));
  }
  RETURN_IF_ERROR(AtLine(n, CheckName("name", f[1])));
  if (!ParseInt(f[2], step)) return LineError(n, "bad step '" + std::string(f[2]) + "'");
  if (!ParseInt(f[3], ts)) return LineError(n, "bad timestamp '" + std::string(f[3]) + "'");
  *name = std::string(f[1]);
  return Status::Ok();
}

Status DecodeKeyValue(size_t n, const Fields& f, std::vector<KeyValue>* out) {
  if (f.size != 3) {
    return LineError(n, "a " + std::string(f[0]) + " record has 3 TAB-separated fields, got " +
                            std::to_string(f.size));
  }
  RETURN_IF_ERROR(AtLine(n, CheckName("key", f[1])));
  RETURN_IF_ERROR(AtLine(n, CheckTagValueJson(f[2])));
  out->push_back(KeyValue{std::string(f[1]), std::string(f[2])});
  return Status::Ok();
}

Status DecodeRecord(size_t n, std::string_view line, Batch* batch) {
  if (line.size() < 2 || line[1] != '\t') {
    return LineError(n, "expected a record type (M, R, I, T or P) and a TAB");
  }
  switch (line[0]) {
    case 'M': {
      Fields f = SplitFields(line, 6);
      Point p;
      RETURN_IF_ERROR(DecodeNamed(n, f, &p.name, &p.step, &p.ts_us));
      if (!ParseDouble(f[4], &p.value))
        return LineError(n, "bad value '" + std::string(f[4]) + "'");
      batch->points.push_back(std::move(p));
      return Status::Ok();
    }
    case 'R': {
      Fields f = SplitFields(line, 6);
      Row r;
      RETURN_IF_ERROR(DecodeNamed(n, f, &r.name, &r.step, &r.ts_us));
      Result<std::string> columns = NormalizeRow(r.name, f[4]);
      RETURN_IF_ERROR(AtLine(n, columns.status()));
      r.columns_json = std::move(columns).value();
      batch->rows.push_back(std::move(r));
      return Status::Ok();
    }
    case 'I': {
      Fields f = SplitFields(line, 6);
      Image im;
      RETURN_IF_ERROR(DecodeNamed(n, f, &im.name, &im.step, &im.ts_us));
      RETURN_IF_ERROR(AtLine(n, CheckFilePath("image path", f[4])));
      im.path = std::string(f[4]);
      batch->images.push_back(std::move(im));
      return Status::Ok();
    }
    case 'T': return DecodeKeyValue(n, SplitFields(line, 4), &batch->tags);
    case 'P': return DecodeKeyValue(n, SplitFields(line, 4), &batch->properties);
    default:
      return LineError(
          n, "unknown record type '" + std::string(1, line[0]) + "' (expected M, R, I, T or P)");
  }
}

}  // namespace

std::string EncodeBatch(const Batch& batch) {
  std::string out;
  out.reserve(64 + batch.points.size() * 48);
  nlohmann::ordered_json header = {
      {"client", batch.client}, {"seq", batch.seq}, {"rank", batch.rank}};
  out += header.dump();
  out += '\n';
  std::string value;
  for (const Point& p : batch.points) {
    value.clear();
    AppendDouble(value, p.value);
    AppendRecord(out, 'M', p.name, p.step, p.ts_us, value);
  }
  for (const Row& r : batch.rows) AppendRecord(out, 'R', r.name, r.step, r.ts_us, r.columns_json);
  for (const Image& im : batch.images) AppendRecord(out, 'I', im.name, im.step, im.ts_us, im.path);
  for (const KeyValue& kv : batch.tags) out += "T\t" + kv.key + '\t' + kv.value_json + '\n';
  for (const KeyValue& kv : batch.properties) out += "P\t" + kv.key + '\t' + kv.value_json + '\n';
  return out;
}

Result<Batch> DecodeBatch(const std::string& body) {
  if (body.empty())
    return InvalidArgument("tracking batch: empty body (expected a JSON header line)");
  Batch batch;
  batch.points.reserve(static_cast<size_t>(std::count(body.begin(), body.end(), '\n')));
  std::string_view rest(body);
  size_t line_number = 0;
  while (!rest.empty()) {
    ++line_number;
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    if (line_number == 1) {
      RETURN_IF_ERROR(DecodeHeader(line, &batch));
      continue;
    }
    if (line.empty()) return LineError(line_number, "empty line");
    RETURN_IF_ERROR(DecodeRecord(line_number, line, &batch));
  }
  return batch;
}

}  // namespace trainyard::tracking
