// Unit tests for common/rootfs: the per-run directory, --rootfs validation, and
// entering the busybox image (in a child with its own PID and mount namespaces).
#include "common/rootfs.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/pid.h"
#include "common/process.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::MakeTempDir;
using testutil::PathExists;

TEST(RootfsTest, RunBaseFollowsEnvironment) {
  setenv("NSLAB_RUN_DIR", "/somewhere/else", 1);
  EXPECT_EQ(rootfs::RunBase(), "/somewhere/else");
  unsetenv("NSLAB_RUN_DIR");
  EXPECT_EQ(rootfs::RunBase(), "/run/nslab");
}

TEST(RootfsTest, RunDirIsRemovedOnScopeExit) {
  setenv("NSLAB_RUN_DIR", MakeTempDir("run").c_str(), 1);
  std::string path;
  {
    rootfs::RunDir run = rootfs::PrepareRun("unit");
    path = run.path();
    EXPECT_EQ(path, rootfs::RunBase() + "/unit-" + std::to_string(getpid()));
    EXPECT_TRUE(PathExists(run.rootfs()));
    mkdir((run.rootfs() + "/etc").c_str(), 0755);
    std::ofstream(run.rootfs() + "/etc/file") << "x";
    symlink("/nonexistent", (run.rootfs() + "/dangling").c_str());
  }
  EXPECT_FALSE(PathExists(path));
  unsetenv("NSLAB_RUN_DIR");
}

TEST(RootfsTest, ReleaseKeepsTheDirectory) {
  setenv("NSLAB_RUN_DIR", MakeTempDir("runrel").c_str(), 1);
  std::string path;
  {
    rootfs::RunDir run = rootfs::PrepareRun("rel");
    path = run.Release();
  }
  EXPECT_TRUE(PathExists(path));
  rootfs::RunDir(path).Reset();
  EXPECT_FALSE(PathExists(path));
  unsetenv("NSLAB_RUN_DIR");
}

TEST(RootfsTest, ContainsCommandUsesLstat) {
  std::string root = MakeTempDir("cmd");
  mkdir((root + "/bin").c_str(), 0755);
  // Absolute target: valid inside the rootfs, dangling on the host.
  ASSERT_EQ(symlink("/bin/busybox", (root + "/bin/sh").c_str()), 0);
  EXPECT_TRUE(rootfs::ContainsCommand(root, "sh"));
  EXPECT_TRUE(rootfs::ContainsCommand(root, "/bin/sh"));
  EXPECT_FALSE(rootfs::ContainsCommand(root, "bash"));
}

TEST(RootfsTest, ChooseSourceValidatesRootfs) {
  std::string root = MakeTempDir("src");
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

// A pid that existed and is gone: a child, reaped.
pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

std::string Dir(const std::string& base, const std::string& name) {
  std::string d = base + "/" + name;
  mkdir(d.c_str(), 0700);
  mkdir((d + "/rootfs").c_str(), 0755);
  std::ofstream(d + "/rootfs/file") << "x";
  symlink("/etc", (d + "/link-to-etc").c_str());  // must be removed, not followed
  return d;
}

TEST(RootfsTest, RemoveStaleRemovesOnlyDeadRunsOfThisLab) {
  const std::string base = MakeTempDir("stale");
  setenv("NSLAB_RUN_DIR", base.c_str(), 1);
  const std::string dead = std::to_string(DeadPid()), alive = std::to_string(getppid());
  const std::string stale = Dir(base, "unit-" + dead);
  // Not ours to remove: a live lab's, another lab's, names that only look alike.
  const std::vector<std::string> kept = {
      "unit-" + alive,      "other-" + dead,          "unit-" + dead + "x",
      "unit-0" + dead,      "unit-" + dead + "-1",    "unit-",
      "unit--" + dead,      "xunit-" + dead,          "unit-99999999999"};
  for (const std::string& name : kept) Dir(base, name);
  // A symlink named like a stale run: left, and what it points to untouched.
  const std::string outside = MakeTempDir("outside");
  std::ofstream(outside + "/precious") << "keep";
  const std::string dead2 = std::to_string(DeadPid());
  ASSERT_EQ(symlink(outside.c_str(), (base + "/unit-" + dead2).c_str()), 0);
  // A plain file named like one: left too.
  const std::string dead3 = std::to_string(DeadPid());
  std::ofstream(base + "/unit-" + dead3) << "not a directory";

  std::vector<std::string> removed = rootfs::RemoveStale("unit");
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], stale);
  EXPECT_FALSE(PathExists(stale));
  EXPECT_TRUE(PathExists("/etc/passwd"));
  for (const std::string& name : kept)
    EXPECT_TRUE(PathExists(base + "/" + name + "/rootfs/file")) << name;
  EXPECT_TRUE(PathExists(base + "/unit-" + dead2));
  EXPECT_EQ(ReadFile(outside + "/precious"), "keep");
  EXPECT_TRUE(PathExists(base + "/unit-" + dead3));
  EXPECT_TRUE(rootfs::RemoveStale("unit").empty()) << "nothing left to remove";
  unsetenv("NSLAB_RUN_DIR");
}

