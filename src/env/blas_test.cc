#include "env/blas.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/files.h"
#include "env/test_util.h"

namespace trainyard::env {
namespace {

using testing::TempDir;

std::string Machine() {
  struct utsname u {};
  return uname(&u) == 0 ? u.machine : "x86_64";
}

TEST(Blas, ClassifiesKnownLibraries) {
  EXPECT_EQ(ClassifyBlasLibrary("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3").kind,
            "openblas");
  EXPECT_EQ(ClassifyBlasLibrary("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3").kind,
            "openblas");
  EXPECT_EQ(ClassifyBlasLibrary("/usr/lib/x86_64-linux-gnu/blis-pthread/libblas.so.3").kind,
            "blis");
  EXPECT_EQ(ClassifyBlasLibrary("/usr/lib/x86_64-linux-gnu/libmkl_rt.so").kind, "mkl");
  EXPECT_EQ(ClassifyBlasLibrary("/usr/lib/x86_64-linux-gnu/atlas/libblas.so.3").kind, "atlas");
  BlasInfo ref = ClassifyBlasLibrary("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3");
  EXPECT_EQ(ref.kind, "reference");
  EXPECT_TRUE(ref.slow);
  EXPECT_FALSE(ClassifyBlasLibrary("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3").slow);
  EXPECT_EQ(ClassifyBlasLibrary("/opt/vendor/libfoo.so").kind, "unknown");
  EXPECT_EQ(ClassifyBlasLibrary("").kind, "none");
}

TEST(Blas, FollowsTheAlternativesSymlink) {
  TempDir tmp;
  ASSERT_TRUE(MakeDirs(tmp / "lib/blas").ok());
  ASSERT_TRUE(MakeDirs(tmp / "lib/openblas-pthread").ok());
  ASSERT_TRUE(MakeDirs(tmp / "alternatives").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp / "lib/blas/libblas.so.3", "").ok());
  ASSERT_TRUE(WriteFileAtomic(tmp / "lib/openblas-pthread/libblas.so.3", "").ok());
  std::string link = tmp / ("alternatives/libblas.so.3-" + Machine() + "-linux-gnu");

  ASSERT_EQ(symlink((tmp / "lib/blas/libblas.so.3").c_str(), link.c_str()), 0);
  BlasInfo ref = DetectBlas(tmp / "alternatives");
  EXPECT_EQ(ref.kind, "reference");
  EXPECT_TRUE(ref.slow);
  EXPECT_EQ(ref.path, tmp / "lib/blas/libblas.so.3");
  EXPECT_EQ(DescribeBlas(ref), "reference (netlib, " + (tmp / "lib/blas/libblas.so.3") + ")");

  ASSERT_EQ(unlink(link.c_str()), 0);
  ASSERT_EQ(symlink((tmp / "lib/openblas-pthread/libblas.so.3").c_str(), link.c_str()), 0);
  BlasInfo fast = DetectBlas(tmp / "alternatives");
  EXPECT_EQ(fast.kind, "openblas");
  EXPECT_FALSE(fast.slow);
}

TEST(Blas, DetectsSomethingOnThisMachine) {
  BlasInfo blas = DetectBlas();
  EXPECT_FALSE(blas.kind.empty());
  if (PathExists("/etc/alternatives/libblas.so.3-" + Machine() + "-linux-gnu")) {
    EXPECT_NE(blas.kind, "none");
    EXPECT_FALSE(blas.path.empty());
  }
}

}  // namespace
}  // namespace trainyard::env
