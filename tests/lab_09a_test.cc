// End-to-end test of labs/09a_idmap: the child's uid_map and gid_map hold the
// ranges asked for (read from outside, /proc/PID/uid_map); with --user the command
// runs as that user, which the host sees as the mapped uid (/proc/PID/status), with
// no capabilities; maps the kernel would refuse are refused first; --newuidmap works
// only where /etc/subuid grants the ranges, and says so otherwise.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildRunning;

// "0 100000 1000\n..." from a map file, spaces squeezed.
std::string Squeezed(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string w, l;
    while (f >> w) l += (l.empty() ? "" : " ") + w;
    out += l + "\n";
  }
  return out;
}

TEST(Lab09aTest, DemoBecomesANonRootUser) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("09a_idmap", {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"I am uid 1000, gid 1000 inside", "no capabilities at all",
                        "root inside is host uid 100000, user 1000 is host uid 65534",
                        "my mount table is exactly what it was before the run"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

// From outside: three ranges in the child's maps; the user 1000 is host uid 65534.
TEST(Lab09aTest, HostSeesTheRangesAndTheMappedUser) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start(
      {testutil::LabPath("09a_idmap"), "--user", "1000:1000", "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  const std::string dir = "/proc/" + std::to_string(child);
  const std::string want = "0 100000 1000\n1000 65534 1\n1001 101001 64535\n";
  EXPECT_EQ(Squeezed(testutil::ReadText(dir + "/uid_map")), want);
  EXPECT_EQ(Squeezed(testutil::ReadText(dir + "/gid_map")), want);
  EXPECT_EQ(testutil::StatusField("Uid", child), "65534\t65534\t65534\t65534");
  EXPECT_EQ(testutil::StatusField("Gid", child), "65534\t65534\t65534\t65534");
  EXPECT_EQ(testutil::StatusField("CapEff", child), "0000000000000000");
  kill(child, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
}

TEST(Lab09aTest, RootInsideIsTheRangesFirstId) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("09a_idmap"), "--uid-map", "0:200000:65536",
                             "--gid-map", "0:200000:65536", "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  EXPECT_EQ(testutil::StatusField("Uid", child), "200000\t200000\t200000\t200000");
  EXPECT_NE(testutil::StatusField("CapEff", child), "0000000000000000");  // root inside
  kill(child, SIGKILL);
  bg.Finish();
}

TEST(Lab09aTest, UserInsideHasItsIdsAndNoCapabilities) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("09a_idmap", {"--user", "1001:1002", "--", "sh", "-c",
                                          "id -u; id -g; id -G; grep CapEff /proc/self/status; "
                                          "touch /tmp/f && stat -c %u:%g /tmp/f; "
                                          "touch /etc/hosts 2>/dev/null || echo denied"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1001\n1002\n1002\nCapEff:\t0000000000000000\n1001:1002\ndenied\n");
}

TEST(Lab09aTest, RefusesBadMapsAndUsers) {
  for (const auto& [args, why] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--uid-map", "0:100000:10", "--uid-map", "5:200000:10", "--", "true"}, "overlap"},
           {{"--uid-map", "0:100000:0", "--", "true"}, "a range of 0 ids"},
           {{"--gid-map", "0-100000-10", "--", "true"}, "INSIDE:OUTSIDE:COUNT"},
           {{"--uid-map", "1:100000:10", "--gid-map", "1:100000:10", "--user", "1", "--", "true"},
            "inside id 0 is not mapped"},
           {{"--user", "70000", "--", "true"}, "not covered"},
           {{"--user", "nobody", "--", "true"}, "--user"}}) {
    auto r = testutil::RunLab("09a_idmap", args);
    EXPECT_EQ(r.exit_code, 125) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

// newuidmap needs /etc/subuid and /etc/subgid to grant the ranges (this test never
// changes them): where they do, the maps are written; where not, a clear refusal.
TEST(Lab09aTest, NewuidmapNeedsAnAllocation) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("09a_idmap", {"--newuidmap", "--uid-map", "0:100000:65536",
                                          "--gid-map", "0:100000:65536", "--", "cat",
                                          "/proc/self/uid_map"});
  const std::string subuid = testutil::ReadText("/etc/subuid");
  const std::string subgid = testutil::ReadText("/etc/subgid");
  const bool granted = subuid.find("root:100000:65536") != std::string::npos &&
                       subgid.find("root:100000:65536") != std::string::npos;
  if (granted) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Squeezed(r.out), "0 100000 65536\n");
  } else {
    EXPECT_EQ(r.exit_code, 125) << r.err;
    EXPECT_NE(r.err.find("grants root no range"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("never edits"), std::string::npos) << r.err;
  }
}

TEST(Lab09aTest, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("09a_idmap", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--uid-map", "--gid-map", "--user", "--newuidmap", "-v,--verbose"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
}

TEST(Lab09aTest, PropagatesExitStatus) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  EXPECT_EQ(testutil::RunLab("09a_idmap", {"--user", "1000", "--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(testutil::RunLab("09a_idmap", {"--", "no-such-command-9a"}).exit_code, 127);
}

}  // namespace
}  // namespace nslab
