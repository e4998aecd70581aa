#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/json_number.h"
#include "common/strings.h"
#include "runner/log_follow.h"
#include "runner/runner.h"
#include "runner/sweep.h"
#include "server/cli_verbs.h"
#include "store/metrics.h"
#include "targets/log_capture.h"

namespace trainyard::cli {

Result<store::Workspace*> Context::Workspace() {
  if (!ws_) {
    ASSIGN_OR_RETURN(ws_, store::Workspace::Open(store::ResolveWorkspaceDir(workspace_flag)));
    runner::Reap(ws_.get()).status().IgnoreError();  // restarts dead sweep controllers too
  }
  return ws_.get();
}

std::string Context::ServerUrl() const {
  std::string ws = workspace_flag;
  if (ws.empty()) {
    const char* env = std::getenv("TRAINYARD_WORKSPACE");
    ws = env != nullptr ? env : "";
  }
  return server::IsWorkspaceUrl(ws) ? ws : "";
}

Result<std::unique_ptr<server::Client>> Context::Remote() const {
  return server::Client::Create(ServerUrl(), server::ResolveToken(token_flag));
}

void PrintUploadReport(const server::Client& client) {
  const server::Client::UploadReport& up = client.last_upload();
  std::fprintf(stderr, "uploaded %llu of %llu files (%llu bytes) to %s\n",
               static_cast<unsigned long long>(up.files_uploaded),
               static_cast<unsigned long long>(up.files),
               static_cast<unsigned long long>(up.bytes_uploaded), client.url().c_str());
}

int RunAgainstServer(CLI::App& app, Context& ctx, const std::vector<std::string>& words) {
  std::vector<std::string> verb;
  for (CLI::App* cur = &app;;) {
    std::vector<CLI::App*> chosen = cur->get_subcommands();
    if (chosen.empty()) break;
    cur = chosen.front();
    verb.push_back(cur->get_name());
  }
  // These run here, through the API (submit.cc, download.cc, sweep.cc).
  const std::vector<std::vector<std::string>> here = {
      {"submit"}, {"download"}, {"sweep", "submit"}};
  if (std::find(here.begin(), here.end(), verb) != here.end()) {
    return ctx.run ? ctx.run() : kExitUsage;
  }
  // The command line without the workspace and the token (the server uses its own).
  std::vector<std::string> argv;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--") {
      argv.insert(argv.end(), words.begin() + static_cast<std::ptrdiff_t>(i), words.end());
      break;
    }
    if (w == "--workspace" || w == "--token") {
      ++i;
      continue;
    }
    if (StartsWith(w, "--workspace=") || StartsWith(w, "--token=")) continue;
    argv.push_back(w);
  }
  if (auto checked = server::CheckForwardedArgv(argv); !checked.ok()) {
    return ExitCodeFor(checked.status());
  }
  auto client = ctx.Remote();
  if (!client.ok()) return ExitCodeFor(client.status());
  return ExitCodeFor((*client)->RunCli(argv, [](bool is_stderr, std::string_view text) {
    FILE* to = is_stderr ? stderr : stdout;
    std::fwrite(text.data(), 1, text.size(), to);
    std::fflush(to);
  }));
}

int ExitCodeFor(const Status& status) {
  if (status.ok()) return kExitOk;
  std::fprintf(stderr, "trainyard: %s\n", status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument || status.code() == StatusCode::kNotFound
             ? kExitUsage
             : kExitRunFailed;
}

int ExitCodeFor(const Result<int>& result) {
  return result.ok() ? *result : ExitCodeFor(result.status());
}

std::string Colour(const std::string& text, const char* code, bool on) {
  if (!on) return text;
  return std::string("\033[") + code + "m" + text + "\033[0m";
}

std::string StatusColoured(const std::string& status, bool on) {
  if (status == "Completed") return Colour(status, "32", on);
  if (status == "Failed") return Colour(status, "31", on);
  if (status == "Canceled" || status == "CancelRequested") return Colour(status, "33", on);
  if (status == "Running") return Colour(status, "36", on);
  return status;
}

namespace {
// Display width, ignoring ANSI escapes (all our text is ASCII or UTF-8 without wide glyphs).
size_t Width(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\033') {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++w;
  }
  return w;
}
}  // namespace

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, bool colour) {
  std::vector<size_t> widths(header.size());
  for (size_t c = 0; c < header.size(); ++c) widths[c] = Width(header[c]);
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], Width(r[c]));
    }
  }
  auto print_row = [&](const std::vector<std::string>& r, bool is_header) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      std::string cell = is_header ? Colour(r[c], "1", colour) : r[c];
      line += cell;
      if (c + 1 < r.size()) line += std::string(widths[c] - Width(r[c]) + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  };
  print_row(header, true);
  for (const auto& r : rows) print_row(r, false);
}

std::string JsonText(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

void PrintLine(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

Result<store::RunRecord> WaitAndReport(Context& ctx, const std::string& run_id, double timeout,
                                       bool stream) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord first, ws->GetRun(run_id));
  runner::LogFollower follower(ws->RunDir(first.id) + "/logs", -1, false, PrintLine);
  std::string last_status;
  auto on_tick = [&](const store::RunRecord& r) {
    std::string st = store::RunStatusName(r.status);
    if (!r.status_detail.empty() && !store::IsTerminal(r.status))
      st += " (" + r.status_detail + ")";
    if (!stream) return;
    follower.Pump(store::IsTerminal(r.status));
    if (st != last_status) {
      std::fprintf(stderr, "%s %s\n", Colour("==>", "2", ctx.stderr_tty).c_str(),
                   StatusColoured(st, ctx.stderr_tty).c_str());
      last_status = st;
    }
  };
  auto result = runner::Wait(ws, first.id, timeout, on_tick);
  return result;
}

}  // namespace trainyard::cli
