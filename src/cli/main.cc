// trainyard: the command-line front end. Verbs are registered from a table; each verb is a file.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/cli.h"

namespace trainyard::cli {
namespace {

constexpr VerbRegistrar kVerbs[] = {
    RegisterSubmit,      RegisterList,     RegisterShow,     RegisterLogs,
    RegisterWait,        RegisterCancel,   RegisterFiles,    RegisterDownload,
    RegisterExperiments, RegisterSnapshot, RegisterDoctor,   RegisterTarget,
    RegisterSupervise,   RegisterMetrics,  RegisterRankExec, RegisterEnv,
};

int Main(int argc, char** argv) {
  Context ctx;
  ctx.stdout_tty = isatty(1);
  ctx.stderr_tty = isatty(2);
  CLI::App app{
      "trainyard: train PyTorch models on this machine, Open MPI hosts or Slurm, and "
      "keep track of every run.",
      "trainyard"};
  app.set_version_flag("--version", "trainyard 0.1.0");
  app.add_option("--workspace", ctx.workspace_flag,
                 "workspace folder (default: $TRAINYARD_WORKSPACE, else ~/.trainyard)");
  app.require_subcommand(1);
  app.fallthrough();
  for (VerbRegistrar reg : kVerbs) reg(app, ctx);
  // Everything after "--" belongs to the script, whatever it looks like.
  std::vector<std::string> args;
  bool trailing = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!trailing && a == "--") {
      trailing = true;
      continue;
    }
    (trailing ? ctx.trailing_args : args).push_back(a);
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  // require_subcommand(1) (and each verb group's own) leaves exactly one verb chosen.
  return ctx.run ? ctx.run() : kExitUsage;
}

}  // namespace
}  // namespace trainyard::cli

int main(int argc, char** argv) { return trainyard::cli::Main(argc, argv); }
