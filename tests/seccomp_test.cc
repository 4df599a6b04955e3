// seccomp_test — the rule table, and the loaded filter answering each refused call
// with the expected errno. A filter can never be removed, so each case loads it in a
// forked child and reports the errnos back through a pipe.
#include "common/seccomp.h"
#include "common/seccomp_precompiled.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildResult;
using testutil::RunInChild;
using testutil::StatusField;

// "ok" when rc is not -1, else the errno's number — so expectations read as errnos.
std::string Outcome(long rc) { return rc == -1 ? std::to_string(errno) : "ok"; }

void LoadWithNnp(bool allow_sys_admin) {
  Check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl", "PR_SET_NO_NEW_PRIVS");
  seccomp::Options opts;
  opts.allow_sys_admin = allow_sys_admin;
  seccomp::LoadInChild(opts);
}

TEST(SeccompTest, TableHasEachRuleWithAReason) {
  auto rules = seccomp::Rules({});
  ASSERT_FALSE(rules.empty());
  bool keyctl = false, clone3 = false, tiocsti = false, mount = false;
  for (const auto& r : rules) {
    EXPECT_FALSE(r.reason.empty()) << r.syscall;
    if (r.syscall == "keyctl") keyctl = r.errno_value == EPERM;
    if (r.syscall == "clone3") clone3 = r.errno_value == ENOSYS;
    if (r.syscall == "ioctl" && r.argument.find("TIOCSTI") != std::string::npos)
      tiocsti = r.argument.find("0xffffffff") != std::string::npos;
    if (r.syscall == "mount") mount = true;
  }
  EXPECT_TRUE(keyctl);
  EXPECT_TRUE(clone3);
  EXPECT_TRUE(tiocsti);
  EXPECT_TRUE(mount);
}

TEST(SeccompTest, SysAdminLetsNamespaceCallsThrough) {
  seccomp::Options opts;
  opts.allow_sys_admin = true;
  for (const auto& r : seccomp::Rules(opts)) {
    EXPECT_NE(r.syscall, "mount");
    EXPECT_NE(r.syscall, "unshare");
    EXPECT_NE(r.syscall, "clone");
    EXPECT_NE(r.syscall, "clone3");
  }
}

TEST(SeccompTest, ExportPfcShowsTheRules) {
  std::string pfc = seccomp::ExportPfc({});
  EXPECT_NE(pfc.find("keyctl"), std::string::npos);
  EXPECT_NE(pfc.find("clone3"), std::string::npos);
}

// The build embeds the filter (seccomp_bpfgen); it must be exactly what libseccomp
// builds from today's table, for both profiles, or a rule edit would not reach it.
TEST(SeccompTest, PrecompiledFilterIsWhatLibseccompBuildsNow) {
  seccomp::Options admin;
  admin.allow_sys_admin = true;
  EXPECT_EQ(seccomp::precompiled::Default(), seccomp::ExportBpf({}));
  EXPECT_EQ(seccomp::precompiled::AllowSysAdmin(), seccomp::ExportBpf(admin));
  EXPECT_NE(seccomp::precompiled::Default(), seccomp::precompiled::AllowSysAdmin());
  EXPECT_EQ(seccomp::precompiled::Default().size() % 8, 0u);  // struct sock_filter
}

