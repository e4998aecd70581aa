// Inputs that could exhaust the machine, and small silent acceptances: each is refused with one
// clear problem naming the place or the field; strict JSON is read exactly.
#include <gtest/gtest.h>

#include <string>

#include "spec/parse.h"
#include "spec/test_util.h"

namespace trainyard::spec {
namespace {

class LimitsTest : public TempDirTest {
 protected:
  // The error message for `text` read as `origin`, or "OK".
  std::string Error(const std::string& text, const std::string& origin = "job.yaml",
                    const Overrides& o = {}) {
    auto spec = ParseJobText(text, origin, dir_, o);
    if (spec.ok()) return "OK";
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    return spec.status().message();
  }
  JobSpec Parse(const std::string& text, const std::string& origin) {
    auto spec = ParseJobText(text, origin, dir_);
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    return spec.ok() ? *spec : JobSpec{};
  }
};

constexpr char kHead[] = "source_directory: .\nentry_script: t.py\n";  // lines 1-2
constexpr char kJsonHead[] = "{\"source_directory\": \".\", \"entry_script\": \"t.py\"";

TEST_F(LimitsTest, DeepNestingIsRefusedAtItsPlace) {
  std::string flow =
      std::string(kHead) + "tags: " + std::string(10000, '[') + std::string(10000, ']') + "\n";
  // The 64th bracket is the 65th level (the top-level map is the first).
  EXPECT_EQ(Error(flow),
            "job.yaml:3:70: nesting deeper than 64 levels (lists and maps inside "
            "each other)");
  std::string block = kHead;
  std::string indent;
  for (int i = 0; i < 70; ++i) {
    block += indent + "k" + std::to_string(i) + ":\n";
    indent += " ";
  }
  EXPECT_EQ(Error(block),
            "job.yaml:67:65: nesting deeper than 64 levels (lists and maps inside "
            "each other)");
  // 63 levels below the top are fine as far as nesting goes.
  std::string ok = std::string(kHead) + "tags: " + std::string(62, '[') + std::string(62, ']');
  EXPECT_EQ(Error(ok), "job.yaml:3:7: tags: expected a map, got a list");
  EXPECT_EQ(Error(std::string(kJsonHead) + ", \"tags\": " + std::string(10000, '[') +
                      std::string(10000, ']') + "}",
                  "job.json"),
            "job.json:1:122: nesting deeper than 64 levels (lists and maps inside each other)");
}

TEST_F(LimitsTest, AliasExpansionIsBounded) {
  // A 900 KB scalar repeated 11,110 times would need 10 GB.
  std::string bomb = std::string(kHead) + "a0: &a0 " + std::string(900000, 'x') + "\n";
  for (int i = 1; i <= 4; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) bomb += (j ? ", " : "") + prev;
    bomb += "]\n";
  }
  EXPECT_LT(bomb.size(), kMaxJobFileBytes);
  EXPECT_EQ(Error(bomb),
            "job.yaml:4:25: alias *a0 expands the document to more than 100000 keys and values or "
            "4 MiB of text (the limit for a job description)");
  // Many small nodes: ten levels of ten aliases.
  std::string laughs = std::string(kHead) + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) laughs += (j ? ", " : "") + prev;
    laughs += "]\n";
  }
  std::string error = Error(laughs);
  EXPECT_NE(error.find("expands the document to more than 100000 keys and values"),
            std::string::npos)
      << error;
  // An alias inside the node it names.
  EXPECT_EQ(Error(std::string(kHead) + "tags: &t {k: *t}\n"),
            "job.yaml:3:14: alias *t refers to the list or map that contains it");
  // Anchors inside anchors: each level keeps a copy of everything below it.
  std::string nested = std::string(kHead) + "extra_args: ";
  for (int i = 0; i < 60; ++i) nested += "&n" + std::to_string(i) + " [";
  nested += std::string(100000, 'y') + std::string(60, ']') + "\n";
  EXPECT_EQ(Error(nested).rfind("job.yaml:", 0), 0u);
  EXPECT_NE(Error(nested).find("anchored lists and maps hold more than 100000 keys and values or "
                               "4 MiB of text in all (an anchor inside an anchor counts twice)"),
            std::string::npos)
      << Error(nested);
  // Aliases used as intended still work.
  auto spec = Parse(std::string(kHead) + "tags: {a: &v hello, b: *v}\n", "job.yaml");
  ASSERT_EQ(spec.tags.size(), 2u);
  EXPECT_EQ(spec.tags[1].second, "hello");
}

