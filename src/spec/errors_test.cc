// Invalid documents: every problem names the place (file:line:column), the field and the issue.
#include <gtest/gtest.h>

#include <regex>

#include "spec/parse.h"
#include "spec/test_util.h"

namespace trainyard::spec {
namespace {

class ErrorsTest : public TempDirTest {
 protected:
  // The error message for `text`, or "OK".
  std::string Error(const std::string& text) {
    auto spec = ParseJobText(text, "job.yaml", dir_);
    if (spec.ok()) return "OK";
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    return spec.status().message();
  }
};

constexpr char kHead[] = "source_directory: .\nentry_script: t.py\n";  // lines 1-2
constexpr char kCommandHead[] = "code: .\ncommand: python t.py\n";     // lines 1-2

TEST_F(ErrorsTest, MissingRequiredFields) {
  EXPECT_EQ(Error("entry_script: t.py\n"), "job.yaml: source_directory: required field is missing");
  EXPECT_EQ(Error("source_directory: .\n"), "job.yaml: entry_script: required field is missing");
  // Issue 14: code is optional (an empty working folder), as on the hosted service.
  EXPECT_EQ(Error("command: python t.py\n"), "OK");
  EXPECT_EQ(Error("code: .\n"), "job.yaml: command: required field is missing");
  EXPECT_EQ(Error("display_name: x\n"),
            "job.yaml: source_directory: required field is missing\n"
            "job.yaml: entry_script: required field is missing");
}

TEST_F(ErrorsTest, EmptyRequiredValues) {
  EXPECT_EQ(Error("source_directory:\nentry_script: ''\n"),
            "job.yaml:1:1: source_directory: must not be empty\n"
            "job.yaml:2:15: entry_script: must not be empty");
  EXPECT_EQ(Error("code: .\ncommand: []\n"), "job.yaml:2:10: command: must not be empty");
}

TEST_F(ErrorsTest, WrongTypes) {
  EXPECT_EQ(Error(std::string(kHead) + "node_count: two\n"),
            "job.yaml:3:13: node_count: expected an integer, got \"two\"");
  EXPECT_EQ(Error(std::string(kHead) + "use_gpu: yes please\n"),
            "job.yaml:3:10: use_gpu: expected true or false, got \"yes please\"");
  EXPECT_EQ(Error(std::string(kHead) + "node_count: 1.5\n"),
            "job.yaml:3:13: node_count: expected an integer, got \"1.5\"");
  EXPECT_EQ(Error(std::string(kHead) + "node_count: [1]\n"),
            "job.yaml:3:13: node_count: expected an integer, got a list");
  EXPECT_EQ(Error(std::string(kHead) + "max_run_duration_seconds: 1h\n"),
            "job.yaml:3:27: max_run_duration_seconds: expected a number of seconds, got \"1h\"");
  EXPECT_EQ(Error(std::string(kHead) + "pip_packages: numpy\n"),
            "job.yaml:3:15: pip_packages: expected a list of strings, got \"numpy\"");
  EXPECT_EQ(Error(std::string(kHead) + "pip_packages: [numpy, {a: b}]\n"),
            "job.yaml:3:23: pip_packages[1]: expected a string, got a map");
  EXPECT_EQ(Error(std::string(kHead) + "script_params: [--lr, 1]\n"),
            "job.yaml:3:16: script_params: expected a map, got a list");
  EXPECT_EQ(Error(std::string(kHead) + "script_params:\n  --lr: [1, 2]\n"),
            "job.yaml:4:9: script_params[\"--lr\"]: expected a scalar value (or null for a bare "
            "flag), got a list");
  EXPECT_EQ(Error(std::string(kHead) + "tags: [a]\n"),
            "job.yaml:3:7: tags: expected a map, got a list");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: [python]\n"),
            "job.yaml:3:14: environment: expected a python path or a map, got a list");
}

TEST_F(ErrorsTest, CountsMustBePositive) {
  EXPECT_EQ(Error(std::string(kHead) + "node_count: 0\n"),
            "job.yaml:3:13: node_count: must be at least 1, got 0");
  EXPECT_EQ(Error(std::string(kHead) + "process_count_per_node: -1\n"),
            "job.yaml:3:25: process_count_per_node: must be at least 1, got -1");
  EXPECT_EQ(Error(std::string(kCommandHead) + "resources:\n  instance_count: 0\n"),
            "job.yaml:4:19: resources.instance_count: must be at least 1, got 0");
  EXPECT_EQ(Error(std::string(kCommandHead) + "distribution:\n  process_count_per_instance: 0\n"),
            "job.yaml:4:31: distribution.process_count_per_instance: must be at least 1, got 0");
}

TEST_F(ErrorsTest, TimeoutsMustBePositive) {
  EXPECT_EQ(Error(std::string(kHead) + "max_run_duration_seconds: 0\n"),
            "job.yaml:3:27: max_run_duration_seconds: must be greater than 0, got 0");
  EXPECT_EQ(Error(std::string(kCommandHead) + "limits: {timeout: -5}\n"),
            "job.yaml:3:19: limits.timeout: must be greater than 0, got -5");
}

TEST_F(ErrorsTest, UnknownBackendListsTheAllowedOnes) {
  EXPECT_EQ(Error(std::string(kHead) + "distributed_backend: horovodx\n"),
            "job.yaml:3:22: distributed_backend: unknown backend \"horovodx\" (expected mpi, "
            "pytorch, gloo, nccl, torch.distributed or none)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "distribution: {type: pytorh}\n"),
            "job.yaml:3:22: distribution.type: unknown backend \"pytorh\" (expected mpi, pytorch, "
            "gloo, nccl, torch.distributed or none) (did you mean \"pytorch\"?)");
}

TEST_F(ErrorsTest, SeveralProcessesNeedABackend) {
  EXPECT_EQ(Error(std::string(kHead) + "node_count: 2\n"),
            "job.yaml:3:13: node_count: 2 requires distributed_backend (mpi or pytorch)");
  EXPECT_EQ(Error(std::string(kHead) + "process_count_per_node: 4\n"),
            "job.yaml:3:25: process_count_per_node: 4 requires distributed_backend (mpi or "
            "pytorch)");
  EXPECT_EQ(Error(std::string(kHead) + "node_count: 2\ndistributed_backend: none\n"),
            "job.yaml:3:13: node_count: 2 requires distributed_backend (mpi or pytorch)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "resources: {instance_count: 2}\n"),
            "job.yaml:3:29: resources.instance_count: 2 requires distribution.type (mpi or "
            "pytorch)");
  EXPECT_EQ(Error(std::string(kHead) + "node_count: 2\ndistributed_backend: mpi\n"), "OK");
}

TEST_F(ErrorsTest, EntryScriptMustStayInsideTheSource) {
  EXPECT_EQ(Error("source_directory: .\nentry_script: /etc/x.py\n"),
            "job.yaml:2:15: entry_script: must be a path relative to source_directory, got "
            "\"/etc/x.py\"");
  EXPECT_EQ(Error("source_directory: .\nentry_script: ../x.py\n"),
            "job.yaml:2:15: entry_script: \"../x.py\" is outside source_directory");
  EXPECT_EQ(Error("source_directory: .\nentry_script: a/../../x.py\n"),
            "job.yaml:2:15: entry_script: \"a/../../x.py\" is outside source_directory");
  EXPECT_EQ(Error("source_directory: .\nentry_script: a/../x.py\n"), "OK");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {pip_requirements_file: ../r.txt}\n"),
            "job.yaml:3:38: environment.pip_requirements_file: \"../r.txt\" is outside code");
}

