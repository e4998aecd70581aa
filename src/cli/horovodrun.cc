// horovodrun -np N [-H host1:2,host2:2 | --hostfile FILE] [--gloo | --mpi] [--dry-run] [--verbose]
//            python train.py ARGS...
//
// Horovod's launcher as a thin front end over `trainyard submit`: the launch is a recorded run
// (`trainyard list`, `logs`, `show`), its output streams here and horovodrun exits as
// `trainyard submit --stream` does (0 when the run completed, 1 when it failed or was canceled, 2
// for invalid input). It execs the `trainyard` next to itself (/proc/self/exe's folder) with an
// argv vector, never through a shell. The mapping:
//
// - The command after the options: `python train.py a b` (also `python3`, or an interpreter's
//   path) runs `train.py` with the arguments `a b`. A bare `python`/`python3` is trainyard's
//   resolved interpreter ($TRAINYARD_PYTHON, else /usr/bin/python3); a path is used as given
//   (--set python=PATH). `python -u` is accepted (runs are unbuffered anyway); other interpreter
//   options are refused. A command that is not Python is the entry program itself. The source
//   folder (snapshotted) is the current folder when the script is under it, else the script's
//   folder.
// - No -H, or -H naming only this machine (localhost, 127.0.0.1, its host name): the local
//   target, N processes on one node. Otherwise an mpi target over the hosts, named
//   `horovodrun-<hash of the hosts and ssh options>`, saved on first use and reused after (add
//   options to it with `trainyard target add` under that name). Processes fill the hosts in order
//   as Horovod fills them; trainyard runs the same number on each host it uses, so when that order
//   is uneven (-np 3 over a:2,b:2) the fewest first hosts that take N evenly are used (said on
//   stderr), and N above the slots of all hosts is an error.
// - --mpi (the default, as in Horovod built with MPI): distributed_backend mpi (ranks under
//   mpirun). --gloo: distributed_backend pytorch (torch.distributed's env contract), and
//   HOROVOD_CONTROLLER / HOROVOD_CPU_OPERATIONS are set to the choice, as horovodrun sets them.
// - Horovod's tunables become its HOROVOD_* variables for the ranks; -p/-i become the launch
//   agent `ssh -p PORT -i FILE`. --disable-cache is accepted and does nothing (horovodrun's cache
//   of its start-up checks; there is none here). Every other option is refused by name.
// - Elastic options on a fixed host list: trainyard runs a fixed set of ranks (no elastic driver,
//   no scaling). --min-np/--max-np bound -np (without -np, --min-np is the number run);
//   --reset-limit becomes HOROVOD_RESET_LIMIT (hvd.elastic.run's bound on resets);
//   --slots-per-host and --elastic-timeout are checked and not used; --verbose says all that.
//   --host-discovery-script (hosts that change while the job runs) is refused.
#include "cli/horovodrun.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace trainyard::horovodrun {

