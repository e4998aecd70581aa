#include <gtest/gtest.h>

#include "spec/parse.h"
#include "targets/local_target.h"
#include "testing/temp_dir.h"

namespace trainyard::targets {
namespace {

spec::JobSpec Job(const std::string& yaml) {
  auto s = spec::ParseJobText(yaml, "job.yaml", "/src");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : spec::JobSpec{};
}

PlanContext Ctx() {
  PlanContext c;
  c.run_id = "exp_1_abcd";
  c.workspace_dir = "/ws";
  c.run_dir = "/ws/runs/exp_1_abcd";
  c.work_dir = "/ws/runs/exp_1_abcd/work";
  c.interpreter = "/usr/bin/python3";
  c.master_port = 29555;
  return c;
}

TEST(LocalTarget, SingleProcessPlan) {
  LocalTarget t("local", {{"cores", 4}, {"gpus", 0}});
  auto spec =
      Job("source_directory: /src\nentry_script: train.py\n"
          "script_params: {--lr: 0.01, --verbose: null, --name: \"; rm -rf ~\"}\n"
          "environment_variables: {FOO: bar}\n");
  auto plan = t.Plan(spec, Ctx());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->processes.size(), 1u);
  const auto& p = plan->processes[0];
  EXPECT_EQ(p.argv, (std::vector<std::string>{"/usr/bin/python3", "train.py", "--lr", "0.01",
                                              "--verbose", "--name", "; rm -rf ~"}));
  EXPECT_EQ(p.cwd, "/ws/runs/exp_1_abcd/work");
  EXPECT_EQ(p.env.at("TRAINYARD_RUN_ID"), "exp_1_abcd");
  EXPECT_EQ(p.env.at("FOO"), "bar");
  EXPECT_EQ(p.env.at("OMP_NUM_THREADS"), "4");
  EXPECT_EQ(p.env.count("RANK"), 0u);  // no rank contract without a backend
}

TEST(LocalTarget, DistributedPlanGivesEveryRankItsContract) {
  LocalTarget t("local", {{"cores", 4}, {"gpus", 0}});
  auto spec =
      Job("source_directory: /src\nentry_script: ddp.py\nnode_count: 2\n"
          "process_count_per_node: 2\ndistributed_backend: pytorch\n");
  auto plan = t.Plan(spec, Ctx());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->processes.size(), 4u);
  EXPECT_EQ(plan->world_size, 4);
  const auto& p3 = plan->processes[3];
  EXPECT_EQ(p3.env.at("RANK"), "3");
  EXPECT_EQ(p3.env.at("LOCAL_RANK"), "1");
  EXPECT_EQ(p3.env.at("NODE_RANK"), "1");
  EXPECT_EQ(p3.env.at("GROUP_RANK"), "1");
  EXPECT_EQ(p3.env.at("WORLD_SIZE"), "4");
  EXPECT_EQ(p3.env.at("LOCAL_WORLD_SIZE"), "2");
  EXPECT_EQ(p3.env.at("MASTER_PORT"), "29555");
  EXPECT_EQ(p3.env.at("OMP_NUM_THREADS"), "1");  // 4 cores / 4 ranks on this machine
}

TEST(LocalTarget, UserThreadCountWins) {
  LocalTarget t("local", {{"cores", 4}, {"gpus", 0}});
  auto spec =
      Job("source_directory: /src\nentry_script: t.py\n"
          "environment_variables: {OMP_NUM_THREADS: 3}\n");
  auto plan = t.Plan(spec, Ctx());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->processes[0].env.at("OMP_NUM_THREADS"), "3");
}

TEST(LocalTarget, RefusesGpuWithoutGpus) {
  LocalTarget t("local", {{"gpus", 0}});
  auto spec = Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n");
  Status s = t.Check(spec);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("use_gpu"), std::string::npos);
  EXPECT_NE(s.message().find("no GPU"), std::string::npos);
}

TEST(LocalTarget, GpuRanksSeeTheirOwnDevice) {
  LocalTarget t("local", {{"gpus", 2}});
  auto spec =
      Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n"
          "process_count_per_node: 2\ndistributed_backend: pytorch\n");
  ASSERT_TRUE(t.Check(spec).ok());
  auto plan = t.Plan(spec, Ctx());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->processes[1].env.at("CUDA_VISIBLE_DEVICES"), "1");
  auto three =
      Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n"
          "process_count_per_node: 3\ndistributed_backend: pytorch\n");
  EXPECT_FALSE(t.Check(three).ok());
}

TEST(LocalTarget, CommandFormSubstitutesInputsAndInterpreter) {
  LocalTarget t("local", {{"gpus", 0}});
  auto spec =
      Job("code: /src\ncommand: python train.py --epochs ${{inputs.epochs}}\n"
          "inputs: {epochs: 3}\n");
  PlanContext ctx = Ctx();
  ctx.input_values = {{"epochs", "3"}};
  auto plan = t.Plan(spec, ctx);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->processes[0].argv,
            (std::vector<std::string>{"/usr/bin/python3", "train.py", "--epochs", "3"}));
  EXPECT_EQ(plan->processes[0].env.at("TRAINYARD_INPUT_EPOCHS"), "3");
}

TEST(LaunchPlan, JsonRoundTripAndText) {
  LocalTarget t("local", {{"gpus", 0}});
  auto spec = Job("source_directory: /src\nentry_script: t.py\nscript_params: {--x: \"a b\"}\n");
  auto plan = t.Plan(spec, Ctx());
  ASSERT_TRUE(plan.ok());
  auto back = LaunchPlan::FromJson(plan->ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ToJson(), plan->ToJson());
  EXPECT_NE(plan->ToText().find("argv: /usr/bin/python3 t.py --x 'a b'"), std::string::npos)
      << plan->ToText();
}

TEST(TargetConfig, ValidatesOptions) {
  EXPECT_TRUE(MakeTargetConfig("local", {{"max_concurrent_runs", "2"}}).ok());
  auto bad = MakeTargetConfig("local", {{"max_concurent_runs", "2"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("did you mean \"max_concurrent_runs\""), std::string::npos);
  EXPECT_FALSE(MakeTargetConfig("local", {{"max_concurrent_runs", "0"}}).ok());
  EXPECT_FALSE(MakeTargetConfig("kubernetes", {}).ok());
}

TEST(TargetLookup, UnknownTargetSuggests) {
  testing::TempDir dir;
  auto ws = std::move(store::Workspace::Open(dir.path()).value());
  ASSERT_TRUE(ws->PutTarget({"gpu-box", "local", "{}"}).ok());
  EXPECT_TRUE(LookupTarget(ws.get(), "local").ok());
  auto r = LookupTarget(ws.get(), "gpu-bx");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("did you mean \"gpu-box\""), std::string::npos);
}

}  // namespace
}  // namespace trainyard::targets
