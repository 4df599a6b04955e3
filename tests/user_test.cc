// user_test — id maps written from the parent, root inside, the outside uid on disk,
// the once-only rule, setgroups "deny" for an unprivileged writer.
//
// Tagged no-sandbox: Bazel's sandbox maps only uid 0, so uid 65534 cannot be mapped
// there. Cases that change our own uid run in a forked helper.
#include "common/user.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::user {
namespace {

std::string TmpDir(const std::string& name) {
  // Must be reachable by uid 65534: not under the 0700 output base.
  std::string dir = "/tmp/nslab-user-test-" + std::to_string(getpid()) + "-" + name;
  mkdir(dir.c_str(), 0777);
  chmod(dir.c_str(), 0777);
  return dir;
}

TEST(UserTest, MapLineIsInsideOutsideCount) {
  EXPECT_EQ(MapLine(0, 65534), "0 65534 1\n");
  EXPECT_EQ(MapLine(0, 100000, 65536), "0 100000 65536\n");
}

TEST(UserTest, DefaultOutsideIdIsNobodyForRootElseOurOwn) {
  if (geteuid() == 0) {
    EXPECT_EQ(DefaultOutsideUid(), 65534u);
    EXPECT_EQ(DefaultOutsideGid(), 65534u);
  } else {
    EXPECT_EQ(DefaultOutsideUid(), geteuid());
  }
}

TEST(UserTest, UserNamespacesAreEnabledHere) {
  EXPECT_NO_THROW(CheckUserNamespacesEnabled());
}

TEST(UserTest, ChildIsRootInsideAndNobodyOutside) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string dir = TmpDir("own");
  const std::string file = dir + "/made-inside";
  process::Child child = process::Clone({CLONE_NEWUSER}, [&] {
    SetupInChild();
    if (getuid() != 0 || getgid() != 0 || geteuid() != 0) return 30;
    UniqueFd fd = Open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
    struct stat st;
    if (fstat(fd.Get(), &st) != 0 || st.st_uid != 0) return 31;  // 0 as seen inside
    return 0;
  });
  WriteMapsFromParent(child.pid(), 65534, 65534);
  EXPECT_EQ(ReadMap(child.pid(), "uid_map"), "0 65534 1");
  EXPECT_EQ(ReadMap(child.pid(), "gid_map"), "0 65534 1");
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u) << "the file belongs to the outside uid on disk";
  EXPECT_EQ(st.st_gid, 65534u);
  unlink(file.c_str());
  rmdir(dir.c_str());
}

// setresuid clears the parent-death signal; SetupInChild must arm it again, or a
// SIGKILLed lab would leave its sandbox running.
TEST(UserTest, SetupInChildKeepsTheParentDeathSignal) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  process::Child child = process::Clone({CLONE_NEWUSER}, [] {
    int before = 0, after = 0;
    prctl(PR_GET_PDEATHSIG, &before);
    SetupInChild();
    prctl(PR_GET_PDEATHSIG, &after);
    return before == SIGKILL && after == SIGKILL ? 0 : 80;
  });
  WriteMapsFromParent(child.pid(), 65534, 65534);
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
}

TEST(UserTest, SecondMapWriteIsEpermNamingTheFile) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  process::Child child = process::Clone({CLONE_NEWUSER}, [] { return 0; });
  WriteMapsFromParent(child.pid(), 65534, 65534);
  try {
    WriteMapFile(child.pid(), "uid_map", MapLine(0, 65534));
    FAIL() << "second uid_map write succeeded";
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), EPERM);
    std::string what = e.what();
    EXPECT_NE(what.find("/proc/" + std::to_string(child.pid()) + "/uid_map"), std::string::npos)
        << what;
    EXPECT_NE(what.find("only once"), std::string::npos) << what;
  }
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
}

// An unprivileged parent may map only its own ids, and must deny setgroups first.
TEST(UserTest, UnprivilegedParentMapsItsOwnIdWithSetgroupsDenied) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (to become uid 65534)";
  pid_t helper = fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    process::RunInChild([] {
      Check(setgroups(0, nullptr), "setgroups");
      Check(setresgid(65534, 65534, 65534), "setresgid");
      Check(setresuid(65534, 65534, 65534), "setresuid");
      // Changing uid made us non-dumpable, which makes /proc/PID of our children
      // root's; execve(2) of a binary (setpriv ... 09_user) would have reset it.
      Check(prctl(PR_SET_DUMPABLE, 1), "prctl", "PR_SET_DUMPABLE");
      process::Child child = process::Clone({CLONE_NEWUSER}, [] {
        SetupInChild();
        return getuid() == 0 ? 0 : 40;
      });
      WriteMapsFromParent(child.pid(), 65534, 65534);
      if (ReadFile("/proc/" + std::to_string(child.pid()) + "/setgroups") != "deny\n")
        return 41;
      // Mapping someone else's uid is refused, with the reason.
      process::Child other = process::Clone({CLONE_NEWUSER}, [] { return 0; });
      try {
        WriteMapFile(other.pid(), "uid_map", MapLine(0, 0));
        return 42;
      } catch (const SysError& e) {
        if (e.err() != EPERM) return 43;
      }
      other.Go();
      other.Wait();
      child.Go();
      return child.Wait().ShellCode();
    });
  }
  int status = 0;
  ASSERT_EQ(waitpid(helper, &status, 0), helper);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(UserTest, UnprivilegedUsersGetARunDirOfTheirOwn) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (to become uid 65534)";
  const std::string xdg = TmpDir("xdg");
  chown(xdg.c_str(), 65534, 65534);
  chmod(xdg.c_str(), 0700);
  pid_t helper = fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    process::RunInChild([&] {
      Check(setresgid(65534, 65534, 65534), "setresgid");
      Check(setresuid(65534, 65534, 65534), "setresuid");
      unsetenv("NSLAB_RUN_DIR");
      setenv("XDG_RUNTIME_DIR", xdg.c_str(), 1);
      if (UseOwnRunDirIfUnprivileged() != xdg + "/nslab") return 70;
      const char* env = getenv("NSLAB_RUN_DIR");
      if (env == nullptr || env != xdg + "/nslab") return 71;
      // Set already: left alone.
      return UseOwnRunDirIfUnprivileged().empty() ? 0 : 72;
    });
  }
  EXPECT_EQ(process::WaitPid(helper).code, 0);
  EXPECT_EQ(UseOwnRunDirIfUnprivileged(), "") << "root keeps /run/nslab";
  ASSERT_EQ(system(("rm -rf " + xdg).c_str()), 0);
}

TEST(UserTest, ReadMapSqueezesSpaces) {
  EXPECT_FALSE(ReadMap(getpid()).empty());
}

TEST(UserTest, ShowInChildSaysRootInsideAndTheOutsideUid) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Pipe out = MakePipe();
  process::Child child = process::Clone({CLONE_NEWUSER}, [&] {
    SetupInChild();
    narrate::Configure(/*demo=*/true, /*verbose=*/false);
    dup2(out.write.Get(), STDOUT_FILENO);
    ShowInChild();
    return 0;
  });
  WriteMapsFromParent(child.pid(), 65534, 65534);
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
  out.write.Reset();
  const std::string text = ReadAll(out.read.Get());
  EXPECT_NE(text.find("uid 0, gid 0 inside"), std::string::npos) << text;
  EXPECT_NE(text.find("         0      65534          1"), std::string::npos) << text;
  EXPECT_EQ(text.find("CapEff 0000000000000000"), std::string::npos) << text;
}

}  // namespace
}  // namespace nslab::user