namespace {

struct Host {
  std::string name;
  int slots = 1;
};

// Horovod's options that are known but not offered here: how many values follow, and why.
struct Refused {
  int values;
  std::string why;
};

const std::map<std::string, Refused>& Unsupported() {
  static const auto* const kMap = new std::map<std::string, Refused>{
      {"--start-timeout", {1, "start-up is waited for by the run itself"}},
      {"--network-interface", {1, "mpirun and Gloo choose the interface"}},
      {"--network-interfaces", {1, "mpirun and Gloo choose the interface"}},
      {"--output-filename", {1, "every rank's output is kept in the run (trainyard logs RUN)"}},
      {"--config-file", {1, "give the options on the command line"}},
      {"--mpi-args", {1, "use the mpi target's mpirun_args option"}},
      {"--tcp", {0, "not supported"}},
      {"--binding-args", {1, "use the mpi target's mpirun_args option"}},
      {"--jsrun", {0, "jsrun is not supported"}},
      {"--blacklist-cooldown-range", {2, "elastic runs are not supported by horovodrun here"}},
      {"--host-discovery-script",
       {1,
        "elastic scaling, hosts found, added and removed while the job runs, is not supported "
        "by trainyard: give a fixed host list with -H or --hostfile; hvd.elastic.run then rolls "
        "back to the last commit after a collective error on the same ranks, see "
        "docs/horovod.md, Elastic"}},
      {"--log-level", {1, "not supported"}},
      {"--log-without-timestamp", {0, "not supported"}},
      {"--log-hide-timestamp", {0, "not supported"}},
      {"--prefix-output-with-timestamp", {0, "logs are time-stamped already (trainyard logs)"}},
      {"-cb", {0, "not supported (trainyard doctor checks the machine)"}},
      {"--check-build", {0, "not supported (trainyard doctor checks the machine)"}},
      {"--hierarchical-allreduce", {0, "not supported"}},
      {"--hierarchical-allgather", {0, "not supported"}},
      {"--autotune", {0, "not supported"}},
      {"--autotune-log-file", {1, "not supported"}},
      {"--num-nccl-streams", {1, "not supported"}},
      {"--thread-affinity", {1, "not supported"}},
      {"--ccl-bgt-affinity", {1, "not supported"}},
      {"--gloo-timeout-seconds", {1, "not supported"}},
      {"--nics", {1, "mpirun and Gloo choose the interface"}},
  };
  return *kMap;
}

bool ParseInt(const std::string& text, long lo, long hi, long* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool ParseNumber(const std::string& text, double* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || !(v >= 0) || v > 1e12) return false;
  *out = v;
  return true;
}

std::vector<std::string> SplitOn(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// -H: host[:slots],... (a host without slots has one, as in Horovod).
bool ParseHosts(const std::string& text, std::vector<Host>* out, std::string* error) {
  for (const std::string& raw : SplitOn(text, ',')) {
    std::string entry = Trim(raw);
    if (entry.empty()) continue;
    Host h;
    size_t colon = entry.rfind(':');
    h.name = entry.substr(0, colon);
    long slots = 1;
    if (colon != std::string::npos && !ParseInt(entry.substr(colon + 1), 1, 1 << 20, &slots)) {
      *error = "-H: \"" + entry + "\": slots must be a positive integer (host:N)";
      return false;
    }
    h.slots = static_cast<int>(slots);
    if (h.name.empty()) {
      *error = "-H: \"" + entry + "\" has no host name";
      return false;
    }
    out->push_back(h);
  }
  if (out->empty()) *error = "-H: no hosts given (e.g. -H host1:2,host2:2)";
  return !out->empty();
}

// --hostfile: one host a line, "host slots=N" (or "host", one slot); '#' starts a comment.
bool ParseHostfile(const std::string& path, const std::string& text, std::vector<Host>* out,
                   std::string* error) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    line = Trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::vector<std::string> words;
    for (const std::string& w : SplitOn(line, ' ')) {
      if (!Trim(w).empty()) words.push_back(Trim(w));
    }
    Host h{words[0], 1};
    for (size_t i = 1; i < words.size(); ++i) {
      long slots = 0;
      if (words[i].rfind("slots=", 0) != 0 || !ParseInt(words[i].substr(6), 1, 1 << 20, &slots)) {
        *error = "--hostfile " + path + ": \"" + line + "\": expected \"host slots=N\"";
        return false;
      }
      h.slots = static_cast<int>(slots);
    }
    out->push_back(h);
  }
  if (out->empty()) *error = "--hostfile " + path + " lists no hosts";
  return !out->empty();
}

std::string HostsText(const std::vector<Host>& hosts) {
  std::string out;
  for (const Host& h : hosts) {
    if (!out.empty()) out += ",";
    out += h.name + ":" + std::to_string(h.slots);
  }
  return out;
}

uint64_t Fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string JoinErrors(const std::vector<std::string>& errors) {
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
  return all;
}

