#include "tracking/protocol.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>

#include "common/clock.h"
#include "tracking/metrics_json.h"

namespace trainyard::tracking {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool SameDouble(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof(a)) == 0;  // also tells 0.0 from -0.0
}

Batch SampleBatch() {
  Batch b;
  b.client = "c0ffee";
  b.seq = 7;
  b.rank = 3;
  const double values[] = {0.25,       0.1,  -0.0, 1e-310, 1.7976931348623157e308,
                           -12345.678, kNaN, kInf, -kInf,  3.0};
  int64_t step = 0;
  for (double v : values)
    b.points.push_back(Point{"loss/train", step++, 1700000000000000 + step, v});
  b.points.push_back(Point{"accuracy é", -5, 1, 0.5});
  b.rows.push_back(Row{"table", 0, 10, R"({"a":1,"b":"x y","c":null,"d":true})"});
  b.images.push_back(Image{"plots", 2, 11, "images/plots/2.png"});
  b.tags.push_back(KeyValue{"mode", R"("fast")"});
  b.tags.push_back(KeyValue{"flag", "null"});
  b.properties.push_back(KeyValue{"commit", R"("abc\tdef")"});
  return b;
}

TEST(Protocol, RoundTripsEveryRecordType) {
  Batch in = SampleBatch();
  Result<Batch> out = DecodeBatch(EncodeBatch(in));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->client, in.client);
  EXPECT_EQ(out->seq, in.seq);
  EXPECT_EQ(out->rank, in.rank);
  ASSERT_EQ(out->points.size(), in.points.size());
  for (size_t i = 0; i < in.points.size(); ++i) {
    EXPECT_EQ(out->points[i].name, in.points[i].name);
    EXPECT_EQ(out->points[i].step, in.points[i].step);
    EXPECT_EQ(out->points[i].ts_us, in.points[i].ts_us);
    EXPECT_TRUE(SameDouble(out->points[i].value, in.points[i].value))
        << i << ": " << in.points[i].value << " came back as " << out->points[i].value;
  }
  ASSERT_EQ(out->rows.size(), 1u);
  EXPECT_EQ(out->rows[0].columns_json, in.rows[0].columns_json);
  EXPECT_EQ(out->rows[0].step, 0);
  ASSERT_EQ(out->images.size(), 1u);
  EXPECT_EQ(out->images[0].path, "images/plots/2.png");
  EXPECT_EQ(out->images[0].step, 2);
  ASSERT_EQ(out->tags.size(), 2u);
  EXPECT_EQ(out->tags[0].value_json, R"("fast")");
  EXPECT_EQ(out->tags[1].value_json, "null");
  ASSERT_EQ(out->properties.size(), 1u);
  EXPECT_EQ(out->properties[0].key, "commit");
}

TEST(Protocol, EncodesTheDocumentedFormat) {
  Batch b;
  b.client = "abc";
  b.seq = 1;
  b.points = {Point{"loss", 3, 1000, 0.25}, Point{"loss", 4, 1001, kNaN},
              Point{"loss", 5, 1002, -kInf}};
  b.rows = {Row{"r", 0, 5, R"({"x":1})"}};
  b.tags = {KeyValue{"k", R"("v")"}};
  b.properties = {KeyValue{"p", "null"}};
  EXPECT_EQ(EncodeBatch(b),
            "{\"client\":\"abc\",\"seq\":1,\"rank\":0}\n"
            "M\tloss\t3\t1000\t0.25\n"
            "M\tloss\t4\t1001\tnan\n"
            "M\tloss\t5\t1002\t-inf\n"
            "R\tr\t0\t5\t{\"x\":1}\n"
            "T\tk\t\"v\"\n"
            "P\tp\tnull\n");
}

TEST(Protocol, EmptyBatchIsJustTheHeader) {
  Batch b;
  b.client = "x";
  b.seq = 42;
  std::string body = EncodeBatch(b);
  EXPECT_EQ(body, "{\"client\":\"x\",\"seq\":42,\"rank\":0}\n");
  Result<Batch> out = DecodeBatch(body);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->empty());
  EXPECT_EQ(out->seq, 42);
  // Without the final newline too.
  ASSERT_TRUE(DecodeBatch("{\"client\":\"x\",\"rank\":0,\"seq\":1}").ok());
  ASSERT_TRUE(DecodeBatch("{\"client\":\"x\",\"rank\":0,\"seq\":1}\nM\ta\t0\t0\t1").ok());
}

TEST(Protocol, AcceptsOtherSpellingsOfNonFiniteValues) {
  Result<Batch> out = DecodeBatch(
      "{\"client\":\"x\",\"rank\":0,\"seq\":1}\nM\ta\t0\t0\tNaN\nM\ta\t1\t0\tInfinity\n"
      "M\ta\t2\t0\t-Infinity\nM\ta\t3\t0\t1e3\n");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(std::isnan(out->points[0].value));
  EXPECT_EQ(out->points[1].value, kInf);
  EXPECT_EQ(out->points[2].value, -kInf);
  EXPECT_EQ(out->points[3].value, 1000);
}

