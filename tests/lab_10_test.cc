// End-to-end tests for labs/10_cgroup: each limit enforced (a fork refused by
// pids.max, an OOM kill counted and exit 137, CPU throttling counted), the cgroup
// namespace's "/" view inside, the limits read from outside while the sandbox runs,
// bad flags refused before anything exists, and no cgroup left after a normal exit,
// a SIGKILLed sandbox, or Ctrl-C. Needs root and a writable cgroupfs: no-sandbox.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <string>
#include <vector>

#include "common/cgroup.h"
#include "common/cgroup/placement.h"
#include "common/cgroup/systemd.h"
#include "gtest/gtest.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

// Per-run directories and /30 reservations go to a directory of this test's own,
// removed at the end, since a lab killed with SIGKILL cannot remove its own. It is
// under /tmp, not TEST_TMPDIR: the sandbox (uid 65534 outside) must pass through it,
// and Bazel keeps TEST_TMPDIR under /root (0700).
class RunDirEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/nslab-lab10-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    chmod(dir_.c_str(), 0755);
    setenv("NSLAB_RUN_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    if (!dir_.empty()) testutil::Run({"rm", "-rf", dir_});
  }

 private:
  std::string dir_;
};
::testing::Environment* const kRunDirEnv =
    ::testing::AddGlobalTestEnvironment(new RunDirEnvironment);

using testutil::IsDir;
using testutil::ReadText;
using testutil::RunLab;

#define SKIP_UNLESS_ROOT() \
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root"

// Every place where the lab running as `lab_pid` may put its cgroup in hierarchy h,
// whichever layout this test runs on: beneath our own cgroup (cgroupfs, v1 or v2),
// at the top of a v2 tree (cgroupfs, our cgroup populated), or systemd's scope.
std::vector<std::string> Candidates(const cgroup::Hierarchy& h, pid_t lab_pid) {
  const std::string name = "nslab-10-" + std::to_string(lab_pid);
  std::vector<std::string> out = {h.OwnDir() + "/" + name};
  if (h.version == 2) {
    out.push_back(h.mount + "/nslab/" + name);
    out.push_back(h.mount + "/" + cgroup::systemd::kSlice + "/" + name + ".scope");
  }
  return out;
}

// The one that exists (else the first).
std::string Locate(const cgroup::Hierarchy& h, pid_t lab_pid) {
  std::vector<std::string> c = Candidates(h, lab_pid);
  for (const auto& d : c)
    if (IsDir(d)) return d;
  return c[0];
}

// Where the lab's cgroup is, one directory per hierarchy (while it runs).
std::vector<std::string> CgroupDirs(pid_t lab_pid) {
  std::vector<std::string> dirs;
  for (const auto& h : cgroup::Detect().hierarchies) dirs.push_back(Locate(h, lab_pid));
  return dirs;
}

// Every place it could have been: none may be left afterwards.
std::vector<std::string> AllPlaces(pid_t lab_pid) {
  std::vector<std::string> dirs;
  for (const auto& h : cgroup::Detect().hierarchies)
    for (const auto& d : Candidates(h, lab_pid)) dirs.push_back(d);
  return dirs;
}

std::string DirFor(pid_t lab_pid, const std::string& controller) {
  cgroup::Layout layout = cgroup::Detect();
  const cgroup::Hierarchy* h = layout.For(controller);
  return h == nullptr ? "" : Locate(*h, lab_pid);
}

// The manager `auto` picks on this host, as the lab will.
cgroup::Manager AutoManager() {
  return cgroup::MakePlan(cgroup::Manager::kAuto, "nslab-10-probe", cgroup::Limits{}).manager;
}

// The value column of the counter table's row for `controller` and `counter`
// ("memory", "oom_kill"), or -1. Rows look like "* memory  memory.events  oom_kill  1".
long long Counter(const std::string& text, const std::string& controller,
                  const std::string& counter) {
  for (const auto& line : testutil::Lines(text)) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    if (!w.empty() && w[0] == "*") w.erase(w.begin());
    if (w.size() >= 4 && w[0] == controller && w[2] == counter) {
      try {
        return std::stoll(w.back());
      } catch (const std::exception&) {
        return -1;
      }
    }
  }
  return -1;
}

