// Helpers for the spec tests: a fresh temporary folder per test.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/files.h"

namespace trainyard::spec {

// A folder made with mkdtemp, removed with everything in it at the end of the test.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "trainyard_spec_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { RemoveAll(dir_).IgnoreError(); }

  // The absolute path of `rel` in the folder.
  std::string Path(const std::string& rel) const { return dir_ + "/" + rel; }
  // Writes a file (creating folders); returns its path.
  std::string Write(const std::string& rel, const std::string& contents) {
    std::filesystem::path p = Path(rel);
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << contents;
    return p.string();
  }
  std::string Mkdir(const std::string& rel) {
    std::filesystem::create_directories(Path(rel));
    return Path(rel);
  }

  std::string dir_;
};

}  // namespace trainyard::spec
