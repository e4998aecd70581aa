// Golden-file tests: the exact dry-run plan of every target type, for fixed inputs. When a plan
// changes on purpose, regenerate with TRAINYARD_UPDATE_GOLDEN=1 and review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "common/files.h"
#include "spec/parse.h"
#include "targets/local_target.h"
#include "targets/mpi_target.h"
#include "targets/slurm_target.h"

namespace trainyard::targets {
namespace {

const char kJob[] = R"(source_directory: /src
entry_script: train.py
script_params: {--lr: 0.01, --name: "a b; rm -rf ~", --verbose: null}
node_count: 2
process_count_per_node: 2
distributed_backend: DISTRIBUTED
environment_variables: {DATA: /data}
max_run_duration_seconds: 600
experiment_name: golden
)";

PlanContext Context() {
  PlanContext c;
  c.run_id = "golden_1_00000000";
  c.workspace_dir = "/ws";
  c.run_dir = "/ws/runs/golden_1_00000000";
  c.work_dir = "/ws/runs/golden_1_00000000/work";
  c.interpreter = "/usr/bin/python3";
  c.trainyard_exe = "/usr/local/bin/trainyard";
  c.python_path = "/opt/trainyard/python";
  c.master_port = 29500;
  return c;
}

void ExpectGolden(const std::string& name, const Result<LaunchPlan>& plan) {
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  // Machine-dependent bits: this user's root flag and the mpirun path.
  std::string text = std::regex_replace(plan->ToText(), std::regex(" --allow-run-as-root"), "");
  text = std::regex_replace(text, std::regex("/[^ ]*/mpirun "), "mpirun ");
  std::string path = std::string(TRAINYARD_TESTDATA) + "/" + name + ".plan";
  if (std::getenv("TRAINYARD_UPDATE_GOLDEN")) {
    ASSERT_TRUE(WriteFileAtomic(path, text).ok());
    return;
  }
  auto want = ReadFile(path);
  ASSERT_TRUE(want.ok()) << path << " missing; run with TRAINYARD_UPDATE_GOLDEN=1";
  EXPECT_EQ(text, *want) << "plan " << name << " changed; if on purpose, regenerate " << path;
}

spec::JobSpec Job(const std::string& backend) {
  std::string yaml = std::regex_replace(kJob, std::regex("DISTRIBUTED"), backend);
  auto s = spec::ParseJobText(yaml, "golden.yaml", "/src");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : spec::JobSpec{};
}

TEST(GoldenPlan, LocalPytorch) {
  LocalTarget t("local", {{"cores", 8}, {"gpus", 0}});
  ExpectGolden("local_pytorch", t.Plan(Job("pytorch"), Context()));
}

TEST(GoldenPlan, LocalMpi) {
  LocalTarget t("local", {{"cores", 8}, {"gpus", 0}});
  ExpectGolden("local_mpi", t.Plan(Job("mpi"), Context()));
}

TEST(GoldenPlan, MpiHostsCopy) {
  auto t = MpiTarget::Create(
      "lab", {{"hosts", "node1:4,node2:4"}, {"tracking_address", "head"}, {"cores_per_host", 8}});
  ASSERT_TRUE(t.ok());
  ExpectGolden("mpi_hosts_copy", (*t)->Plan(Job("mpi"), Context()));
}

TEST(GoldenPlan, MpiHostsShared) {
  auto t = MpiTarget::Create("lab", {{"hostfile", std::string(TRAINYARD_TESTDATA) + "/hostfile"},
                                     {"shared_folder", "/nfs/runs"},
                                     {"launch_agent", "ssh -o BatchMode=yes"},
                                     {"tracking_address", "head"},
                                     {"cores_per_host", 8}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ExpectGolden("mpi_hosts_shared", (*t)->Plan(Job("pytorch"), Context()));
}

TEST(GoldenPlan, Slurm) {
  auto t = SlurmTarget::Create("hpc", {{"partition", "gpu"},
                                       {"account", "proj1"},
                                       {"qos", "normal"},
                                       {"sbatch_args", "--exclusive"},
                                       {"tracking_address", "login1"}});
  ASSERT_TRUE(t.ok());
  ExpectGolden("slurm", (*t)->Plan(Job("pytorch"), Context()));
}

// With pip_packages: the environment is placed where the ranks run, and they run its python.
PlanContext WithEnvironment() {
  PlanContext c = Context();
  c.env_hash = std::string(64, 'e');
  c.env_describe = "pip install tyhello";
  return c;
}

TEST(GoldenPlan, MpiHostsCopyWithEnvironment) {
  auto t = MpiTarget::Create(
      "lab", {{"hosts", "node1:4,node2:4"}, {"tracking_address", "head"}, {"cores_per_host", 8}});
  ASSERT_TRUE(t.ok());
  ExpectGolden("mpi_hosts_copy_env", (*t)->Plan(Job("mpi"), WithEnvironment()));
}

TEST(GoldenPlan, MpiHostsSharedWithEnvironment) {
  auto t = MpiTarget::Create("lab", {{"hosts", "node1:2,node2:2"},
                                     {"shared_folder", "/nfs/runs"},
                                     {"python", "/opt/py/bin/python3"},
                                     {"tracking_address", "head"},
                                     {"cores_per_host", 8}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ExpectGolden("mpi_hosts_shared_env", (*t)->Plan(Job("pytorch"), WithEnvironment()));
}

TEST(GoldenPlan, SlurmWithCondaEnvironment) {
  auto t = SlurmTarget::Create("hpc", {{"partition", "gpu"}, {"tracking_address", "login1"}});
  ASSERT_TRUE(t.ok());
  PlanContext c = WithEnvironment();
  c.env_python = "bin/python3";
  c.env_describe = "conda create numpy";
  ExpectGolden("slurm_env", (*t)->Plan(Job("pytorch"), c));
}

// Issue 14: a command string runs as `bash -c SCRIPT` under rank-exec / srun, with its inputs
// and outputs single-quoted (one word each: the injection attempt stays text), the outputs
// under the work folder the ranks run in (the shared folder here), and python meaning the
// environment's interpreter.
const char kShellJob[] = R"yaml(code: /src
command: |
  python train.py --name ${{inputs.name}} > ${{outputs.model}}/log.txt && echo done
inputs: {name: "a'b; rm -rf ~ $(id)"}
outputs: {model: }
resources: {instance_count: 2}
distribution: {type: mpi, process_count_per_instance: 2}
experiment_name: golden
)yaml";

spec::JobSpec ShellJob() {
  auto s = spec::ParseJobText(kShellJob, "golden.yaml", "/src");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : spec::JobSpec{};
}

TEST(GoldenPlan, ShellCommandOverMpiHostsShared) {
  auto t = MpiTarget::Create("lab", {{"hosts", "node1:2,node2:2"},
                                     {"shared_folder", "/nfs/runs"},
                                     {"tracking_address", "head"},
                                     {"cores_per_host", 8}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  PlanContext c = WithEnvironment();
  c.input_values = {{"name", "a'b; rm -rf ~ $(id)"}};
  ExpectGolden("mpi_hosts_shared_shell", (*t)->Plan(ShellJob(), c));
}

TEST(GoldenPlan, ShellCommandOnSlurm) {
  auto t = SlurmTarget::Create("hpc", {{"partition", "gpu"}, {"tracking_address", "login1"}});
  ASSERT_TRUE(t.ok());
  PlanContext c = Context();
  c.input_values = {{"name", "a'b; rm -rf ~ $(id)"}};
  ExpectGolden("slurm_shell", (*t)->Plan(ShellJob(), c));
}

}  // namespace
}  // namespace trainyard::targets
