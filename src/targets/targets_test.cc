#include <gtest/gtest.h>

#include <algorithm>

#include "common/files.h"
#include "spec/parse.h"
#include "targets/local_target.h"
#include "targets/mpi_target.h"
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

TEST(LocalTarget, RefusalNamesTheCpuFallback) {
  LocalTarget t("box", {{"gpus", 0}});
  EXPECT_EQ(t.use_gpu_fallback(), "refuse");
  Status s = t.Check(Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("trainyard target add box --type local --use-gpu-fallback cpu"),
            std::string::npos)
      << s.message();
}

TEST(LocalTarget, GpuFallbackRunsUseGpuJobsOnTheCpu) {
  LocalTarget t("box", {{"gpus", 0}, {"use_gpu_fallback", "cpu"}});
  EXPECT_EQ(t.use_gpu_fallback(), "cpu");
  const std::string said =
      "use_gpu: target box has no GPU; running on the CPU (target option use_gpu_fallback=cpu)";
  // Per-rank processes: no device is assigned, more ranks than GPUs (none) are fine.
  auto spec =
      Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n"
          "process_count_per_node: 2\ndistributed_backend: pytorch\n");
  ASSERT_TRUE(t.Check(spec).ok()) << t.Check(spec).ToString();
  auto plan = t.Plan(spec, Ctx());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (const auto& p : plan->processes) EXPECT_EQ(p.env.count("CUDA_VISIBLE_DEVICES"), 0u);
  EXPECT_NE(std::find(plan->notes.begin(), plan->notes.end(), said), plan->notes.end());
  EXPECT_EQ(plan->messages, (std::vector<std::string>{"[trainyard] " + said}));
  EXPECT_EQ(plan->properties, (std::map<std::string, std::string>{{"gpu_fallback", "cpu"}}));
  // mpirun: the shim is not asked to pin a GPU per rank.
  auto mpi =
      Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n"
          "node_count: 2\ndistributed_backend: mpi\n");
  auto mpi_plan = t.Plan(mpi, Ctx());
  ASSERT_TRUE(mpi_plan.ok()) << mpi_plan.status().ToString();
  EXPECT_EQ(mpi_plan->processes.at(0).env.count("TRAINYARD_GPU_PER_RANK"), 0u);
  EXPECT_EQ(mpi_plan->properties.at("gpu_fallback"), "cpu");
  // A job that does not ask for a GPU says nothing.
  auto cpu = t.Plan(Job("source_directory: /src\nentry_script: t.py\n"), Ctx());
  ASSERT_TRUE(cpu.ok());
  EXPECT_TRUE(cpu->messages.empty());
  EXPECT_TRUE(cpu->properties.empty());
}

TEST(LocalTarget, GpuFallbackOnlyWhenThereIsNoGpu) {
  LocalTarget t("box", {{"gpus", 2}, {"use_gpu_fallback", "cpu"}});
  auto spec =
      Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n"
          "process_count_per_node: 2\ndistributed_backend: pytorch\n");
  auto plan = t.Plan(spec, Ctx());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->processes[1].env.at("CUDA_VISIBLE_DEVICES"), "1");
  EXPECT_TRUE(plan->properties.empty());
  // More ranks than GPUs is still refused: the target has GPUs, just not enough.
  auto three =
      Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n"
          "process_count_per_node: 3\ndistributed_backend: pytorch\n");
  EXPECT_FALSE(t.Check(three).ok());
}

