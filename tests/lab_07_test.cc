// lab_07 — end-to-end: 07_ipc's sandbox has an IPC namespace of its own. Checked
// from outside: a queue made on the host with ipcmk is not in the sandbox's
// /proc/sysvipc, and what the sandbox creates never shows in the host's ipcs and is
// gone when the lab has exited.
//
// no-sandbox: the host's IPC namespace (ipcmk, ipcs) is the point of comparison.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include <regex>
#include <sstream>
#include <string>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ReadText;
using testutil::RunLab;

// Per-run directories go to the test's own TEST_TMPDIR, which Bazel removes: a lab
// killed with SIGKILL cannot remove its own.
const bool kRunDirInTestTmpdir = testutil::RunDirInTestTmpdir();

// Keys ("0x4e530a1b") of the host's System V objects, as ipcs prints them.
std::string HostIpcs() { return testutil::Run({"ipcs", "-a"}).out; }

// The rows (header dropped) of a /proc/sysvipc file's text.
std::vector<std::string> Rows(const std::string& text) {
  auto lines = testutil::Lines(text);
  if (!lines.empty()) lines.erase(lines.begin());
  return lines;
}

TEST(Lab07Test, HostQueueFromIpcmkIsNotVisibleInside) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto made = testutil::Run({"ipcmk", "-Q"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(made.out, m, std::regex("id: ([0-9]+)"))) << made.out;
  const std::string id = m[1];
  struct Cleanup {
    std::string id;
    ~Cleanup() { testutil::Run({"ipcrm", "-q", id}); }
  } cleanup{id};
  // The host sees it...
  bool on_host = false;
  for (const auto& row : Rows(ReadText("/proc/sysvipc/msg"))) {
    std::istringstream f(row);
    std::string key, msqid;
    f >> key >> msqid;
    on_host = on_host || msqid == id;
  }
  ASSERT_TRUE(on_host) << "ipcmk's queue " << id << " is not in the host's /proc/sysvipc/msg";
  // ...the sandbox's table is empty: not this queue, not any host object.
  auto r = RunLab("07_ipc", {"--", "cat", "/proc/sysvipc/msg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("msqid"), std::string::npos) << "expected the header line: " << r.out;
  EXPECT_TRUE(Rows(r.out).empty()) << r.out;
}

TEST(Lab07Test, SandboxHasItsOwnIpcNamespace) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = RunLab("07_ipc", {"--", "readlink", "/proc/self/ns/ipc"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  char host[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/ipc", host, sizeof host - 1), 0);
  EXPECT_EQ(r.out.rfind("ipc:[", 0), 0u) << r.out;
  EXPECT_NE(r.out, std::string(host) + "\n");
}

TEST(Lab07Test, DemoObjectsStayInsideAndAreFreedOnExit) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = RunLab("07_ipc", {});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("with key (0x4e54[0-9a-f]{4})"))) << r.out;
  const std::string sandbox_key = m[1];
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("host made .* key (0x4e53[0-9a-f]{4})")))
      << r.out;
  const std::string host_key = m[1];
  // Inside, the table listed the sandbox's three objects and none of the host's.
  EXPECT_TRUE(std::regex_search(r.out, std::regex("msg +" + sandbox_key))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("shm +" + sandbox_key))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("sem +" + sandbox_key))) << r.out;
  // The host's look while the sandbox held them (the lab's observer reads the same
  // /proc/sysvipc files as ipcs): the sandbox's key was not there.
  EXPECT_NE(r.out.find("the sandbox's " + sandbox_key + " objects are not among them"),
            std::string::npos)
      << r.out;
  // A POSIX queue in a fresh mqueue mount inside.
  EXPECT_NE(r.out.find("/dev/mqueue holds: /nslab"), std::string::npos) << r.out;
  // After the lab: the sandbox's objects died with its namespace, and the host's
  // own demo objects were removed by the lab.
  std::string ipcs = HostIpcs();
  EXPECT_EQ(ipcs.find(sandbox_key), std::string::npos) << ipcs;
  EXPECT_EQ(ipcs.find(host_key), std::string::npos) << ipcs;
}

// A command (not only the demo) finds the namespace's own mqueue filesystem mounted
// at /dev/mqueue, as in a container (mq_overview(7)), and a queue it makes lists there.
TEST(Lab07Test, CommandGetsAnMqueueMountOfItsOwnNamespace) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = RunLab("07_ipc", {"--", "sh", "-c", "grep '^mqueue /dev/mqueue mqueue ' /proc/mounts"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testutil::Lines(r.out).size(), 1u) << r.out;
}

TEST(Lab07Test, CommandExitStatusPassesThrough) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  EXPECT_EQ(RunLab("07_ipc", {"--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(RunLab("07_ipc", {"--", "no-such-command"}).exit_code, 127);
}

}  // namespace
}  // namespace nslab
