#include "env/image.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace trainyard::env {
namespace {

// The sandbox: the image's top-level entries read-only (links as links), /dev, /proc and /tmp of
// its own, the binds, the image's ENV unless the job sets the name, HOME=/tmp, the working folder.
TEST(Image, SandboxArgv) {
  Image image{"/usr/bin/podman",
              "localhost/x:1",
              "abc123",
              {{"PATH", "/bin"}, {"HOME", "/root"}, {"MINE", "image"}}};
  ImageRoot root{"/store/merged", {{"bin", ""}, {"dev", ""}, {"lib", "usr/lib"}, {"tmp", ""}}};
  auto argv = SandboxArgv(
      image, root,
      {{"/host/work", "/trainyard/work", true}, {"/host/data", "/trainyard/inputs/d", false}},
      "/trainyard/work", false, {"MINE"}, {"bash", "-c", "echo hi"});
  ASSERT_GE(argv.size(), 8u);
  EXPECT_EQ(argv[0], "bash");
  EXPECT_EQ(argv[3], "trainyard-image");
  EXPECT_EQ(argv[4], "/usr/bin/podman");
  EXPECT_EQ(argv[5], "abc123");
  std::vector<std::string> rest(argv.begin() + 7, argv.end());
  std::vector<std::string> want = {"--die-with-parent",
                                   "--tmpfs",
                                   "/",
                                   "--ro-bind",
                                   "/store/merged/bin",
                                   "/bin",
                                   "--symlink",
                                   "usr/lib",
                                   "/lib",
                                   "--dev",
                                   "/dev",
                                   "--proc",
                                   "/proc",
                                   "--tmpfs",
                                   "/tmp",
                                   "--bind",
                                   "/host/work",
                                   "/trainyard/work",
                                   "--ro-bind",
                                   "/host/data",
                                   "/trainyard/inputs/d",
                                   "--setenv",
                                   "PATH",
                                   "/bin",
                                   "--setenv",
                                   "HOME",
                                   "/tmp",
                                   "--chdir",
                                   "/trainyard/work",
                                   "--",
                                   "bash",
                                   "-c",
                                   "echo hi"};
  EXPECT_EQ(rest, want);
}

TEST(Image, NoEngineIsRefusedNamingTheImage) {
  ::setenv("TRAINYARD_PODMAN", "/nonexistent/podman", 1);
  EXPECT_EQ(PodmanExecutable(), "");
  auto found = FindLocalImage("localhost/x:1");
  ::unsetenv("TRAINYARD_PODMAN");
  ASSERT_FALSE(found.ok());
  EXPECT_NE(
      found.status().message().find("running image \"localhost/x:1\" needs the podman engine"),
      std::string::npos);
}

}  // namespace
}  // namespace trainyard::env
