// Submits the digits example through trainyard's C++ API, streams its output, and lists what the
// run kept. Usage: submit_digits [SOURCE_DIR] [EPOCHS]
#include <cstdio>
#include <string>

#include "trainyard/trainyard.h"

int main(int argc, char** argv) {
  std::string source = argc > 1 ? argv[1] : "examples/digits";
  std::string epochs = argc > 2 ? argv[2] : "10";

  auto ws = trainyard::Workspace::Open();
  if (!ws.ok()) {
    std::fprintf(stderr, "%s\n", ws.status().message().c_str());
    return 2;
  }
  trainyard::Estimator est;
  est.source_directory = source;
  est.entry_script = "train.py";
  est.script_params = {{"--epochs", epochs}, {"--lr", "0.01"}};
  auto run = ws->GetExperiment("digits-cpp-api").Submit(est);
  if (!run.ok()) {
    std::fprintf(stderr, "submit refused: %s\n", run.status().message().c_str());
    return 2;
  }
  std::printf("submitted %s\n", run->id().c_str());
  auto done = run->WaitForCompletion(
      [](const std::string& line) { std::printf("  | %s\n", line.c_str()); });
  if (!done.ok()) {
    std::fprintf(stderr, "%s\n", done.status().message().c_str());
    return 1;
  }
  std::printf("run %s ended %s\n", done->id.c_str(), done->status.c_str());
  if (auto files = run->Files(); files.ok()) {
    for (const auto& f : *files) std::printf("  file: %s\n", f.c_str());
  }
  return done->status == "Completed" ? 0 : 1;
}
