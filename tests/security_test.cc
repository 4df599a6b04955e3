// security_test — the facade: profiles validated before anything exists, the hardened
// state of a process after ApplyInChild (as /proc/self/status shows it), masked and
// read-only /proc paths, refusal of symlinked /proc and /dev/null, fds closed at
// execve, and the cwd check. Each case changes a forked child only.
#include "common/security.h"

#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/caps.h"
#include "common/error.h"
#include "common/fd.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildResult;
using testutil::RunInChild;
using testutil::StatusField;
using testutil::TmpDir;

std::string Outcome(long rc) { return rc == -1 ? std::to_string(errno) : "ok"; }

bool HasCap(int cap) { return caps::Has(caps::ReadFromProc().effective, cap); }

// A private mount namespace for the forked child, so its mounts vanish with it.
void PrivateMountNs() {
  Check(unshare(CLONE_NEWNS), "unshare", "CLONE_NEWNS");
  Check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount", "/");
}

bool DevNullIsReal() {
  struct stat st;
  return stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

TEST(SecurityTest, ValidateProfileRefusesUnknownCapability) {
  security::Profile p;
  p.cap_add = {"NET_ADMIN", "CAP_SYS_TIME", "all"};
  p.cap_drop = {"mknod"};
  EXPECT_NO_THROW(security::ValidateProfile(p));
  p.cap_add = {"NET_ADMINN"};
  EXPECT_THROW(security::ValidateProfile(p), UsageError);
  p.cap_add.clear();
  p.cap_drop = {"FOO"};
  EXPECT_THROW(security::ValidateProfile(p), UsageError);
  // A typo is refused even when --privileged would ignore it.
  p.privileged = true;
  EXPECT_THROW(security::ValidateProfile(p), UsageError);
}

TEST(SecurityTest, DescribeListsEachLayer) {
  auto lines = security::Describe({});
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  EXPECT_NE(all.find("privileged: no"), std::string::npos) << all;
  EXPECT_NE(all.find("capabilities: CAP_CHOWN"), std::string::npos) << all;
  EXPECT_NE(all.find("(14)"), std::string::npos) << all;
  EXPECT_NE(all.find("no_new_privs: on"), std::string::npos) << all;
  EXPECT_NE(all.find("seccomp: filter"), std::string::npos) << all;
  EXPECT_NE(all.find("/proc/kcore"), std::string::npos) << all;

  security::Profile priv;
  priv.privileged = true;
  all.clear();
  for (const auto& l : security::Describe(priv)) all += l + "\n";
  EXPECT_NE(all.find("seccomp: off"), std::string::npos) << all;
  EXPECT_NE(all.find("no_new_privs: off"), std::string::npos) << all;
  EXPECT_TRUE(security::EffectiveCapabilities(priv).empty());
  EXPECT_EQ(security::EffectiveCapabilities({}).size(), 14u);
}

TEST(SecurityTest, ApplyInChildGivesDockersDefaults) {
  if (!HasCap(CAP_SETPCAP)) GTEST_SKIP() << "needs root (CAP_SETPCAP)";
  ChildResult f = RunInChild([] {
    security::ApplyInChild({});
    return StatusField("CapEff") + " " + StatusField("CapPrm") + " " + StatusField("CapBnd") +
           " " + StatusField("CapInh") + " " + StatusField("CapAmb") + " nnp=" +
           StatusField("NoNewPrivs") + " seccomp=" + StatusField("Seccomp") +
           " keyctl=" + Outcome(syscall(SYS_keyctl, 0, -3, 0)) +
           " unshare=" + Outcome(unshare(CLONE_NEWNS)) +
           " clone3=" + Outcome(syscall(SYS_clone3, nullptr, 0));
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out,
            "00000000a80425fb 00000000a80425fb 00000000a80425fb 0000000000000000 "
            "0000000000000000 nnp=1 seccomp=2 keyctl=" +
                std::to_string(EPERM) + " unshare=" + std::to_string(EPERM) +
                " clone3=" + std::to_string(ENOSYS));
}

TEST(SecurityTest, CapAddAndDropChangeTheSets) {
  if (!HasCap(CAP_SETPCAP)) GTEST_SKIP() << "needs root (CAP_SETPCAP)";
  ChildResult f = RunInChild([] {
    security::Profile p;
    p.cap_add = {"NET_ADMIN"};
    p.cap_drop = {"NET_RAW"};
    security::ApplyInChild(p);
    return StatusField("CapBnd");
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, caps::Hex((0xa80425fbULL | (1ULL << CAP_NET_ADMIN)) & ~(1ULL << CAP_NET_RAW)));
}

TEST(SecurityTest, SysAdminProfileMayUnshare) {
  if (!HasCap(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  ChildResult f = RunInChild([] {
    security::Profile p;
    p.cap_add = {"SYS_ADMIN"};
    security::ApplyInChild(p);
    return "unshare=" + Outcome(unshare(CLONE_NEWUTS)) + " seccomp=" + StatusField("Seccomp");
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "unshare=ok seccomp=2");
}

TEST(SecurityTest, PrivilegedChangesNothing) {
  ChildResult f = RunInChild([] {
    std::string before = StatusField("CapBnd");
    security::Profile p;
    p.privileged = true;
    security::ApplyInChild(p);
    return std::string(StatusField("CapBnd") == before ? "same" : "changed") +
           " nnp=" + StatusField("NoNewPrivs") + " seccomp=" + StatusField("Seccomp");
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "same nnp=0 seccomp=0");
}

TEST(SecurityTest, CloseExtraFdsLeavesOnlyStdioAfterExec) {
  Pipe out = MakePipe();
  pid_t pid = fork();
  if (pid == 0) {
    // Descriptors a careless runtime would leak: not close-on-exec, low and high.
    int null_fd = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
    dup2(null_fd, 7);
    dup2(null_fd, 19);
    dup2(null_fd, 1000);
    int dir = open("/", O_RDONLY | O_DIRECTORY);  // a host directory, as in CVE-2024-21626
    (void)dir;
    dup2(out.write.Get(), 1);
    try {
      security::CloseExtraFdsInChild();
    } catch (...) {
      _exit(125);
    }
    // The shell lists its own fds ($$): ls is a child of it, so ls's directory fd
    // is not in the list. The trailing ':' keeps sh from exec'ing ls directly.
    execl("/bin/sh", "sh", "-c", "ls /proc/$$/fd; :", (char*)nullptr);
    _exit(127);
  }
  out.write.Reset();
  std::string listing = ReadAll(out.read.Get());
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(listing, "0\n1\n2\n");
}

TEST(SecurityTest, CloseExtraFdsKeepsThemUntilExec) {
  // Marked, not closed: a pipe the runtime still needs (its error report) works
  // until execve.
  ChildResult f = RunInChild([] {
    Pipe p = MakePipe();
    int raw = dup(p.write.Get());  // no O_CLOEXEC on a dup
    security::CloseExtraFdsInChild();
    int flags = Check(fcntl(raw, F_GETFD), "fcntl", "F_GETFD");
    WriteAll(raw, "x");
    return std::string((flags & FD_CLOEXEC) ? "cloexec" : "inherited") + " " +
           ReadAll(p.read.Get(), 1);
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "cloexec x");
}

TEST(SecurityTest, MaskPathsHidesAndFreezesProcFiles) {
  if (!HasCap(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  if (!DevNullIsReal()) GTEST_SKIP() << "/dev/null is not the null device here";
  ChildResult f = RunInChild([] {
    PrivateMountNs();
    security::MaskPathsInChild({});
    std::string out;
    struct stat st;
    // (/proc/kcore is the famous one, but not every kernel has it.)
    Check(stat("/proc/keys", &st), "stat", "/proc/keys");
    out += std::string("keys_dev=") + (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)
                                           ? "null" : "visible");
    out += " keys=[" + ReadFile("/proc/keys") + "]";
    out += " timer_list=[" + ReadFile("/proc/timer_list") + "]";
    out += " sys_write=" + Outcome(open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC));
    if (access("/proc/sysrq-trigger", F_OK) == 0)  // CONFIG_MAGIC_SYSRQ only
      out += " sysrq_write=" + Outcome(open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC));
    // Still readable.
    out += " sys_read=" + std::string(ReadFile("/proc/sys/kernel/ostype"));
    // /sys/firmware, a directory, is covered by an empty read-only tmpfs.
    if (stat("/sys/firmware", &st) == 0)
      out += " firmware_mkdir=" + Outcome(mkdir("/sys/firmware/x", 0700));
    return out;
  });
  EXPECT_EQ(f.code, 0) << f.out;
  const std::string erofs = std::to_string(EROFS);
  std::string expected = "keys_dev=null keys=[] timer_list=[] sys_write=" + erofs;
  if (access("/proc/sysrq-trigger", F_OK) == 0) expected += " sysrq_write=" + erofs;
  expected += " sys_read=Linux\n";
  struct stat st;
  if (stat("/sys/firmware", &st) == 0) expected += " firmware_mkdir=" + erofs;
  EXPECT_EQ(f.out, expected);
}

TEST(SecurityTest, MaskPathsPrivilegedLeavesProcAlone) {
  if (!HasCap(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  ChildResult f = RunInChild([] {
    PrivateMountNs();
    security::Profile p;
    p.privileged = true;
    security::MaskPathsInChild(p);
    struct stat st;
    Check(stat("/proc/keys", &st), "stat", "/proc/keys");
    return std::string(S_ISREG(st.st_mode) ? "keys=file" : "keys=other");
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "keys=file");
}

// A directory under TEST_TMPDIR (or /tmp) removed with everything in it at scope
// exit, so a run outside Bazel leaves nothing behind either.
class TempRoot {
 public:
  explicit TempRoot(const std::string& name) {
    std::string tmpl = TmpDir() + "/nslab-" + name + "-XXXXXX";
    path_ = CheckPtr(mkdtemp(tmpl.data()), "mkdtemp", tmpl);
  }
  ~TempRoot() {
    nftw(path_.c_str(),
         [](const char* p, const struct stat*, int, struct FTW*) { return remove(p); }, 16,
         FTW_DEPTH | FTW_PHYS);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Chroots the forked child into `root` after `setup` has filled it; /proc is bound
// from the host when `with_proc` (in the child's private mount namespace).
void EnterFakeRoot(const std::string& root, bool with_proc,
                   const std::function<void(const std::string&)>& setup) {
  PrivateMountNs();
  Check(mkdir((root + "/dev").c_str(), 0755), "mkdir", root + "/dev");
  if (with_proc) {
    Check(mkdir((root + "/proc").c_str(), 0755), "mkdir", root + "/proc");
    Check(mount("/proc", (root + "/proc").c_str(), nullptr, MS_BIND | MS_REC, nullptr),
          "mount", root + "/proc");
  }
  setup(root);
  Check(chroot(root.c_str()), "chroot", root);
  Check(chdir("/"), "chdir", "/");
}

TEST(SecurityTest, RefusesProcThatIsASymlink) {
  if (!HasCap(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  TempRoot tmp("procsymlink");
  ChildResult f = RunInChild([&] {
    // CVE-2019-16884: the image's /proc is a symlink; procfs would be mounted where
    // it points, and the real /proc left unmasked.
    EnterFakeRoot(tmp.path(), false, [](const std::string& root) {
      Check(symlink("/dev", (root + "/proc").c_str()), "symlink", root + "/proc");
    });
    security::MaskPathsInChild({});
    return std::string("masked anyway");
  });
  EXPECT_EQ(f.code, 1) << f.out;
  EXPECT_NE(f.out.find("CVE-2019-16884"), std::string::npos) << f.out;
}

TEST(SecurityTest, RefusesProcThatIsNotProcfs) {
  if (!HasCap(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  TempRoot tmp("procdir");
  ChildResult f = RunInChild([&] {
    EnterFakeRoot(tmp.path(), false, [](const std::string& root) {
      Check(mkdir((root + "/proc").c_str(), 0755), "mkdir", root + "/proc");
    });
    security::CheckProcInChild();
    return std::string("accepted");
  });
  EXPECT_EQ(f.code, 1) << f.out;
  EXPECT_NE(f.out.find("no procfs mounted on /proc"), std::string::npos) << f.out;
}

TEST(SecurityTest, RefusesDevNullThatIsASymlink) {
  if (!HasCap(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  TempRoot tmp("nullsymlink");
  ChildResult f = RunInChild([&] {
    // CVE-2025-31133: /dev/null pointing at a procfs file that would then be bound
    // (writable) over the masked paths.
    EnterFakeRoot(tmp.path(), true, [](const std::string& root) {
      Check(symlink("/proc/sys/kernel/core_pattern", (root + "/dev/null").c_str()),
            "symlink", root + "/dev/null");
    });
    security::MaskPathsInChild({});
    return std::string("masked with it");
  });
  EXPECT_EQ(f.code, 1) << f.out;
  EXPECT_NE(f.out.find("/dev/null"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("symlink"), std::string::npos) << f.out;
}

TEST(SecurityTest, RefusesDevNullThatIsARegularFile) {
  if (!HasCap(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  TempRoot tmp("nullfile");
  ChildResult f = RunInChild([&] {
    EnterFakeRoot(tmp.path(), true, [](const std::string& root) {
      UniqueFd file(Check(open((root + "/dev/null").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666),
                          "open", root + "/dev/null"));
    });
    security::MaskPathsInChild({});
    return std::string("masked with it");
  });
  EXPECT_EQ(f.code, 1) << f.out;
  EXPECT_NE(f.out.find("CVE-2025-31133"), std::string::npos) << f.out;
}

TEST(SecurityTest, VerifyCwdRefusesADirectoryOutsideTheRoot) {
  if (!HasCap(CAP_SYS_CHROOT) || !HasCap(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs root";
  TempRoot tmp("cwd");
  ChildResult f = RunInChild([&] {
    // CVE-2024-21626: the runtime leaked an fd of a host directory and the
    // container's working directory became /proc/self/fd/N — outside its root.
    int host_dir = Check(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), "open", "/");
    EnterFakeRoot(tmp.path(), false, [](const std::string&) {});
    std::string out;
    try {
      security::VerifyCwdInChild();
      out += "inside=ok";
    } catch (const std::exception& e) {
      out += std::string("inside=") + e.what();
    }
    Check(fchdir(host_dir), "fchdir", "host /");
    try {
      security::VerifyCwdInChild();
      out += " outside=accepted";
    } catch (const SysError& e) {
      out += " outside=refused";
    }
    return out;
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "inside=ok outside=refused");
}

TEST(SecurityTest, NonDumpableShowsInProc) {
  ChildResult f = RunInChild([] {
    security::SetNonDumpableInChild();
    return std::to_string(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "0");
}

}  // namespace
}  // namespace nslab