TEST(SeccompTest, LoadBpfRefusesATruncatedProgram) {
  ChildResult f = RunInChild([] {
    Check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl", "PR_SET_NO_NEW_PRIVS");
    try {
      seccomp::LoadBpfInChild(seccomp::precompiled::Default().substr(0, 12));
    } catch (const SysError& e) {
      return std::string(e.what()) + " " + StatusField("Seccomp");
    }
    return std::string("loaded");
  });
  EXPECT_NE(f.out.find("Invalid argument"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find(" 0"), std::string::npos) << f.out;  // no filter in place
}

TEST(SeccompTest, LoadedFilterShowsInProcStatus) {
  ChildResult f = RunInChild([] {
    LoadWithNnp(false);
    return StatusField("Seccomp") + " " + StatusField("NoNewPrivs");
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "2 1");
}

TEST(SeccompTest, RefusedCallsGetTheirErrno) {
  ChildResult f = RunInChild([] {
    LoadWithNnp(false);
    std::string out;
    out += "keyctl=" + Outcome(syscall(SYS_keyctl, 0 /*KEYCTL_GET_KEYRING_ID*/, -3, 0));
    out += " add_key=" + Outcome(syscall(SYS_add_key, "user", "k", "v", 1, -3));
    out += " unshare=" + Outcome(unshare(CLONE_NEWNS));
    out += " setns=" + Outcome(setns(0, 0));
    out += " mount=" + Outcome(mount("none", "/", "tmpfs", 0, nullptr));
    out += " clone_newuts=" +
           Outcome(syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, nullptr, nullptr, nullptr, 0));
    out += " clone3=" + Outcome(syscall(SYS_clone3, nullptr, 0));
    out += " bpf=" + Outcome(syscall(SYS_bpf, 0, nullptr, 0));
    out += " pivot_root=" + Outcome(syscall(SYS_pivot_root, "/", "/"));
    out += " open_by_handle_at=" + Outcome(syscall(SYS_open_by_handle_at, -1, nullptr, 0));
    return out;
  });
  EXPECT_EQ(f.code, 0) << f.out;
  const std::string eperm = std::to_string(EPERM), enosys = std::to_string(ENOSYS);
  EXPECT_EQ(f.out, "keyctl=" + eperm + " add_key=" + eperm + " unshare=" + eperm +
                       " setns=" + eperm + " mount=" + eperm + " clone_newuts=" + eperm +
                       " clone3=" + enosys + " bpf=" + eperm + " pivot_root=" + eperm +
                       " open_by_handle_at=" + eperm);
}

TEST(SeccompTest, TiocstiRefusedEvenWithHighBitsSet) {
  ChildResult f = RunInChild([] {
    LoadWithNnp(false);
    int fd = Check(open("/dev/null", O_RDONLY | O_CLOEXEC), "open", "/dev/null");
    char c = 'x';
    std::string out = "tiocsti=" + Outcome(ioctl(fd, TIOCSTI, &c));
    // The kernel truncates the command to 32 bits; the filter must too.
    out += " high=" + Outcome(syscall(SYS_ioctl, fd, (1UL << 32) | TIOCSTI, &c));
    out += " tioclinux=" + Outcome(ioctl(fd, TIOCLINUX, &c));
    // An ordinary ioctl still reaches the driver (/dev/null is no tty: ENOTTY).
    out += " tcgets=" + Outcome(ioctl(fd, TCGETS, &c));
    return out;
  });
  EXPECT_EQ(f.code, 0) << f.out;
  const std::string eperm = std::to_string(EPERM);
  EXPECT_EQ(f.out, "tiocsti=" + eperm + " high=" + eperm + " tioclinux=" + eperm +
                       " tcgets=" + std::to_string(ENOTTY));
}

TEST(SeccompTest, ForkAndOrdinaryCallsStillWork) {
  ChildResult f = RunInChild([] {
    LoadWithNnp(false);
    // fork() is clone(SIGCHLD) without namespace flags: allowed.
    pid_t pid = fork();
    if (pid == 0) _exit(7);
    int status = 0;
    Check(waitpid(pid, &status, 0), "waitpid");
    return std::to_string(WEXITSTATUS(status)) + " " + Outcome(getpid() > 0 ? 0 : -1);
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "7 ok");
}

TEST(SeccompTest, SysAdminProfileDoesNotFilterClone3) {
  ChildResult f = RunInChild([] {
    LoadWithNnp(true);
    // With no filter rule the kernel itself answers: a zero-sized clone_args is EINVAL.
    return "clone3=" + Outcome(syscall(SYS_clone3, nullptr, 0)) +
           " keyctl=" + Outcome(syscall(SYS_keyctl, 0, -3, 0));
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "clone3=" + std::to_string(EINVAL) + " keyctl=" + std::to_string(EPERM));
}

}  // namespace
}  // namespace nslab
