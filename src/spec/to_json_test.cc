// ToJson: renders the spec in its own form and parses back to the same spec.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "spec/parse.h"
#include "spec/test_util.h"

namespace trainyard::spec {
namespace {

class ToJsonTest : public TempDirTest {
 protected:
  // Parses `text`, renders it, parses the rendering (from another folder) and expects equality.
  void ExpectRoundTrip(const std::string& text, const Overrides& o = {}) {
    auto spec = ParseJobText(text, "job.yaml", dir_, o);
    ASSERT_TRUE(spec.ok()) << spec.status().message();
    std::string json = ToJson(*spec);
    auto again = ParseJobText(json, "job.yaml", "/nonexistent/elsewhere");
    ASSERT_TRUE(again.ok()) << again.status().message() << "\n" << json;
    EXPECT_EQ(*again, *spec) << json;
    EXPECT_EQ(ToJson(*again), json);
  }
};

TEST_F(ToJsonTest, EstimatorRoundTrips) {
  ExpectRoundTrip(R"(
source_directory: src
entry_script: sub/../train.py
script_params: {--lr: 0.010, --flag: null, --name: "; rm -rf ~", --data: "${{inputs.d}}",
                --quote: "a \"b\"", --utf: "héllo"}
extra_args: [x, y]
compute_target: c1
python: bin/python
pip_packages: [a]
conda_packages: [b]
pip_requirements_file: req.txt
use_gpu: yes
node_count: 2
process_count_per_node: 3
distributed_backend: gloo
environment_variables: {A: "1", B: ""}
inputs:
  d: {path: data, mode: download}
  f: {type: uri_file, path: /x/f.csv}
  n: {type: integer, value: 7}
  s: hello
max_run_duration_seconds: 12.5
experiment_name: e.1
display_name: nice run
tags: {k: v}
)");
}

TEST_F(ToJsonTest, MinimalEstimatorRoundTrips) {
  ExpectRoundTrip("source_directory: .\nentry_script: t.py\n");
}

TEST_F(ToJsonTest, CommandRoundTrips) {
  ExpectRoundTrip(R"(
code: src
command: python t.py --x "a b" ${{inputs.d}}
environment: {python: /usr/bin/python3, pip_packages: [a], pip_requirements_file: r.txt}
compute: c
resources: {instance_count: 2}
distribution: {type: mpi, process_count_per_instance: 2}
limits: {timeout: 60}
inputs: {d: {type: uri_folder, path: data}}
environment_variables: {A: b}
experiment_name: x
tags: {t: "1"}
)");
  ExpectRoundTrip("code: .\ncommand: [python, t.py]\n");
  // Every field of the hosted schema; no code.
  ExpectRoundTrip(R"(
type: command
name: n
description: "d\n"
properties: {p: q}
command: |
  echo ${{inputs.i}} > ${{outputs.o}}/x
  echo done
inputs: {i: 1}
outputs: {o: , f: {type: uri_file, path: a/r.json, mode: upload}, m: {type: mlflow_model}}
resources: {shm_size: 1g}
queue_settings: {job_tier: spot}
)");
  // Images: by name, or built from a folder (which must exist to be read).
  ExpectRoundTrip("command: echo hi\nenvironment: {image: localhost/tiny:1}\n");
  ExpectRoundTrip("command: echo hi\nenvironment: {build: {path: .}}\n");
}

TEST_F(ToJsonTest, RoundTripsWithOverrides) {
  Overrides o;
  o.args = {"--more"};
  o.env = {"K=V"};
  o.timeout_seconds = 5;
  ExpectRoundTrip("source_directory: .\nentry_script: t.py\n", o);
  ExpectRoundTrip("code: .\ncommand: python t.py\n", o);
}

TEST_F(ToJsonTest, UsesTheKeysOfItsFormAndAbsolutePaths) {
  auto est = ParseJobText("source_directory: src\nentry_script: t.py\ninputs: {d: {path: x}}\n",
                          "job.yaml", dir_);
  ASSERT_TRUE(est.ok());
  auto j = nlohmann::json::parse(ToJson(*est));
  EXPECT_EQ(j["source_directory"], Path("src"));
  EXPECT_EQ(j["entry_script"], "t.py");
  EXPECT_EQ(j["inputs"]["d"]["path"], Path("x"));
  EXPECT_EQ(j["inputs"]["d"]["type"], "uri_folder");
  EXPECT_FALSE(j.contains("code"));

  auto cmd = ParseJobText("code: src\ncommand: python t.py\n", "job.yaml", dir_);
  ASSERT_TRUE(cmd.ok());
  j = nlohmann::json::parse(ToJson(*cmd));
  EXPECT_EQ(j["code"], Path("src"));
  EXPECT_EQ(j["command"], "python t.py");  // a shell command stays one string
  EXPECT_EQ(j["resources"]["instance_count"], 1);
  EXPECT_FALSE(j.contains("source_directory"));
}

}  // namespace
}  // namespace trainyard::spec
