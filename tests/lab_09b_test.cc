// End-to-end test of labs/09b_nested, checked from outside: the lab's child (outer)
// and grandchild (inner) are each in a user namespace of their own, the inner's
// parent being the outer's; the inode numbers the lab prints in its ownership tree
// (read with ioctl_ns) are those `stat -L /proc/PID/ns/*` gives for the processes,
// and lsns's PNS/ONS columns agree (when lsns is installed); the uid map chains
// (inner root is host uid 101000); the command runs in the innermost and its exit
// status comes back; bad flags are refused with one line and nothing runs.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/testutil.h"

namespace nslab {
namespace {

std::string Ino(pid_t pid, const std::string& kind) {
  struct stat st;
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  if (stat(path.c_str(), &st) != 0) return "?";
  return std::to_string(st.st_ino);
}

std::string Squeezed(const std::string& text) {
  std::istringstream in(text);
  std::string w, out;
  while (in >> w) out += (out.empty() ? "" : " ") + w;
  return out;
}

TEST(Lab09bTest, DemoShowsTheTreeAndTheInnermost) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("09b_nested", {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"owner uid 100000 (pid ", "inside the innermost: hostname \"nslab-inner\", "
                        "uid 0, pid 1", "my uid_map: \"0 1000 1000\"",
                        "outer child exited with status 0"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

// The tree the lab prints, against stat(2) and lsns of the running processes.
TEST(Lab09bTest, HostSeesTheNestingTheTreeNames) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("09b_nested"), "-v", "--", "sleep", "1000"});
  pid_t outer = 0;
  ASSERT_TRUE(testutil::Eventually([&] { return (outer = testutil::ChildOf(bg.pid)) > 0; }));
  pid_t inner = testutil::ChildRunning(outer, "sleep");
  ASSERT_GT(inner, 0);
  const std::string lab_user = Ino(bg.pid, "user"), outer_user = Ino(outer, "user"),
                    inner_user = Ino(inner, "user");
  EXPECT_NE(lab_user, outer_user);
  EXPECT_NE(outer_user, inner_user);
  EXPECT_NE(Ino(outer, "uts"), Ino(inner, "uts"));
  EXPECT_NE(Ino(bg.pid, "pid"), Ino(outer, "pid"));
  // The maps chain: inner root is outer uid 1000, which is host uid 101000.
  EXPECT_EQ(Squeezed(testutil::ReadText("/proc/" + std::to_string(outer) + "/uid_map")),
            "0 100000 65536");
  EXPECT_EQ(Squeezed(testutil::ReadText("/proc/" + std::to_string(inner) + "/uid_map")),
            "0 101000 1000");
  EXPECT_EQ(testutil::StatusField("Uid", inner), "101000\t101000\t101000\t101000");

  // lsns reads PNS/ONS with the same ioctls, in util-linux's own code.
  testutil::RunResult ls = testutil::Run({"lsns", "-n", "-r", "-o", "NS,TYPE,PNS,ONS"});
  if (ls.exit_code == 0) {
    EXPECT_TRUE(testutil::HasLine(ls.out, inner_user + " user " + outer_user + " " + outer_user))
        << ls.out;
    EXPECT_TRUE(testutil::HasLine(ls.out, outer_user + " user " + lab_user + " " + lab_user))
        << ls.out;
    EXPECT_TRUE(testutil::HasLine(ls.out, Ino(inner, "uts") + " uts 0 " + inner_user)) << ls.out;
    EXPECT_TRUE(testutil::HasLine(ls.out, Ino(outer, "pid") + " pid " + Ino(bg.pid, "pid") +
                                              " " + outer_user))
        << ls.out;
  }

  const std::string outer_uts = Ino(outer, "uts"), inner_uts = Ino(inner, "uts"),
                    inner_pid = Ino(inner, "pid"), inner_mnt = Ino(inner, "mnt");
  kill(inner, SIGKILL);
  auto r = bg.Finish();
  EXPECT_EQ(r.exit_code, 128 + SIGKILL) << r.err;
  EXPECT_FALSE(testutil::ProcessAlive(outer));

