// ValidatePaths: checks of a parsed spec against the file system.
#include <gtest/gtest.h>

#include <filesystem>

#include "spec/parse.h"
#include "spec/test_util.h"

namespace trainyard::spec {
namespace {

namespace fs = std::filesystem;

class ValidatePathsTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    Write("src/train.py", "print(1)\n");
    Write("src/requirements.txt", "numpy\n");
    Write("outside.py", "print(2)\n");
  }
  JobSpec Estimator(const std::string& entry) {
    JobSpec spec;
    spec.origin = "job.yaml";
    spec.source_directory = Path("src");
    spec.entry_script = entry;
    return spec;
  }
  std::string Error(const JobSpec& spec) {
    Status s = ValidatePaths(spec);
    return s.ok() ? "OK" : s.message();
  }
};

TEST_F(ValidatePathsTest, AcceptsAnExistingEntryInsideTheSource) {
  JobSpec spec = Estimator("train.py");
  spec.pip_requirements_file = "requirements.txt";
  Mkdir("data");
  spec.inputs = {{"data", Input::Kind::kUriFolder, Path("data")},
                 {"reqs", Input::Kind::kUriFile, Path("src/requirements.txt")},
                 {"lr", Input::Kind::kLiteral, "0.1"}};
  EXPECT_EQ(Error(spec), "OK");
}

TEST_F(ValidatePathsTest, ParsedFileValidates) {
  std::string job = Write("src/job.yaml", "source_directory: .\nentry_script: train.py\n");
  auto spec = ParseJobFile(job);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(Error(*spec), "OK");
}

TEST_F(ValidatePathsTest, SymlinkEscapingTheSourceIsRejected) {
  fs::create_symlink(Path("outside.py"), Path("src/link.py"));
  fs::create_directory_symlink(dir_, Path("src/up"));
  EXPECT_EQ(Error(Estimator("link.py")), "job.yaml: entry_script: \"link.py\" resolves to " +
                                             Path("outside.py") + ", outside source_directory " +
                                             fs::canonical(Path("src")).string());
  EXPECT_EQ(Error(Estimator("up/outside.py")),
            "job.yaml: entry_script: \"up/outside.py\" resolves to " + Path("outside.py") +
                ", outside source_directory " + fs::canonical(Path("src")).string());
}

TEST_F(ValidatePathsTest, SymlinkInsideTheSourceIsFine) {
  fs::create_symlink("train.py", Path("src/alias.py"));
  EXPECT_EQ(Error(Estimator("alias.py")), "OK");
}

TEST_F(ValidatePathsTest, DotDotAndAbsoluteEntriesAreRejected) {
  EXPECT_EQ(Error(Estimator("../x.py")),
            "job.yaml: entry_script: \"../x.py\" is outside source_directory " + Path("src"));
  EXPECT_EQ(Error(Estimator(Path("src/train.py"))),
            "job.yaml: entry_script: must be a path relative to source_directory, got \"" +
                Path("src/train.py") + "\"");
  // The parser rejects them too, before the file system is looked at.
  EXPECT_FALSE(
      ParseJobText("source_directory: src\nentry_script: ../outside.py\n", "job.yaml", dir_).ok());
}

TEST_F(ValidatePathsTest, MissingEntryOrSource) {
  EXPECT_EQ(Error(Estimator("nope.py")),
            "job.yaml: entry_script: \"nope.py\" does not exist in " + Path("src"));
  Mkdir("src/pkg");
  EXPECT_EQ(Error(Estimator("pkg")),
            "job.yaml: entry_script: \"pkg\" is not a file (in " + Path("src") + ")");
  JobSpec spec = Estimator("train.py");
  spec.source_directory = Path("missing");
  EXPECT_EQ(Error(spec), "job.yaml: source_directory: \"" + Path("missing") + "\" does not exist");
  spec.source_directory = Path("outside.py");
  EXPECT_EQ(Error(spec),
            "job.yaml: source_directory: \"" + Path("outside.py") + "\" is not a folder");
  spec.form = "command";
  EXPECT_EQ(Error(spec), "job.yaml: code: \"" + Path("outside.py") + "\" is not a folder");
}

TEST_F(ValidatePathsTest, InputsAndRequirements) {
  JobSpec spec = Estimator("train.py");
  spec.pip_requirements_file = "reqs.txt";
  spec.inputs = {{"a", Input::Kind::kUriFolder, Path("outside.py")},
                 {"b", Input::Kind::kUriFile, Path("src")},
                 {"c", Input::Kind::kUriFile, Path("none.csv")}};
  EXPECT_EQ(Error(spec), "job.yaml: pip_requirements_file: \"reqs.txt\" does not exist in " +
                             Path("src") +
                             "\n"
                             "job.yaml: inputs.a.path: \"" +
                             Path("outside.py") +
                             "\" is not a folder (type is uri_folder)\n"
                             "job.yaml: inputs.b.path: \"" +
                             Path("src") +
                             "\" is not a file (type is uri_file)\n"
                             "job.yaml: inputs.c.path: \"" +
                             Path("none.csv") + "\" does not exist");
  spec.form = "command";
  spec.inputs.clear();
  EXPECT_EQ(Error(spec),
            "job.yaml: environment.pip_requirements_file: \"reqs.txt\" does not "
            "exist in " +
                Path("src"));
}

}  // namespace
}  // namespace trainyard::spec
