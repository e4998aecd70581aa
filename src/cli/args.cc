// The command line before CLI11 sees it: the app with every verb, the words after "--", and the
// one rule CLI11 gets wrong for us (an empty "--name=" value).
#include <algorithm>

#include "cli/cli.h"

namespace trainyard::cli {
namespace {

constexpr VerbRegistrar kVerbs[] = {
    RegisterSubmit, RegisterList,   RegisterShow,      RegisterLogs,        RegisterWait,
    RegisterCancel, RegisterFiles,  RegisterDownload,  RegisterExperiments, RegisterSnapshot,
    RegisterDoctor, RegisterTarget, RegisterSupervise, RegisterMetrics,     RegisterRankExec,
    RegisterEnv,    RegisterData,   RegisterSweep,     RegisterModel,       RegisterServe,
    RegisterDeploy, RegisterServer,
};

// The option of `app` (or of an app it falls through to) that `word` names: "--name" or "-n".
const CLI::Option* FindOption(const CLI::App* app, const std::string& word) {
  for (; app != nullptr; app = app->get_parent()) {
    for (const CLI::Option* opt : app->get_options()) {
      if (!opt->nonpositional()) continue;
      if (word.size() > 2 && word.compare(0, 2, "--") == 0) {
        if (opt->check_lname(word.substr(2))) return opt;
      } else if (word.size() == 2 && word[0] == '-') {
        if (opt->check_sname(word.substr(1))) return opt;
      }
    }
  }
  return nullptr;
}

CLI::App* FindSubcommand(CLI::App* app, const std::string& word) {
  auto subs = app->get_subcommands([&word](CLI::App* sub) { return sub->check_name(word); });
  return subs.empty() ? nullptr : subs.front();
}

}  // namespace

bool TakesValue(const CLI::Option& opt) {
  return opt.nonpositional() && opt.get_items_expected_max() > 0;
}

std::unique_ptr<CLI::App> MakeApp(Context& ctx) {
  auto app = std::make_unique<CLI::App>(
      "trainyard: train PyTorch models on this machine, Open MPI hosts or Slurm, and "
      "keep track of every run.",
      "trainyard");
  app->set_version_flag("--version", "trainyard 0.1.0");
  app->add_option("--workspace", ctx.workspace_flag,
                  "workspace folder (default: $TRAINYARD_WORKSPACE, else ~/.trainyard)");
  app->require_subcommand(1);
  app->fallthrough();
  for (VerbRegistrar reg : kVerbs) reg(*app, ctx);
  app->footer(
      "An option that takes a value takes the next word whatever it looks like (--arg -v), or "
      "the text after '=' (--arg=-v, --arg=a=b); --arg= is an empty value.");
  return app;
}

std::vector<std::string> ParserWords(CLI::App& app, const std::vector<std::string>& words,
                                     std::vector<std::string>* trailing) {
  std::vector<std::string> out;
  CLI::App* current = &app;
  bool value_next = false;  // the word is the value of the option before it
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--") {  // everything after it belongs to the script, whatever it looks like
      trailing->assign(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
      break;
    }
    if (value_next) {
      value_next = false;
      out.push_back(word);
      continue;
    }
    if (word.size() > 1 && word[0] == '-') {
      size_t eq = word.find('=');
      const CLI::Option* opt = FindOption(current, word.substr(0, eq));
      if (opt != nullptr && TakesValue(*opt)) {
        if (eq == std::string::npos) {
          value_next = true;
        } else if (eq + 1 == word.size() && word.compare(0, 2, "--") == 0) {
          // CLI11 reads "--name=" as "the value follows"; we mean the empty value.
          out.push_back(word.substr(0, eq));
          out.emplace_back();
          continue;
        }
      }
    } else if (CLI::App* sub = FindSubcommand(current, word)) {
      current = sub;
    }
    out.push_back(word);
  }
  return out;
}

}  // namespace trainyard::cli
