// lab_parent_death_test — labs 04-10 have no shim: their sandbox is a child of the
// lab process. Killing the lab must kill the sandbox (PR_SET_PDEATHSIG), and a
// SIGTERM must be passed on and cleaned up after (run directory, cgroup, veth).
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::Entries;
using testutil::ReadText;
using testutil::StartLogged;
using testutil::WaitExit;

struct Proc {
  pid_t pid, ppid;
  char state;
  std::string comm;
};

std::vector<Proc> AllProcs() {
  std::vector<Proc> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = ReadText("/proc/" + name + "/stat");
    size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 > stat.size())
      continue;
    Proc p;
    p.pid = std::atoi(name.c_str());
    p.comm = stat.substr(open + 1, close - open - 1);
    p.state = stat[close + 2];
    p.ppid = std::atoi(stat.c_str() + close + 4);
    out.push_back(p);
  }
  closedir(d);
  return out;
}

// Live (non-zombie) descendants of `root`.
std::set<pid_t> Descendants(pid_t root) {
  std::vector<Proc> procs = AllProcs();
  std::set<pid_t> found = {root};
  bool grew = true;
  while (grew) {
    grew = false;
    for (const auto& p : procs)
      if (found.count(p.ppid) && !found.count(p.pid)) {
        found.insert(p.pid);
        grew = true;
      }
  }
  found.erase(root);
  std::set<pid_t> live;
  for (const auto& p : procs)
    if (found.count(p.pid) && p.state != 'Z') live.insert(p.pid);
  return live;
}

bool AnyAlive(const std::set<pid_t>& pids) {
  for (pid_t p : pids)
    if (testutil::ProcessAlive(p)) return true;
  return false;
}

bool HasSleepDescendant(pid_t root) {
  std::set<pid_t> d = Descendants(root);
  for (const auto& p : AllProcs())
    if (d.count(p.pid) && p.comm == "sleep") return true;
  return false;
}

std::set<std::string> Links() {
  std::vector<std::string> v = Entries("/sys/class/net");
  return std::set<std::string>(v.begin(), v.end());
}

class LabParentDeathTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
    // Under /tmp, not TEST_TMPDIR: labs 09-10 reach the run directory as uid 65534,
    // which cannot pass through /root (0700) where Bazel keeps TEST_TMPDIR.
    char tmpl[] = "/tmp/nslab-run-XXXXXX";
    run_dir_ = CheckDir(mkdtemp(tmpl));
    chmod(run_dir_.c_str(), 0755);
    setenv("NSLAB_RUN_DIR", run_dir_.c_str(), 1);
  }
  void TearDown() override {
    if (run_dir_.empty()) return;
    unlink((run_dir_ + ".log").c_str());
    // A SIGKILLed lab cannot remove its run directory (nothing is mounted there: the
    // mounts lived in the sandbox's mount namespace); the SIGTERM case asserts it
    // empty before this.
    testutil::Run({"rm", "-rf", run_dir_});
  }
  static std::string CheckDir(const char* p) {
    EXPECT_NE(p, nullptr);
    return p ? p : "/tmp";
  }
  // Starts `lab -- sleep 1000` and waits until the sleep runs in the sandbox.
  pid_t StartLab() {
    pid_t pid = StartLogged({testutil::LabPath(GetParam()), "--", "sleep", "1000"},
                            run_dir_ + ".log");
    EXPECT_TRUE(harness::WaitFor([&] { return HasSleepDescendant(pid); }))
        << GetParam() << " never started its sleep: " << ReadText(run_dir_ + ".log");
    return pid;
  }
  std::string run_dir_;
};

// Labs 09-10 (user namespace) failed this when written: the child's setresuid(0)
// inside the new user namespace changes its credentials, and the kernel clears the
// parent-death signal on every credential change (prctl(2), PR_SET_PDEATHSIG) — it
// must be set again after user::SetupInChild.
TEST_P(LabParentDeathTest, SigkillOfTheLabKillsTheSandbox) {
  const pid_t lab = StartLab();
  std::set<pid_t> sandbox = Descendants(lab);
  ASSERT_FALSE(sandbox.empty());
  kill(lab, SIGKILL);
  EXPECT_EQ(WaitExit(lab), 128 + SIGKILL);
  EXPECT_TRUE(harness::WaitFor([&] { return !AnyAlive(sandbox); }, 10))
      << GetParam() << ": its sandbox outlived it";
  // Don't let a failure leak processes (and their namespaces) into later tests.
  for (pid_t p : sandbox) kill(p, SIGKILL);
  harness::WaitFor([&] { return !AnyAlive(sandbox); }, 10);
  // What only the killed lab could have removed (lab 10's cgroup, lab 08-10's /30
  // reservation) goes with the next run of the same lab, which removes what a
  // SIGKILLed run left: the recovery the docs give students.
  EXPECT_EQ(testutil::Run({testutil::LabPath(GetParam()), "--", "true"}).exit_code, 0);
  auto cg = testutil::Run({"sh", "-c", "ls -d /sys/fs/cgroup/*/nslab-*-" + std::to_string(lab) +
                                           " /sys/fs/cgroup/*/*/*/nslab-*-" +
                                           std::to_string(lab) + " 2>/dev/null; true"});
  EXPECT_EQ(cg.out, "") << "the next run left the killed run's cgroup";
}

TEST_P(LabParentDeathTest, SigtermIsPassedOnAndCleanedUp) {
  harness::Snapshot before = harness::TakeSnapshot();
  const std::set<std::string> links = Links();
  const pid_t lab_pid = StartLab();
  std::set<pid_t> sandbox = Descendants(lab_pid);
  kill(lab_pid, SIGTERM);
  // The sleep died of the forwarded signal: SIGTERM (128 + 15), or SIGKILL (128 + 9)
  // when it is PID 1 of a new PID namespace, which ignores a SIGTERM it has no
  // handler for (process::Clone then forwards SIGKILL, as `docker kill` would).
  const int code = WaitExit(lab_pid);
  EXPECT_TRUE(code == 128 + SIGTERM || code == 128 + SIGKILL)
      << code << ": " << ReadText(run_dir_ + ".log");
  EXPECT_FALSE(AnyAlive(sandbox));
  EXPECT_EQ(Entries(run_dir_), std::vector<std::string>{}) << "run directory left behind";
  // No cgroup named after the lab run (lab 10: nslab-10-<pid>).
  auto cg = testutil::Run({"sh", "-c", "ls -d /sys/fs/cgroup/*/nslab-*-" +
                                           std::to_string(lab_pid) + " /sys/fs/cgroup/*/*/*/nslab-*-" +
                                           std::to_string(lab_pid) + " 2>/dev/null; true"});
  EXPECT_EQ(cg.out, "") << "cgroup left behind";
  EXPECT_EQ(harness::Diff(before, harness::TakeSnapshot()), std::vector<std::string>{});
  // The host end of a veth goes when the kernel destroys the sandbox's network
  // namespace, asynchronously (a workqueue): allow it some seconds.
  EXPECT_TRUE(harness::WaitFor([&] { return Links() == links; }, 30)) << [&] {
    std::string diff;
    for (const auto& l : Links())
      if (!links.count(l)) diff += " +" + l;
    for (const auto& l : links)
      if (!Links().count(l)) diff += " -" + l;
    return "links differ:" + diff;
  }();
}

INSTANTIATE_TEST_SUITE_P(Labs, LabParentDeathTest,
                         ::testing::Values("04_uts", "05_pid", "06_mount", "07_ipc", "08_net",
                                           "09_user", "10_cgroup"));

}  // namespace
}  // namespace nslab
