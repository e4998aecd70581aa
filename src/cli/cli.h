// Shared pieces of the `trainyard` command: the context every verb gets, output helpers and the
// verb table. Each verb lives in its own file and registers itself with Register<Verb>().
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/workspace.h"

namespace trainyard::cli {

// Exit codes of the command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRunFailed = 1;  // the run ended Failed/Canceled, or a command failed
inline constexpr int kExitUsage = 2;      // invalid input: flags, job file, arguments

struct Context {
  std::string workspace_flag;
  // The workspace, opened on first use (and orphaned runs reaped).
  Result<store::Workspace*> Workspace();
  std::vector<std::string> trailing_args;  // everything after the first "--"
  bool stdout_tty = false;
  bool stderr_tty = false;
  int exit_code = kExitOk;

 private:
  std::unique_ptr<store::Workspace> ws_;
};

using VerbRegistrar = void (*)(CLI::App& app, Context& ctx);
void RegisterSubmit(CLI::App&, Context&);
void RegisterList(CLI::App&, Context&);
void RegisterShow(CLI::App&, Context&);
void RegisterLogs(CLI::App&, Context&);
void RegisterWait(CLI::App&, Context&);
void RegisterCancel(CLI::App&, Context&);
void RegisterFiles(CLI::App&, Context&);
void RegisterDownload(CLI::App&, Context&);
void RegisterExperiments(CLI::App&, Context&);
void RegisterSnapshot(CLI::App&, Context&);
void RegisterDoctor(CLI::App&, Context&);
void RegisterTarget(CLI::App&, Context&);
void RegisterSupervise(CLI::App&, Context&);
void RegisterMetrics(CLI::App&, Context&);  // metrics, compare, tags
void RegisterRankExec(CLI::App&, Context&);
void RegisterEnv(CLI::App&, Context&);

// Prints "trainyard: <message>" to stderr and returns the exit code for the status
// (kExitUsage for InvalidArgument/NotFound, else kExitRunFailed).
int Fail(const Status& status);

// ANSI colour, only when `on` (a TTY).
std::string Colour(const std::string& text, const char* code, bool on);
std::string StatusColoured(const std::string& status, bool on);

// Prints rows as an aligned table with a header; the last column is not padded.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, bool colour);

// The JSON shape of a run used by `show --json`, `list --json` and `submit --json`.
nlohmann::json RunToJson(store::Workspace* ws, const store::RunRecord& run, bool detailed);

// Writes one line (and a newline) to stdout and flushes; a LogFollower sink.
void PrintLine(const std::string& line);

// Wait until the run ends, optionally streaming its logs and status changes; returns the final
// record. `timeout` 0 = forever.
Result<store::RunRecord> WaitAndReport(Context& ctx, const std::string& run_id, double timeout,
                                       bool stream);

}  // namespace trainyard::cli