bool IsPythonName(const std::string& base) {
  if (base.rfind("python", 0) != 0) return false;
  return base.find_first_not_of("0123456789.", 6) == std::string::npos;
}

// The options that take a value, under every name they have.
const std::map<std::string, std::string>& ValueOptions() {
  static const auto* const kMap = new std::map<std::string, std::string>{
      {"-np", "-np"},
      {"--num-proc", "-np"},
      {"-H", "-H"},
      {"--hosts", "-H"},
      {"-hostfile", "--hostfile"},
      {"--hostfile", "--hostfile"},
      {"-p", "-p"},
      {"--ssh-port", "-p"},
      {"-i", "-i"},
      {"--ssh-identity-file", "-i"},
      {"--fusion-threshold-mb", "--fusion-threshold-mb"},
      {"--cycle-time-ms", "--cycle-time-ms"},
      {"--cache-capacity", "--cache-capacity"},
      {"--timeline-filename", "--timeline-filename"},
      {"--stall-check-warning-time-seconds", "--stall-check-warning-time-seconds"},
      {"--stall-check-shutdown-time-seconds", "--stall-check-shutdown-time-seconds"},
      // Elastic options that make sense for a fixed set of ranks (see Translate).
      {"--min-np", "--min-np"},
      {"--min-num-proc", "--min-np"},
      {"--max-np", "--max-np"},
      {"--max-num-proc", "--max-np"},
      {"--slots-per-host", "--slots"},
      {"--slots", "--slots"},
      {"--elastic-timeout", "--elastic-timeout"},
      {"--reset-limit", "--reset-limit"},
  };
  return *kMap;
}

const std::set<std::string>& FlagOptions() {
  static const auto* const kSet = new std::set<std::string>{
      "-h",
      "--help",
      "-v",
      "--version",
      "--gloo",
      "--mpi",
      "--dry-run",
      "--verbose",
      "--disable-cache",
      "--timeline-mark-cycles",
      "--no-stall-check",
      "--mpi-threads-disable",
  };
  return *kSet;
}

}  // namespace

std::string ShellQuote(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "_-+=./:,@%") == std::string::npos) {
    return word;
  }
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

