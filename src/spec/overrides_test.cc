// CLI overrides: merged into the tree before validation, so they validate like the file.
#include "spec/overrides.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "spec/parse.h"
#include "spec/test_util.h"

namespace trainyard::spec {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;
using Words = std::vector<std::string>;

constexpr char kEstimator[] =
    "source_directory: .\nentry_script: t.py\nscript_params:\n  --lr: 0.01\n  --epochs: 3\n";
constexpr char kCommand[] = "code: .\ncommand: python t.py --x 'a b'\n";

class OverridesTest : public TempDirTest {
 protected:
  Result<JobSpec> Parse(const std::string& text, const Overrides& o) {
    return ParseJobText(text, "job.yaml", dir_, o);
  }
  std::string Error(const std::string& text, const Overrides& o) {
    auto spec = Parse(text, o);
    return spec.ok() ? "OK" : spec.status().message();
  }
  static Overrides Sets(std::vector<std::string> sets) {
    Overrides o;
    o.sets = std::move(sets);
    return o;
  }
};

TEST_F(OverridesTest, SetReplacesScalarsAndKeepsOrder) {
  auto s = Parse(kEstimator, Sets({"script_params[\"--lr\"]=0.1", "node_count=2",
                                   "distributed_backend=mpi", "script_params['--new']=x"}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->script_params,
            (std::vector<ScriptParam>{{"--lr", "0.1"}, {"--epochs", "3"}, {"--new", "x"}}));
  EXPECT_EQ(s->node_count, 2);
  EXPECT_EQ(s->distributed_backend, "mpi");
}

TEST_F(OverridesTest, SetValuesAreYaml) {
  auto s = Parse(kEstimator, Sets({"pip_packages=[a, b]", "distributed_backend=null",
                                   "script_params[--epochs]=null", "use_gpu=true", "tags.team=ml",
                                   "environment_variables.X=1"}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->pip_packages, (Words{"a", "b"}));
  EXPECT_EQ(s->distributed_backend, "");
  EXPECT_EQ(s->script_params[1], (ScriptParam{"--epochs", std::nullopt}));
  EXPECT_TRUE(s->use_gpu);
  EXPECT_EQ(s->tags, (Pairs{{"team", "ml"}}));
  EXPECT_EQ(s->environment_variables, (Pairs{{"X", "1"}}));
}

TEST_F(OverridesTest, SetValuesThatAreNotYamlTextAreKeptAsTheyAre) {
  // yaml-cpp takes FF FE, FE FF and EF BB BF for encoding marks and drops them: such values, and
  // any that is not UTF-8, are the bytes themselves.
  const std::string bom = "\xEF\xBB\xBFx";
  auto s = Parse(kEstimator, Sets({"script_params[--lr]=\xff\xfe", "script_params[--b]=\xfe\xff",
                                   "script_params[--c]=" + bom}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->script_params[0], (ScriptParam{"--lr", "\xff\xfe"}));
  EXPECT_EQ(s->script_params[2], (ScriptParam{"--b", "\xfe\xff"}));
  EXPECT_EQ(s->script_params[3], (ScriptParam{"--c", bom}));
  // A tag keeps its bytes here too (not emptied), so that submit refuses it as not UTF-8.
  auto t = Parse(kEstimator, Sets({"tags.k=\xff\xfe"}));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->tags, (Pairs{{"k", "\xff\xfe"}}));
}

TEST_F(OverridesTest, SetNestedFieldsInCommandForm) {
  auto s = Parse(kCommand,
                 Sets({"resources.instance_count=2", "distribution.type=mpi", "limits.timeout=60",
                       "inputs.data.path=d", "command=python u.py ${{inputs.data}}"}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->node_count, 2);
  EXPECT_EQ(s->distributed_backend, "mpi");
  EXPECT_EQ(s->max_run_duration_seconds, 60);
  ASSERT_EQ(s->inputs.size(), 1u);
  EXPECT_EQ(s->inputs[0].kind, Input::Kind::kUriFolder);
  // Paths from flags are relative to the current directory, not the job file's folder.
  EXPECT_EQ(s->inputs[0].value, AbsolutePath("d"));
  EXPECT_EQ(s->shell_command, "python u.py ${{inputs.data}}");
}

TEST_F(OverridesTest, SetErrorsNameTheFlag) {
  EXPECT_EQ(Error(kEstimator, Sets({"node_count=two"})),
            "--set node_count=two: node_count: expected an integer, got \"two\"");
  EXPECT_EQ(Error(kEstimator, Sets({"node_count"})), "--set \"node_count\": expected FIELD=VALUE");
  EXPECT_EQ(Error(kEstimator, Sets({"=2"})), "--set \"=2\": expected FIELD=VALUE");
  EXPECT_EQ(Error(kEstimator, Sets({"a..b=2"})), "--set \"a..b=2\": empty field name");
  EXPECT_EQ(Error(kEstimator, Sets({"a[\"b=2"})),
            "--set \"a[\\\"b=2\": unterminated quote in field");
  EXPECT_EQ(Error(kEstimator, Sets({"nod_count=2"})),
            "--set nod_count=2: nod_count: unknown field (did you mean \"node_count\"?)");
  EXPECT_EQ(Error(kEstimator, Sets({"node_count=2"})),
            "--set node_count=2: node_count: 2 requires distributed_backend (mpi or pytorch)");
  EXPECT_EQ(Error(kEstimator, Sets({"entry_script.x=1"})),
            "--set entry_script.x=1: entry_script: cannot set a field inside \"t.py\"");
  EXPECT_EQ(Error(kEstimator, Sets({"resources.instance_count=2"})),
            "--set resources.instance_count=2: resources: command-job field, not allowed in an "
            "estimator job (use node_count)");
  EXPECT_EQ(Error(kEstimator, Sets({"script_params[\"--lr\"]=${{inputs.x}}"})),
            "--set script_params[\"--lr\"]=${{inputs.x}}: script_params[\"--lr\"]: unknown input "
            "\"x\"");
  std::string bad_yaml = Error(kEstimator, Sets({"pip_packages=[a, b"}));
  EXPECT_EQ(bad_yaml.rfind("--set pip_packages=[a, b: YAML syntax error: ", 0), 0u) << bad_yaml;
}

TEST_F(OverridesTest, ParseSetOverrideSyntax) {
  auto s = ParseSetOverride("script_params[\"--a=b\"]=x=y");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->path, (Words{"script_params", "--a=b"}));
  EXPECT_EQ(s->value, "x=y");
  s = ParseSetOverride("tags['a.b'].c=1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->path, (Words{"tags", "a.b", "c"}));
  s = ParseSetOverride("a[\"q\\\"x\"]=");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->path, (Words{"a", "q\"x"}));
  EXPECT_EQ(s->value, "");
  EXPECT_FALSE(ParseSetOverride("[a]=1").ok());
  EXPECT_FALSE(ParseSetOverride("a[b=1").ok());
  EXPECT_FALSE(ParseSetOverride("a[b]c=1").ok());
  EXPECT_FALSE(ParseSetOverride("a.=1").ok());
}

TEST_F(OverridesTest, NamedFlagsInEstimatorForm) {
  std::string src = Mkdir("src");
  Overrides o;
  o.source = src;
  o.entry = "main.py";
  o.args = {"--extra", "; rm -rf ~"};
  o.experiment = "exp2";
  o.target = "slurm";
  o.timeout_seconds = 2.5;
  o.env = {"A=1", "B=x=y"};
  auto s = Parse(kEstimator, o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->source_directory, src);
  EXPECT_EQ(s->entry_script, "main.py");
  EXPECT_EQ(s->extra_args, (Words{"--extra", "; rm -rf ~"}));
  EXPECT_EQ(s->experiment_name, "exp2");
  EXPECT_EQ(s->compute_target, "slurm");
  EXPECT_EQ(s->max_run_duration_seconds, 2.5);
  EXPECT_EQ(s->environment_variables, (Pairs{{"A", "1"}, {"B", "x=y"}}));
}

TEST_F(OverridesTest, NamedFlagsInCommandForm) {
  Overrides o;
  o.source = dir_;
  o.args = {"--more", "a b"};
  o.target = "slurm";
  o.timeout_seconds = 30;
  auto s = Parse(kCommand, o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->source_directory, dir_);
  // Issue 14: --arg values go at the end of a shell command, each single-quoted (one word).
  EXPECT_EQ(s->shell_command, "python t.py --x 'a b' '--more' 'a b'");
  EXPECT_EQ(s->compute_target, "slurm");
  EXPECT_EQ(s->max_run_duration_seconds, 30);
}

TEST_F(OverridesTest, InputFlagsPickTheKindFromTheFileSystem) {
  std::string folder = Mkdir("data");
  std::string file = Write("labels.csv", "x\n");
  Overrides o;
  o.inputs = {"data=" + folder, "labels=" + file, "lr=0.5"};
  auto s = Parse(kEstimator, o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->inputs.size(), 3u);
  EXPECT_EQ(s->inputs[0], (Input{"data", Input::Kind::kUriFolder, folder}));
  EXPECT_EQ(s->inputs[1], (Input{"labels", Input::Kind::kUriFile, file}));
  EXPECT_EQ(s->inputs[2], (Input{"lr", Input::Kind::kLiteral, "0.5"}));
}

TEST_F(OverridesTest, InputFlagReplacesTheFilesInput) {
  Overrides o;
  o.inputs = {"lr=0.5"};
  auto s = Parse(std::string(kEstimator) + "inputs: {lr: 0.1, other: 2}\n", o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->inputs[0], (Input{"lr", Input::Kind::kLiteral, "0.5"}));
  EXPECT_EQ(s->inputs[1], (Input{"other", Input::Kind::kLiteral, "2"}));
}

TEST_F(OverridesTest, FlagErrorsNameTheFlag) {
  Overrides o;
  o.env = {"FOO", "=x"};
  o.inputs = {"bad-name=1", "nothing"};
  o.entry = "../x.py";
  o.timeout_seconds = 0;
  EXPECT_EQ(Error(kEstimator, o),
            "--env \"FOO\": expected NAME=VALUE\n"
            "--input \"nothing\": expected NAME=VALUE\n"
            "--input bad-name=1: inputs[\"bad-name\"]: invalid input name (letters, digits and "
            "'_', not starting with a digit)\n"
            "--entry ../x.py: entry_script: \"../x.py\" is outside source_directory\n"
            "--timeout 0: max_run_duration_seconds: must be greater than 0, got 0\n"
            "--env =x: environment_variables[\"\"]: variable name must not be empty");
}

TEST_F(OverridesTest, EntryFlagInCommandFormIsMixing) {
  Overrides o;
  o.entry = "t.py";
  EXPECT_EQ(Error(kCommand, o),
            "--entry t.py: entry_script: estimator-form field, not allowed in a command job (use "
            "command)");
}

TEST_F(OverridesTest, FlagPathsAreRelativeToTheCurrentDirectory) {
  Overrides o;
  o.source = "some/rel";
  auto s = Parse(kEstimator, o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->source_directory, AbsolutePath("some/rel"));
}

TEST_F(OverridesTest, ParseFlagsErrors) {
  EXPECT_EQ(ParseFlags({}).status().message(),
            "<flags>: source_directory: required field is missing\n"
            "<flags>: entry_script: required field is missing");
  Overrides o;
  o.entry = "t.py";
  o.sets = {"node_count=0"};
  EXPECT_EQ(ParseFlags(o).status().message(),
            "--set node_count=0: node_count: must be at least 1, got 0");
}

}  // namespace
}  // namespace trainyard::spec
