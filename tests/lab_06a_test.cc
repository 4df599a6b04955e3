// End-to-end test of labs/06a_overlay: the sandbox's changes land in the run's
// upper/ (a copied-up file, a whiteout char 0,0, a new directory) while the lowers
// stay as they were — also a --rootfs directory, which is only read; --lower layers
// lie on top, the first given topmost; the overlay mount is in the sandbox's mount
// table only. Checked from outside: the run directory, /proc/PID/mountinfo.
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/image.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildRunning;

const bool kRunDir = testutil::RunDirInTestTmpdir();

std::string RunDirOf(pid_t lab) {
  const char* base = std::getenv("NSLAB_RUN_DIR");
  return std::string(base != nullptr ? base : "/run/nslab") + "/06a_overlay-" +
         std::to_string(lab);
}

// The mountinfo line of the overlay mounted on `point` in pid's namespace, or "".
std::string OverlayLine(pid_t pid, const std::string& point) {
  std::istringstream in(testutil::ReadText("/proc/" + std::to_string(pid) + "/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mp;
    f >> id >> parent >> dev >> root >> mp;
    if (mp == point && line.find(" - overlay ") != std::string::npos) return line;
  }
  return "";
}

void Put(const std::string& path, const std::string& text) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  fputs(text.c_str(), f);
  fclose(f);
}

TEST(Lab06aTest, DemoShowsTheDiff) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("06a_overlay", {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* line : {"* bin/ed      whiteout (char 0,0)", "  etc/hosts   copied up",
                           "* home        opaque directory", "  root/notes  new file",
                           "this file comes from the lab's top lower layer",
                           "my mount table is exactly what it was before the run"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
}

// While the sandbox runs: its changes are files in upper/, the lower is unchanged,
// and the overlay is mounted in the sandbox's mount namespace, not in ours.
TEST(Lab06aTest, UpperHoldsTheChangesWhileItRuns) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("06a_overlay"), "--", "sh", "-c",
                             "rm /bin/ed && echo more >> /etc/hosts && mkdir /made && "
                             "exec sleep 1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  const std::string run = RunDirOf(bg.pid);
  struct stat st;
  ASSERT_EQ(lstat((run + "/upper/bin/ed").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  const std::string lower_hosts = testutil::ReadText(run + "/lower/etc/hosts");
  EXPECT_EQ(testutil::ReadText(run + "/upper/etc/hosts"), lower_hosts + "more\n");
  EXPECT_EQ(lower_hosts.find("more"), std::string::npos);
  EXPECT_TRUE(testutil::PathExists(run + "/lower/bin/ed"));
  EXPECT_TRUE(testutil::IsDir(run + "/upper/made"));
  // The sandbox's root is the overlay (mount point "/" after pivot_root).
  const std::string line = OverlayLine(child, "/");
  EXPECT_NE(line.find("upperdir=" + run + "/upper"), std::string::npos) << line;
  EXPECT_NE(line.find("lowerdir=" + run + "/layer:" + run + "/lower"), std::string::npos) << line;
  EXPECT_EQ(OverlayLine(getpid(), run + "/rootfs"), "");
  kill(child, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
  EXPECT_FALSE(testutil::PathExists(run));
}

TEST(Lab06aTest, RootfsDirIsNeverWritten) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string dir = testutil::MakeTempDir("ovlroot");
  image::Unpack(image::BuiltinBusybox(), image::kBuiltinBusyboxName, dir);
  const std::string hosts = testutil::ReadText(dir + "/etc/hosts");
  auto r = testutil::RunLab("06a_overlay", {"--rootfs", dir, "--", "sh", "-c",
                                            "rm /bin/ed && echo x > /etc/hosts && cat /etc/hosts"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "x\n");
  EXPECT_TRUE(testutil::PathExists(dir + "/bin/ed"));
  EXPECT_EQ(testutil::ReadText(dir + "/etc/hosts"), hosts);
}

TEST(Lab06aTest, SeveralLowersTheFirstGivenOnTop) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string a = testutil::MakeTempDir("ovla"), b = testutil::MakeTempDir("ovlb");
  for (const auto& d : {a, b}) ASSERT_EQ(mkdir((d + "/etc").c_str(), 0755), 0);
  Put(a + "/etc/which", "a\n");
  Put(b + "/etc/which", "b\n");
  Put(b + "/etc/only-b", "b only\n");
  Put(b + "/etc/hostname", "from b\n");
  auto r = testutil::RunLab("06a_overlay", {"--lower", a, "--lower", b, "--", "cat",
                                            "/etc/which", "/etc/only-b", "/etc/hostname",
                                            "/etc/motd"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a\nb only\nfrom b\nthis file comes from the lab's top lower layer\n");
}

TEST(Lab06aTest, SigkillLeavesNoMountBehind) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("06a_overlay"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  kill(bg.pid, SIGKILL);
  bg.Finish();
  EXPECT_TRUE(testutil::Eventually([&] { return !testutil::ProcessAlive(child); }));
  const std::string run = RunDirOf(bg.pid);
  for (const auto& m : testutil::MountPoints()) EXPECT_EQ(m.find(run), std::string::npos) << m;
  // Only files remain; the next run removes them as stale.
  EXPECT_EQ(testutil::RunLab("06a_overlay", {"--", "true"}).exit_code, 0);
  EXPECT_FALSE(testutil::PathExists(run));
}

TEST(Lab06aTest, RefusesBadInput) {
  const std::string comma = testutil::MakeTempDir("ovl,comma");
  for (const auto& [args, why] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--lower", "/nonexistent-06a", "--", "true"}, "--lower"},
           {{"--lower", comma, "--", "true"}, "cannot hold ','"},
           {{"--rootfs", "/nonexistent-06a", "--", "true"}, "--rootfs"},
           {{"--hostname", "a b", "--", "true"}, "--hostname"}}) {
    auto r = testutil::RunLab("06a_overlay", args);
    EXPECT_EQ(r.exit_code, 125) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(Lab06aTest, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("06a_overlay", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--lower", "--rootfs", "--hostname", "-v,--verbose"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
}

TEST(Lab06aTest, PropagatesExitStatus) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  EXPECT_EQ(testutil::RunLab("06a_overlay", {"--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(testutil::RunLab("06a_overlay", {"--", "no-such-command-6a"}).exit_code, 127);
}

}  // namespace
}  // namespace nslab