Translation Translate(const std::vector<std::string>& args, const Surroundings& where) {
  Translation result;
  Invocation inv;
  std::vector<std::string> errors;
  std::map<std::string, std::string> values;  // canonical option -> value
  std::set<std::string> flags;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") {
      ++i;
      break;
    }
    if (word.size() < 2 || word[0] != '-') break;  // the command starts here
    size_t eq = word.find('=');
    std::string name = word.substr(0, eq);
    if (auto v = ValueOptions().find(name); v != ValueOptions().end()) {
      if (eq != std::string::npos) {
        values[v->second] = word.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        values[v->second] = args[++i];
      } else {
        errors.push_back(name + " needs a value");
      }
    } else if (FlagOptions().count(name) != 0) {
      if (eq != std::string::npos) {
        errors.push_back(name + " takes no value (got \"" + word + "\")");
      } else {
        flags.insert(name);
      }
    } else if (auto u = Unsupported().find(name); u != Unsupported().end()) {
      errors.push_back("horovodrun option " + name + " is not supported here (" + u->second.why +
                       ")");
      if (eq == std::string::npos) i += static_cast<size_t>(u->second.values);
    } else {
      errors.push_back("unknown option " + name);
    }
  }
  if (i > args.size()) i = args.size();  // a refused option's values ran past the end
  if (flags.count("-h") || flags.count("--help")) {
    inv.help = true;
    result.invocation = inv;
    return result;
  }
  if (flags.count("-v") || flags.count("--version")) {
    inv.version = true;
    result.invocation = inv;
    return result;
  }
  if (!errors.empty()) {  // the words after a bad option may not be what they seem
    result.error = JoinErrors(errors);
    return result;
  }
  std::vector<std::string> command(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  inv.dry_run = flags.count("--dry-run") != 0;
  inv.verbose = flags.count("--verbose") != 0;

  long np = 0;
  // Elastic options: trainyard runs a fixed set of ranks, so --min-np/--max-np only bound -np
  // (without -np, --min-np is the number run) and the rest is checked and noted.
  long min_np = 0, max_np = 0;
  auto count_option = [&](const std::string& opt, long lo, long* out) {
    if (values.count(opt) == 0) return false;
    if (!ParseInt(values[opt], lo, 1 << 20, out)) {
      errors.push_back(opt + " \"" + values[opt] +
                       "\": expected an integer >= " + std::to_string(lo));
      return false;
    }
    return true;
  };
  bool has_min = count_option("--min-np", 1, &min_np);
  bool has_max = count_option("--max-np", 1, &max_np);
  long slots_per_host = 0, reset_limit = 0, elastic_timeout = 0;
  bool has_slots = count_option("--slots", 1, &slots_per_host);
  bool has_reset_limit = count_option("--reset-limit", 0, &reset_limit);
  bool has_elastic_timeout = count_option("--elastic-timeout", 0, &elastic_timeout);
  bool elastic = values.count("--min-np") || values.count("--max-np") || has_slots ||
                 has_reset_limit || has_elastic_timeout;
  if (values.count("-np") == 0) {
    if (has_min) {
      np = min_np;
    } else {
      errors.emplace_back("-np N (the number of processes) is required");
    }
  } else if (!ParseInt(values["-np"], 1, 1 << 20, &np)) {
    errors.push_back("-np \"" + values["-np"] + "\": expected a positive integer");
  }
  if (has_min && has_max && min_np > max_np) {
    errors.push_back("--min-np " + std::to_string(min_np) + " is more than --max-np " +
                     std::to_string(max_np));
  } else if (np > 0 && has_min && np < min_np) {
    errors.push_back("-np " + std::to_string(np) + " is less than --min-np " +
                     std::to_string(min_np));
  } else if (np > 0 && has_max && np > max_np) {
    errors.push_back("-np " + std::to_string(np) + " is more than --max-np " +
                     std::to_string(max_np));
  }
  bool gloo = flags.count("--gloo") != 0, mpi = flags.count("--mpi") != 0;
  if (gloo && mpi) errors.emplace_back("--gloo and --mpi: choose one");

  // Hosts.
  std::vector<Host> hosts;
  std::string host_error;
  if (values.count("-H") && values.count("--hostfile")) {
    errors.emplace_back("-H and --hostfile: give one of them");
  } else if (values.count("-H")) {
    if (!ParseHosts(values["-H"], &hosts, &host_error)) errors.push_back(host_error);
  } else if (values.count("--hostfile")) {
    const std::string& path = values["--hostfile"];
    std::optional<std::string> text = where.read_file(path);
    if (!text) {
      errors.push_back("--hostfile " + path + ": cannot read it");
    } else if (!ParseHostfile(path, *text, &hosts, &host_error)) {
      errors.push_back(host_error);
    }
  }
  // The launch agent for hosts (ssh with horovodrun's -p/-i).
  std::string agent = "ssh";
  if (values.count("-p")) {
    long port = 0;
    if (!ParseInt(values["-p"], 1, 65535, &port)) {
      errors.push_back("-p \"" + values["-p"] + "\": expected a port 1..65535");
    }
    agent += " -p " + std::to_string(port);
  }
  if (values.count("-i")) {
    const std::string& file = values["-i"];
    if (file.empty() || file.find_first_of(" \t\n'\"\\$`") != std::string::npos) {
      errors.push_back("-i \"" + file +
                       "\": an identity file path with blanks or quotes is not supported");
    }
    agent += " -i " + file;
  }
  if ((values.count("-p") || values.count("-i")) && hosts.empty()) {
    errors.emplace_back("-p/-i are for hosts reached with ssh: give -H or --hostfile too");
  }

  // Horovod's tunables: its own variables, for every rank.
  std::vector<std::pair<std::string, std::string>> env;
  if (gloo || mpi) {
    env.emplace_back("HOROVOD_CONTROLLER", gloo ? "gloo" : "mpi");
    env.emplace_back("HOROVOD_CPU_OPERATIONS", gloo ? "gloo" : "mpi");
  }
  auto number = [&](const std::string& opt, const std::string& var, double scale) {
    if (!values.count(opt)) return;
    double v = 0;
    if (!ParseNumber(values[opt], &v)) {
      errors.push_back(opt + " \"" + values[opt] + "\": expected a number >= 0");
      return;
    }
    if (scale == 1) {
      env.emplace_back(var, values[opt]);
    } else {
      env.emplace_back(var, std::to_string(static_cast<int64_t>(v * scale)));
    }
  };
  number("--fusion-threshold-mb", "HOROVOD_FUSION_THRESHOLD", 1024.0 * 1024.0);
  number("--cycle-time-ms", "HOROVOD_CYCLE_TIME", 1);
  number("--cache-capacity", "HOROVOD_CACHE_CAPACITY", 1);
  number("--stall-check-warning-time-seconds", "HOROVOD_STALL_CHECK_TIME_SECONDS", 1);
  number("--stall-check-shutdown-time-seconds", "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS", 1);
  if (values.count("--timeline-filename")) {
    env.emplace_back("HOROVOD_TIMELINE", values["--timeline-filename"]);
  }
  if (flags.count("--timeline-mark-cycles")) env.emplace_back("HOROVOD_TIMELINE_MARK_CYCLES", "1");
  if (flags.count("--no-stall-check")) env.emplace_back("HOROVOD_STALL_CHECK_DISABLE", "1");
  if (flags.count("--mpi-threads-disable")) {
    env.emplace_back("HOROVOD_MPI_THREADS_DISABLE", "1");
  }
  // hvd.elastic.run's bound on resets (horovod/common/elastic.py reads it).
  if (has_reset_limit) env.emplace_back("HOROVOD_RESET_LIMIT", std::to_string(reset_limit));

  // The command: [interpreter [-u]] entry ARGS...
  std::string python, entry_word;
  std::vector<std::string> script_args;
  if (command.empty()) {
    errors.emplace_back("no command to run (e.g. horovodrun -np 2 python train.py)");
  } else {
    size_t k = 0;
    std::string first = command[0];
    std::string base = std::filesystem::path(first).filename().string();
    if (IsPythonName(base)) {
      if (first.find('/') != std::string::npos) {
        python = first;
      } else if (first != "python" && first != "python3") {
        errors.push_back("\"" + first +
                         "\": give that interpreter's path (a bare python or python3 is "
                         "trainyard's interpreter)");
      }
      k = 1;
      for (; k < command.size() && command[k].size() > 1 && command[k][0] == '-'; ++k) {
        if (command[k] != "-u") {
          errors.push_back("interpreter option " + command[k] + " is not supported (" +
                           (command[k] == "-m" ? "give the script's path" : "only -u is") + ")");
        }
      }
      if (k == command.size()) errors.push_back("\"" + first + "\" without a script to run");
    }
    if (k < command.size()) {
      entry_word = command[k];
      script_args.assign(command.begin() + static_cast<std::ptrdiff_t>(k) + 1, command.end());
    }
  }
  std::string source, entry;
  if (!entry_word.empty()) {
    namespace fs = std::filesystem;
    fs::path cwd = fs::path(where.cwd).lexically_normal();
    fs::path script = (fs::path(entry_word).is_absolute() ? fs::path(entry_word) : cwd / entry_word)
                          .lexically_normal();
    fs::path rel = script.lexically_relative(cwd);
    if (!rel.empty() && *rel.begin() != ".." && rel != ".") {
      source = cwd.string();
      entry = rel.string();
    } else {
      source = script.parent_path().string();
      entry = script.filename().string();
    }
    if (entry.empty()) errors.push_back("\"" + entry_word + "\" is not a file to run");
  }

  // Where the processes go.
  int nodes = 1, per_node = static_cast<int>(np);
  bool local = true;
  if (!hosts.empty() && np > 0) {
    long slots = 0;
    for (const Host& h : hosts) slots += h.slots;
    bool this_machine =
        hosts.size() == 1 && (hosts[0].name == "localhost" || hosts[0].name == "127.0.0.1" ||
                              hosts[0].name == where.hostname);
    local = this_machine;
    if (np > slots) {
      errors.push_back("-np " + std::to_string(np) + " is more than the " + std::to_string(slots) +
                       " slots of the hosts (" + HostsText(hosts) + ")");
    } else if (!this_machine) {
      // Horovod's order: fill each host's slots before the next.
      std::vector<int> fill;
      for (long left = np; left > 0 && fill.size() < hosts.size();) {
        int take = static_cast<int>(std::min<long>(left, hosts[fill.size()].slots));
        fill.push_back(take);
        left -= take;
      }
      bool even = true;
      for (int f : fill) even = even && f == fill[0];
      if (even) {
        nodes = static_cast<int>(fill.size());
        per_node = fill[0];
      } else {
        nodes = 0;
        for (size_t k = 1; k <= hosts.size() && nodes == 0; ++k) {
          if (np % static_cast<long>(k) != 0) continue;
          long each = np / static_cast<long>(k);
          bool fits = true;
          for (size_t j = 0; j < k; ++j) fits = fits && hosts[j].slots >= each;
          if (fits) {
            nodes = static_cast<int>(k);
            per_node = static_cast<int>(each);
          }
        }
        if (nodes == 0) {
          errors.push_back("-np " + std::to_string(np) + " over " + HostsText(hosts) +
                           ": trainyard runs the same number of processes on each host it "
                           "uses, and no first hosts take " +
                           std::to_string(np) + " evenly");
        } else {
          inv.notes.push_back("horovodrun: " + std::to_string(nodes) + " host(s) with " +
                              std::to_string(per_node) +
                              " processes each (Horovod's fill order would be uneven; trainyard "
                              "runs the same number on each host)");
        }
      }
    }
  }
  if (!errors.empty()) {
    result.error = JoinErrors(errors);
    return result;
  }
  if (elastic && inv.verbose) {
    inv.notes.push_back(
        "horovodrun: elastic options: " + std::to_string(np) +
        " processes run on a fixed set of hosts; trainyard does no elastic scaling (no processes "
        "are added or removed: --min-np/--max-np only bound -np, and a lost rank ends the run; "
        "hvd.elastic.run rolls back to the last commit after a collective error on the same "
        "ranks, docs/horovod.md, Elastic)");
    if (has_slots) {
      inv.notes.push_back("horovodrun: --slots-per-host " + std::to_string(slots_per_host) +
                          " is not used: slots come from -H host:N or --hostfile (Horovod uses "
                          "it for discovered hosts only)");
    }
    if (has_elastic_timeout) {
      inv.notes.push_back("horovodrun: --elastic-timeout " + std::to_string(elastic_timeout) +
                          " is not used: there is no waiting for new hosts (a re-initialization "
                          "waits HOROVOD_GLOO_TIMEOUT_SECONDS over Gloo)");
    }
  }

  if (!local) {
    std::string hosts_text = HostsText(hosts);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016" PRIx64, Fnv1a(hosts_text + "\n" + agent));
    inv.target = std::string("horovodrun-") + hex;
    inv.target_add = {"target", "add", inv.target, "--type", "mpi", "--hosts", hosts_text};
    if (agent != "ssh") {
      inv.target_add.emplace_back("--launch-agent");
      inv.target_add.push_back(agent);
    }
  }
  std::vector<std::string>& s = inv.submit;
  s = {"submit",
       "--source",
       source,
       "--entry",
       entry,
       "--set",
       "node_count=" + std::to_string(nodes),
       "--set",
       "process_count_per_node=" + std::to_string(per_node),
       "--set",
       std::string("distributed_backend=") + (gloo ? "pytorch" : "mpi")};
  if (!python.empty()) {
    s.emplace_back("--set");
    s.push_back("python=" + python);
  }
  if (!inv.target.empty()) {
    s.emplace_back("--target");
    s.push_back(inv.target);
  }
  for (const auto& [k, v] : env) {
    s.emplace_back("--env");
    s.push_back(k + "=" + v);
  }
  s.emplace_back(inv.dry_run ? "--dry-run" : "--stream");
  s.emplace_back("--");
  s.insert(s.end(), script_args.begin(), script_args.end());
  result.invocation = inv;
  return result;
}

