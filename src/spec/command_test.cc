// SplitCommand, SubstituteInputs and ScriptArguments.
#include <gtest/gtest.h>

#include "spec/parse.h"
#include "spec/test_util.h"

namespace trainyard::spec {
namespace {

using Words = std::vector<std::string>;

class CommandTest : public TempDirTest {
 protected:
  static Words Split(const std::string& s) {
    auto words = SplitCommand(s);
    EXPECT_TRUE(words.ok()) << s << ": " << words.status().message();
    return words.ok() ? *words : Words{};
  }
};

TEST_F(CommandTest, SplitsOnBlanks) {
  EXPECT_EQ(Split("python  train.py\t--lr 0.1\n--x"),
            (Words{"python", "train.py", "--lr", "0.1", "--x"}));
  EXPECT_EQ(Split(""), Words{});
  EXPECT_EQ(Split("   "), Words{});
  EXPECT_EQ(Split("  a  "), Words{"a"});
}

TEST_F(CommandTest, SingleQuotesAreLiteral) {
  EXPECT_EQ(Split("echo 'a b' 'c\\d' '$HOME' '\"'"), (Words{"echo", "a b", "c\\d", "$HOME", "\""}));
  EXPECT_EQ(Split("''"), Words{""});
  EXPECT_EQ(Split("a'b c'd"), Words{"ab cd"});
}

TEST_F(CommandTest, DoubleQuotesEscapeOnlyFourCharacters) {
  EXPECT_EQ(Split(R"("a \" b" "\\" "\$x" "\`" "\n" "it's")"),
            (Words{"a \" b", "\\", "$x", "`", "\\n", "it's"}));
  EXPECT_EQ(Split("\"\""), Words{""});
  EXPECT_EQ(Split("\"a\"'b'c"), Words{"abc"});
}

TEST_F(CommandTest, BackslashOutsideQuotes) {
  EXPECT_EQ(Split(R"(a\ b \' \" \\ \n)"), (Words{"a b", "'", "\"", "\\", "n"}));
  EXPECT_EQ(Split("a\\\nb"), Words{"ab"});
}

TEST_F(CommandTest, NothingIsExpanded) {
  EXPECT_EQ(Split("echo $HOME ~ *.py $(rm -rf ~) `x` a;b | c && d # e"),
            (Words{"echo", "$HOME", "~", "*.py", "$(rm", "-rf", "~)", "`x`", "a;b", "|", "c", "&&",
                   "d", "#", "e"}));
}

TEST_F(CommandTest, UnterminatedQuotesAreErrors) {
  EXPECT_EQ(SplitCommand("python 'oops").status().message(),
            "unterminated single quote at character 8");
  EXPECT_EQ(SplitCommand("a \"b\\\"").status().message(),
            "unterminated double quote at character 3");
  EXPECT_EQ(SplitCommand("a \\").status().message(), "command ends with a backslash");
}

TEST_F(CommandTest, SubstituteInputs) {
  std::map<std::string, std::string> values = {{"data", "/mnt/data"}, {"lr", "0.1"}};
  EXPECT_EQ(*SubstituteInputs("--in=${{inputs.data}}/x", values), "--in=/mnt/data/x");
  EXPECT_EQ(*SubstituteInputs("${{ inputs.lr }}${{inputs.lr}}", values), "0.10.1");
  EXPECT_EQ(*SubstituteInputs("plain $x {{y}}", values), "plain $x {{y}}");
  EXPECT_EQ(SubstituteInputs("${{inputs.dat}}", values).status().message(),
            "unknown input \"dat\" (did you mean \"data\"?)");
  EXPECT_EQ(SubstituteInputs("${{inputs.zzzzz}}", values).status().message(),
            "unknown input \"zzzzz\"");
  EXPECT_EQ(SubstituteInputs("${{inputs.data", values).status().message(),
            "unterminated \"${{\" (expected ${{inputs.NAME}})");
}

TEST_F(CommandTest, ScriptArgumentsKeepEachValueOneArgument) {
  auto spec = ParseJobText(
      "source_directory: .\nentry_script: t.py\nscript_params:\n"
      "  --name: \"; rm -rf ~\"\n  --verbose:\n  --lr: 0.010\n  --data: ${{inputs.data}}\n"
      "  --glob: '*.py $(whoami)'\nextra_args: [tail, '${{inputs.data}}']\n"
      "inputs: {data: {path: d}}\n",
      "job.yaml", dir_);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  auto args = ScriptArguments(*spec, {{"data", "/mnt/d"}});
  ASSERT_TRUE(args.ok()) << args.status().message();
  EXPECT_EQ(*args, (Words{"--name", "; rm -rf ~", "--verbose", "--lr", "0.010", "--data", "/mnt/d",
                          "--glob", "*.py $(whoami)", "tail", "/mnt/d"}));
}

TEST_F(CommandTest, ScriptArgumentsErrors) {
  JobSpec spec;
  spec.script_params = {{"--x", "${{inputs.y}}"}};
  EXPECT_EQ(ScriptArguments(spec, {}).status().message(),
            "script_params[\"--x\"]: unknown input \"y\"");
  spec.form = "command";
  EXPECT_EQ(ScriptArguments(spec, {}).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace trainyard::spec
