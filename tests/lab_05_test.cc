// End-to-end test of labs/05_pid: the command is PID 1 inside and another pid
// outside (NSpid, read from the host's /proc), the demo's init duties, and that
// killing PID 1 or Ctrl-C to the lab ends the whole namespace.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildRunning;

std::vector<long> NsPids(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::vector<long> out;
  while (std::getline(in, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream f(line.substr(6));
    long v;
    while (f >> v) out.push_back(v);
  }
  return out;
}

// Pids of the children of `pid` (its grandchildren are not listed).
std::vector<pid_t> Children(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                   "/children");
  std::vector<pid_t> out;
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

TEST(Lab05Test, ShellIsPid1) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("05_pid", {"--", "sh", "-c", "echo $$"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
}

TEST(Lab05Test, DemoShowsInitDuties) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("05_pid", {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[child 1] getpid() = 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("orphan: my parent is now 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"Z (zombie)\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no zombie left"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ESRCH"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("* pid "), std::string::npos) << r.out;
}

TEST(Lab05Test, NsPidSeenFromOutside) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("05_pid"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  std::vector<long> pids = NsPids(child);
  ASSERT_GE(pids.size(), 2u);
  EXPECT_EQ(pids.back(), 1);
  EXPECT_EQ(pids[pids.size() - 2], child);
  kill(child, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
}

TEST(Lab05Test, KillingPid1EndsTheNamespace) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  // PID 1 (sh) starts a background sleep, then waits for it.
  auto bg = testutil::Start({testutil::LabPath("05_pid"), "--", "sh", "-c", "sleep 1000 & wait"});
  pid_t init = ChildRunning(bg.pid, "sh");
  ASSERT_GT(init, 0);
  pid_t sleeper = -1;
  for (int i = 0; i < 3000 && sleeper < 0; ++i) {
    for (pid_t p : Children(init)) sleeper = p;
    if (sleeper < 0) usleep(10000);
  }
  ASSERT_GT(sleeper, 0);
  kill(init, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
  // The kernel killed the rest of the namespace, and it was reaped.
  EXPECT_NE(kill(sleeper, 0), 0);
}

TEST(Lab05Test, CtrlCToTheLabEndsTheSandbox) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("05_pid"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  kill(bg.pid, SIGINT);
  // The lab forwards it; an init ignores SIGINT from outside, so it sends SIGKILL.
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
  EXPECT_NE(kill(child, 0), 0);
}

}  // namespace
}  // namespace nslab