std::string HelpText() {
  return R"(usage: horovodrun -np N [-H HOST:SLOTS,... | --hostfile FILE] [--gloo | --mpi]
                  [--dry-run] [--verbose] [options] python SCRIPT [ARGS...]

Horovod's launcher over trainyard: the launch is a recorded run (trainyard list / logs / show),
its output streams here, and the exit status is trainyard submit --stream's (0 the run completed,
1 it failed or was canceled, 2 invalid input). The workspace is $TRAINYARD_WORKSPACE, else
~/.trainyard.

  -np, --num-proc N       number of processes (required)
  -H, --hosts H:N,...     hosts and their slots (a host without :N has one). Only this machine
                          (localhost, 127.0.0.1, its name): the local target. Otherwise the mpi
                          target horovodrun-<hash> (saved on first use, then reused as saved).
                          Processes fill the hosts in order; trainyard runs the same number on
                          each host it uses (an uneven fill uses the fewest first hosts that
                          take N evenly). N above all the slots is an error.
  --hostfile FILE         hosts from a file, one "host slots=N" a line (instead of -H)
  -p, --ssh-port PORT     ssh port of the hosts (launch agent "ssh -p PORT")
  -i, --ssh-identity-file FILE   ssh identity file for the hosts
  --mpi                   ranks under mpirun (distributed_backend mpi; the default)
  --gloo                  ranks with torch.distributed's contract, Gloo transport
                          (distributed_backend pytorch); both set HOROVOD_CONTROLLER and
                          HOROVOD_CPU_OPERATIONS to the choice
  --dry-run               print the launch plan; record and start nothing (a target saved
                          for the plan is removed again)
  --verbose               print the trainyard commands and the launch plan, then run
  --fusion-threshold-mb MB, --cycle-time-ms MS, --cache-capacity N, --timeline-filename FILE,
  --timeline-mark-cycles, --no-stall-check, --stall-check-warning-time-seconds S,
  --stall-check-shutdown-time-seconds S, --mpi-threads-disable
                          Horovod's tunables, passed to the ranks as their HOROVOD_* variables
  --disable-cache         accepted and does nothing (horovodrun caches its start-up checks;
                          there are none to cache here)
  --min-np N, --max-np N  elastic bounds on a fixed host list: they only bound -np (without -np,
                          --min-np processes run). trainyard does no elastic scaling: no
                          process is added or removed, and a lost rank ends the run
                          (hvd.elastic.run rolls back to the last commit after a collective
                          error on the same ranks; docs/horovod.md, Elastic)
  --reset-limit N         the most resets hvd.elastic.run does (HOROVOD_RESET_LIMIT)
  --slots-per-host N, --elastic-timeout S
                          accepted and not used (slots come from -H/--hostfile; there is no
                          waiting for new hosts)
  -h, --help; -v, --version

