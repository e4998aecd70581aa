// horovodrun's command line, translated into `trainyard` command lines (a pure function; the
// program in horovodrun.cc runs them). See horovodrun.cc for the mapping.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace trainyard::horovodrun {

// What the translation may look at besides the words: all of it given, so that it stays pure.
struct Surroundings {
  std::string cwd;       // absolute
  std::string hostname;  // this machine's name (a lone -H host of that name is this machine)
  // The text of a file (for --hostfile), or nullopt when it cannot be read.
  std::function<std::optional<std::string>(const std::string& path)> read_file;
};

// The trainyard command lines (without the program name) that carry out one horovodrun call.
struct Invocation {
  bool help = false, version = false;  // print HelpText() / the version; nothing else
  bool dry_run = false, verbose = false;
  // -H/--hostfile with hosts other than this machine: the mpi target the run goes to. `target`
  // is its name; `target_add` saves it (run only when `trainyard target show NAME` fails, so a
  // saved target, perhaps given more options by hand, is reused as it is).
  std::string target;
  std::vector<std::string> target_add;
  std::vector<std::string> submit;  // ends with "--stream" (or "--dry-run") "--" ARGS...
  std::vector<std::string> notes;   // said on stderr before anything runs
};

struct Translation {
  std::optional<Invocation> invocation;  // set when the words are valid
  std::string error;                     // else why not (every bad option named); exit 2
};

Translation Translate(const std::vector<std::string>& args, const Surroundings& where);

std::string HelpText();

// A word as a POSIX shell would read it back ('...' quoting where needed).
std::string ShellQuote(const std::string& word);

}  // namespace trainyard::horovodrun
