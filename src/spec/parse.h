// Parsing and validating job descriptions into a JobSpec.
//
// All three ways of describing a job (estimator form, command-job form, CLI flags) are first
// turned into one YAML tree, then parsed and validated by the same code, so they fail the same
// way. Error messages name the file, line and column where known, and the field path
// (`script_params["--lr"]`, `resources.instance_count`), and suggest the closest known field for
// unknown ones. All problems found are reported at once, one per line.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "spec/job_spec.h"

namespace trainyard::spec {

// Limits on a job description. Each is checked while the job is read, before anything is stored
// or planned, and a refusal names the file and line or the field.
inline constexpr size_t kMaxJobFileBytes = size_t{1} << 20;  // a YAML or JSON job file: 1 MiB
inline constexpr int kMaxNesting = 64;                       // lists and maps inside each other
// Keys, list items and values in a document, counted with aliases expanded (a YAML alias
// repeats what its anchor holds): this stops "billion laughs" documents.
inline constexpr size_t kMaxDocumentNodes = 100000;
inline constexpr size_t kMaxDocumentBytes = size_t{4} << 20;  // their text, aliases expanded
inline constexpr int kMaxNodeCount = 4096;           // node_count, resources.instance_count
inline constexpr int kMaxProcessesPerNode = 4096;    // process_count_per_node (per instance)
inline constexpr double kMaxRunSeconds = 315360000;  // max_run_duration_seconds: 10 years
// The origin under which the supervisor reads back a spec that trainyard stored itself (ToJson's
// output, checked when it was submitted): read without the size limits above, since absolute
// paths and filled-in defaults can make it a little larger than the document it came from.
inline constexpr char kStoredSpecOrigin[] = "<stored spec>";
// The processes of a run (nodes x processes per node) are limited by the target (its
// `max_processes` option, default 4096; see targets/target.h).

// What the CLI adds on top of (or instead of) a job file. Empty/nullopt fields change nothing.
struct Overrides {
  std::optional<std::string> source;      // --source DIR  (source_directory / code)
  std::optional<std::string> entry;       // --entry PATH  (entry_script)
  std::vector<std::string> args;          // --arg VALUE ... and everything after "--"
  std::optional<std::string> experiment;  // --experiment NAME
  std::optional<std::string> target;      // --target NAME
  std::vector<std::string> sets;          // --set FIELD=VALUE (VALUE parsed as YAML scalar/flow)
  std::vector<std::string> env;           // --env K=V
  std::vector<std::string> inputs;        // --input NAME=PATH (or NAME=literal if not a path)
  std::optional<double> timeout_seconds;  // --timeout SECONDS
};

// Parses YAML or JSON text (JSON, strictly, when `origin` ends in ".json"; YAML otherwise, one
// document). `origin` names the text in messages (a file name). Relative paths in
// the document are resolved against `base_dir`; relative paths given in `overrides` against the
// current directory. Structural and type validation only. Besides the keys of JobSpec, the
// estimator form accepts `extra_args` (a list of strings), so that ToJson's output parses back.
Result<JobSpec> ParseJobText(const std::string& text, const std::string& origin,
                             const std::string& base_dir, const Overrides& overrides = {});
// Reads a job (or sweep) file, refusing one larger than kMaxJobFileBytes before reading it;
// `base_dir` is set to the file's folder (absolute).
Result<std::string> ReadJobFile(const std::string& path, std::string* base_dir);
// Reads and parses a job file (relative paths resolve against the file's folder); a file larger
// than kMaxJobFileBytes is refused before it is read.
Result<JobSpec> ParseJobFile(const std::string& path, const Overrides& overrides = {});
// Builds a spec from flags alone (relative paths resolve against the current directory).
Result<JobSpec> ParseFlags(const Overrides& overrides);

// Checks against the file system: the source folder exists and is a folder; the entry script
// exists inside it (no "..", no absolute path, no symlink that escapes the folder); input paths
// exist with the declared type; the requirements file exists.
Status ValidatePaths(const JobSpec& spec);

// Splits a command string into words like a POSIX shell would split them (quotes and
// backslashes), without any expansion. Fails on an unterminated quote.
Result<std::vector<std::string>> SplitCommand(const std::string& command);

// Replaces ${{inputs.NAME}} in `word` with values[NAME]; an unknown name is an error naming it.
Result<std::string> SubstituteInputs(const std::string& word,
                                     const std::map<std::string, std::string>& values);

// Replaces ${{inputs.NAME}} with inputs[NAME], and, when given, ${{outputs.NAME}} with
// (*outputs)[NAME] and ${{search_space.NAME}} with (*search_space)[NAME], as they are. An unknown
// name is an error naming it; ${{search_space.X}} without `search_space` is an error saying that
// only a sweep's trial has them.
Result<std::string> Substitute(const std::string& text,
                               const std::map<std::string, std::string>& inputs,
                               const std::map<std::string, std::string>* outputs,
                               const std::map<std::string, std::string>* search_space = nullptr);

// A command string as the bash script that runs it: each value referenced is assigned to a
// shell variable first (_ty_inputs_NAME='...', single-quoted), and each ${{inputs.NAME}} /
// ${{outputs.NAME}} / ${{search_space.NAME}} becomes a reference to it, quoted for where it
// stands: "${V}" outside quotes, ${V} inside double quotes, '"${V}"' inside single quotes. A value
// is thus one word and, being expanded rather than parsed, can never be shell syntax (;, $(...),
// quotes, newlines, any bytes).
Result<std::string> ShellScript(const std::string& command,
                                const std::map<std::string, std::string>& inputs,
                                const std::map<std::string, std::string>& outputs,
                                const std::map<std::string, std::string>& search_space = {});

// `value` single-quoted for a POSIX shell: 'it'\''s' (any bytes but NUL).
std::string SingleQuote(const std::string& value);

// Whether a shell command runs python or python3 (as a word of its own anywhere in it), so that
// the job needs the resolved interpreter.
bool MentionsPython(const std::string& command);

// The arguments after the program: script_params (flag, then value unless bare) followed by
// extra_args, with ${{inputs.X}} (and a trial's ${{search_space.X}}) substituted. For the
// estimator form only.
Result<std::vector<std::string>> ScriptArguments(const JobSpec& spec,
                                                 const std::map<std::string, std::string>& inputs);

// spec.search_space_values as a map (for Substitute and ShellScript).
std::map<std::string, std::string> SearchSpaceValues(const JobSpec& spec);

// A JSON rendering of the spec (for storing on the run and for `show`). Round-trips through
// ParseJobText with the estimator/command form it came from.
std::string ToJson(const JobSpec& spec);

}  // namespace trainyard::spec