TEST(LocalTarget, GpuFallbackOptionIsListedAndChecked) {
  const auto& options = TargetTypes().at("local");
  auto it = std::find_if(options.begin(), options.end(),
                         [](const TargetOption& o) { return o.name == "use_gpu_fallback"; });
  ASSERT_NE(it, options.end());
  EXPECT_EQ(it->default_value, "refuse");
  auto config = MakeTargetConfig("local", {{"use_gpu_fallback", "cpu"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto made = MakeTarget({"box", "local", *config});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto bad = MakeTargetConfig("local", {{"use_gpu_fallback", "gpu"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "use_gpu_fallback: expected refuse or cpu, got \"gpu\"");
  // A stored configuration with a bad value (edited by hand) is refused when it is used.
  auto stored = MakeTarget({"box", "local", R"({"use_gpu_fallback": 1})"});
  ASSERT_FALSE(stored.ok());
  EXPECT_EQ(stored.status().message(), "use_gpu_fallback: expected refuse or cpu, got 1");
}

TEST(LaunchPlan, PropertiesAndMessagesRoundTripAndAreLeftOutWhenEmpty) {
  LaunchPlan plan;
  plan.target = "box";
  plan.type = "local";
  EXPECT_FALSE(plan.ToJson().contains("properties"));
  EXPECT_FALSE(plan.ToJson().contains("messages"));
  plan.properties = {{"gpu_fallback", "cpu"}};
  plan.messages = {"[trainyard] hello"};
  auto back = LaunchPlan::FromJson(plan.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->properties, plan.properties);
  EXPECT_EQ(back->messages, plan.messages);
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

// Issue 14: a command string runs with bash -c (it was split into words and run without a
// shell before); a list still runs as an argv vector, a leading python as the interpreter.
TEST(LocalTarget, CommandListSubstitutesInputsAndInterpreter) {
  LocalTarget t("local", {{"gpus", 0}});
  auto spec =
      Job("code: /src\ncommand: [python, train.py, --epochs, '${{inputs.epochs}}', "
          "'${{outputs.o}}']\ninputs: {epochs: 3}\noutputs: {o: }\n");
  PlanContext ctx = Ctx();
  ctx.input_values = {{"epochs", "3"}};
  auto plan = t.Plan(spec, ctx);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->processes[0].argv,
            (std::vector<std::string>{"/usr/bin/python3", "train.py", "--epochs", "3",
                                      ctx.work_dir + "/outputs/o"}));
  EXPECT_EQ(plan->processes[0].env.at("TRAINYARD_INPUT_EPOCHS"), "3");
}

TEST(LocalTarget, CommandStringRunsInBashWithQuotedValues) {
  LocalTarget t("local", {{"gpus", 0}});
  auto spec =
      Job("code: /src\ncommand: |\n  python train.py --epochs ${{inputs.epochs}} && "
          "echo ${{inputs.s}} > ${{outputs.f}}\ninputs: {epochs: 3, s: x}\n"
          "outputs: {f: {type: uri_file}}\n");
  PlanContext ctx = Ctx();
  ctx.input_values = {{"epochs", "3"}, {"s", "it's $(id); `id` \"q\"\nline"}};
  auto plan = t.Plan(spec, ctx);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(
      plan->processes[0].argv,
      (std::vector<std::string>{
          "bash", "-c",
          "python() { '/usr/bin/python3' \"$@\"; }; python3() { '/usr/bin/python3' \"$@\"; "
          "}; export -f python python3\n"
          "_ty_inputs_epochs='3'\n"
          "_ty_inputs_s='it'\\''s $(id); `id` \"q\"\nline'\n"
          "_ty_outputs_f='" +
              ctx.work_dir +
              "/outputs/f/f'\n"
              "python train.py --epochs \"${_ty_inputs_epochs}\" && echo \"${_ty_inputs_s}\" > "
              "\"${_ty_outputs_f}\"\n"}));
  // Without python in it, no functions are defined.
  auto echo = Job("command: echo hi\n");
  auto plan2 = t.Plan(echo, Ctx());
  ASSERT_TRUE(plan2.ok()) << plan2.status().ToString();
  EXPECT_EQ(plan2->processes[0].argv, (std::vector<std::string>{"bash", "-c", "echo hi"}));
}

// Each reference is quoted for where it stands: outside quotes, in double quotes (also inside a
// $(...) there, which starts afresh), in single quotes.
TEST(SpecWords, ShellScriptQuotesReferencesForTheirContext) {
  std::map<std::string, std::string> in = {{"a", "A"}};
  auto script = spec::ShellScript(
      "echo ${{inputs.a}} \"x ${{inputs.a}}\" 'y ${{inputs.a}}' \"$(cat ${{inputs.a}})\" "
      "\\\"${{inputs.a}}",
      in, {});
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  EXPECT_EQ(*script,
            "_ty_inputs_a='A'\necho \"${_ty_inputs_a}\" \"x ${_ty_inputs_a}\" 'y "
            "'\"${_ty_inputs_a}\"'' \"$(cat \"${_ty_inputs_a}\")\" \\\"\"${_ty_inputs_a}\"");
}

// A quote in a comment is text: the references after it are still outside quotes.
TEST(SpecWords, ShellScriptSkipsComments) {
  auto script = spec::ShellScript("# it's a comment\necho ${{inputs.a}} #x'\necho ${{inputs.a}}",
                                  {{"a", "A"}}, {});
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  EXPECT_EQ(*script,
            "_ty_inputs_a='A'\n# it's a comment\necho \"${_ty_inputs_a}\" #x'\necho "
            "\"${_ty_inputs_a}\"");
}

TEST(SpecWords, MentionsPythonOnlyAsAWord) {
  EXPECT_TRUE(spec::MentionsPython("python t.py"));
  EXPECT_TRUE(spec::MentionsPython("echo a && python3 -c 1"));
  EXPECT_TRUE(spec::MentionsPython("x|python"));
  EXPECT_FALSE(spec::MentionsPython("echo python_path mypython python3.11 ./python"));
  EXPECT_FALSE(spec::MentionsPython("ls"));
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

TEST(LocalTarget, EnvironmentInTheWorkspaceRunsItsPython) {
  LocalTarget t("local", {{"gpus", 0}});
  PlanContext c = Ctx();
  c.env_hash = "abc";
  c.env_describe = "pip install tyhello";
  auto plan = t.Plan(Job("source_directory: /src\nentry_script: t.py\n"), c);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->environment.where, "here");
  EXPECT_EQ(plan->environment.python, "/ws/envs/abc/bin/python");
  EXPECT_EQ(plan->processes.at(0).argv.at(0), "/ws/envs/abc/bin/python");
  auto back = LaunchPlan::FromJson(plan->ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), plan->ToJson());
  EXPECT_NE(plan->ToText().find("environment: abc (pip install tyhello) prepared on this machine "
                                "in /ws/envs/abc"),
            std::string::npos)
      << plan->ToText();
  // Without an environment the plan has none (and its JSON no key).
  auto none = t.Plan(Job("source_directory: /src\nentry_script: t.py\n"), Ctx());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->ToJson().contains("environment"));
}

TEST(MpiTarget, EnvironmentOnEachHostWithoutASharedFolder) {
  auto t = MpiTarget::Create("lab", {{"hosts", "h1:1,h2:1,h3:1"}, {"launch_agent", "rsh -x"}});
  ASSERT_TRUE(t.ok());
  PlanContext c = Ctx();
  c.trainyard_exe = "/opt/ty/trainyard";
  c.env_hash = "abc";
  c.env_python = "bin/python3";
  auto plan = (*t)->Plan(Job("source_directory: /src\nentry_script: t.py\nnode_count: 2\n"
                             "distributed_backend: mpi\n"),
                         c);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const EnvironmentPlan& e = plan->environment;
  EXPECT_EQ(e.where, "hosts");
  EXPECT_EQ(e.hosts, (std::vector<std::string>{"h1", "h2"}));  // only the hosts used
  EXPECT_EQ(e.agent, (std::vector<std::string>{"rsh", "-x"}));
  EXPECT_EQ(e.envs_dir, "/tmp/trainyard/envs");
  EXPECT_EQ(e.command, (std::vector<std::string>{"/opt/ty/trainyard", "env", "build", "--envs-dir",
                                                 "/tmp/trainyard/envs", "--request", "-"}));
  EXPECT_EQ(e.python, "/tmp/trainyard/envs/abc/bin/python3");
  const auto& argv = plan->processes.at(0).argv;
  EXPECT_NE(std::find(argv.begin(), argv.end(), e.python), argv.end());
}

TEST(TargetConfig, ValidatesOptions) {
  EXPECT_TRUE(MakeTargetConfig("local", {{"max_concurrent_runs", "2"}}).ok());
  auto bad = MakeTargetConfig("local", {{"max_concurent_runs", "2"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("did you mean \"max_concurrent_runs\""), std::string::npos);
  EXPECT_FALSE(MakeTargetConfig("local", {{"max_concurrent_runs", "0"}}).ok());
  EXPECT_FALSE(MakeTargetConfig("kubernetes", {}).ok());
}

TEST(TargetLimits, ProcessesPerRunAreLimitedByEveryTarget) {
  // 4096 x 4096 passes the spec's per-field limits; the product is the target's to refuse,
  // before anything is planned (a plan of 16 million processes would take minutes and GBs).
  auto big =
      Job("source_directory: /src\nentry_script: train.py\nnode_count: 4096\n"
          "process_count_per_node: 4096\ndistributed_backend: pytorch\n");
  const std::string expected =
      "process_count_per_node: 4096 node_count x 4096 process_count_per_node = 16777216 "
      "processes; target \"local\" allows at most 4096 per run (its max_processes option: "
      "trainyard target add local --type local --max-processes N, with its other options)";
  auto local = MakeTarget({"local", "local", "{\"cores\": 4, \"gpus\": 0}"});
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  Status check = (*local)->Check(big);
  EXPECT_EQ(check.message(), expected);
  auto plan = (*local)->Plan(big, Ctx());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), expected);
  // At the limit is fine; the option raises it; every type has the option.
  auto at =
      Job("source_directory: /src\nentry_script: train.py\nnode_count: 2\n"
          "process_count_per_node: 2048\ndistributed_backend: mpi\n");
  EXPECT_TRUE(CheckProcessCount(at, "local", "local", kDefaultMaxProcesses).ok());
  auto raised = MakeTargetConfig("local", {{"max_processes", "8"}, {"cores", "4"}});
  ASSERT_TRUE(raised.ok()) << raised.status().ToString();
  auto small = MakeTarget({"small", "local", *raised});
  ASSERT_TRUE(small.ok());
  auto nine =
      Job("code: /src\ncommand: python t.py\nresources: {instance_count: 3}\n"
          "distribution: {type: pytorch, process_count_per_instance: 3}\n");
  EXPECT_EQ((*small)->Check(nine).message(),
            "distribution.process_count_per_instance: 3 resources.instance_count x 3 "
            "distribution.process_count_per_instance = 9 processes; target \"small\" allows at "
            "most 8 per run (its max_processes option: trainyard target add small --type local "
            "--max-processes N, with its other options)");
  for (const auto& [type, options] : TargetTypes()) {
    bool found = false;
    for (const auto& o : options) found |= o.name == "max_processes";
    EXPECT_TRUE(found) << type;
  }
  EXPECT_FALSE(MakeTargetConfig("local", {{"max_processes", "99999999999"}}).ok());
}

TEST(TargetLimits, PlanSize) {
  auto spec =
      Job("source_directory: /src\nentry_script: train.py\nnode_count: 1\n"
          "process_count_per_node: 4096\ndistributed_backend: pytorch\n");
  EXPECT_TRUE(CheckPlanSize(spec, "local").ok());
  spec.extra_args = {std::string(100000, 'x')};
  // 4096 copies of 100 KB: 390 MiB of plan for local ranks; mpirun carries them once.
  EXPECT_EQ(CheckPlanSize(spec, "local").message(),
            "4096 processes each carrying 100001 bytes of arguments, environment variables and "
            "inputs make a plan of 390 MiB; the limit is 256 MiB (use fewer processes, or pass "
            "large values in a file)");
  auto local = MakeTarget({"local", "local", "{\"cores\": 4, \"gpus\": 0}"});
  ASSERT_TRUE(local.ok());
  EXPECT_FALSE((*local)->Plan(spec, Ctx()).ok());
  spec.distributed_backend = "mpi";
  EXPECT_TRUE(CheckPlanSize(spec, "local").ok());
  EXPECT_TRUE(CheckPlanSize(spec, "slurm").ok());
  spec.environment_variables = {{"BIG", std::string(1 << 20, 'v')}};
  EXPECT_EQ(CheckPlanSize(spec, "slurm").message(),
            "the job's arguments, environment variables and inputs add up to 1148582 bytes for "
            "each process; the limit is 1048576 bytes (1 MiB): pass large values in a file "
            "instead");
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

namespace trainyard::targets {
namespace {

TEST(MpiTarget, ParsesHostListsAndHostfiles) {
  auto hosts = ParseHostList("h1:4, h2:2,h3");
  ASSERT_TRUE(hosts.ok());
  ASSERT_EQ(hosts->size(), 3u);
  EXPECT_EQ((*hosts)[0].host, "h1");
  EXPECT_EQ((*hosts)[1].slots, 2);
  EXPECT_EQ((*hosts)[2].slots, 1);
  EXPECT_FALSE(ParseHostList("h1:zero").ok());
  EXPECT_FALSE(ParseHostList("").ok());
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "hf", "# cluster\nnode1 slots=8\nnode2 slots=8 # gpu\n").ok());
  auto hf = ReadHostfile(dir / "hf");
  ASSERT_TRUE(hf.ok());
  EXPECT_EQ((*hf)[1].host, "node2");
  EXPECT_EQ((*hf)[1].slots, 8);
}

TEST(MpiTarget, ChecksNodesSlotsAndGpus) {
  auto t = MpiTarget::Create("c", {{"hosts", "a:2,b:2"}});
  ASSERT_TRUE(t.ok());
  auto three =
      Job("source_directory: /src\nentry_script: t.py\nnode_count: 3\n"
          "distributed_backend: mpi\n");
  EXPECT_NE((*t)->Check(three).message().find("node_count: 3 nodes"), std::string::npos);
  auto wide =
      Job("source_directory: /src\nentry_script: t.py\nprocess_count_per_node: 3\n"
          "distributed_backend: mpi\n");
  EXPECT_NE((*t)->Check(wide).message().find("has 2 slots"), std::string::npos);
  auto gpu = Job("source_directory: /src\nentry_script: t.py\nuse_gpu: true\n");
  EXPECT_NE((*t)->Check(gpu).message().find("use_gpu"), std::string::npos);
  EXPECT_FALSE(MpiTarget::Create("c", nlohmann::json::object()).ok());  // no hosts
}

TEST(MpiTarget, PlansOneMpirunOverTheHostsWithCopiedCode) {
  auto t = MpiTarget::Create("c", {{"hosts", "a:2,b:2"},
                                   {"launch_agent", "ssh -p 2222"},
                                   {"tracking_address", "10.0.0.1"},
                                   {"trainyard_bin", "/opt/trainyard"}});
  ASSERT_TRUE(t.ok());
  auto spec =
      Job("source_directory: /src\nentry_script: t.py\nnode_count: 2\n"
          "process_count_per_node: 2\ndistributed_backend: mpi\n");
  PlanContext ctx = Ctx();
  auto plan = (*t)->Plan(spec, ctx);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->staging.mode, "copy");
  EXPECT_EQ(plan->staging.dir, "/tmp/trainyard/exp_1_abcd/work");
  EXPECT_EQ(plan->staging.hosts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(plan->staging.agent, (std::vector<std::string>{"ssh", "-p", "2222"}));
  EXPECT_EQ(plan->tracking_address, "10.0.0.1");
  ASSERT_EQ(plan->processes.size(), 1u);
  const auto& argv = plan->processes[0].argv;
  std::string joined;
  for (const auto& a : argv) joined += a + " ";
  EXPECT_NE(joined.find("--host a:2,b:2 -np 4 --map-by ppr:2:node"), std::string::npos) << joined;
  EXPECT_NE(joined.find("--mca plm_rsh_agent ssh -p 2222 --wdir /tmp/trainyard/exp_1_abcd/work"),
            std::string::npos)
      << joined;
  EXPECT_NE(joined.find("/opt/trainyard rank-exec -- /usr/bin/python3 t.py"), std::string::npos)
      << joined;
  EXPECT_EQ(plan->processes[0].env.at("MASTER_ADDR"), "a");
  EXPECT_TRUE(plan->processes[0].tagged_output);

  auto shared = MpiTarget::Create("s", {{"hosts", "a:2"}, {"shared_folder", "/nfs/runs"}});
  ASSERT_TRUE(shared.ok());
  auto one = Job("source_directory: /src\nentry_script: t.py\n");
  auto splan = (*shared)->Plan(one, ctx);
  ASSERT_TRUE(splan.ok());
  EXPECT_EQ(splan->staging.mode, "shared");
  EXPECT_EQ(splan->staging.dir, "/nfs/runs/exp_1_abcd/work");
}

// Issue 14 item 3: images run on local targets only; other types refuse at submit with what they
// would need, and a missing engine is refused naming the image (tests/e2e/test_images.py runs
// real images).
TEST(Images, OnlyLocalTargetsRunImagesAndNoEngineIsRefused) {
  auto spec = Job("command: echo hi\nenvironment: {image: localhost/some:1}\n");
  EXPECT_TRUE(UsesImage(spec));
  auto mpi = MakeTarget({"hosts", "mpi", R"({"hosts": "h1:1"})"});
  ASSERT_TRUE(mpi.ok()) << mpi.status().ToString();
  Status s = (*mpi)->Check(spec);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("target \"hosts\" (mpi) cannot run image localhost/some:1"),
            std::string::npos)
      << s.message();
  ::setenv("TRAINYARD_PODMAN", "/nonexistent/podman", 1);
  auto local = MakeTarget({"box", "local", "{}"});
  ASSERT_TRUE(local.ok());
  s = (*local)->Check(spec);
  ::unsetenv("TRAINYARD_PODMAN");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("running image \"localhost/some:1\" needs the podman engine"),
            std::string::npos)
      << s.message();
  auto mpi_job =
      Job("command: echo hi\nenvironment: {image: localhost/some:1}\n"
          "distribution: {type: mpi, process_count_per_instance: 2}\n");
  s = (*local)->Check(mpi_job);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("distribution: mpi does not run in an image yet"), std::string::npos);
}

// In an image, python is the image's: no preamble naming the host's interpreter, and a leading
// python word is left as it is.
TEST(Images, PythonIsTheImagesOwn) {
  auto shell = Job("command: python -c 'print(1)'\nenvironment: {image: localhost/some:1}\n");
  PlanContext ctx = Ctx();
  auto argv = ProgramArgv(shell, ctx);
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(argv->at(2).find("python()"), std::string::npos) << argv->at(2);
  auto list = Job("command: [python, t.py]\nenvironment: {image: localhost/some:1}\n");
  argv = ProgramArgv(list, ctx);
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(argv->at(0), "python");
  auto host = Job("command: [python, t.py]\n");
  argv = ProgramArgv(host, ctx);
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(argv->at(0), ctx.interpreter);
}

}  // namespace
}  // namespace trainyard::targets
