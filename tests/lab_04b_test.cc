// End-to-end test of labs/04b_time: the command's boot-time clock (uptime) and
// monotonic clock are shifted by exactly the offsets given, its date is the host's;
// from outside, the child is in a new time namespace while the lab itself is not
// (only its time_for_children is), and the child's /proc/PID/timens_offsets holds
// the offsets. Clock readings are bounded by readings taken before and after.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildRunning;

std::string NsLink(pid_t pid, const std::string& kind) {
  char buf[64] = {};
  std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  return readlink(path.c_str(), buf, sizeof buf - 1) > 0 ? buf : "";
}

double Clock(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

double UptimeNow() { return std::strtod(testutil::ReadText("/proc/uptime").c_str(), nullptr); }

// The value after "<who> ... my clocks: boottime " in the demo's output.
double BoottimeSaid(const std::string& out, const std::string& who) {
  for (const auto& line : testutil::Lines(out)) {
    if (line.rfind("[" + who, 0) != 0) continue;
    size_t at = line.find("boottime ");
    if (line.find("my clocks:") != std::string::npos && at != std::string::npos)
      return std::strtod(line.c_str() + at + 9, nullptr);
  }
  return -1;
}

TEST(Lab04bTest, DemoShiftsOnlyTheChildsClocks) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const double before = Clock(CLOCK_BOOTTIME);
  auto r = testutil::RunLab("04b_time", {"--boottime", "864000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("* time "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("* uts "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("writing the offsets again: Permission denied"), std::string::npos)
      << r.out;
  const double child = BoottimeSaid(r.out, "child"), host = BoottimeSaid(r.out, "host");
  // The child read its clock between our first reading and the lab's last one
  // (printed with one decimal: 0.1 s of rounding either way).
  EXPECT_GE(child - 864000, before - 0.1) << r.out;
  EXPECT_LE(child - 864000, host + 0.1) << r.out;
}

TEST(Lab04bTest, UptimeInsideIsShifted) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const double before = UptimeNow();
  auto r = testutil::RunLab("04b_time", {"--boottime", "864000", "--", "cat", "/proc/uptime"});
  const double after = UptimeNow();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const double inside = std::strtod(r.out.c_str(), nullptr);
  EXPECT_GE(inside - 864000, before - 0.01) << r.out;
  EXPECT_LE(inside - 864000, after + 0.01) << r.out;
}

TEST(Lab04bTest, DateIsTheHosts) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const long before = static_cast<long>(Clock(CLOCK_REALTIME));
  auto r = testutil::RunLab("04b_time", {"--boottime", "864000", "--monotonic", "7200", "--",
                                         "date", "+%s"});
  const long after = static_cast<long>(Clock(CLOCK_REALTIME));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const long inside = std::strtol(r.out.c_str(), nullptr, 10);
  EXPECT_GE(inside, before);
  EXPECT_LE(inside, after);
}

TEST(Lab04bTest, ChildIsInTheNewTimeNamespaceTheLabIsNot) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("04b_time"), "--monotonic", "7200",
                             "--boottime", "86400", "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  EXPECT_NE(NsLink(child, "time"), NsLink(getpid(), "time"));
  EXPECT_EQ(NsLink(bg.pid, "time"), NsLink(getpid(), "time"));   // the lab stayed
  EXPECT_EQ(NsLink(bg.pid, "time_for_children"), NsLink(child, "time"));
  EXPECT_NE(NsLink(child, "uts"), NsLink(getpid(), "uts"));
  std::istringstream in(testutil::ReadText("/proc/" + std::to_string(child) + "/timens_offsets"));
  std::string clock;
  long long secs = 0, nanos = 0, mono = -1, boot = -1;
  while (in >> clock >> secs >> nanos) (clock == "monotonic" ? mono : boot) = secs;
  EXPECT_EQ(mono, 7200);
  EXPECT_EQ(boot, 86400);
  kill(child, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
}

TEST(Lab04bTest, RefusesBadOffsets) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--boottime", "-999999999999", "--", "true"},
           {"--monotonic", "-999999999999", "--", "true"},
           {"--boottime", "9999999999999", "--", "true"},
           {"--boottime", "ten", "--", "true"},
           {"--hostname", "a b", "--", "true"}}) {
    auto r = testutil::RunLab("04b_time", args);
    EXPECT_EQ(r.exit_code, 125) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(args[0]), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(Lab04bTest, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("04b_time", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--boottime", "--monotonic", "--hostname", "-v,--verbose"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
}

TEST(Lab04bTest, PropagatesExitStatus) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  EXPECT_EQ(testutil::RunLab("04b_time", {"--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(testutil::RunLab("04b_time", {"--", "no-such-command-4b"}).exit_code, 127);
}

}  // namespace
}  // namespace nslab
