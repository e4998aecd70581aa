#include "env/blas.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

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

// The file the dynamic loader opens for "libblas.so.3" in this process, resolved ("" when it
// finds none): what torch gets, found without DetectBlas's rules.
std::string LoadedBlas() {
  void* handle = dlopen("libblas.so.3", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return "";
  std::string path;
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr) {
    std::error_code ec;
    path = std::filesystem::canonical(map->l_name, ec).string();
  }
  dlclose(handle);
  return path;
}

TEST(Blas, DetectsTheLibraryTheLoaderOpens) {
  const std::string loaded = LoadedBlas();
  BlasInfo blas = DetectBlas();
  if (loaded.empty()) {
    EXPECT_EQ(blas.kind, "none") << blas.path;
    EXPECT_EQ(blas.path, "");
    return;
  }
  EXPECT_EQ(blas.path, loaded);
  EXPECT_NE(blas.kind, "none");
  EXPECT_NE(blas.kind, "unknown") << "a BLAS Debian ships: " << loaded;
  EXPECT_NE(DescribeBlas(blas).find(loaded), std::string::npos) << DescribeBlas(blas);
}

}  // namespace
}  // namespace trainyard::env
