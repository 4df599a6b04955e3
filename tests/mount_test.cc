// Unit tests for common/mount. Each privileged case runs in a child with its own
// mount namespace (made private first), so the test process's mounts never change.
#include "common/mount.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/pid.h"
#include "common/process.h"

namespace nslab {
namespace {

std::string TempDir(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(t ? t : "/tmp") + "/" + name + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);
  return dir;
}

// Runs fn in a child with a new (private) mount namespace; returns its exit code.
int InNewMountNs(const std::function<int()>& fn, int extra_flags = 0) {
  process::Child child = process::Clone({CLONE_NEWNS | extra_flags}, [&] {
    mount::MakePrivateInChild();
    return fn();
  });
  child.Go();
  return child.Wait().ShellCode();
}

TEST(MountTest, FlagsAsText) {
  EXPECT_EQ(mount::FlagsToString(MS_BIND | MS_REC), "MS_BIND|MS_REC");
  EXPECT_EQ(mount::FlagsToString(MS_REC | MS_PRIVATE), "MS_REC|MS_PRIVATE");
  EXPECT_EQ(mount::FlagsToString(0), "0");
}

TEST(MountTest, ParsesMountInfo) {
  auto mounts = mount::ParseMountInfo(
      "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
      "35 22 0:30 / /my\\040dir rw - tmpfs tmpfs rw,mode=755\n");
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].optional, "shared:1");
  EXPECT_EQ(mounts[0].fstype, "ext4");
  EXPECT_EQ(mounts[1].mount_point, "/my dir");
  EXPECT_EQ(mounts[1].optional, "");
  EXPECT_EQ(mounts[1].super_options, "rw,mode=755");
}

TEST(MountTest, RootIsAMountPoint) {
  EXPECT_TRUE(mount::IsMountPoint("/"));
  EXPECT_FALSE(mount::IsMountPoint(TempDir("plain")));
}

TEST(MountTest, MakePrivateChangesPropagationOnlyInChild) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string before = ReadFile("/proc/self/mountinfo");
  EXPECT_EQ(InNewMountNs([] {
              for (const auto& m : mount::ReadMountInfo())
                if (m.optional.find("shared") != std::string::npos) return 1;
              return 0;
            }),
            0);
  EXPECT_EQ(ReadFile("/proc/self/mountinfo"), before);
}

TEST(MountTest, ScopedMountUnmountsOnScopeExit) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string dir = TempDir("scoped");
  EXPECT_EQ(InNewMountNs([&] {
              {
                auto m = mount::ScopedMount::Make("tmpfs", dir, "tmpfs", 0);
                if (!mount::IsMountPoint(dir)) return 1;
              }
              if (mount::IsMountPoint(dir)) return 2;
              auto kept = mount::ScopedMount::Make("tmpfs", dir, "tmpfs", 0);
              kept.Release();
              return mount::IsMountPoint(dir) ? 0 : 3;
            }),
            0);
  EXPECT_FALSE(mount::IsMountPoint(dir));  // the child's mounts died with it
}

TEST(MountTest, PivotRootLeavesOnlyTheNewRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string root = TempDir("newroot");
  { std::ofstream(root + "/marker") << "x"; }
  EXPECT_EQ(InNewMountNs([&] {
              mount::PivotRootInChild(root);  // a plain dir: bind-mounted onto itself
              if (access("/marker", F_OK) != 0) return 1;
              struct stat st;
              if (stat(root.c_str(), &st) == 0) return 2;  // the old tree is gone
              return 0;
            }),
            0);
}

TEST(MountTest, PivotRootOnSharedMountIsEinval) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string root = TempDir("sharedroot");
  EXPECT_EQ(InNewMountNs([&] {
              mount::Mount("", "/", "", MS_REC | MS_SHARED);  // our namespace only
              try {
                mount::PivotRootInChild(root);
              } catch (const SysError& e) {
                return e.err() == EINVAL && e.call() == "pivot_root" ? 0 : 1;
              }
              return 2;
            }),
            0);
}

TEST(MountTest, ProcShowsTheNewPidNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string dir = TempDir("proc");
  EXPECT_EQ(InNewMountNs(
                [&] {
                  mount::MountProcInChild(dir);
                  auto pids = pid::ParseNsPids(ReadFile(dir + "/self/status"));
                  return pids.size() == 1 && pids[0] == 1 ? 0 : 1;
                },
                CLONE_NEWPID),
            0);
}

TEST(MountTest, ProcRefusesSymlinkTarget) {
  const std::string dir = TempDir("procl");
  const std::string link = dir + "/proc";
  unlink(link.c_str());
  ASSERT_EQ(symlink("/tmp", link.c_str()), 0);
  EXPECT_THROW(mount::MountProcInChild(link), UsageError);  // refused before mount(2)
}

TEST(MountTest, DevHasTheUsualDevices) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string dir = TempDir("dev");
  EXPECT_EQ(InNewMountNs([&] {
              mount::SetupDevInChild(dir);
              UniqueFd null = Open(dir + "/null", O_WRONLY);
              if (write(null.Get(), "x", 1) != 1) return 1;
              UniqueFd zero = Open(dir + "/zero", O_RDONLY);
              char c = 'x';
              if (read(zero.Get(), &c, 1) != 1 || c != 0) return 2;
              struct statfs sfs;
              if (statfs((dir + "/pts").c_str(), &sfs) != 0 || sfs.f_type != DEVPTS_SUPER_MAGIC)
                return 3;
              if (access((dir + "/ptmx").c_str(), F_OK) != 0) return 4;
              struct stat st;
              if (stat((dir + "/shm").c_str(), &st) != 0 || (st.st_mode & 07777) != 01777) return 5;
              return 0;
            }),
            0);
}

TEST(MountTest, SysIsReadOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string dir = TempDir("sys");
  EXPECT_EQ(InNewMountNs([&] {
              mount::MountSysReadOnlyInChild(dir);
              if (access((dir + "/kernel").c_str(), F_OK) != 0) return 1;
              struct statvfs sv;
              if (statvfs(dir.c_str(), &sv) != 0) return 2;
              return (sv.f_flag & ST_RDONLY) ? 0 : 3;
            }),
            0);
}

TEST(MountTest, ShowRootListsOnlyTheNewPidNamespacesProcesses) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Pipe out = MakePipe();
  EXPECT_EQ(InNewMountNs(
                [&] {
                  mount::MountProcInChild("/proc");  // ours: this child is its only process
                  narrate::Configure(/*demo=*/true, /*verbose=*/false);
                  dup2(out.write.Get(), STDOUT_FILENO);
                  return mount::ShowRootInChild();
                },
                CLONE_NEWPID),
            0);
  out.write.Reset();
  const std::string text = ReadAll(out.read.Get());
  EXPECT_NE(text.find("processes in my /proc (what ps shows):\n    1  mount_test\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("/proc "), std::string::npos) << text;  // a row of the mount table
}

}  // namespace
}  // namespace nslab