TEST_F(ErrorsTest, TopLevelMustBeAMap) {
  EXPECT_EQ(Error("- a\n- b\n"),
            "job.yaml:1:1: expected a map of job fields at the top level, got a list");
  EXPECT_EQ(Error("hello\n"),
            "job.yaml:1:1: expected a map of job fields at the top level, got \"hello\"");
  EXPECT_EQ(Error(""), "job.yaml: the document is empty (expected a map of job fields)");
  EXPECT_EQ(Error("# only a comment\n"),
            "job.yaml: the document is empty (expected a map of job fields)");
}

TEST_F(ErrorsTest, EnvironmentVariableNames) {
  EXPECT_EQ(Error(std::string(kHead) + "environment_variables:\n  '': x\n  A=B: y\n  OK: 1\n"),
            "job.yaml:4:3: environment_variables[\"\"]: variable name must not be empty\n"
            "job.yaml:5:3: environment_variables[\"A=B\"]: \"A=B\" is not a valid variable name "
            "(letters, "
            "digits, '.', '-' and '_' only)");
  EXPECT_EQ(Error(std::string(kHead) + "environment_variables: {FOO: [1]}\n"),
            "job.yaml:3:30: environment_variables.FOO: expected a string, got a list");
}

TEST_F(ErrorsTest, UnknownFieldsSuggestTheClosestKnownOne) {
  EXPECT_EQ(Error(std::string(kHead) + "nod_count: 2\n"),
            "job.yaml:3:1: nod_count: unknown field (did you mean \"node_count\"?)");
  EXPECT_EQ(Error(std::string(kHead) + "zzz: 1\n"), "job.yaml:3:1: zzz: unknown field");
  EXPECT_EQ(Error(std::string(kCommandHead) + "resources:\n  instance_cont: 2\n"),
            "job.yaml:4:3: resources.instance_cont: unknown field (did you mean "
            "\"instance_count\"?)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {pyhton: /usr/bin/python3}\n"),
            "job.yaml:3:15: environment.pyhton: unknown field (did you mean \"python\"?)");
  EXPECT_EQ(Error(std::string(kHead) + "inputs: {d: {type: uri_file, pth: x}}\n"),
            "job.yaml:3:30: inputs.d.pth: unknown field (did you mean \"path\"?)\n"
            "job.yaml:3:13: inputs.d.path: required for type uri_file");
}

