// End-to-end test of labs/04a_setns: the command runs in a UTS namespace that was
// made by a child with unshare(2) and kept by a bind mount of its nsfs file; the
// keeping mount is in the lab's own mount namespace only (the host's mount table
// never has it, also after SIGKILL); the nsenter mode (--target, --ns) joins
// namespaces of other processes, forking for a PID namespace. Checked from outside:
// /proc/PID/ns links, /proc/PID/mountinfo, stat through /proc/PID/root.
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildRunning;

const bool kRunDir = testutil::RunDirInTestTmpdir();

std::string HostName() {
  utsname u;
  uname(&u);
  return u.nodename;
}

std::string NsLink(pid_t pid, const std::string& kind) {
  char buf[64] = {};
  std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  return readlink(path.c_str(), buf, sizeof buf - 1) > 0 ? buf : "";
}

unsigned long Inode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The mount point of the nsfs mount whose root (mountinfo field 4) is `ns` (e.g.
// "uts:[4026532177]") in /proc/PID/mountinfo, "" if there is none.
std::string NsfsMountPoint(pid_t pid, const std::string& ns) {
  std::istringstream in(testutil::ReadText("/proc/" + std::to_string(pid) + "/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    if (root == ns && line.find(" - nsfs ") != std::string::npos) return point;
  }
  return "";
}

std::string RunDirOf(pid_t lab) {
  return std::string(std::getenv("NSLAB_RUN_DIR") ? std::getenv("NSLAB_RUN_DIR") : "/run/nslab") +
         "/04a_setns-" + std::to_string(lab);
}

TEST(Lab04aTest, DemoKeepsNamespaceWithoutProcesses) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("04a_setns", {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("processes in it: 0; the bind mount holds it"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("setns done: my hostname is \"nslab\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("* uts"), std::string::npos) << r.out;  // the joiner's marked row
  EXPECT_NE(r.out.find("my hostname is still \"" + HostName() + "\""), std::string::npos);
}

TEST(Lab04aTest, CommandRunsInKeptNamespace) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string name = testutil::UniqueName("kept");
  auto r = testutil::RunLab("04a_setns", {"--hostname", name, "--", "sh", "-c",
                                          "hostname; readlink /proc/self/ns/uts"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto lines = testutil::Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0], name);
  EXPECT_NE(lines[1], NsLink(getpid(), "uts"));
  EXPECT_EQ(lines[1].rfind("uts:[", 0), 0u) << lines[1];
}

// While the command runs: the lab's mount namespace (not ours) has an nsfs mount of
// exactly the command's UTS namespace; the file it is mounted on, seen through
// /proc/LAB/root, has that namespace's inode; the unsharing child is gone.
TEST(Lab04aTest, KeepingMountIsInTheLabsNamespaceOnly) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("04a_setns"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  const std::string uts = NsLink(child, "uts");
  ASSERT_NE(uts, NsLink(getpid(), "uts"));
  const std::string point = NsfsMountPoint(bg.pid, uts);
  EXPECT_EQ(point, RunDirOf(bg.pid) + "/uts");
  EXPECT_EQ(NsfsMountPoint(getpid(), uts), "");  // not in our mount table
  EXPECT_NE(NsLink(bg.pid, "mnt"), NsLink(getpid(), "mnt"));
  struct stat st;
  ASSERT_EQ(stat(("/proc/" + std::to_string(child) + "/ns/uts").c_str(), &st), 0);
  EXPECT_EQ(Inode("/proc/" + std::to_string(bg.pid) + "/root" + point), st.st_ino);
  EXPECT_EQ(testutil::ChildOf(bg.pid), child);  // the maker has exited
  kill(child, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
  EXPECT_FALSE(testutil::PathExists(RunDirOf(bg.pid)));
}

TEST(Lab04aTest, SigkillLeavesNoMountBehind) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("04a_setns"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  const std::string uts = NsLink(child, "uts");
  kill(bg.pid, SIGKILL);
  bg.Finish();
  // The sleep dies with the lab (PR_SET_PDEATHSIG); the mount died with its namespace.
  EXPECT_TRUE(testutil::Eventually([&] { return !testutil::ProcessAlive(child); }));
  EXPECT_EQ(NsfsMountPoint(getpid(), uts), "");
  for (const auto& m : testutil::MountPoints())
    EXPECT_EQ(m.find(RunDirOf(bg.pid)), std::string::npos) << m;
  // Only an empty directory can remain; the next run removes it as stale.
  auto r = testutil::RunLab("04a_setns", {"--", "true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(testutil::PathExists(RunDirOf(bg.pid)));
}

// nsenter mode; util-linux's unshare makes the target (new UTS and mount namespaces).
TEST(Lab04aTest, EntersTargetNamespaces) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string name = testutil::UniqueName("tgt");
  auto bg = testutil::Start({"unshare", "--fork", "--uts", "--mount", "sh", "-c",
                             "hostname " + name + " && exec sleep 1000"});
  pid_t target = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(target, 0);
  const std::string t = std::to_string(target);
  auto r = testutil::RunLab("04a_setns", {"--target", t, "--uts", "--", "hostname"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, name + "\n");
  // No kinds named: every one that differs (uts and mnt here).
  r = testutil::RunLab("04a_setns", {"--target", t, "--", "sh", "-c",
                                     "readlink /proc/self/ns/uts /proc/self/ns/mnt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, NsLink(target, "uts") + "\n" + NsLink(target, "mnt") + "\n");
  kill(target, SIGKILL);
  bg.Finish();
}

// --ns FILE: the keeping file itself, reached through the lab's /proc/PID/root.
TEST(Lab04aTest, JoinsTheKeptFileFromOutside) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string name = testutil::UniqueName("file");
  auto bg = testutil::Start(
      {testutil::LabPath("04a_setns"), "--hostname", name, "--", "sleep", "1000"});
  pid_t target = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(target, 0);
  const std::string file = "/proc/" + std::to_string(bg.pid) + "/root" + RunDirOf(bg.pid) + "/uts";
  auto r = testutil::RunLab("04a_setns", {"--ns", file, "--", "hostname"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, name + "\n");
  // The joined command's status is the lab's.
  EXPECT_EQ(testutil::RunLab("04a_setns", {"--ns", file, "--", "sh", "-c", "exit 9"}).exit_code, 9);
  kill(target, SIGKILL);
  bg.Finish();
}

TEST(Lab04aTest, EntersPidNamespaceWithAFork) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  // util-linux's unshare: a PID namespace whose init (pid 1) is sleep.
  auto bg = testutil::Start({"unshare", "--pid", "--fork", "sleep", "1000"});
  pid_t target = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(target, 0);
  auto r = testutil::RunLab("04a_setns", {"--target", std::to_string(target), "--pid", "--",
                                          "sh", "-c", "echo $$"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "2\n");  // the grandchild, forked after setns, is pid 2 there
  kill(target, SIGKILL);
  bg.Finish();
}

TEST(Lab04aTest, RefusesBadInput) {
  const std::string self = std::to_string(getpid());
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--target", "4194303", "--", "true"}, "no such process"},
      {{"--ns", "/etc/hostname", "--", "true"}, "not a namespace file"},
      {{"--uts", "--", "true"}, "needs --target"},
      {{"--target", self}, "needs a command"},
      {{"--target", self, "--", "true"}, "nothing to join"},
      {{"--hostname", "a b", "--", "true"}, "--hostname"},
  };
  for (const auto& [args, why] : cases) {
    auto r = testutil::RunLab("04a_setns", args);
    EXPECT_EQ(r.exit_code, 125) << args[0] << " " << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(Lab04aTest, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("04a_setns", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--hostname", "--target", "--ns", "--uts", "--pid", "-v,--verbose"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
}

TEST(Lab04aTest, PropagatesExitStatus) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  EXPECT_EQ(testutil::RunLab("04a_setns", {"--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(testutil::RunLab("04a_setns", {"--", "no-such-command-4a"}).exit_code, 127);
}

}  // namespace
}  // namespace nslab
