// trainyard: the command-line front end. Verbs are registered from a table (args.cc); each verb
// is a file.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/cli.h"

namespace trainyard::cli {
namespace {

int Main(int argc, char** argv) {
  Context ctx;
  ctx.stdout_tty = isatty(1);
  ctx.stderr_tty = isatty(2);
  std::unique_ptr<CLI::App> app = MakeApp(ctx);
  app->add_option("--token", ctx.token_flag,
                  "a server workspace's token (default: $TRAINYARD_TOKEN); see docs/server.md");
  const std::vector<std::string> words(argv + 1, argv + argc);
  std::vector<std::string> args = ParserWords(*app, words, &ctx.trailing_args);
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
  try {
    app->parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app->exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app->exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app->exit(e);
  } catch (const CLI::ParseError& e) {
    app->exit(e);
    return kExitUsage;
  }
  // A workspace on a server: the verb runs through its API (or on it), never on a folder.
  if (!ctx.ServerUrl().empty()) return RunAgainstServer(*app, ctx, words);
  // require_subcommand(1) (and each verb group's own) leaves exactly one verb chosen.
  return ctx.run ? ctx.run() : kExitUsage;
}

}  // namespace
}  // namespace trainyard::cli

int main(int argc, char** argv) { return trainyard::cli::Main(argc, argv); }