void ExpectError(const std::string& body, const std::string& fragment) {
  Result<Batch> out = DecodeBatch(body);
  ASSERT_FALSE(out.ok()) << "accepted: " << body;
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find(fragment), std::string::npos)
      << out.status().message() << " (expected to contain '" << fragment << "')";
}

TEST(Protocol, RejectsMalformedInputNamingTheLine) {
  const std::string h = "{\"client\":\"x\",\"rank\":0,\"seq\":1}\n";
  ExpectError("", "empty body");
  ExpectError("not json\n", "line 1");
  ExpectError("{\"client\":\"x\",\"rank\":0}\n", "\"seq\"");
  ExpectError("{\"client\":\"x\",\"rank\":0,\"seq\":0}\n", "\"seq\"");
  ExpectError("{\"client\":\"\",\"rank\":0,\"seq\":1}\n", "\"client\"");
  ExpectError("{\"client\":\"x\",\"rank\":-1,\"seq\":1}\n", "\"rank\"");
  ExpectError(h + "M\ta\t0\t0\t1\nX\ta\t0\t0\t1\n", "line 3: unknown record type 'X'");
  ExpectError(h + "M\ta\t0\t0\n", "line 2: a M record has 5");
  ExpectError(h + "M\ta\t0\t0\t1\textra\n", "line 2: a M record has 5");
  ExpectError(h + "M\ta\tzero\t0\t1\n", "line 2: bad step 'zero'");
  ExpectError(h + "M\ta\t0\t1.5\t1\n", "line 2: bad timestamp");
  ExpectError(h + "M\ta\t0\t0\t1x\n", "line 2: bad value '1x'");
  ExpectError(h + "M\ta\t0\t0\t1e999\n", "bad value");
  ExpectError(h + "M\t\t0\t0\t1\n", "line 2");
  ExpectError(h + "M\ta\t0\t0\t1\n\nM\ta\t1\t0\t1\n", "line 3: empty line");
  ExpectError(h + "R\tr\t0\t0\t[1,2]\n", "must be a JSON object");
  ExpectError(h + "R\tr\t0\t0\t{\"a\":\n", "not valid JSON");
  ExpectError(h + "I\ti\t0\t0\t../../etc/passwd\n", "line 2");
  ExpectError(h + "T\tk\t42\n", "line 2");
  ExpectError(h + "T\tk\n", "line 2: a T record has 3");
  ExpectError(h + "P\tk\t\"unterminated\n", "line 2");
  ExpectError(h + "M", "line 2");
}

// Not a pass/fail test: prints what the endpoint's decoding costs per point.
TEST(Protocol, EncodeDecodeThroughput) {
  Batch b;
  b.client = "bench";
  b.seq = 1;
  for (int64_t i = 0; i < 100'000; ++i) {
    b.points.push_back(
        Point{"train/loss", i, 1700000000000000 + i, 1.0 / static_cast<double>(i + 1)});
  }
  const int64_t t0 = MonotonicMicros();
  std::string body = EncodeBatch(b);
  const int64_t t1 = MonotonicMicros();
  Result<Batch> out = DecodeBatch(body);
  const int64_t t2 = MonotonicMicros();
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->points.size(), b.points.size());
  std::cout << "[ bench    ] 100k points: encode " << (t1 - t0) / 100.0 << " ns/point, decode "
            << (t2 - t1) / 100.0 << " ns/point, " << body.size() / 100'000 << " bytes/point\n";
}

TEST(MetricsJson, RoundTripsNonFiniteValues) {
  MetricSeries in;
  in["loss"] = {MetricPoint{0, 10, 0, 0.5}, MetricPoint{1, 11, 1, kNaN},
                MetricPoint{2, 12, 0, kInf}, MetricPoint{3, 13, 0, -kInf}};
  std::string body = EncodeMetricsJson(in);
  EXPECT_NE(body.find("\"NaN\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"-Infinity\""), std::string::npos) << body;
  Result<MetricSeries> out = DecodeMetricsJson(body);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->at("loss").size(), 4u);
  EXPECT_EQ(out->at("loss")[1].rank, 1);
  EXPECT_TRUE(std::isnan(out->at("loss")[1].value));
  EXPECT_EQ(out->at("loss")[2].value, kInf);
  EXPECT_EQ(out->at("loss")[3].value, -kInf);
  EXPECT_FALSE(DecodeMetricsJson("[1]").ok());
  EXPECT_FALSE(DecodeMetricsJson(R"({"a":[{"step":0,"ts":0,"value":"nope"}]})").ok());
}

}  // namespace
}  // namespace trainyard::tracking