TEST_F(ErrorsTest, MixingFormsNamesTheKey) {
  EXPECT_EQ(Error(std::string(kHead) + "compute: gpu\n"),
            "job.yaml:3:1: compute: command-job field, not allowed in an estimator job (use "
            "compute_target)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "node_count: 2\n"),
            "job.yaml:3:1: node_count: estimator-form field, not allowed in a command job (use "
            "resources.instance_count)");
  EXPECT_EQ(Error("source_directory: .\ncommand: python t.py\n"),
            "job.yaml:1:1: source_directory: estimator-form field, not allowed in a command job "
            "(use code)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "use_gpu: true\n"),
            "job.yaml:3:1: use_gpu: estimator-form field, not allowed in a command job");
}

TEST_F(ErrorsTest, YamlSyntaxErrorsGiveLineAndColumn) {
  std::string message = Error("source_directory: .\nentry_script: [t.py\nnode_count: 2\n");
  EXPECT_TRUE(
      std::regex_match(message, std::regex("job\\.yaml:[0-9]+:[0-9]+: YAML syntax error: .+")))
      << message;
  message = Error("source_directory: .\n  entry_script: x: y\n");
  EXPECT_TRUE(std::regex_match(message, std::regex("job\\.yaml:2:[0-9]+: YAML syntax error: .+")))
      << message;
}

TEST_F(ErrorsTest, DuplicateKeys) {
  EXPECT_EQ(Error(std::string(kHead) + "entry_script: u.py\n"),
            "job.yaml:3:1: duplicate key \"entry_script\" (first written at job.yaml:2:1)");
}