TEST(RootfsTest, PrepareRunRemovesStaleRuns) {
  const std::string base = MakeTempDir("prepstale");
  setenv("NSLAB_RUN_DIR", base.c_str(), 1);
  const std::string stale = Dir(base, "unit-" + std::to_string(DeadPid()));
  {
    rootfs::RunDir run = rootfs::PrepareRun("unit");
    EXPECT_FALSE(PathExists(stale));
    EXPECT_TRUE(PathExists(run.rootfs()));
  }
  unsetenv("NSLAB_RUN_DIR");
}

TEST(RootfsTest, RemoveStaleLeavesMountsAlone) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string base = MakeTempDir("stalemnt");
  setenv("NSLAB_RUN_DIR", base.c_str(), 1);
  // One run directory with a mount beneath it, one that is a mount point itself —
  // made in a mount namespace of a child's own, so that they vanish with it.
  const std::string below = Dir(base, "unit-" + std::to_string(DeadPid()));
  const std::string at = Dir(base, "unit-" + std::to_string(DeadPid()));
  process::Child child = process::Clone({CLONE_NEWNS}, [&] {
    if (mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) return 10;
    if (mount("tmpfs", (below + "/rootfs").c_str(), "tmpfs", 0, nullptr) < 0) return 11;
    if (mount(at.c_str(), at.c_str(), nullptr, MS_BIND, nullptr) < 0) return 12;
    std::ofstream(below + "/rootfs/in-the-mount") << "x";
    if (!rootfs::RemoveStale("unit").empty()) return 1;
    if (!PathExists(below + "/rootfs/in-the-mount")) return 2;
    if (!PathExists(at + "/rootfs/file")) return 3;
    if (!PathExists(below + "/link-to-etc")) return 4;  // not even emptied around the mount
    return 0;
  });
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
  // Without the mounts (gone with the child's namespace), they are ordinary stale runs.
  EXPECT_EQ(rootfs::RemoveStale("unit").size(), 2u);
  EXPECT_FALSE(PathExists(below));
  EXPECT_FALSE(PathExists(at));
  unsetenv("NSLAB_RUN_DIR");
}

TEST(RootfsTest, DefaultSourceIsTheBuiltinImage) {
  rootfs::Source s = rootfs::ChooseSource("", {"sh"});
  EXPECT_TRUE(s.Builtin());
  EXPECT_EQ(s.Describe(), "image busybox.tar");
  EXPECT_FALSE(rootfs::ChooseSource(MakeTempDir("notbuiltin"), {}).Builtin());
}

TEST(RootfsTest, EnterBusyboxLeavesHostMountsAlone) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  setenv("NSLAB_RUN_DIR", MakeTempDir("enter").c_str(), 1);
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
  EXPECT_FALSE(PathExists(path));
  unsetenv("NSLAB_RUN_DIR");
}

TEST(RootfsTest, RemoveRunFromParentRemovesTheRunDirectory) {
  setenv("NSLAB_RUN_DIR", MakeTempDir("remove").c_str(), 1);
  rootfs::RunDir run = rootfs::PrepareRun("remove");
  const std::string path = run.path();
  rootfs::RemoveRunFromParent(run, ReadFile("/proc/self/mountinfo"));
  EXPECT_TRUE(run.path().empty());
  EXPECT_FALSE(PathExists(path));
  unsetenv("NSLAB_RUN_DIR");
}

// Each --pitfall of lab 06 that fails must fail with pivot_root's EINVAL. A plain
// directory with a /usr stands in for the image (bind-mounted, like --rootfs DIR).
TEST(RootfsTest, PitfallsEndInPivotRootsEinval) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  setenv("NSLAB_RUN_DIR", MakeTempDir("pitfall").c_str(), 1);
  rootfs::Source source;
  source.rootfs_dir = MakeTempDir("pitfallroot");
  mkdir((source.rootfs_dir + "/usr").c_str(), 0755);
  ASSERT_EQ(rootfs::PitfallNames(),
            (std::vector<std::string>{"shared", "not-a-mount-point", "proc-without-pidns"}));
  const std::string before = ReadFile("/proc/self/mountinfo");
  for (const std::string name : {"shared", "not-a-mount-point"}) {
    rootfs::RunDir run = rootfs::PrepareRun("pitfall");
    process::Child child = process::Clone({CLONE_NEWNS}, [&] {
      try {
        rootfs::ShowPitfallInChild(name, run, source);
      } catch (const SysError& e) {
        return e.err() == EINVAL ? 0 : 1;
      }
      return 2;  // it returned: no mistake was made
    });
    child.Go();
    EXPECT_EQ(child.Wait().ShellCode(), 0) << name;
  }
  EXPECT_EQ(ReadFile("/proc/self/mountinfo"), before);
  unsetenv("NSLAB_RUN_DIR");
}

}  // namespace
}  // namespace nslab
