// lab_09 — end-to-end: 09_user's sandbox is root inside a user namespace and an
// unprivileged uid outside. Checked from outside: /proc/PID/uid_map and the Uid
// line of /proc/PID/status of the sandbox, the owner of a file it created, and the
// whole stack run by uid 65534 (no root at all).
//
// no-sandbox: Bazel's sandbox maps only uid 0, and the rootless case becomes 65534.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildOf;
using testutil::Eventually;
using testutil::ReadText;
using testutil::RunLab;

std::string Squeeze(const std::string& line) {
  std::istringstream in(line);
  std::string out;
  for (std::string w; in >> w;) out += (out.empty() ? "" : " ") + w;
  return out;
}

// A runtime directory of uid 65534's (as $XDG_RUNTIME_DIR would give a logged-in
// user), so that the rootless runs keep their per-run state there and the test
// leaves nothing in /tmp. Nothing else is copied: the lab runs from its runfiles,
// with the busybox image built into it.
class NobodyRuntimeDir {
 public:
  NobodyRuntimeDir() : dir_("/tmp/nslab-lab09-" + std::to_string(getpid())) {
    testutil::Run({"install", "-d", "-m", "0700", "-o", "65534", "-g", "65534", dir_});
  }
  ~NobodyRuntimeDir() { testutil::Run({"rm", "-rf", dir_}); }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

// Runs 09_user with `args` as uid 65534, exactly as the issue's
// `setpriv --reuid=65534 --regid=65534 --clear-groups bazel-bin/labs/09_user ...`:
// setpriv execs the binary (Bazel's output base is under /root, mode 0700) before
// its capabilities are gone, and from then on the lab has no file to look for.
std::vector<std::string> AsNobody(const NobodyRuntimeDir& run, const std::vector<std::string>& args) {
  std::vector<std::string> out = {"env", "-u", "NSLAB_RUN_DIR", "XDG_RUNTIME_DIR=" + run.path(),
                                  "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  testutil::LabPath("09_user")};
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

TEST(Lab09Test, IdIsRootInside) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto r = RunLab("09_user", {"--", "id"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("uid=0(root) gid=0(root)", 0), 0u) << r.out;
}

TEST(Lab09Test, HostSeesTheUnprivilegedUidAndTheMap) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("09_user"), "--uid", "65534", "--gid", "65534",
                             "--", "sleep", "1000"});
  pid_t child = 0;
  ASSERT_TRUE(Eventually([&] {
    child = ChildOf(bg.pid);
    return child > 0 && ReadText("/proc/" + std::to_string(child) + "/comm") == "sleep\n";
  }));
  const std::string proc = "/proc/" + std::to_string(child);
  EXPECT_EQ(Squeeze(testutil::Lines(ReadText(proc + "/uid_map"))[0]), "0 65534 1");
  EXPECT_EQ(Squeeze(testutil::Lines(ReadText(proc + "/gid_map"))[0]), "0 65534 1");
  std::string status = ReadText(proc + "/status");
  EXPECT_NE(status.find("Uid:\t65534\t65534\t65534\t65534"), std::string::npos) << status;
  EXPECT_NE(ReadText("/proc/" + std::to_string(bg.pid) + "/ns/user"), "x");
  char host_ns[64] = {}, child_ns[64] = {};
  readlink("/proc/self/ns/user", host_ns, sizeof host_ns - 1);
  readlink((proc + "/ns/user").c_str(), child_ns, sizeof child_ns - 1);
  EXPECT_STRNE(host_ns, child_ns);
  kill(bg.pid, SIGTERM);
  bg.Finish();
}

TEST(Lab09Test, FileMadeInsideBelongsToTheOutsideUid) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("09_user"), "--uid", "12345", "--gid", "12346",
                             "--", "sh", "-c",
                             "touch /tmp/made-inside && stat -c %u:%g /tmp/made-inside && "
                             "exec sleep 1000"});
  pid_t child = 0;
  ASSERT_TRUE(Eventually([&] {
    child = ChildOf(bg.pid);
    return child > 0 && ReadText("/proc/" + std::to_string(child) + "/comm") == "sleep\n";
  }));
  struct stat st;
  const std::string file = "/proc/" + std::to_string(child) + "/root/tmp/made-inside";
  ASSERT_EQ(stat(file.c_str(), &st), 0) << file;
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(st.st_gid, 12346u);
  kill(bg.pid, SIGTERM);
  auto r = bg.Finish();
  EXPECT_TRUE(testutil::HasLine(r.out, "0:0")) << "inside it is root's: " << r.out << r.err;
}

TEST(Lab09Test, RunsForAnUnprivilegedUserWithEveryNamespace) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root (to become uid 65534)";
  NobodyRuntimeDir run;
  auto r = testutil::Run(AsNobody(run, {"--", "id", "-u"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n");
  // Every namespace kind of the earlier labs, and only lo for a network.
  auto ns = testutil::Run(AsNobody(run, {"--", "sh", "-c",
                                         "hostname; echo $$; ip -o link | wc -l; "
                                         "cat /proc/self/uid_map"}));
  ASSERT_EQ(ns.exit_code, 0) << ns.err;
  auto lines = testutil::Lines(ns.out);
  ASSERT_EQ(lines.size(), 4u) << ns.out;
  EXPECT_EQ(lines[0], "nslab");
  EXPECT_EQ(lines[1], "1");
  EXPECT_EQ(lines[2], "1") << "only lo";
  EXPECT_EQ(Squeeze(lines[3]), "0 65534 1");
  // Each run removed its per-run directory: only the (empty) base is left.
  auto left = testutil::Run({"find", run.path(), "-mindepth", "2"});
  EXPECT_EQ(left.out, "") << "left behind";
}

TEST(Lab09Test, UnprivilegedUserCannotMapAnotherUid) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root (to become uid 65534)";
  NobodyRuntimeDir run;
  auto r = testutil::Run(AsNobody(run, {"--uid", "0", "--", "true"}));
  EXPECT_EQ(r.exit_code, 125) << r.err;
  EXPECT_NE(r.err.find("uid_map"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nslab