The command: `python SCRIPT ARGS` (or python3, or an interpreter's path; a bare python/python3 is
trainyard's interpreter: $TRAINYARD_PYTHON, else /usr/bin/python3; `python -u` is accepted), or a
program of the source folder. The source folder (snapshotted) is the current folder when SCRIPT is
under it, else SCRIPT's folder. Other horovodrun options (--host-discovery-script,
--blacklist-cooldown-range, --start-timeout, --network-interface, --output-filename, ...) are
refused by name.
)";
}

}  // namespace trainyard::horovodrun

#ifndef HOROVODRUN_NO_MAIN
namespace {

using trainyard::horovodrun::ShellQuote;

std::string CommandText(const std::string& bin, const std::vector<std::string>& args) {
  std::string out = ShellQuote(bin);
  for (const auto& a : args) out += " " + ShellQuote(a);
  return out;
}

std::vector<char*> Argv(const std::string& bin, std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(bin.c_str()));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

// Runs trainyard with `args` and returns its exit status (its stdout to /dev/null when `quiet`,
// and its stderr too).
int RunChild(const std::string& bin, std::vector<std::string> args, bool quiet) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  std::vector<char*> argv = Argv(bin, args);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::fprintf(stderr, "horovodrun: cannot start %s: %s\n", bin.c_str(), std::strerror(rc));
    return 1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 1;
}