TEST_F(ErrorsTest, UnknownInputReferences) {
  EXPECT_EQ(Error(std::string(kHead) +
                  "script_params:\n  --data: ${{inputs.dat}}\ninputs:\n  data: {path: d}\n"),
            "job.yaml:4:11: script_params[\"--data\"]: unknown input \"dat\" (did you mean "
            "\"data\"?)");
  EXPECT_EQ(Error("code: .\ncommand: python t.py --data ${{inputs.data}}\n"),
            "job.yaml:2:10: command: unknown input \"data\"");
  EXPECT_EQ(Error("code: .\ncommand: [python, t.py, '${{inputs.dta}}']\ninputs: {data: 1}\n"),
            "job.yaml:2:25: command[2]: unknown input \"dta\" (did you mean \"data\"?)");
  EXPECT_EQ(Error("code: .\ncommand: [python, '${{outputs.x}}']\n"),
            "job.yaml:2:19: command[1]: unknown output \"x\"");
  EXPECT_EQ(Error("code: .\ncommand: echo ${{outputs.out}}\noutputs: {outs: }\n"),
            "job.yaml:2:10: command: unknown output \"out\" (did you mean \"outs\"?)");
  EXPECT_EQ(Error(std::string(kHead) + "script_params: {--o: '${{outputs.x}}'}\n"),
            "job.yaml:3:22: script_params[\"--o\"]: unsupported expression \"${{outputs.x}}\" "
            "(only ${{inputs.NAME}} is supported)");
  EXPECT_EQ(Error("command: echo ${{search_space.lr}}\n"),
            "job.yaml:1:10: command: \"${{search_space.lr}}\": search_space values exist only in "
            "the trial of a sweep (a job file with type: sweep and a search_space)");
  EXPECT_EQ(Error(std::string(kHead) + "extra_args: ['${{inputs.x']\n"),
            "job.yaml:3:14: extra_args[0]: unterminated \"${{\" (expected ${{inputs.NAME}})");
}

TEST_F(ErrorsTest, InvalidInputs) {
  EXPECT_EQ(Error(std::string(kHead) + "inputs: {1x: 3}\n"),
            "job.yaml:3:10: inputs[\"1x\"]: invalid input name (letters, digits and '_', not "
            "starting with a digit)");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  d: {type: folder, path: x}\n"),
            "job.yaml:4:13: inputs.d.type: unknown type \"folder\" (expected uri_folder, "
            "uri_file, string, number, integer or boolean)");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  data: {path: x, mode: rw_mount}\n"),
            "job.yaml:4:25: inputs.data.mode: unknown mode \"rw_mount\" (expected ro_mount or "
            "download) (did you mean \"ro_mount\"?)");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  lr: {type: number, value: abc}\n"),
            "job.yaml:4:29: inputs.lr.value: expected a number, got \"abc\"");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  n: {type: integer, value: 1.5}\n"),
            "job.yaml:4:29: inputs.n.value: expected an integer, got \"1.5\"");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  d: {type: uri_folder, value: x}\n"),
            "job.yaml:4:25: inputs.d.value: not allowed for type uri_folder (use path)\n"
            "job.yaml:4:6: inputs.d.path: required for type uri_folder");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  d: {type: string, value: x, mode: download}\n"),
            "job.yaml:4:31: inputs.d.mode: only allowed for uri_folder and uri_file inputs");
  // Web URLs name one file: a uri_file is downloaded at submit (runner/download.h); a folder
  // (the type without one) is refused.
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  d: {path: 'https://x/y'}\n"),
            "job.yaml:4:13: inputs.d.path: \"https://x/y\": a web URL names one file: give type: "
            "uri_file (a folder cannot be downloaded from a URL; put it in a workspace datastore "
            "folder and give azureml://datastores/NAME/paths/FOLDER)");
  EXPECT_EQ(
      Error(std::string(kHead) + "inputs:\n  d: {type: uri_folder, path: 'http://x/data/'}\n"),
      "job.yaml:4:31: inputs.d.path: \"http://x/data/\": a web URL names one file: give "
      "type: uri_file (a folder cannot be downloaded from a URL; put it in a workspace "
      "datastore folder and give azureml://datastores/NAME/paths/FOLDER)");
  EXPECT_EQ(Error(std::string(kHead) +
                  "inputs:\n  d: {type: uri_file, path: 'https://x/iris.csv', mode: download}\n"),
            "OK");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  d: {type: uri_file, path: 'HTTPS://x/y'}\n"),
            "job.yaml:4:29: inputs.d.path: \"HTTPS://x/y\" is not a local path (remote URIs are "
            "not supported)");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  d: {path: 's3://x/y'}\n"),
            "job.yaml:4:13: inputs.d.path: \"s3://x/y\" is not a local path (remote URIs are "
            "not supported)");
  // Data assets and datastore paths are resolved at submit (runner/assets.h).
  EXPECT_EQ(
      Error(std::string(kHead) + "inputs:\n  d: {type: uri_file, path: azureml:iris@latest}\n"),
      "OK");
  EXPECT_EQ(Error(std::string(kHead) + "inputs:\n  d:\n"),
            "job.yaml:4:3: inputs.d: expected a literal value or a map with type and path, got "
            "null");
  EXPECT_EQ(Error(std::string(kHead) + "inputs: [a]\n"),
            "job.yaml:3:9: inputs: expected a map of input names to values, got a list");
}

