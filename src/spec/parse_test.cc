// Parsing valid documents: both forms, YAML and JSON, files and flags.
#include "spec/parse.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "spec/test_util.h"

namespace trainyard::spec {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

class ParseTest : public TempDirTest {
 protected:
  JobSpec Parse(const std::string& text, const Overrides& o = {}) {
    auto spec = ParseJobText(text, "job.yaml", dir_, o);
    EXPECT_TRUE(spec.ok()) << spec.status().message();
    return spec.ok() ? *spec : JobSpec{};
  }
};

constexpr char kEstimatorYaml[] = R"(
source_directory: src
entry_script: ./train.py
script_params:
  --lr: 0.01
  --epochs: 10
  --verbose:
  --data: ${{inputs.data}}
compute_target: gpu-box
python: .venv/bin/python
pip_packages: [torch, numpy==1.26]
conda_packages: [cudatoolkit]
pip_requirements_file: requirements.txt
use_gpu: true
node_count: 2
process_count_per_node: 4
distributed_backend: nccl
environment_variables:
  NCCL_DEBUG: INFO
  OMP_NUM_THREADS: 4
inputs:
  data: {type: uri_folder, path: data, mode: download}
  labels: {type: uri_file, path: /abs/labels.csv}
  alpha: 0.5
  name: {type: string, value: hello}
max_run_duration_seconds: 3600
experiment_name: mnist-1
display_name: first try
tags: {team: vision, priority: 1}
)";

constexpr char kCommandYaml[] = R"(
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: src
command: python train.py --lr 0.01 --epochs 10 --verbose --data ${{inputs.data}}
environment:
  python: .venv/bin/python
  pip_packages: [torch, numpy==1.26]
  conda_packages: [cudatoolkit]
  pip_requirements_file: requirements.txt
compute: gpu-box
resources: {instance_count: 2}
distribution: {type: torch.distributed, process_count_per_instance: 4}
limits: {timeout: 3600}
environment_variables:
  NCCL_DEBUG: INFO
  OMP_NUM_THREADS: 4
inputs:
  data: {type: uri_folder, path: data, mode: download}
  labels: {type: uri_file, path: /abs/labels.csv}
  alpha: 0.5
  name: {type: string, value: hello}
experiment_name: mnist-1
display_name: first try
tags: {team: vision, priority: 1}
)";

TEST_F(ParseTest, EstimatorFormReadsEveryField) {
  JobSpec s = Parse(kEstimatorYaml);
  EXPECT_EQ(s.form, "estimator");
  EXPECT_EQ(s.origin, "job.yaml");
  EXPECT_EQ(s.source_directory, Path("src"));
  EXPECT_EQ(s.entry_script, "train.py");
  ASSERT_EQ(s.script_params.size(), 4u);
  EXPECT_EQ(s.script_params[0], (ScriptParam{"--lr", "0.01"}));
  EXPECT_EQ(s.script_params[1], (ScriptParam{"--epochs", "10"}));
  EXPECT_EQ(s.script_params[2], (ScriptParam{"--verbose", std::nullopt}));
  EXPECT_EQ(s.script_params[3], (ScriptParam{"--data", "${{inputs.data}}"}));
  EXPECT_EQ(s.compute_target, "gpu-box");
  EXPECT_EQ(s.python, Path(".venv/bin/python"));
  EXPECT_EQ(s.pip_packages, (std::vector<std::string>{"torch", "numpy==1.26"}));
  EXPECT_EQ(s.conda_packages, (std::vector<std::string>{"cudatoolkit"}));
  EXPECT_EQ(s.pip_requirements_file, "requirements.txt");
  EXPECT_TRUE(s.use_gpu);
  EXPECT_EQ(s.node_count, 2);
  EXPECT_EQ(s.process_count_per_node, 4);
  EXPECT_EQ(s.TotalProcesses(), 8);
  EXPECT_EQ(s.distributed_backend, "pytorch");
  EXPECT_EQ(s.environment_variables, (Pairs{{"NCCL_DEBUG", "INFO"}, {"OMP_NUM_THREADS", "4"}}));
  ASSERT_EQ(s.inputs.size(), 4u);
  EXPECT_EQ(s.inputs[0],
            (Input{"data", Input::Kind::kUriFolder, Path("data"), Input::Mode::kDownload}));
  EXPECT_EQ(s.inputs[1], (Input{"labels", Input::Kind::kUriFile, "/abs/labels.csv"}));
  EXPECT_EQ(s.inputs[2], (Input{"alpha", Input::Kind::kLiteral, "0.5"}));
  EXPECT_EQ(s.inputs[3], (Input{"name", Input::Kind::kLiteral, "hello"}));
  EXPECT_EQ(s.max_run_duration_seconds, 3600);
  EXPECT_EQ(s.experiment_name, "mnist-1");
  EXPECT_EQ(s.display_name, "first try");
  EXPECT_EQ(s.tags, (Pairs{{"team", "vision"}, {"priority", "1"}}));
}