TEST_F(LimitsTest, TooManyNodes) {
  std::string text = std::string(kHead) + "extra_args: [";
  for (int i = 0; i < 100001; ++i) text += i ? ",x" : "x";
  text += "]\n";
  std::string error = Error(text);
  EXPECT_EQ(error.rfind("job.yaml:3:", 0), 0u) << error;
  EXPECT_NE(error.find("the document holds more than 100000 keys and values"), std::string::npos)
      << error;
}

TEST_F(LimitsTest, DuplicateKeysAreFoundInLinearTime) {
  // 40,000 keys: a quadratic check took seconds here; the hash set takes milliseconds.
  std::string text = std::string(kHead) + "tags:\n";
  for (int i = 0; i < 40000; ++i) text += "  k" + std::to_string(i) + ": v\n";
  text += "  k17: again\n";
  EXPECT_EQ(Error(text),
            "job.yaml:40004:3: duplicate key \"k17\" (first written at job.yaml:21:3)");
  std::string json = std::string(kJsonHead) + ", \"tags\": {\"a\": \"1\", \"a\": \"2\"}}";
  EXPECT_EQ(Error(json, "job.json"),
            "job.json:1:70: duplicate key \"a\" (first written at job.json:1:60)");
}

TEST_F(LimitsTest, JobFileSize) {
  std::string text = std::string(kHead) + "display_name: " + std::string(kMaxJobFileBytes, 'x');
  EXPECT_EQ(Error(text), "job.yaml: the job file is " + std::to_string(text.size()) +
                             " bytes; job files are limited to 1048576 bytes (1 MiB)");
  std::string path = Write("big.yaml", text);
  auto spec = ParseJobFile(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), path + ": the job file is " + std::to_string(text.size()) +
                                         " bytes; job files are limited to 1048576 bytes (1 MiB)");
}

TEST_F(LimitsTest, StoredSpecsAreReadBackWhateverTheirSize) {
  // What trainyard stores (ToJson: absolute paths, defaults filled in, aliases expanded) may be
  // larger than a job file may be; the supervisor must still read it back.
  JobSpec big = Parse(std::string(kHead) + "extra_args: [" + std::string(300000, 'a') + ", " +
                          std::string(300000, 'b') + ", " + std::string(300000, 'c') + "]\n",
                      "job.yaml");
  big.extra_args.push_back(std::string(500000, 'd'));  // as if an alias had repeated one
  std::string stored = ToJson(big);
  ASSERT_GT(stored.size(), kMaxJobFileBytes);
  auto again = ParseJobText(stored, kStoredSpecOrigin, "/");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->extra_args, big.extra_args);
  EXPECT_NE(Error(stored, "job.yaml").find("job files are limited to 1048576 bytes"),
            std::string::npos);
}

TEST_F(LimitsTest, OneYamlDocument) {
  EXPECT_EQ(Error(std::string(kHead) + "---\nnode_count: 2\n"),
            "job.yaml:3:1: a second YAML document (a job file holds one; remove the \"---\" line "
            "and what follows, or split the file)");
  EXPECT_EQ(Error(std::string(kHead) + "---\n"),
            "job.yaml:3:1: a second YAML document (a job file holds one; remove the \"---\" line "
            "and what follows, or split the file)");
  // A leading "---" and a closing "..." are one document.
  EXPECT_EQ(Error("---\n" + std::string(kHead) + "...\n"), "OK");
}