// Waits (bounded) until the sandbox is inside the lab's pids cgroup; its pids.
// readlink(2), "" where it fails (the process has gone).
std::string ReadLinkText(const std::string& path) {
  char buf[256];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n <= 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// The processes in cgroup `dir` that are in another PID namespace than ours: the
// sandbox's. Under systemd the scope also holds the lab's keeper (Place's hold_scope),
// a plain child of the lab in our PID namespace, which is not the sandbox.
std::vector<pid_t> SandboxPids(const std::string& dir) {
  static const std::string own = ReadLinkText("/proc/self/ns/pid");
  std::vector<pid_t> pids;
  std::istringstream in(ReadText(dir + "/cgroup.procs"));
  for (pid_t p; in >> p;) {
    std::string ns = ReadLinkText("/proc/" + std::to_string(p) + "/ns/pid");
    if (!ns.empty() && ns != own) pids.push_back(p);
  }
  return pids;
}

// Waits (bounded) until the sandbox is inside the lab's pids cgroup; its pids. Where
// that cgroup is (beneath ours, at the top, systemd's scope) is known only once the lab
// made it: looked up again each round.
std::vector<pid_t> WaitForSandbox(pid_t lab_pid) {
  for (int i = 0; i < 1000; ++i) {
    std::vector<pid_t> pids = SandboxPids(DirFor(lab_pid, "pids"));
    if (!pids.empty()) return pids;
    usleep(10000);
  }
  return {};
}

TEST(Lab10Test, DemoShowsEachLimitAndLeavesNoCgroup) {
  SKIP_UNLESS_ROOT();
  testutil::Background bg = testutil::Start({testutil::LabPath("10_cgroup")});
  pid_t lab = bg.pid;
  auto r = bg.Finish();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("refused with EAGAIN"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("killed by signal 9 (SIGKILL): the OOM killer"), std::string::npos)
      << r.out;
  EXPECT_GE(Counter(r.out, "pids", "max"), 1) << r.out;
  EXPECT_GE(Counter(r.out, "memory", "oom_kill"), 1) << r.out;
  EXPECT_GE(Counter(r.out, "cpu", "nr_throttled"), 1) << r.out;
  EXPECT_NE(r.out.find("so this lab uses"), std::string::npos) << r.out;
  for (const auto& d : AllPlaces(lab)) EXPECT_FALSE(IsDir(d)) << d;
}

TEST(Lab10Test, ProcSelfCgroupInsideIsRoot) {
  SKIP_UNLESS_ROOT();
  auto r = RunLab("10_cgroup", {"--", "cat", "/proc/self/cgroup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = testutil::Lines(r.out);
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    ASSERT_GE(line.size(), 2u);
    EXPECT_EQ(line.substr(line.size() - 2), ":/") << r.out;
  }
  // From outside, the same process is deep in our tree: the host sees the name.
  auto outside = RunLab("10_cgroup", {"-v", "--", "true"});
  EXPECT_NE(outside.err.find("/nslab-10-"), std::string::npos) << outside.err;
}

TEST(Lab10Test, OomKillIsCountedAndExitIs137) {
  SKIP_UNLESS_ROOT();
  // busybox dd allocates its 64M block at once: the OOM killer ends it, PID 1.
  testutil::Background bg =
      testutil::Start({testutil::LabPath("10_cgroup"), "-v", "--memory", "16M", "--", "dd",
                       "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  pid_t lab = bg.pid;
  auto r = bg.Finish();
  EXPECT_EQ(r.exit_code, 137) << r.err;
  EXPECT_GE(Counter(r.err, "memory", "oom_kill"), 1) << r.err;
  for (const auto& d : AllPlaces(lab)) EXPECT_FALSE(IsDir(d)) << d;  // removed after OOM
}

TEST(Lab10Test, OomKillsTheHogNotTheShell) {
  SKIP_UNLESS_ROOT();
  auto r = RunLab("10_cgroup", {"--memory", "16M", "--", "sh", "-c",
                                "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; "
                                "echo hog $?"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hog 137\n") << r.err;
}

TEST(Lab10Test, PidsLimitRefusesForks) {
  SKIP_UNLESS_ROOT();
  // 20 background sleeps under pids.max 8: the shell's fork fails partway.
  auto r = RunLab("10_cgroup", {"-v", "--pids", "8", "--", "sh", "-c",
                                "i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done"});
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_GE(Counter(r.err, "pids", "max"), 1) << r.err;
  EXPECT_NE(r.err.find("fork"), std::string::npos) << r.err;  // the shell says so
}

TEST(Lab10Test, CpuQuotaThrottles) {
  SKIP_UNLESS_ROOT();
  // A busy shell loop under 1 ms of CPU per 100 ms period is stopped in many periods.
  auto r = RunLab("10_cgroup", {"-v", "--cpus", "0.01", "--", "sh", "-c",
                                "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(Counter(r.err, "cpu", "nr_throttled"), 1) << r.err;
}

TEST(Lab10Test, LimitsAreInTheCgroupFilesWhileItRuns) {
  SKIP_UNLESS_ROOT();
  testutil::Background bg = testutil::Start(
      {testutil::LabPath("10_cgroup"), "--memory", "48M", "--pids", "12", "--cpus", "0.25",
       "--", "sleep", "30"});
  std::vector<pid_t> inside = WaitForSandbox(bg.pid);
  ASSERT_EQ(inside.size(), 1u);
  const std::string mem = DirFor(bg.pid, "memory"), pids = DirFor(bg.pid, "pids"),
                    cpu = DirFor(bg.pid, "cpu");
  cgroup::Layout layout = cgroup::Detect();
  if (layout.For("memory")->version == 1) {
    EXPECT_EQ(ReadText(mem + "/memory.limit_in_bytes"), std::to_string(48 << 20) + "\n");
    EXPECT_EQ(ReadText(cpu + "/cpu.cfs_quota_us"), "25000\n");
  } else {
    EXPECT_EQ(ReadText(mem + "/memory.max"), std::to_string(48 << 20) + "\n");
    EXPECT_EQ(ReadText(cpu + "/cpu.max"), "25000 100000\n");
  }
  EXPECT_EQ(ReadText(pids + "/pids.max"), "12\n");
  // The sandbox is in every one of the lab's cgroups.
  for (const auto& d : CgroupDirs(bg.pid)) EXPECT_EQ(SandboxPids(d), inside) << d;
  kill(inside[0], SIGKILL);
  auto r = bg.Finish();
  EXPECT_EQ(r.exit_code, 137) << r.err;
}

TEST(Lab10Test, NoCgroupLeftAfterTheSandboxIsKilled) {
  SKIP_UNLESS_ROOT();
  testutil::Background bg = testutil::Start(
      {testutil::LabPath("10_cgroup"), "--", "sh", "-c", "sleep 30 & sleep 30 & wait"});
  std::vector<pid_t> inside = WaitForSandbox(bg.pid);
  ASSERT_FALSE(inside.empty());
  std::vector<std::string> dirs = CgroupDirs(bg.pid);
  for (const auto& d : dirs) EXPECT_TRUE(IsDir(d)) << d;
  kill(inside[0], SIGKILL);  // the sandbox's init: the kernel kills the rest
  auto r = bg.Finish();
  EXPECT_EQ(r.exit_code, 137) << r.err;
  for (const auto& d : dirs) EXPECT_FALSE(IsDir(d)) << d;
}

TEST(Lab10Test, NoCgroupLeftAfterCtrlC) {
  SKIP_UNLESS_ROOT();
  testutil::Background bg =
      testutil::Start({testutil::LabPath("10_cgroup"), "--", "sleep", "30"});
  ASSERT_FALSE(WaitForSandbox(bg.pid).empty());
  std::vector<std::string> dirs = CgroupDirs(bg.pid);
  kill(bg.pid, SIGINT);  // what Ctrl-C sends to the lab
  auto r = bg.Finish();
  EXPECT_NE(r.exit_code, 0);
  for (const auto& d : dirs) EXPECT_FALSE(IsDir(d)) << d;
}

// Kills the lab with SIGKILL (no chance to clean up) and reaps it without waiting
// for its output pipes, which a surviving sandbox would hold open.
void KillLab(testutil::Background& bg) {
  kill(bg.pid, SIGKILL);
  close(bg.out_fd);
  close(bg.err_fd);
  while (waitpid(bg.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

bool Gone(pid_t pid) {
  std::string status = ReadText("/proc/" + std::to_string(pid) + "/status");
  return status.empty() || status.find("State:\tZ") != std::string::npos;
}

TEST(Lab10Test, TheSandboxDiesWithItsLab) {
  SKIP_UNLESS_ROOT();
  testutil::Background bg =
      testutil::Start({testutil::LabPath("10_cgroup"), "--", "sleep", "30"});
  std::vector<pid_t> inside = WaitForSandbox(bg.pid);
  ASSERT_EQ(inside.size(), 1u);
  const std::string procs = DirFor(bg.pid, "pids") + "/cgroup.procs";
  KillLab(bg);
  // PR_SET_PDEATHSIG(SIGKILL): the kernel kills the sandbox's init when the lab dies.
  for (int i = 0; i < 1000 && !ReadText(procs).empty(); ++i) usleep(10000);
  EXPECT_EQ(ReadText(procs), "") << "the sandbox " << inside[0] << " outlived its lab";
  // Either way, the next run stops a survivor and removes the cgroup.
  RunLab("10_cgroup", {"--", "true"});
  EXPECT_TRUE(Gone(inside[0]));
}

TEST(Lab10Test, ACgroupLeftByAKilledLabIsRemovedByTheNextRun) {
  SKIP_UNLESS_ROOT();
  testutil::Background bg =
      testutil::Start({testutil::LabPath("10_cgroup"), "--", "sleep", "30"});
  std::vector<pid_t> inside = WaitForSandbox(bg.pid);
  ASSERT_FALSE(inside.empty());
  std::vector<std::string> dirs = CgroupDirs(bg.pid);
  KillLab(bg);
  if (AutoManager() == cgroup::Manager::kSystemd) {
    // systemd's scope goes by itself once its last process died (PR_SET_PDEATHSIG):
    // nothing is left for the next run to remove.
    for (int i = 0; i < 1000 && IsDir(dirs[0]); ++i) usleep(10000);
    for (const auto& d : dirs) EXPECT_FALSE(IsDir(d)) << d;
    return;
  }
  // Nobody removed it — unless a 10_cgroup run in a parallel test did just that.
  if (!IsDir(dirs[0])) GTEST_SKIP() << "a concurrent 10_cgroup run removed it first";
  auto r = RunLab("10_cgroup", {"-v", "--", "true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("left behind by a 10_cgroup that was SIGKILLed"), std::string::npos)
      << r.err;
  for (const auto& d : dirs) EXPECT_FALSE(IsDir(d)) << d;
  EXPECT_TRUE(Gone(inside[0]));
}

// The file of the memory limit inside, as the layout this test runs on names it.
std::string MemoryLimitFileInside() {
  const cgroup::Layout layout = cgroup::Detect();  // h points into it
  const cgroup::Hierarchy* h = layout.For("memory");
  if (h == nullptr) return "";
  return h->version == 2 ? "/sys/fs/cgroup/memory.max"
                         : "/sys/fs/cgroup/" + h->v1_options + "/memory.limit_in_bytes";
}

// Inside, /sys/fs/cgroup is the sandbox's own cgroup, read-only: its limit reads
// back, a write is refused, and no other cgroup (the lab's neighbours) is visible.
TEST(Lab10Test, TheSandboxSeesItsOwnCgroupReadOnly) {
  SKIP_UNLESS_ROOT();
  const std::string file = MemoryLimitFileInside();
  if (file.empty()) GTEST_SKIP() << "no memory controller here";
  auto r = RunLab("10_cgroup", {"--memory", "32M", "--", "cat", file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "33554432\n") << r.err;
  auto w = RunLab("10_cgroup", {"--memory", "32M", "--", "sh", "-c",
                                "echo 1 > " + file + " && echo written"});
  EXPECT_NE(w.exit_code, 0) << w.out;
  EXPECT_EQ(w.out, "");
  EXPECT_NE(w.err.find("Read-only file system"), std::string::npos) << w.err;
  // Its directory holds no child cgroup: not the lab's, not another run's.
  const std::string dir = file.substr(0, file.rfind('/'));
  auto ls = RunLab("10_cgroup", {"--", "sh", "-c", "ls " + dir + " | grep -c nslab; true"});
  EXPECT_EQ(ls.out, "0\n") << ls.err;
  // From outside: the lab's mount namespace is gone, the host's table has no new mount.
  EXPECT_EQ(ReadText("/proc/self/mountinfo").find("/run/nslab/10_cgroup-"), std::string::npos);
}

// --memory alone: the demo's default cpu (and pids) limit never makes a given command
// fail, whichever controllers this host offers.
TEST(Lab10Test, AGivenLimitAloneNeverFailsOnADefault) {
  SKIP_UNLESS_ROOT();
  auto r = RunLab("10_cgroup", {"-v", "--memory", "32M", "--", "true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("needs the cpu controller"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("memory 32M"), std::string::npos) << r.err;
}

// The narration says which manager placed the cgroup, where, and why.
TEST(Lab10Test, NarrationNamesTheManager) {
  SKIP_UNLESS_ROOT();
  const cgroup::Manager m = AutoManager();
  auto r = RunLab("10_cgroup", {"-v", "--", "true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("cgroup manager " + cgroup::ManagerName(m)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cgroup " + cgroup::ManagerName(m) + ": "), std::string::npos) << r.err;
  if (m == cgroup::Manager::kSystemd) {
    EXPECT_NE(r.err.find("StartTransientUnit"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Delegate=yes"), std::string::npos) << r.err;
  }
  // Forcing cgroupfs works everywhere we are root.
  auto fs = RunLab("10_cgroup", {"-v", "--cgroup-manager", "cgroupfs", "--", "true"});
  EXPECT_EQ(fs.exit_code, 0) << fs.err;
  EXPECT_NE(fs.err.find("cgroup manager cgroupfs: asked for"), std::string::npos) << fs.err;
}

TEST(Lab10Test, CgroupManagerFlagIsChecked) {
  testutil::Background bg = testutil::Start(
      {testutil::LabPath("10_cgroup"), "--cgroup-manager", "bogus", "--", "true"});
  pid_t lab = bg.pid;
  auto r = bg.Finish();
  EXPECT_EQ(r.exit_code, 125) << r.err;
  EXPECT_NE(r.err.find("--cgroup-manager"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  for (const auto& d : AllPlaces(lab)) EXPECT_FALSE(IsDir(d)) << d;
  if (!cgroup::systemd::Running()) {
    // Asking for systemd where it does not run: one clear error, nothing started.
    auto s = RunLab("10_cgroup", {"--cgroup-manager", "systemd", "--", "true"});
    EXPECT_EQ(s.exit_code, 125) << s.err;
    EXPECT_NE(s.err.find("systemd is not running here"), std::string::npos) << s.err;
    EXPECT_EQ(s.out, "");
  }
}

TEST(Lab10Test, BadLimitsAreRefusedBeforeAnythingExists) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--memory", "banana"}, {"--memory", "-1"},
        {"--memory", "99999999999999999999G"}, {"--pids", "0"}, {"--pids", "abc"},
        {"--cpus", "abc"}, {"--cpus", "0"}, {"--memory", "64M", "--memory", "32M"}}) {
    testutil::Background bg = testutil::Start([&] {
      std::vector<std::string> argv = {testutil::LabPath("10_cgroup")};
      argv.insert(argv.end(), args.begin(), args.end());
      return argv;
    }());
    pid_t lab = bg.pid;
    auto r = bg.Finish();
    EXPECT_EQ(r.exit_code, 125) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(args[0]), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");  // not even the title: nothing was started
    for (const auto& d : AllPlaces(lab)) EXPECT_FALSE(IsDir(d)) << d;
  }
}

TEST(Lab10Test, HelpDocumentsTheLimitFlags) {
  auto r = RunLab("10_cgroup", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--memory", "--pids", "--cpus", "--cgroup-manager", "--verbose"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace nslab
