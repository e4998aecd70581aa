// Shared pieces of the `trainyard` command: the context every verb gets, output helpers and the
// verb table. Each verb lives in its own file and registers itself with Register<Verb>(); each
// verb and sub-verb is one function that returns Status (or Result<int> where the exit code says
// more than "ok"), and main turns that into the printed error and the exit code (ExitCodeFor).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "runner/records_json.h"
#include "server/client.h"
#include "spec/parse.h"
#include "store/workspace.h"

namespace trainyard::cli {

// Exit codes of the command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRunFailed = 1;  // the run ended Failed/Canceled, or a command failed
inline constexpr int kExitUsage = 2;      // invalid input: flags, job file, arguments

struct Context {
  std::string workspace_flag;
  std::string token_flag;  // --token: a server workspace's token (else $TRAINYARD_TOKEN)
  // The server's URL when the workspace (--workspace, else $TRAINYARD_WORKSPACE) is one, else "".
  std::string ServerUrl() const;
  // A client of that server (server/client.h).
  Result<std::unique_ptr<server::Client>> Remote() const;
  // The workspace, opened on first use (and orphaned runs reaped).
  Result<store::Workspace*> Workspace();
  std::vector<std::string> trailing_args;  // everything after the first "--"
  bool stdout_tty = false;
  bool stderr_tty = false;
  // The verb chosen on the command line, set while it is parsed (see OnRun); main runs it
  // afterwards and exits with what it returns.
  std::function<int()> run;

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
void RegisterData(CLI::App&, Context&);    // data create|list|show
void RegisterSweep(CLI::App&, Context&);   // sweep submit|show|list (sweep.cc)
void RegisterModel(CLI::App&, Context&);   // model register|list|show|download|delete
void RegisterServe(CLI::App&, Context&);   // serve (execs trainyard-serve)
void RegisterDeploy(CLI::App&, Context&);  // deploy; deployment list|logs|delete
void RegisterServer(CLI::App&, Context&);  // server; server token create|list|revoke

// A sweep file to submit (`sweep submit`, and `submit` of a file with `type: sweep`).
struct SweepSubmitRequest {
  std::string file;
  spec::Overrides overrides;  // apply to the trial
  bool wait = false, stream = false, dry_run = false, json = false;
};
// Submits a sweep: prints its run id (stdout; stderr with --wait/--stream), or on a dry run the
// first trials' parameters and trial 0's plan. With wait/stream, returns kExitRunFailed unless
// the sweep ended Completed.
Result<int> SubmitSweepFile(Context& ctx, const SweepSubmitRequest& request);

// "uploaded N of M files (X bytes) to URL" (stderr): what the last submit to a server sent.
void PrintUploadReport(const server::Client& client);

// Runs the verb chosen on the command line against the server ctx.ServerUrl(): submit, download
// and sweep submit run here through the API; every other allowed verb
// is sent as `words` (the command line without --workspace and --token) to POST /api/v1/cli and
// its output printed as it arrives; the rest fail, saying so. Returns the exit code.
int RunAgainstServer(CLI::App& app, Context& ctx, const std::vector<std::string>& words);

// The `trainyard` app with every verb registered; the verbs keep `ctx` (which must outlive the app)
// and set ctx.run when one is chosen.
std::unique_ptr<CLI::App> MakeApp(Context& ctx);

// Whether `opt` is a named option that takes a value (not a flag, not a positional).
bool TakesValue(const CLI::Option& opt);

// The words of a command line (without the program name) as `app` should parse them (in order;
// CLI11's parse(vector) wants them reversed). The words after the first "--" go to `trailing`
// untouched. "--name=" for an option that takes a value becomes "--name" and "" (an empty value:
// CLI11 alone would take the next word instead), for every option of every verb; the word after
// "--name" (or "-n") without "=" is its value, whatever it looks like.
std::vector<std::string> ParserWords(CLI::App& app, const std::vector<std::string>& words,
                                     std::vector<std::string>* trailing);

// The exit code for a verb's Status: kExitOk when OK; otherwise prints "trainyard: <message>" to
// stderr and returns kExitUsage for InvalidArgument/NotFound, kExitRunFailed for other errors.
int ExitCodeFor(const Status& status);
// The exit code a verb chose (its own output said why: a run that ended Failed, a failed doctor
// check, the program's under rank-exec), or ExitCodeFor(the error).
int ExitCodeFor(const Result<int>& result);

// Makes `verb` what main runs once the command line of `cmd` has been parsed. `verb` takes no
// arguments (it captures its flags) and returns Status, or Result<int> (an exit code).
template <typename Verb>
void OnRun(CLI::App* cmd, Context& ctx, Verb verb) {
  cmd->callback([&ctx, verb] { ctx.run = [verb] { return ExitCodeFor(verb()); }; });
}

// ANSI colour, only when `on` (a TTY).
std::string Colour(const std::string& text, const char* code, bool on);
std::string StatusColoured(const std::string& status, bool on);

// Prints rows as an aligned table with a header; the last column is not padded.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, bool colour);

using runner::RunToJson;  // runner/records_json.h

// `j` as JSON text for output (indented by `indent`, -1 for one line). Never throws: bytes that are
// not UTF-8 in stored strings (an old workspace's tags) come out as U+FFFD.
std::string JsonText(const nlohmann::json& j, int indent = 2);

// Writes one line (and a newline) to stdout and flushes; a LogFollower sink.
void PrintLine(const std::string& line);

// Wait until the run ends, optionally streaming its logs and status changes; returns the final
// record. `timeout` 0 = forever.
Result<store::RunRecord> WaitAndReport(Context& ctx, const std::string& run_id, double timeout,
                                       bool stream);

}  // namespace trainyard::cli