TEST_F(LimitsTest, StrictJson) {
  EXPECT_EQ(Error(std::string(kJsonHead) + ",}", "job.json"),
            "job.json:1:49: JSON syntax error: trailing comma before \"}\"");
  EXPECT_EQ(Error(std::string(kJsonHead) + ", \"extra_args\": [\"a\",]}", "job.json"),
            "job.json:1:69: JSON syntax error: trailing comma before \"]\"");
  EXPECT_EQ(Error("{source_directory: .}", "job.json"),
            "job.json:1:2: JSON syntax error: expected a key in double quotes, got \"s\"");
  EXPECT_EQ(Error(std::string(kJsonHead) + "}\n{}", "job.JSON"),
            "job.JSON:2:1: JSON syntax error: unexpected \"{\" after the end of the document");
  EXPECT_EQ(Error(std::string(kJsonHead) + ", // no\n}", "job.json"),
            "job.json:1:51: JSON syntax error: expected a key in double quotes, got \"/\"");
  EXPECT_EQ(Error(std::string(kJsonHead) + ", \"display_name\": \"a\tb\"}", "job.json"),
            "job.json:1:69: JSON syntax error: control character (byte 0x09) in a string; write "
            "it escaped");
  EXPECT_EQ(Error(std::string(kJsonHead) + ", \"node_count\": 01}", "job.json"),
            "job.json:1:66: JSON syntax error: expected \",\" or \"}\", got \"1\"");
  EXPECT_EQ(Error("", "job.json"),
            "job.json: the document is empty (expected a map of job fields)");
}

TEST_F(LimitsTest, JsonValuesAreReadExactly) {
  auto spec = Parse("\xef\xbb\xbf" + std::string(kJsonHead) +
                        ",\n \"script_params\": {\"--lr\": 0.010, \"--big\": -1.5E+3, \"--flag\": "
                        "null},\n \"use_gpu\": false, \"node_count\": 2, \"distributed_backend\": "
                        "\"pytorch\",\n \"tags\": {\"smile\": \"\\ud83d\\ude00\", \"e\": "
                        "\"\\u00e9\\/\\\"\\\\\\n\"}}",
                    "job.json");
  ASSERT_EQ(spec.script_params.size(), 3u);
  EXPECT_EQ(spec.script_params[0].value, "0.010");
  EXPECT_EQ(spec.script_params[1].value, "-1.5E+3");
  EXPECT_EQ(spec.script_params[2].value, std::nullopt);
  EXPECT_FALSE(spec.use_gpu);
  EXPECT_EQ(spec.node_count, 2);
  ASSERT_EQ(spec.tags.size(), 2u);
  EXPECT_EQ(spec.tags[0].second, "\xf0\x9f\x98\x80");  // U+1F600
  EXPECT_EQ(spec.tags[1].second, "\xc3\xa9/\"\\\n");
}

TEST_F(LimitsTest, LoneSurrogatesAreRefused) {
  EXPECT_EQ(Error(std::string(kJsonHead) + ", \"tags\": {\"x\": \"a\\ud83d\"}}", "job.json"),
            "job.json:1:67: JSON syntax error: lone high surrogate \\ud83d (it must be followed by "
            "a low surrogate \\udc00-\\udfff)");
  EXPECT_EQ(Error(std::string(kJsonHead) + ", \"tags\": {\"x\": \"\\ud83d\\u0041\"}}", "job.json"),
            "job.json:1:66: JSON syntax error: lone high surrogate \\ud83d (it must be followed by "
            "a low surrogate \\udc00-\\udfff)");
  EXPECT_EQ(Error(std::string(kJsonHead) + ", \"tags\": {\"x\": \"\\ude00\"}}", "job.json"),
            "job.json:1:66: JSON syntax error: lone low surrogate \\ude00 (it must follow a high "
            "surrogate \\ud800-\\udbff)");
}

