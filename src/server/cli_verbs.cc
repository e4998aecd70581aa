#include "server/cli_verbs.h"

#include <algorithm>
#include <set>

#include "common/strings.h"

namespace trainyard::server {
namespace {

struct VerbRule {
  std::vector<std::string> words;  // "sweep", "show"
  Role role;
  std::set<std::string> flags;   // options without a value
  std::set<std::string> valued;  // options that take one (the next word, or after '=')
  size_t max_positionals;
};

// Target options a remote admin may set: the rest (hostfile, launch_agent, mpirun, mpirun_args,
// python, remote_folder, sbatch_args, shared_folder, trainyard_bin) name programs or paths on
// the server's machine, or arguments passed to its programs.
const std::set<std::string>& SafeTargetOptions() {
  static const auto* names = new std::set<std::string>{"account",
                                                       "cores",
                                                       "cores_per_host",
                                                       "gpus",
                                                       "gpus_per_host",
                                                       "gpus_per_node",
                                                       "hosts",
                                                       "max_concurrent_runs",
                                                       "max_processes",
                                                       "partition",
                                                       "qos",
                                                       "time_limit",
                                                       "tracking_address",
                                                       "use_gpu_fallback"};
  return *names;
}

const std::vector<VerbRule>& Rules() {
  constexpr size_t kMany = 1000;
  static const auto* rules = new std::vector<VerbRule>{
      {{"list"},
       Role::kRead,
       {"--all", "--json"},
       {"--experiment", "--status", "--sweep", "--limit"},
       0},
      {{"show"}, Role::kRead, {"--json"}, {}, 1},
      {{"logs"}, Role::kRead, {"--follow", "-f", "--timestamps"}, {"--rank", "--tail"}, 1},
      {{"metrics"}, Role::kRead, {"--json", "--csv", "--follow", "-f"}, {"--name"}, 1},
      {{"compare"}, Role::kRead, {"--json"}, {"--name"}, kMany},
      {{"tags"}, Role::kRead, {"--json"}, {}, 1},
      {{"experiments"}, Role::kRead, {"--json"}, {}, 0},
      {{"files"}, Role::kRead, {"--json"}, {}, 1},
      {{"wait"}, Role::kRead, {"--stream"}, {"--timeout"}, 1},
      {{"sweep", "show"}, Role::kRead, {"--json"}, {}, 1},
      {{"sweep", "list"}, Role::kRead, {"--json"}, {"--experiment", "--status", "--limit"}, 0},
      {{"model", "list"}, Role::kRead, {"--json"}, {}, 1},
      {{"model", "show"}, Role::kRead, {"--json"}, {}, 1},
      {{"deployment", "list"}, Role::kRead, {"--json"}, {}, 0},
      {{"deployment", "show"}, Role::kRead, {"--json"}, {}, 1},
      {{"deployment", "logs"}, Role::kRead, {}, {"--tail"}, 1},
      {{"target", "list"}, Role::kRead, {"--json"}, {}, 0},
      {{"target", "show"}, Role::kRead, {}, {}, 1},
      {{"env", "list"}, Role::kRead, {"--registered", "--json"}, {}, 0},
      {{"env", "show"}, Role::kRead, {"--json"}, {}, 1},
      {{"data", "list"}, Role::kRead, {"--json"}, {}, 1},
      {{"data", "show"}, Role::kRead, {"--json"}, {"--version"}, 1},
      {{"cancel"}, Role::kSubmit, {}, {}, 1},
      {{"model", "delete"}, Role::kAdmin, {}, {}, 1},
      {{"deployment", "delete"}, Role::kAdmin, {}, {}, 1},
      {{"target", "remove"}, Role::kAdmin, {}, {}, 1},
      // target add: its target options are checked one by one (SafeTargetOptions).
      {{"target", "add"}, Role::kAdmin, {}, {"--type", "--option", "-o"}, 1},
  };
  return *rules;
}

std::string Joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// "--gpus-per-host" → "gpus_per_host" when it is a safe target option; "" otherwise.
std::string TargetOptionFlag(const std::string& flag) {
  if (flag.size() < 3 || flag.compare(0, 2, "--") != 0) return "";
  std::string name = flag.substr(2);
  std::replace(name.begin(), name.end(), '-', '_');
  return SafeTargetOptions().count(name) != 0 ? name : "";
}

}  // namespace

std::string ForwardedVerbList() {
  std::string out;
  for (const VerbRule& rule : Rules()) out += (out.empty() ? "" : ", ") + Joined(rule.words);
  return out;
}

Result<ForwardedVerb> CheckForwardedArgv(const std::vector<std::string>& argv) {
  if (argv.empty()) return InvalidArgument("no command given");
  const VerbRule* rule = nullptr;
  for (const VerbRule& r : Rules()) {
    if (argv.size() >= r.words.size() && std::equal(r.words.begin(), r.words.end(), argv.begin())) {
      if (rule == nullptr || r.words.size() > rule->words.size()) rule = &r;
    }
  }
  if (rule == nullptr) {
    std::string verb = argv[0];
    if (argv.size() > 1 && !argv[1].empty() && argv[1][0] != '-') verb += " " + argv[1];
    return InvalidArgument("`trainyard " + verb +
                           "` does not run against a server; these do: submit, sweep submit, "
                           "download, " +
                           ForwardedVerbList());
  }
  const std::string verb = Joined(rule->words);
  const bool target_add = verb == "target add";
  size_t positionals = 0;
  for (size_t i = rule->words.size(); i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (word.find('\0') != std::string::npos) return InvalidArgument("a word holds a NUL byte");
    if (word == "--help" || word == "-h") continue;
    if (word.size() < 2 || word[0] != '-') {
      if (++positionals > rule->max_positionals) {
        return InvalidArgument("`trainyard " + verb + "` over a server: unexpected argument \"" +
                               word + "\"");
      }
      continue;
    }
    const size_t eq = word.find('=');
    const std::string name = word.substr(0, eq);
    const bool inline_value = eq != std::string::npos;
    std::string value;
    bool takes_value = rule->valued.count(name) != 0;
    std::string target_option = target_add ? TargetOptionFlag(name) : "";
    if (!target_option.empty()) takes_value = true;
    if (!takes_value && rule->flags.count(name) == 0) {
      if (name == "--workspace") {
        return InvalidArgument("--workspace cannot be given to a command run on a server");
      }
      return InvalidArgument("`trainyard " + verb + "` over a server does not take " + name +
                             (target_add ? " (target options that name programs or paths on "
                                           "the server's machine are refused)"
                                         : ""));
    }
    if (!takes_value) {
      if (inline_value) return InvalidArgument(name + " takes no value");
      continue;
    }
    if (inline_value) {
      value = word.substr(eq + 1);
    } else {
      if (i + 1 >= argv.size()) return InvalidArgument(name + " needs a value");
      value = argv[++i];
    }
    if (target_add && (name == "--option" || name == "-o")) {
      std::string key = value.substr(0, value.find('='));
      if (SafeTargetOptions().count(key) == 0) {
        return InvalidArgument("target option " + key +
                               " cannot be set over a server (it names a program or path on the "
                               "server's machine); set it on the server with trainyard target "
                               "add --workspace DIR");
      }
    }
  }
  return ForwardedVerb{verb, rule->role};
}

}  // namespace trainyard::server