TEST_F(ErrorsTest, NamesAndTargets) {
  EXPECT_EQ(Error(std::string(kHead) + "experiment_name: bad name\n"),
            "job.yaml:3:18: experiment_name: \"bad name\" is not a valid name (1 to 100 letters, "
            "digits, '.', '_' or '-', starting with a letter or digit)");
  EXPECT_EQ(Error(std::string(kHead) + "experiment_name: -x\n"),
            "job.yaml:3:18: experiment_name: \"-x\" is not a valid name (1 to 100 letters, "
            "digits, '.', '_' or '-', starting with a letter or digit)");
  EXPECT_NE(Error(std::string(kHead) + "experiment_name: " + std::string(101, 'a') + "\n")
                .find("is not a valid name"),
            std::string::npos);
  EXPECT_EQ(Error(std::string(kHead) + "experiment_name: " + std::string(100, 'a') + "\n"), "OK");
  EXPECT_EQ(Error(std::string(kHead) + "compute_target: ''\n"),
            "job.yaml:3:17: compute_target: must not be empty");
  EXPECT_EQ(Error(std::string(kHead) + "compute_target: any-cluster-name\n"), "OK");
}

// A command string is a bash script: its syntax is checked by bash at submit (e2e tests).
TEST_F(ErrorsTest, CommandJobRefusals) {
  // Registered and curated environments are resolved at submit (runner/assets.h).
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: azureml:AzureML-sklearn:1\n"), "OK");
  // Images are found (or built) at submit by the target (env/image.h).
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {image: library/python:latest}\n"),
            "OK");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {build: {path: ctx}}\n"), "OK");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {image: ''}\n"),
            "job.yaml:3:22: environment.image: must not be empty");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {build: {dockerfile_path: D}}\n"),
            "job.yaml:3:22: environment.build.path: required field is missing");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {build: {path: 'https://x/c'}}\n"),
            "job.yaml:3:29: environment.build.path: must be a local folder (trainyard never "
            "fetches a build context), got \"https://x/c\"");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {image: a, build: {path: c}}\n"),
            "job.yaml:3:14: environment: give either image or build, not both");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {image: a, pip_packages: [x]}\n"),
            "job.yaml:3:14: environment: an image brings its own interpreter and packages: "
            "python, pip_packages, conda_packages and pip_requirements_file do not go with image "
            "or build (put them in the image's Dockerfile)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "environment: {image: a, conda_file: c.yml}\n"),
            "job.yaml:3:25: environment.conda_file: a conda file is not supported; give the "
            "packages with environment.conda_packages or pip_packages, or run an image that has "
            "them (environment.image)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "type: sweep\n"),
            "job.yaml:3:7: type: \"sweep\" jobs are not supported (only type: command; sweeps are "
            "issue 15)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "services: {my_jupyter: {type: jupyter_lab}}\n"),
            "job.yaml:3:1: services: interactive services (jupyter, ssh, tensorboard, vscode) are "
            "not supported; follow a run with `trainyard logs RUN --follow` and `trainyard "
            "metrics RUN`");
  EXPECT_EQ(Error(std::string(kCommandHead) + "identity: {type: managed}\n"),
            "job.yaml:3:18: identity.type: \"managed\" is not supported: runs run as the user "
            "who submits them (user_identity)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "distribution: {type: tensorflow}\n"),
            "job.yaml:3:22: distribution.type: tensorflow is not supported (no TF_CONFIG / "
            "parameter servers here): use mpi (with Horovod) or pytorch");
  EXPECT_EQ(Error(std::string(kCommandHead) + "outputs: {o: {type: uri_folder, path: x}}\n"),
            "job.yaml:3:14: outputs.o.path: not supported: outputs are kept with the run "
            "(outputs/o/, listed by `trainyard files`, fetched by `trainyard download`)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "outputs: {o: {type: mltable}}\n"),
            "job.yaml:3:21: outputs.o.type: unknown type \"mltable\" (expected uri_folder, "
            "uri_file, custom_model or mlflow_model)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "outputs: {o: {mode: direct}}\n"),
            "job.yaml:3:21: outputs.o.mode: unknown mode \"direct\" (expected rw_mount or upload)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "outputs: {o: {tpye: uri_file}}\n"),
            "job.yaml:3:15: outputs.o.tpye: unknown field (did you mean \"type\"?)");
  EXPECT_EQ(Error(std::string(kCommandHead) + "descripton: x\n"),
            "job.yaml:3:1: descripton: unknown field (did you mean \"description\"?)");
  EXPECT_EQ(Error("command: '  '\n"), "job.yaml:1:10: command: must not be empty");
}

