// The command line's parsing, over the real app: every option that takes a value, in every verb,
// takes "--x=" as one empty value, and "-"-leading and "="-containing values as they are.
#include "cli/cli.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "targets/launch_plan.h"

namespace trainyard::cli {
namespace {

struct ValueOption {
  std::vector<std::string> path;  // the verb (and sub-verb) words that reach it
  std::string name;               // "--name"
};

void Collect(CLI::App* app, const std::vector<std::string>& path, std::vector<ValueOption>* out) {
  for (const CLI::Option* opt : app->get_options()) {
    if (!TakesValue(*opt) || opt->get_lnames().empty()) continue;
    out->push_back({path, "--" + opt->get_lnames().front()});
  }
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    std::vector<std::string> p = path;
    p.push_back(sub->get_name());
    Collect(sub, p, out);
  }
}

std::vector<ValueOption> AllValueOptions() {
  Context ctx;
  std::unique_ptr<CLI::App> app = MakeApp(ctx);
  std::vector<ValueOption> out;
  Collect(app.get(), {}, &out);
  return out;
}

// Parses `words` with a fresh app and returns the raw values the option `opt` (of the app at
// `path`) received. A parse error later on (a missing run id, a value that is not a number) does
// not matter here: the values an option took are what it would convert.
std::vector<std::string> ValuesOf(const ValueOption& opt, const std::vector<std::string>& words,
                                  std::vector<std::string>* trailing = nullptr) {
  Context ctx;
  std::unique_ptr<CLI::App> app = MakeApp(ctx);
  std::vector<std::string> all = opt.path;
  all.insert(all.end(), words.begin(), words.end());
  std::vector<std::string> rest;
  std::vector<std::string> args = ParserWords(*app, all, trailing ? trailing : &rest);
  std::reverse(args.begin(), args.end());
  try {
    app->parse(args);
  } catch (const CLI::Error&) {
  }
  CLI::App* at = app.get();
  for (const auto& p : opt.path) at = at->get_subcommand(p);
  return at->get_option(opt.name)->results();
}

std::string Describe(const ValueOption& opt) {
  std::string out = "trainyard";
  for (const auto& p : opt.path) out += " " + p;
  return out + " " + opt.name;
}

TEST(Cli, EveryVerbHasValueOptions) {
  std::vector<ValueOption> options = AllValueOptions();
  auto has = [&](const std::string& verb, const std::string& name) {
    return std::any_of(options.begin(), options.end(), [&](const ValueOption& o) {
      return !o.path.empty() && o.path.back() == verb && o.name == name;
    });
  };
  EXPECT_TRUE(has("submit", "--arg"));
  EXPECT_TRUE(has("submit", "--set"));
  EXPECT_TRUE(has("metrics", "--name"));
  EXPECT_TRUE(has("add", "--option"));     // target add
  EXPECT_TRUE(has("build", "--request"));  // env build
  EXPECT_GE(options.size(), 20u);
}

// The forms of a value, each followed by a word that a swallowing parser would take instead.
struct Form {
  std::vector<std::string> words;  // with NAME for the option's name
  std::string value;
};

TEST(Cli, EveryValueOptionTakesEmptyDashAndEqualsValues) {
  const std::vector<Form> forms = {
      {{"NAME=", "--json"}, ""},       // empty: one empty value, never the next word
      {{"NAME=", "next"}, ""},         //
      {{"NAME=-v", "--json"}, "-v"},   // "-"-leading with "="
      {{"NAME", "-v"}, "-v"},          // ... and as the next word
      {{"NAME", "--json"}, "--json"},  // the next word is the value, whatever it looks like
      {{"NAME=a=b", "next"}, "a=b"},   // "="-containing
      {{"NAME", "k=v=w"}, "k=v=w"},    //
      {{"NAME", ""}, ""},              // an empty next word
  };
  for (const ValueOption& opt : AllValueOptions()) {
    for (const Form& form : forms) {
      std::vector<std::string> words;
      for (std::string w : form.words) {
        if (w.compare(0, 4, "NAME") == 0) w = opt.name + w.substr(4);
        words.push_back(w);
      }
      EXPECT_EQ(ValuesOf(opt, words), std::vector<std::string>{form.value})
          << Describe(opt) << " given " << ::testing::PrintToString(words);
    }
  }
}

TEST(Cli, EmptyArgDoesNotSwallowDryRun) {
  Context ctx;
  std::unique_ptr<CLI::App> app = MakeApp(ctx);
  std::vector<std::string> args = ParserWords(
      *app, {"submit", "--entry", "t.py", "--arg=", "--dry-run", "--arg", "--x=", "--", "--arg="},
      &ctx.trailing_args);
  std::reverse(args.begin(), args.end());
  app->parse(args);
  CLI::App* submit = app->get_subcommand("submit");
  EXPECT_EQ(submit->get_option("--arg")->results(), (std::vector<std::string>{"", "--x="}));
  EXPECT_EQ(submit->get_option("--dry-run")->count(), 1u);
  EXPECT_EQ(ctx.trailing_args, std::vector<std::string>{"--arg="});
  EXPECT_TRUE(static_cast<bool>(ctx.run));
}

TEST(Cli, FlagsWithEqualsAreLeftToCli11) {
  Context ctx;
  std::unique_ptr<CLI::App> app = MakeApp(ctx);
  std::vector<std::string> trailing;
  // A flag is not a value option: "--json=" stays one word, and the workspace option (of the
  // top-level app, reached from inside a verb) is one.
  EXPECT_EQ(ParserWords(*app, {"list", "--json=", "--workspace=", "--limit", "--x="}, &trailing),
            (std::vector<std::string>{"list", "--json=", "--workspace", "", "--limit", "--x="}));
  EXPECT_TRUE(trailing.empty());
}

// Arguments are bytes: the stored plan carries those that are not UTF-8 as {"bytes_b64": ...} and
// reads every byte back.
TEST(Cli, PlanJsonCarriesArgumentBytes) {
  targets::LaunchPlan plan;
  plan.target = "local";
  plan.type = "local";
  plan.world_size = 1;
  targets::ProcessSpec p;
  p.argv = {"python3", "t.py", "caf\xc3\xa9", "\xff\xfe", "", std::string("a\\\x80") + "b"};
  p.env = {{"OK", "1"}, {"ODD", "\xfe"}};
  p.cwd = "/w";
  plan.processes.push_back(p);
  plan.batch_script = "#!/bin/sh\necho \xff\n";
  std::string text = plan.ToJson().dump();  // throws on bytes that are not UTF-8
  nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["processes"][0]["argv"][2], "caf\xc3\xa9");
  EXPECT_EQ(j["processes"][0]["argv"][3], nlohmann::json({{"bytes_b64", "//4="}}));
  auto back = targets::LaunchPlan::FromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->processes.at(0).argv, p.argv);
  EXPECT_EQ(back->processes.at(0).env, p.env);
  EXPECT_EQ(back->batch_script, plan.batch_script);
  j["processes"][0]["argv"][3] = {{"bytes_b64", "not base64!"}};
  EXPECT_FALSE(targets::LaunchPlan::FromJson(j).ok());
  j["processes"][0]["argv"][3] = 7;
  EXPECT_FALSE(targets::LaunchPlan::FromJson(j).ok());
}

TEST(Cli, JsonTextNeverThrows) {
  nlohmann::json j = {{"tags", {{"k", "\xff\xfe"}}}};
  EXPECT_THROW(j.dump(), nlohmann::json::type_error);
  EXPECT_EQ(JsonText(j, -1), "{\"tags\":{\"k\":\"\xef\xbf\xbd\xef\xbf\xbd\"}}");
}

}  // namespace
}  // namespace trainyard::cli