TEST_F(ParseTest, CommandFormMatchesEquivalentEstimator) {
  JobSpec est = Parse(kEstimatorYaml);
  JobSpec cmd = Parse(kCommandYaml);
  EXPECT_EQ(cmd.form, "command");
  // A command string is a shell script (bash -c), kept as written.
  EXPECT_EQ(cmd.shell_command,
            "python train.py --lr 0.01 --epochs 10 --verbose --data ${{inputs.data}}");
  EXPECT_TRUE(cmd.command.empty());
  EXPECT_EQ(cmd.entry_script, "");
  EXPECT_TRUE(cmd.script_params.empty());
  // Apart from how the program is named, the two describe the same job.
  cmd.form = est.form;
  cmd.shell_command.clear();
  est.entry_script.clear();
  est.script_params.clear();
  est.use_gpu = false;  // no command-form equivalent
  EXPECT_EQ(est, cmd);
}

// Issue 14: a string runs in bash (as on the hosted service), a list stays an argv vector.
TEST_F(ParseTest, CommandStringIsAShellScriptAndAListIsArgv) {
  JobSpec a = Parse("code: .\ncommand: |\n  python 'my script.py' --name \"a b\"\n  echo done\n");
  JobSpec b = Parse("code: .\ncommand: [python, my script.py, --name, a b]\n");
  EXPECT_EQ(a.shell_command, "python 'my script.py' --name \"a b\"\necho done\n");
  EXPECT_TRUE(a.command.empty());
  EXPECT_TRUE(b.shell_command.empty());
  EXPECT_EQ(b.command, (std::vector<std::string>{"python", "my script.py", "--name", "a b"}));
  EXPECT_EQ(a.source_directory, dir_);
}