TEST_F(ErrorsTest, AllProblemsAreReportedTogether) {
  EXPECT_EQ(Error("source_directory: .\nentry_script: /t.py\nnode_count: two\nuse_gpu: maybe\n"
                  "nod_count: 1\n"),
            "job.yaml:2:15: entry_script: must be a path relative to source_directory, got "
            "\"/t.py\"\n"
            "job.yaml:3:13: node_count: expected an integer, got \"two\"\n"
            "job.yaml:4:10: use_gpu: expected true or false, got \"maybe\"\n"
            "job.yaml:5:1: nod_count: unknown field (did you mean \"node_count\"?)");
}

TEST_F(ErrorsTest, JsonErrorsHaveLinesToo) {
  EXPECT_EQ(Error("{\n  \"source_directory\": \".\",\n  \"entry_script\": \"t.py\",\n"
                  "  \"node_count\": \"two\"\n}\n"),
            "job.yaml:4:17: node_count: expected an integer, got \"two\"");
}

TEST_F(ErrorsTest, AliasesCannotBlowUp) {
  EXPECT_EQ(Error("a: &x [*x]\n"),
            "job.yaml:1:8: alias *x refers to the list or map that contains it");
  // Ten aliases of ten aliases of ... : 10^8 nodes from a few hundred bytes.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'h'; ++c) {
    bomb += c;
    bomb += ": &";
    bomb += c;
    bomb += " [";
    for (int k = 0; k < 10; ++k) {
      bomb += k ? ", *" : "*";
      bomb += static_cast<char>(c - 1);
    }
    bomb += "]\n";
  }
  EXPECT_NE(Error(bomb).find("expands the document to more than 100000 keys and values"),
            std::string::npos);
}

}  // namespace
}  // namespace trainyard::spec