TEST_F(LimitsTest, NulBytesAreRefusedNamingTheField) {
  const std::string why =
      "contains a NUL byte (\\u0000), which no argument, variable or name can hold";
  EXPECT_EQ(Error(std::string(kHead) + "script_params:\n  --lr: \"0.1\\0x\"\n"),
            "job.yaml:4:9: script_params[\"--lr\"]: " + why);
  EXPECT_EQ(Error(std::string(kJsonHead) + ", \"tags\": {\"a\\u0000b\": \"\"}}", "job.json"),
            "job.json:1:60: tags[\"a\\u0000b\"]: " + why);
  Overrides o;
  o.sets = {"display_name=\"a\\0b\""};
  EXPECT_EQ(Error(kHead, "job.yaml", o), "--set display_name=\"a\\0b\": display_name: " + why);
  Overrides args;
  args.args = {"ok", std::string("a\0b", 3)};
  EXPECT_EQ(Error(kHead, "job.yaml", args), "--arg a\\u0000b: extra_args[1]: " + why);
}

TEST_F(LimitsTest, OutOfRangeNumbers) {
  EXPECT_EQ(Error(std::string(kHead) + "max_run_duration_seconds: 1e300\n"),
            "job.yaml:3:27: max_run_duration_seconds: must be at most 315360000 seconds (10 "
            "years), got 1e300");
  EXPECT_EQ(Error(std::string(kHead) + "max_run_duration_seconds: 1e400\n"),
            "job.yaml:3:27: max_run_duration_seconds: must be at most 315360000 seconds (10 "
            "years), got 1e400");
  EXPECT_EQ(Error(std::string(kHead) + "max_run_duration_seconds: .inf\n"),
            "job.yaml:3:27: max_run_duration_seconds: expected a number of seconds, got \".inf\"");
  EXPECT_EQ(Error(std::string(kHead) + "max_run_duration_seconds: 315360000\n"), "OK");
  EXPECT_EQ(Error(std::string(kHead) + "node_count: 4097\ndistributed_backend: mpi\n"),
            "job.yaml:3:13: node_count: must be at most 4096 (a limit), got 4097");
  EXPECT_EQ(Error(std::string(kHead) + "process_count_per_node: 99999999999999999999999\n"),
            "job.yaml:3:25: process_count_per_node: must be at most 4096 (a limit), got "
            "99999999999999999999999");
  EXPECT_EQ(Error("code: .\ncommand: python t.py\ndistribution: {type: pytorch, "
                  "process_count_per_instance: 1000000}\n"),
            "job.yaml:3:59: distribution.process_count_per_instance: must be at most 4096 (a "
            "limit), got 1000000");
  Overrides o;
  o.sets = {"node_count=65536", "process_count_per_node=65536", "distributed_backend=pytorch"};
  EXPECT_EQ(Error(kHead, "job.yaml", o),
            "--set node_count=65536: node_count: must be at most 4096 (a limit), got 65536\n"
            "--set process_count_per_node=65536: process_count_per_node: must be at most 4096 (a "
            "limit), got 65536");
}

TEST_F(LimitsTest, EnvironmentVariableNames) {
  EXPECT_EQ(Error(std::string(kHead) + "environment_variables:\n  A B: x\n"),
            "job.yaml:4:3: environment_variables[\"A B\"]: \"A B\" is not a valid variable name "
            "(letters, digits, '.', '-' and '_' only)");
  Overrides o;
  o.env = {"A B=x"};
  EXPECT_EQ(Error(kHead, "job.yaml", o),
            "--env A B=x: environment_variables[\"A B\"]: \"A B\" is not a valid variable name "
            "(letters, digits, '.', '-' and '_' only)");
  auto spec = Parse(std::string(kHead) + "environment_variables: {my.var-1_X: y}\n", "job.yaml");
  ASSERT_EQ(spec.environment_variables.size(), 1u);
  EXPECT_EQ(spec.environment_variables[0].first, "my.var-1_X");
}

TEST_F(LimitsTest, ManyProblemsAreCut) {
  std::string text = kHead;
  for (int i = 0; i < 60; ++i) text += "unknown" + std::to_string(i) + ": 1\n";
  std::string error = Error(text);
  EXPECT_NE(error.find("unknown49: unknown field"), std::string::npos) << error;
  EXPECT_EQ(error.find("unknown50: unknown field"), std::string::npos) << error;
  EXPECT_NE(error.find("\n... and 10 more problems"), std::string::npos) << error;
}

}  // namespace
}  // namespace trainyard::spec
