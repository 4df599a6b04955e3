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

#include <fstream>
#include <sstream>
#include <string>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::RunLab;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

template <typename F>
bool Eventually(F cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    usleep(10000);
  }
  return cond();
}

pid_t ChildOf(pid_t lab) {
  std::ifstream in("/proc/" + std::to_string(lab) + "/task/" + std::to_string(lab) +
                   "/children");
  pid_t child = 0;
  in >> child;
  return child;
}

std::string Squeeze(const std::string& line) {
  std::istringstream in(line);
  std::string out;
  for (std::string w; in >> w;) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The lab binary and the image, copied where uid 65534 can reach them (Bazel's
// output base is under /root, mode 0700), in the layout the lab looks for:
// DIR/labs/09_user and DIR/images/busybox.tar.
class RootlessCopy {
 public:
  RootlessCopy() {
    dir_ = "/tmp/nslab-lab09-" + std::to_string(getpid());
    testutil::Run({"mkdir", "-p", dir_ + "/labs", dir_ + "/images"});
    testutil::Run({"cp", testutil::LabPath("09_user"), dir_ + "/labs/"});
    testutil::Run({"cp", testutil::Runfile("images/busybox.tar"), dir_ + "/images/"});
    testutil::Run({"chmod", "-R", "a+rX", dir_});
    testutil::Run({"install", "-d", "-m", "0700", "-o", "65534", "-g", "65534", runtime_dir()});
  }
  ~RootlessCopy() { testutil::Run({"rm", "-rf", dir_}); }
  std::string lab() const { return dir_ + "/labs/09_user"; }
  std::string runtime_dir() const { return dir_ + "/run"; }

 private:
  std::string dir_;
};

// Runs argv as uid 65534 with its per-run state in `dir` (as $XDG_RUNTIME_DIR would
// give a logged-in user), so that the test leaves nothing in /tmp.
std::vector<std::string> AsNobody(const RootlessCopy& copy, const std::vector<std::string>& argv) {
  std::vector<std::string> out = {"setpriv", "--reuid=65534", "--regid=65534",
                                  "--clear-groups", "env", "-u", "NSLAB_RUN_DIR",
                                  "XDG_RUNTIME_DIR=" + copy.runtime_dir()};
  out.insert(out.end(), argv.begin(), argv.end());
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
    return child > 0 && Slurp("/proc/" + std::to_string(child) + "/comm") == "sleep\n";
  }));
  const std::string proc = "/proc/" + std::to_string(child);
  EXPECT_EQ(Squeeze(testutil::Lines(Slurp(proc + "/uid_map"))[0]), "0 65534 1");
  EXPECT_EQ(Squeeze(testutil::Lines(Slurp(proc + "/gid_map"))[0]), "0 65534 1");
  std::string status = Slurp(proc + "/status");
  EXPECT_NE(status.find("Uid:\t65534\t65534\t65534\t65534"), std::string::npos) << status;
  EXPECT_NE(Slurp("/proc/" + std::to_string(bg.pid) + "/ns/user"), "x");
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
    return child > 0 && Slurp("/proc/" + std::to_string(child) + "/comm") == "sleep\n";
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
  RootlessCopy copy;
  auto r = testutil::Run(AsNobody(copy, {copy.lab(), "--", "id", "-u"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n");
  // Every namespace kind of the earlier labs, and only lo for a network.
  auto ns = testutil::Run(AsNobody(copy, {copy.lab(), "--", "sh", "-c",
                                    "hostname; echo $$; ip -o link | wc -l; "
                                    "cat /proc/self/uid_map"}));
  ASSERT_EQ(ns.exit_code, 0) << ns.err;
  auto lines = testutil::Lines(ns.out);
  ASSERT_EQ(lines.size(), 4u) << ns.out;
  EXPECT_EQ(lines[0], "nslab");
  EXPECT_EQ(lines[1], "1");
  EXPECT_EQ(lines[2], "1") << "only lo";
  EXPECT_EQ(Squeeze(lines[3]), "0 65534 1");
}

TEST(Lab09Test, UnprivilegedUserCannotMapAnotherUid) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root (to become uid 65534)";
  RootlessCopy copy;
  auto r = testutil::Run(AsNobody(copy, {copy.lab(), "--uid", "0", "--", "true"}));
  EXPECT_EQ(r.exit_code, 125) << r.err;
  EXPECT_NE(r.err.find("uid_map"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nslab