  // The tree (on stderr with -v): outer's user ns one level under ours, owner uid 0;
  // inner's one level under outer's, owner uid 100000 (the outer root made it),
  // owning inner's uts, pid and mnt namespaces.
  const std::string o = std::to_string(outer), i = std::to_string(inner);
  auto indent = [&](const std::string& line) -> int {
    for (const std::string& l : testutil::Lines(r.err)) {
      const size_t at = l.find(line);
      if (at != std::string::npos && l.find_first_not_of(' ') == at &&
          at + line.size() == l.size())
        return static_cast<int>(at);
    }
    return -1;
  };
  const int top = indent("user:[" + lab_user + "] owner uid 0, top (pid " +
                         std::to_string(bg.pid) + ")");
  const int mid = indent("user:[" + outer_user + "] owner uid 0 (pid " + o + ")");
  const int low = indent("user:[" + inner_user + "] owner uid 100000 (pid " + i + ")");
  ASSERT_GE(top, 0) << r.err;
  EXPECT_EQ(mid, top + 2) << r.err;
  EXPECT_EQ(low, mid + 2) << r.err;
  EXPECT_EQ(indent("owns uts:[" + outer_uts + "] (pid " + o + ")"), mid + 2) << r.err;
  for (const std::string& ns :
       {"uts:[" + inner_uts + "]", "pid:[" + inner_pid + "]", "mnt:[" + inner_mnt + "]"})
    EXPECT_EQ(indent("owns " + ns + " (pid " + i + ")"), low + 2) << ns << "\n" << r.err;
  // ...and in that order: inner's namespaces right under inner's user namespace.
  EXPECT_LT(r.err.find("user:[" + inner_user + "]"), r.err.find("owns uts:[" + inner_uts + "]"));
  EXPECT_LT(r.err.find("user:[" + outer_user + "]"), r.err.find("user:[" + inner_user + "]"));
}

TEST(Lab09bTest, CommandRunsInTheInnermost) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("09b_nested", {"--", "sh", "-c", "hostname; id -u; echo $$"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "nslab-inner\n0\n1\n");
  EXPECT_EQ(r.err, "");  // no narration without -v
}

TEST(Lab09bTest, PropagatesExitStatus) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  EXPECT_EQ(testutil::RunLab("09b_nested", {"--", "sh", "-c", "exit 7"}).exit_code, 7);
  auto r = testutil::RunLab("09b_nested", {"--", "/nslab-no-such-command"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("/nslab-no-such-command"), std::string::npos) << r.err;
}

TEST(Lab09bTest, ChangedBasesChangeTheMaps) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("09b_nested", {"--outer-base", "200000", "--inner-base", "5", "--",
                                           "cat", "/proc/self/uid_map"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Squeezed(r.out), "0 5 1000");  // in the outer namespace's ids
  r = testutil::RunLab("09b_nested", {"--outer-base", "200000"});
  EXPECT_NE(r.out.find("owner uid 200000 (pid "), std::string::npos) << r.out;
}

TEST(Lab09bTest, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("09b_nested", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* f :
       {"--outer-base", "--inner-base", "--verbose", "root of the outer", "root of the inner"})
    EXPECT_NE(r.out.find(f), std::string::npos) << f << "\n" << r.out;
}

TEST(Lab09bTest, RefusesBadFlags) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--inner-base", "70000"},
                                               std::vector<std::string>{"--outer-base", "4294967000"},
                                               std::vector<std::string>{"--outer-base", "x"}}) {
    auto r = testutil::RunLab("09b_nested", args);
    EXPECT_EQ(r.exit_code, 125) << args[0] << " " << args[1];
    EXPECT_EQ(testutil::Lines(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find(args[0]), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

}  // namespace
}  // namespace nslab
