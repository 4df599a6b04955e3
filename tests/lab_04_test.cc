// End-to-end test of labs/04_uts: the sandbox's hostname is its own, the host's is
// unchanged, a bad hostname is refused before anything starts, and the child's
// uts namespace (read from outside, in /proc/PID/ns) differs from ours.
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildRunning;

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

TEST(Lab04Test, DemoShowsBothHostnames) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("04_uts", {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("my hostname is \"nslab\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("my hostname is still \"" + HostName() + "\""), std::string::npos);
  EXPECT_NE(r.out.find("* uts"), std::string::npos) << r.out;  // the marked row
}

TEST(Lab04Test, HostnameChangesOnlyInside) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string host = HostName();
  const std::string name = testutil::UniqueName("uts");
  auto r = testutil::RunLab("04_uts", {"--hostname", name, "--", "sh", "-c",
                                       "hostname; hostname inner; hostname"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, name + "\ninner\n");
  EXPECT_EQ(HostName(), host);
}

TEST(Lab04Test, DefaultHostnameIsNslab) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = testutil::RunLab("04_uts", {"--", "hostname"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "nslab\n");
}

TEST(Lab04Test, RefusesBadHostnames) {
  for (const std::string& bad : {std::string(""), std::string(65, 'a'), std::string("a b")}) {
    auto r = testutil::RunLab("04_uts", {"--hostname", bad, "--", "true"});
    EXPECT_EQ(r.exit_code, 125) << bad;
    EXPECT_NE(r.err.find("--hostname"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(Lab04Test, ChildHasOwnUtsNamespaceOnly) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("04_uts"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  EXPECT_NE(NsLink(child, "uts"), NsLink(getpid(), "uts"));
  EXPECT_EQ(NsLink(child, "pid"), NsLink(getpid(), "pid"));
  EXPECT_EQ(NsLink(child, "mnt"), NsLink(getpid(), "mnt"));
  kill(child, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
}

TEST(Lab04Test, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("04_uts", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--hostname"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-v,--verbose"), std::string::npos) << r.out;
}

TEST(Lab04Test, PropagatesExitStatus) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  EXPECT_EQ(testutil::RunLab("04_uts", {"--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(testutil::RunLab("04_uts", {"--", "no-such-command-h2"}).exit_code, 127);
}

}  // namespace
}  // namespace nslab