// The hosted command-job schema's fields (reference-yaml-job-command).
TEST_F(ParseTest, EveryCommandJobField) {
  JobSpec s = Parse(R"(
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: job-1
display_name: Job one
description: |
  # Markdown
experiment_name: exp
tags: {a: b}
properties: {p: q, n: 3}
command: echo hi > ${{outputs.o}}/x.txt
environment_variables: {V: w}
outputs:
  o:
  f: {type: uri_file, path: azureml://datastores/d/paths/out/result.json, mode: upload}
  m: {type: mlflow_model}
  c: {type: custom_model, mode: rw_mount}
compute: azureml:cpu-cluster
resources: {instance_count: 1, shm_size: 2g}
limits: {timeout: 60}
queue_settings: {job_tier: standard}
identity: {type: user_identity}
)");
  EXPECT_EQ(s.form, "command");
  EXPECT_EQ(s.job_name, "job-1");
  EXPECT_EQ(s.display_name, "Job one");
  EXPECT_EQ(s.description, "# Markdown\n");
  EXPECT_EQ(s.properties, (Pairs{{"p", "q"}, {"n", "3"}}));
  EXPECT_EQ(s.source_directory, "");  // no code: an empty working folder
  EXPECT_EQ(s.compute_target, "cpu-cluster");
  EXPECT_EQ(s.shm_size, "2g");
  EXPECT_EQ(s.queue_settings, (Pairs{{"job_tier", "standard"}}));
  EXPECT_EQ(s.max_run_duration_seconds, 60);
  ASSERT_EQ(s.outputs.size(), 4u);
  EXPECT_EQ(s.outputs[0], (Output{"o", Output::Kind::kUriFolder, "rw_mount", ""}));
  EXPECT_EQ(s.outputs[1], (Output{"f", Output::Kind::kUriFile, "upload", "result.json"}));
  EXPECT_EQ(s.outputs[2], (Output{"m", Output::Kind::kMlflowModel, "rw_mount", ""}));
  EXPECT_EQ(s.outputs[3], (Output{"c", Output::Kind::kCustomModel, "rw_mount", ""}));
}

// Registered environments, data assets and datastore paths are kept as written, for submit to
// resolve against the workspace (runner/assets.h).
TEST_F(ParseTest, AzuremlReferencesAreKeptForSubmit) {
  JobSpec s = Parse(R"(
command: python hello.py ${{inputs.a}} ${{inputs.b}}
inputs:
  a: {type: uri_file, path: azureml:iris:2}
  b: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/example-data/}
environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
)");
  EXPECT_EQ(s.registered_environment,
            "azureml://registries/azureml/environments/sklearn-1.5/labels/latest");
  ASSERT_EQ(s.inputs.size(), 2u);
  EXPECT_EQ(s.inputs[0].asset, "azureml:iris:2");
  EXPECT_EQ(s.inputs[0].kind, Input::Kind::kUriFile);
  EXPECT_EQ(s.inputs[0].value, "");
  EXPECT_EQ(s.inputs[1].asset, "azureml://datastores/workspaceblobstore/paths/example-data/");
  EXPECT_EQ(s.inputs[1].kind, Input::Kind::kUriFolder);
}

TEST_F(ParseTest, JsonParsesLikeYaml) {
  const char* json = R"({
    "source_directory": "src",
    "entry_script": "train.py",
    "script_params": {"--lr": 0.01, "--verbose": null, "--name": "x y"},
    "node_count": 2,
    "distributed_backend": "mpi",
    "use_gpu": false,
    "inputs": {"data": {"type": "uri_folder", "path": "data"}},
    "tags": {"a": "b"}
  })";
  const char* yaml = R"(
source_directory: src
entry_script: train.py
script_params: {--lr: 0.01, --verbose: null, --name: x y}
node_count: 2
distributed_backend: mpi
use_gpu: false
inputs: {data: {type: uri_folder, path: data}}
tags: {a: b}
)";
  EXPECT_EQ(Parse(json), Parse(yaml));
  EXPECT_EQ(Parse(json).script_params[0].value, "0.01");
}

TEST_F(ParseTest, CommandJobJson) {
  JobSpec s = Parse(R"({"code": "src", "command": ["python", "t.py"],
                        "environment": "/usr/bin/python3", "limits": {"timeout": 1.5}})");
  EXPECT_EQ(s.form, "command");
  EXPECT_EQ(s.python, "/usr/bin/python3");
  EXPECT_EQ(s.max_run_duration_seconds, 1.5);
  EXPECT_EQ(s.command, (std::vector<std::string>{"python", "t.py"}));
}

TEST_F(ParseTest, Defaults) {
  JobSpec s = Parse("source_directory: .\nentry_script: train.py\n");
  EXPECT_EQ(s.compute_target, "local");
  EXPECT_EQ(s.experiment_name, "default");
  EXPECT_EQ(s.node_count, 1);
  EXPECT_EQ(s.process_count_per_node, 1);
  EXPECT_EQ(s.distributed_backend, "");
  EXPECT_EQ(s.max_run_duration_seconds, 0);
  EXPECT_EQ(s.python, "");
  EXPECT_FALSE(s.use_gpu);
}

