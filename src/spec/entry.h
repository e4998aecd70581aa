// What kind of program a job's entry is: a Python script, an executable file, or a C++ program
// that trainyard builds with CMake before the ranks start.
//
// The rule (estimator form; command jobs are always kCommand):
//   entry_script ends in .py                                  kPython
//   entry_script ends in .cpp, .cc or .cxx                    kCppFile: one translation unit,
//       built with a CMakeLists.txt that trainyard generates (the folder's own CMakeLists.txt,
//       if any, is not used)
//   source_directory has a CMakeLists.txt, and entry_script is not a file there and has no '/'
//                                                             kCppTarget: the name of an
//       executable target of that CMake project
//   anything else                                             kExecutable (run as it is)
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "spec/job_spec.h"

namespace trainyard::spec {

enum class EntryKind { kPython, kExecutable, kCppFile, kCppTarget, kCommand };

// "python", "executable", "cpp-file", "cpp-target", "command".
const char* EntryKindName(EntryKind kind);

// True for names ending in .cpp, .cc or .cxx.
bool IsCppSourceName(const std::string& path);

// Applies the rule above; reads the file system (whether source_directory/CMakeLists.txt and the
// entry exist). Thread-safe.
EntryKind ClassifyEntry(const JobSpec& spec);

// True for kCppFile and kCppTarget.
inline bool IsCppEntry(EntryKind kind) {
  return kind == EntryKind::kCppFile || kind == EntryKind::kCppTarget;
}

// The executables a CMake project defines, found by reading `add_executable(NAME ...)` in every
// CMakeLists.txt under `source_dir` (a text scan, not a configure: names built by variables are
// not seen). Sorted, without duplicates; {} when there is no CMakeLists.txt. Thread-safe.
std::vector<std::string> CMakeExecutableTargets(const std::string& source_dir);

// The name of the program a C++ entry builds: the target name, or the source file's stem
// ("src/train.cpp" -> "train"). Thread-safe.
std::string CppProgramName(const JobSpec& spec, EntryKind kind);

}  // namespace trainyard::spec
