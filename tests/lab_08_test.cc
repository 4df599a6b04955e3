// lab_08 — end-to-end: 08_net's sandbox has a network namespace of its own, with
// only lo (`--net none`) or lo plus a veth whose other end is on the host; ping
// crosses it; the host end is gone once the lab has ended — normally, by SIGTERM,
// or by SIGKILL. Checked from outside with ip(8) and nsenter(1).
//
// no-sandbox: the veth's host end lives in the host's network namespace.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include <regex>
#include <sstream>
#include <string>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildOf;
using testutil::Eventually;
using testutil::RunLab;

// Per-run directories go to the test's own TEST_TMPDIR, which Bazel removes: a lab
// killed with SIGKILL cannot remove its own.
const bool kRunDirInTestTmpdir = testutil::RunDirInTestTmpdir();

std::string HostLink(pid_t lab) { return "nsl" + std::to_string(lab) + "h"; }

bool HostHasLink(const std::string& name) {
  auto r = testutil::Run({"ip", "-o", "link", "show", "dev", name});
  return r.exit_code == 0 && r.out.find(name + "@") != std::string::npos;
}

TEST(Lab08Test, NetNoneKeepsOnlyLoopbackAndItIsUp) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = RunLab("08_net", {"--net", "none", "--", "ip", "-o", "link"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = testutil::Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_NE(lines[0].find(": lo: <LOOPBACK,UP"), std::string::npos) << r.out;
}

TEST(Lab08Test, DemoShowsLoDownFirstThenPingsTheHostEnd) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = RunLab("08_net", {});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("lo +DOWN"))) << r.out;
  EXPECT_NE(r.out.find("1 packets transmitted, 1 packets received"), std::string::npos) << r.out;
}

TEST(Lab08Test, SandboxPingsItsGatewayAndHasADefaultRoute) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = RunLab("08_net", {"--subnet", "10.77.0.0/16", "--", "sh", "-c",
                             "ip route; gw=$(ip route | awk '/^default/ {print $3}'); "
                             "ping -c1 -W5 \"$gw\" >/dev/null && echo ping-ok"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("default via 10\\.77\\.[0-9]+\\.[0-9]+ dev nsl")))
      << r.out;
  EXPECT_TRUE(testutil::HasLine(r.out, "ping-ok")) << r.out;
}

TEST(Lab08Test, HostEndExistsWhileRunningAndGoesOnSigterm) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("08_net"), "--", "sleep", "1000"});
  const std::string host_if = HostLink(bg.pid);
  ASSERT_TRUE(Eventually([&] { return HostHasLink(host_if); })) << host_if;
  // Its address on the host: the .1 of the run's /30.
  auto addr = testutil::Run({"ip", "-o", "-4", "addr", "show", "dev", host_if});
  EXPECT_TRUE(std::regex_search(addr.out, std::regex("inet 10\\.77\\.[0-9]+\\.[0-9]+/30")))
      << addr.out;
  // From outside, in the child's namespace (nsenter -n, like ip -n): lo and its end.
  pid_t child = 0;
  ASSERT_TRUE(Eventually([&] { return (child = ChildOf(bg.pid)) > 0; }));
  auto inside = testutil::Run(
      {"nsenter", "-t", std::to_string(child), "-n", "ip", "-o", "link"});
  EXPECT_NE(inside.out.find(": lo: "), std::string::npos) << inside.out;
  EXPECT_NE(inside.out.find(": nsl" + std::to_string(bg.pid) + "c@"), std::string::npos)
      << inside.out;
  kill(bg.pid, SIGTERM);
  auto r = bg.Finish();
  EXPECT_EQ(r.exit_code, 128 + SIGKILL) << r.err;  // the PID-1 sleep got SIGKILL
  EXPECT_FALSE(HostHasLink(host_if)) << "the lab deletes the host end when it exits";
}

TEST(Lab08Test, HostEndGoesEvenWhenTheLabIsSigkilled) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("08_net"), "--", "sleep", "1000"});
  const std::string host_if = HostLink(bg.pid);
  ASSERT_TRUE(Eventually([&] { return HostHasLink(host_if); })) << host_if;
  kill(bg.pid, SIGKILL);  // no cleanup code runs in the lab
  bg.Finish();
  // PR_SET_PDEATHSIG kills the child, its network namespace dies, and the kernel
  // destroys the veth end in it — and with it the peer on the host.
  EXPECT_TRUE(Eventually([&] { return !HostHasLink(host_if); })) << host_if << " left behind";
}

TEST(Lab08Test, BadSubnetIsAUsageError) {
  auto r = RunLab("08_net", {"--subnet", "10.77.0.1/16", "--", "true"});
  EXPECT_EQ(r.exit_code, 125) << r.err;
  EXPECT_NE(r.err.find("host bits set"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nslab