std::string SelfDir() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

int Main(int argc, char** argv) {
  namespace hr = trainyard::horovodrun;
  hr::Surroundings where;
  std::error_code ec;
  where.cwd = std::filesystem::current_path(ec).string();
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) where.hostname = host;
  where.read_file = [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  hr::Translation t = hr::Translate(std::vector<std::string>(argv + 1, argv + argc), where);
  if (!t.invocation) {
    std::fprintf(stderr, "horovodrun: error: %s\n(horovodrun --help lists the options)\n",
                 t.error.c_str());
    return 2;
  }
  hr::Invocation& inv = *t.invocation;
  if (inv.help) {
    std::fputs(hr::HelpText().c_str(), stdout);
    return 0;
  }
  if (inv.version) {
    std::printf("horovodrun (trainyard 0.1.0)\n");
    return 0;
  }
  const std::string bin = SelfDir() + "/trainyard";
  for (const auto& note : inv.notes) std::fprintf(stderr, "%s\n", note.c_str());
  bool saved = false;
  if (!inv.target_add.empty() && RunChild(bin, {"target", "show", inv.target}, true) != 0) {
    if (inv.verbose) std::fprintf(stderr, "+ %s\n", CommandText(bin, inv.target_add).c_str());
    int rc = RunChild(bin, inv.target_add, true);
    if (rc != 0) {
      std::fprintf(stderr, "horovodrun: saving the target failed: %s\n",
                   CommandText(bin, inv.target_add).c_str());
      return rc;
    }
    saved = true;
    if (!inv.dry_run)
      std::fprintf(stderr, "horovodrun: saved target %s (mpi)\n", inv.target.c_str());
  }
  if (inv.dry_run && saved) {  // a dry run leaves nothing behind: not the target either
    if (inv.verbose) std::fprintf(stderr, "+ %s\n", CommandText(bin, inv.submit).c_str());
    std::fflush(stdout);
    int rc = RunChild(bin, inv.submit, false);
    RunChild(bin, {"target", "remove", inv.target}, true);
    return rc;
  }
  if (inv.verbose && !inv.dry_run) {
    std::vector<std::string> plan = inv.submit;
    for (auto& w : plan) {
      if (w == "--stream") {
        w = "--dry-run";
        break;
      }
    }
    std::fprintf(stderr, "+ %s\n", CommandText(bin, plan).c_str());
    std::fflush(stderr);
    int rc = RunChild(bin, plan, false);
    if (rc != 0) return rc;
  }
  if (inv.verbose) std::fprintf(stderr, "+ %s\n", CommandText(bin, inv.submit).c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<char*> args = Argv(bin, inv.submit);
  execv(bin.c_str(), args.data());
  std::fprintf(stderr, "horovodrun: cannot run %s: %s\n", bin.c_str(), std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
#endif
