// Unit tests for common/rootfs: the per-run directory, --rootfs validation, and
// entering the busybox image (in a child with its own PID and mount namespaces).
#include "common/rootfs.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/pid.h"
#include "common/process.h"

namespace nslab {
namespace {

std::string TempDir(const std::string& name) {
  static int n = 0;
  const char* t = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(t ? t : "/tmp") + "/" + name + std::to_string(getpid()) +
                    "_" + std::to_string(n++);
  mkdir(dir.c_str(), 0755);
  return dir;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

TEST(RootfsTest, RunBaseFollowsEnvironment) {
  setenv("NSLAB_RUN_DIR", "/somewhere/else", 1);
  EXPECT_EQ(rootfs::RunBase(), "/somewhere/else");
  unsetenv("NSLAB_RUN_DIR");
  EXPECT_EQ(rootfs::RunBase(), "/run/nslab");
}

TEST(RootfsTest, RunDirIsRemovedOnScopeExit) {
  setenv("NSLAB_RUN_DIR", TempDir("run").c_str(), 1);
  std::string path;
  {
    rootfs::RunDir run = rootfs::PrepareRun("unit");
    path = run.path();
    EXPECT_EQ(path, rootfs::RunBase() + "/unit-" + std::to_string(getpid()));
    EXPECT_TRUE(Exists(run.rootfs()));
    mkdir((run.rootfs() + "/etc").c_str(), 0755);
    std::ofstream(run.rootfs() + "/etc/file") << "x";
    symlink("/nonexistent", (run.rootfs() + "/dangling").c_str());
  }
  EXPECT_FALSE(Exists(path));
  unsetenv("NSLAB_RUN_DIR");
}

TEST(RootfsTest, ReleaseKeepsTheDirectory) {
  setenv("NSLAB_RUN_DIR", TempDir("runrel").c_str(), 1);
  std::string path;
  {
    rootfs::RunDir run = rootfs::PrepareRun("rel");
    path = run.Release();
  }
  EXPECT_TRUE(Exists(path));
  rootfs::RunDir(path).Reset();
  EXPECT_FALSE(Exists(path));
  unsetenv("NSLAB_RUN_DIR");
}

TEST(RootfsTest, ContainsCommandUsesLstat) {
  std::string root = TempDir("cmd");
  mkdir((root + "/bin").c_str(), 0755);
  // Absolute target: valid inside the rootfs, dangling on the host.
  ASSERT_EQ(symlink("/bin/busybox", (root + "/bin/sh").c_str()), 0);
  EXPECT_TRUE(rootfs::ContainsCommand(root, "sh"));
  EXPECT_TRUE(rootfs::ContainsCommand(root, "/bin/sh"));
  EXPECT_FALSE(rootfs::ContainsCommand(root, "bash"));
}

TEST(RootfsTest, ChooseSourceValidatesRootfs) {
  std::string root = TempDir("src");
  mkdir((root + "/bin").c_str(), 0755);
  std::ofstream(root + "/bin/app") << "x";
  EXPECT_EQ(rootfs::ChooseSource(root, {"app"}).rootfs_dir, root);
  EXPECT_THROW(rootfs::ChooseSource(root + "/missing", {"app"}), UsageError);
  EXPECT_THROW(rootfs::ChooseSource(root + "/bin/app", {"app"}), UsageError);  // a file
  EXPECT_THROW(rootfs::ChooseSource(root, {"other"}), UsageError);
  unsetenv("BUILD_WORKING_DIRECTORY");
  EXPECT_THROW(rootfs::ChooseSource("relative/dir", {"app"}), UsageError);
  try {
    rootfs::ChooseSource(root, {"other"});
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("\"other\" is not in it"), std::string::npos);
  }
}

TEST(RootfsTest, DefaultSourceIsTheBuiltinImage) {
  rootfs::Source s = rootfs::ChooseSource("", {"sh"});
  EXPECT_TRUE(s.rootfs_dir.empty());
  EXPECT_TRUE(Exists(s.image_tar));
}

TEST(RootfsTest, EnterBusyboxLeavesHostMountsAlone) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  setenv("NSLAB_RUN_DIR", TempDir("enter").c_str(), 1);
  const std::string before = ReadFile("/proc/self/mountinfo");
  rootfs::Source source = rootfs::ChooseSource("", {"sh"});
  std::string path;
  {
    rootfs::RunDir run = rootfs::PrepareRun("enter");
    path = run.path();
    process::Child child = process::Clone({CLONE_NEWNS | CLONE_NEWPID}, [&] {
      rootfs::EnterInChild(run.rootfs(), source);
      if (access("/bin/busybox", X_OK) != 0) return 1;
      if (ReadFile("/etc/hostname") != "busybox\n") return 2;
      auto pids = pid::ParseNsPids(ReadFile("/proc/self/status"));
      if (pids.size() != 1 || pids[0] != 1) return 3;  // our own /proc
      if (access("/dev/null", W_OK) != 0) return 4;
      return 0;
    });
    child.Go();
    EXPECT_EQ(child.Wait().ShellCode(), 0);
    EXPECT_EQ(ReadFile("/proc/self/mountinfo"), before);
  }
  EXPECT_FALSE(Exists(path));
  unsetenv("NSLAB_RUN_DIR");
}

}  // namespace
}  // namespace nslab