TEST_F(ParseTest, BackendAliases) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"mpi", "mpi"},      {"MPI", "mpi"},      {"pytorch", "pytorch"},
      {"gloo", "pytorch"}, {"nccl", "pytorch"}, {"torch.distributed", "pytorch"},
      {"none", ""},        {"null", ""},        {"\"\"", ""},
  };
  for (const auto& [written, expected] : cases) {
    JobSpec s =
        Parse("source_directory: .\nentry_script: t.py\ndistributed_backend: " + written + "\n");
    EXPECT_EQ(s.distributed_backend, expected) << written;
  }
}

TEST_F(ParseTest, NullOptionalFieldsKeepDefaults) {
  JobSpec s = Parse(
      "source_directory: .\nentry_script: t.py\nnode_count:\ncompute_target: ~\n"
      "inputs:\ntags:\nmax_run_duration_seconds: null\n");
  EXPECT_EQ(s.node_count, 1);
  EXPECT_EQ(s.compute_target, "local");
  EXPECT_TRUE(s.inputs.empty());
}

TEST_F(ParseTest, InputReferencesInCommandAndExtraArgs) {
  JobSpec s = Parse(
      "code: .\ncommand: [python, t.py, '--in=${{ inputs.data }}']\n"
      "inputs: {data: 3}\n");
  EXPECT_EQ(s.command[2], "--in=${{ inputs.data }}");
  JobSpec e = Parse(
      "source_directory: .\nentry_script: t.py\nextra_args: ['${{inputs.x}}']\n"
      "inputs: {x: 1}\n");
  EXPECT_EQ(e.extra_args, (std::vector<std::string>{"${{inputs.x}}"}));
}

TEST_F(ParseTest, ParseJobFileResolvesAgainstTheFilesFolder) {
  std::string path = Write("jobs/job.yaml",
                           "source_directory: ../src\nentry_script: t.py\n"
                           "inputs: {d: {type: uri_file, path: d.csv}}\n");
  auto s = ParseJobFile(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->source_directory, Path("src"));
  EXPECT_EQ(s->inputs[0].value, Path("jobs/d.csv"));
  EXPECT_EQ(s->origin, path);
}

TEST_F(ParseTest, ParseJobFileMissingFile) {
  auto s = ParseJobFile(Path("nope.yaml"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("nope.yaml"), std::string::npos);
}

TEST_F(ParseTest, ParseFlagsDefaultsSourceToCurrentDirectory) {
  Overrides o;
  o.entry = "train.py";
  o.args = {"--lr", "0.1"};
  o.env = {"A=1"};
  auto s = ParseFlags(o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->origin, "<flags>");
  EXPECT_EQ(s->form, "estimator");
  EXPECT_EQ(s->source_directory, AbsolutePath("."));
  EXPECT_EQ(s->entry_script, "train.py");
  EXPECT_EQ(s->extra_args, (std::vector<std::string>{"--lr", "0.1"}));
  EXPECT_EQ(s->environment_variables, (Pairs{{"A", "1"}}));
}

TEST_F(ParseTest, ParseFlagsWithSourceAndSets) {
  Overrides o;
  o.source = dir_;
  o.entry = "t.py";
  o.sets = {"node_count=2", "distributed_backend=mpi", "script_params[\"--lr\"]=0.1"};
  o.timeout_seconds = 90;
  auto s = ParseFlags(o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->source_directory, dir_);
  EXPECT_EQ(s->node_count, 2);
  EXPECT_EQ(s->distributed_backend, "mpi");
  EXPECT_EQ(s->script_params, (std::vector<ScriptParam>{{"--lr", "0.1"}}));
  EXPECT_EQ(s->max_run_duration_seconds, 90);
}

}  // namespace
}  // namespace trainyard::spec
