// End-to-end test of labs/06_mount: inside, ps shows only the sandbox and ls / the
// busybox tree; outside, the test's mount table is exactly the same before,
// during and after a run, and the per-run directory is gone — after a normal
// exit, after SIGKILL of the child and after Ctrl-C to the lab.
#include "common/image.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildRunning;
using testutil::Entries;
using testutil::ReadText;

class Lab06Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
    const char* tmp = std::getenv("TEST_TMPDIR");
    run_base_ = std::string(tmp ? tmp : "/tmp") + "/" + testutil::UniqueName("run");
    mkdir(run_base_.c_str(), 0755);
    setenv("NSLAB_RUN_DIR", run_base_.c_str(), 1);  // the lab's per-run directories
    mounts_before_ = ReadText("/proc/self/mountinfo");
  }
  void ExpectCleanedUp() {
    EXPECT_EQ(ReadText("/proc/self/mountinfo"), mounts_before_);
    EXPECT_TRUE(Entries(run_base_).empty()) << "left in " << run_base_;
  }
  std::string run_base_, mounts_before_;
};

TEST_F(Lab06Test, PsShowsOnlyTheSandbox) {
  auto r = testutil::RunLab("06_mount", {"--", "ps", "-o", "pid,comm"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto lines = testutil::Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;  // the header and ps itself
  std::istringstream first(lines[1]);
  std::string pid, comm;
  first >> pid >> comm;
  EXPECT_EQ(pid, "1");
  EXPECT_EQ(comm, "ps");
  ExpectCleanedUp();
}

TEST_F(Lab06Test, LsShowsTheBusyboxTree) {
  auto r = testutil::RunLab("06_mount", {"--", "ls", "/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "bin\ndev\netc\nhome\nproc\nroot\nsbin\nsys\ntmp\nusr\nvar\n");
  auto etc = testutil::RunLab("06_mount", {"--", "cat", "/etc/hostname"});
  EXPECT_EQ(etc.out, "busybox\n");
  ExpectCleanedUp();
}

TEST_F(Lab06Test, DemoReportsCleanHost) {
  auto r = testutil::RunLab("06_mount", {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("my mount table is exactly what it was"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("* mnt"), std::string::npos) << r.out;
  ExpectCleanedUp();
}

TEST_F(Lab06Test, DevProcAndReadOnlySys) {
  auto r = testutil::RunLab(
      "06_mount", {"--", "sh", "-c",
                   "echo x > /dev/null && test -c /dev/zero && test -c /dev/tty && "
                   "test -L /dev/ptmx && test -d /dev/pts && test -d /dev/shm && "
                   "test -r /proc/1/status && ! touch /sys/x 2>/dev/null && echo ok"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  ExpectCleanedUp();
}

TEST_F(Lab06Test, HostMountsUnchangedWhileRunning) {
  auto bg = testutil::Start({testutil::LabPath("06_mount"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  // The tmpfs and every other mount live in the child's namespace only.
  EXPECT_EQ(ReadText("/proc/self/mountinfo"), mounts_before_);
  EXPECT_EQ(Entries(run_base_).size(), 1u);  // the per-run directory exists meanwhile
  kill(child, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
  ExpectCleanedUp();
}

TEST_F(Lab06Test, CtrlCCleansUp) {
  auto bg = testutil::Start({testutil::LabPath("06_mount"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  kill(bg.pid, SIGINT);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
  EXPECT_NE(kill(child, 0), 0);
  ExpectCleanedUp();
}

TEST_F(Lab06Test, RunsAnUnpackedRootfs) {
  std::string dir = run_base_ + "-rootfs";
  mkdir(dir.c_str(), 0755);
  image::Unpack(image::BuiltinBusybox(), image::kBuiltinBusyboxName, dir);
  { std::ofstream(dir + "/etc/hostname") << "mine\n"; }
  auto r = testutil::RunLab("06_mount", {"--rootfs", dir, "--", "cat", "/etc/hostname"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "mine\n");
  ExpectCleanedUp();
}

TEST_F(Lab06Test, RefusesBadRootfs) {
  auto missing = testutil::RunLab("06_mount", {"--rootfs", "/nonexistent-h2", "--", "sh"});
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_NE(missing.err.find("No such file or directory"), std::string::npos) << missing.err;
  auto nocmd = testutil::RunLab("06_mount", {"--rootfs", run_base_, "--", "sh"});
  EXPECT_EQ(nocmd.exit_code, 125);
  EXPECT_NE(nocmd.err.find("\"sh\" is not in it"), std::string::npos) << nocmd.err;
  ExpectCleanedUp();
}

TEST_F(Lab06Test, VerboseNarratesEveryMount) {
  auto r = testutil::RunLab("06_mount", {"-v", "--", "true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");  // narration goes to stderr in command mode
  EXPECT_NE(r.err.find("mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"devpts\", MS_NOSUID|MS_NOEXEC, \"newinstance"), std::string::npos);
  EXPECT_NE(r.err.find("pivot_root(\".\", \".\")"), std::string::npos);
  EXPECT_NE(r.err.find("umount2(\".\", MNT_DETACH)"), std::string::npos);
  ExpectCleanedUp();
}

TEST_F(Lab06Test, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("06_mount", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--hostname", "--rootfs", "--pitfall", "-v,--verbose"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

TEST_F(Lab06Test, PitfallsShowTheKernelsErrors) {
  for (const char* p : {"shared", "not-a-mount-point"}) {
    auto r = testutil::RunLab("06_mount", {"--pitfall", p, "--", "true"});
    EXPECT_EQ(r.exit_code, 125) << p;
    EXPECT_NE(r.err.find("pivot_root \""), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Invalid argument"), std::string::npos) << r.err;
  }
  // Without a PID namespace the fresh /proc shows processes outside the sandbox.
  auto r = testutil::RunLab("06_mount", {"--pitfall", "proc-without-pidns", "--", "ps"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(testutil::Lines(r.out).size(), 3u) << r.out;
  ExpectCleanedUp();
}

}  // namespace
}  // namespace nslab
