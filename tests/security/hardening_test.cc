// hardening_test — one test per hardening item of 11_container, checked from the
// host wherever possible (/proc/<init>/status, /proc/<init>/fd, /proc/<init>/mountinfo,
// /proc/<init>/root/dev), and from inside with the static probe where only the
// container's view tells (masked paths). `--privileged` is shown to undo each item.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;
using harness::Container;
using harness::ProcStatus;
using harness::RunDetached;

constexpr char kDockerCaps[] = "00000000a80425fb";

class HardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testutil::IsRoot()) return;
    harness::Init();
    root_ = new std::string(harness::MakeRootfs("hardening"));
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  }
  // A detached container running `sleep 1000` (or cmd) on the shared rootfs.
  Container Start(std::vector<std::string> flags,
                  std::vector<std::string> cmd = {"sleep", "1000"}) {
    flags.push_back("--rootfs");
    flags.push_back(*root_);
    flags.insert(flags.end(), cmd.begin(), cmd.end());
    return RunDetached(flags);
  }
  // `run --rm --net none [flags] --rootfs R cmd...`, attached.
  testutil::RunResult RunAttached(std::vector<std::string> flags,
                                  const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"run", "--rm", "--net", "none"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("--rootfs");
    args.push_back(*root_);
    args.insert(args.end(), cmd.begin(), cmd.end());
    return Cli(args);
  }
  static std::string* root_;
};
std::string* HardeningTest::root_ = nullptr;

// The value after "name=" in a probe's "INFO masked: a=b c=d" line.
std::string ProbeValue(const std::string& out, const std::string& key) {
  size_t p = out.find(key + "=");
  if (p == std::string::npos) return "";
  p += key.size() + 1;
  return out.substr(p, out.find_first_of(" \n", p) - p);
}

TEST_F(HardeningTest, InitCapabilitiesAreDockersFourteen) {
  Container c = Start({});
  ASSERT_TRUE(c.ok());
  pid_t init = c.InitPid();
  ASSERT_GT(init, 0);
  EXPECT_EQ(ProcStatus(init, "CapBnd"), kDockerCaps);
  EXPECT_EQ(ProcStatus(init, "CapPrm"), kDockerCaps);
  EXPECT_EQ(ProcStatus(init, "CapEff"), kDockerCaps);
  EXPECT_EQ(ProcStatus(init, "CapInh"), "0000000000000000");
  EXPECT_EQ(ProcStatus(init, "CapAmb"), "0000000000000000");
}

TEST_F(HardeningTest, InitHasNoNewPrivsAndASeccompFilter) {
  Container c = Start({});
  ASSERT_TRUE(c.ok());
  pid_t init = c.InitPid();
  EXPECT_EQ(ProcStatus(init, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatus(init, "Seccomp"), "2");  // 2 = SECCOMP_MODE_FILTER
}

TEST_F(HardeningTest, CapAddAndCapDropChangeTheBoundingSet) {
  Container c = Start({"--cap-add", "NET_ADMIN", "--cap-drop", "CAP_MKNOD", "--cap-drop",
                       "net_raw"});
  ASSERT_TRUE(c.ok());
  // a80425fb + NET_ADMIN (bit 12) - MKNOD (bit 27) - NET_RAW (bit 13)
  EXPECT_EQ(ProcStatus(c.InitPid(), "CapBnd"), "00000000a00415fb");
}

TEST_F(HardeningTest, CapDropAllLeavesNothing) {
  Container c = Start({"--cap-drop", "ALL"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(ProcStatus(c.InitPid(), "CapBnd"), "0000000000000000");
  EXPECT_EQ(ProcStatus(c.InitPid(), "CapEff"), "0000000000000000");
}

TEST_F(HardeningTest, UnknownCapabilityRefusedBeforeAnythingExists) {
  harness::Snapshot before = harness::TakeSnapshot();
  auto r = RunAttached({"--cap-add", "NET_ADMINN"}, {"true"});
  EXPECT_EQ(r.exit_code, 125) << r.err;
  auto lines = harness::NonEmptyLines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("unknown capability \"NET_ADMINN\""), std::string::npos) << r.err;
  EXPECT_EQ(harness::Diff(before, harness::TakeSnapshot()), std::vector<std::string>{});
}

TEST_F(HardeningTest, InitHasOnlyStdioFds) {
  Container c = Start({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(harness::ProcFds(c.InitPid()), (std::vector<int>{0, 1, 2}));
}

TEST_F(HardeningTest, ExecProcessIsHardenedAndGetsOnlyStdio) {
  Container c = Start({});
  ASSERT_TRUE(c.ok());
  auto r = Cli({"exec", c.id(), "probe", "status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(testutil::HasLine(r.out, std::string("INFO CapBnd: ") + kDockerCaps)) << r.out;
  EXPECT_TRUE(testutil::HasLine(r.out, std::string("INFO CapEff: ") + kDockerCaps)) << r.out;
  EXPECT_TRUE(testutil::HasLine(r.out, "INFO NoNewPrivs: 1")) << r.out;
  EXPECT_TRUE(testutil::HasLine(r.out, "INFO Seccomp: 2")) << r.out;
  // fds: only 0, 1, 2 (the probe leaves out the directory fd it lists with).
  std::string fds = r.out.substr(r.out.find("INFO fds: ") + 10);
  fds = fds.substr(0, fds.find('\n'));
  std::istringstream in(fds);
  std::vector<int> numbers;
  std::string item;
  while (in >> item) numbers.push_back(std::stoi(item.substr(0, item.find('='))));
  EXPECT_EQ(numbers, (std::vector<int>{0, 1, 2})) << fds;
}

TEST_F(HardeningTest, MaskedAndReadOnlyProcPaths) {
  auto r = RunAttached({}, {"probe", "masked"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Files bound to /dev/null (when this kernel has them at all).
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                        "/proc/interrupts", "/proc/latency_stats"}) {
    std::string v = ProbeValue(r.out, p);
    EXPECT_TRUE(v == "devnull" || v == "absent") << p << "=" << v;
  }
  // Directories covered by an empty read-only tmpfs.
  for (const char* p : {"/proc/acpi", "/proc/scsi", "/sys/firmware"}) {
    std::string v = ProbeValue(r.out, p);
    EXPECT_TRUE(v == "dir:EROFS" || v == "absent") << p << "=" << v;
  }
  EXPECT_EQ(ProbeValue(r.out, "/proc/sys/kernel/hostname"), "w:EROFS") << r.out;
  EXPECT_EQ(ProbeValue(r.out, "/proc/sys/kernel/core_pattern"), "w:EROFS") << r.out;
  std::string sysrq = ProbeValue(r.out, "/proc/sysrq-trigger");
  EXPECT_TRUE(sysrq == "w:EROFS" || sysrq == "w:ENOENT") << sysrq;
}

// The options of the mount at `point` in /proc/<pid>/mountinfo (field 6 plus the
// super options), or "" when there is none.
std::string MountOptions(pid_t pid, const std::string& point) {
  auto r = testutil::Run({"cat", "/proc/" + std::to_string(pid) + "/mountinfo"});
  std::string found;
  for (const auto& line : testutil::Lines(r.out)) {
    std::istringstream f(line);
    std::vector<std::string> v;
    std::string x;
    while (f >> x) v.push_back(x);
    if (v.size() < 6 || v[4] != point) continue;
    auto dash = std::find(v.begin(), v.end(), "-");
    found = v[5] + " " + (dash != v.end() && dash + 1 != v.end() ? *(dash + 1) : "") + " " +
            (dash != v.end() && dash + 3 < v.end() ? *(dash + 3) : "");
  }
  return found;  // the last one: the top of a stack of mounts
}

bool HasOption(const std::string& opts, const std::string& o) {
  std::string first = opts.substr(0, opts.find(' '));
  std::istringstream in(first);
  std::string x;
  while (std::getline(in, x, ','))
    if (x == o) return true;
  return false;
}

TEST_F(HardeningTest, ProcSysAndCgroupMountsAreRestricted) {
  Container c = Start({});
  ASSERT_TRUE(c.ok());
  pid_t init = c.InitPid();
  std::string proc = MountOptions(init, "/proc");
  ASSERT_NE(proc, "");
  EXPECT_NE(proc.find(" proc "), std::string::npos) << proc;
  EXPECT_TRUE(HasOption(proc, "nosuid")) << proc;
  EXPECT_TRUE(HasOption(proc, "nodev")) << proc;
  EXPECT_TRUE(HasOption(proc, "noexec")) << proc;
  std::string sys = MountOptions(init, "/sys");
  ASSERT_NE(sys, "");
  EXPECT_TRUE(HasOption(sys, "ro")) << sys;
  std::string procsys = MountOptions(init, "/proc/sys");
  EXPECT_TRUE(HasOption(procsys, "ro")) << procsys;
  std::string cg = MountOptions(init, "/sys/fs/cgroup");
  if (!cg.empty()) {
    EXPECT_TRUE(HasOption(cg, "ro")) << cg;
  }
}

TEST_F(HardeningTest, DevHoldsOnlyTheSafeDevices) {
  Container c = Start({});
  ASSERT_TRUE(c.ok());
  pid_t init = c.InitPid();
  std::string dev = MountOptions(init, "/dev");
  EXPECT_NE(dev.find(" tmpfs "), std::string::npos) << dev;
  std::string pts = MountOptions(init, "/dev/pts");
  EXPECT_NE(pts.find(" devpts "), std::string::npos) << pts;
  EXPECT_NE(pts.find("ptmxmode=666"), std::string::npos) << pts;
  // Every device node under /dev, seen from the host through /proc/<pid>/root.
  const std::set<std::pair<unsigned, unsigned>> allowed = {
      {1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}};
  // null zero full random urandom tty console ptmx (+ pty slaves, 136+)
  auto r = testutil::Run(
      {"find", "/proc/" + std::to_string(init) + "/root/dev", "-xdev", "(", "-type", "c", "-o",
       "-type", "b", ")", "-printf", "%p %y\n"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& line : testutil::Lines(r.out)) {
    std::string path = line.substr(0, line.find(' '));
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << path << " is a block device";
    std::pair<unsigned, unsigned> mm = {major(st.st_rdev), minor(st.st_rdev)};
    EXPECT_TRUE(allowed.count(mm)) << path << " is device " << mm.first << ":" << mm.second;
  }
  // And the expected names are there.
  const std::string d = "/proc/" + std::to_string(init) + "/root/dev/";
  for (const char* n : {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm"}) {
    struct stat st;
    EXPECT_EQ(lstat((d + n).c_str(), &st), 0) << n;
  }
}

TEST_F(HardeningTest, PrivilegedUndoesEachLayer) {
  Container c = Start({"--privileged"});
  ASSERT_TRUE(c.ok());
  pid_t init = c.InitPid();
  // Every capability we hold ourselves, no no_new_privs, no filter.
  EXPECT_EQ(ProcStatus(init, "CapBnd"), ProcStatus(getpid(), "CapBnd"));
  EXPECT_EQ(ProcStatus(init, "CapEff"), ProcStatus(getpid(), "CapBnd"));
  EXPECT_EQ(ProcStatus(init, "NoNewPrivs"), "0");
  EXPECT_EQ(ProcStatus(init, "Seccomp"), "0");
  // No masks: /proc/keys is the real file; /proc/sys writable.
  auto r = Cli({"exec", c.id(), "probe", "masked"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ProbeValue(r.out, "/proc/keys").rfind("file:", 0), 0u) << r.out;
  EXPECT_EQ(ProbeValue(r.out, "/proc/sys/kernel/hostname"), "w:ok") << r.out;
  // But still no leaked fds.
  EXPECT_EQ(harness::ProcFds(init), (std::vector<int>{0, 1, 2}));
}

// What /proc/<exec CLI>/exe leads to while `exec ID sleep 2` runs, and whether a write
// through it gets anywhere.
struct ExecExe {
  std::string target;
  bool writable = false;
};
ExecExe ExeOfARunningExec(const std::string& id) {
  testutil::Background bg =
      testutil::Start({harness::LabBinary(), "exec", id, "sleep", "2"});
  ExecExe e;
  const std::string link = "/proc/" + std::to_string(bg.pid) + "/exe";
  // The CLI stays alive, waiting for its command, for about two seconds; by then it
  // has re-executed itself if it was going to.
  harness::WaitFor([&] {
    char buf[512];
    ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
    e.target = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    return e.target.find("memfd:") != std::string::npos ||
           !testutil::Lines(testutil::ReadText("/proc/" + std::to_string(bg.pid) +
                                               "/task/" + std::to_string(bg.pid) + "/children"))
                .empty();
  }, 5);
  int fd = open(link.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    e.writable = write(fd, "", 0) == 0 && pwrite(fd, "\x7f", 1, 0) == 1;
    close(fd);
  }
  bg.Finish();
  return e;
}

TEST_F(HardeningTest, ExecIntoAPrivilegedContainerRunsFromASealedCopy) {
  // A --privileged container holds CAP_SYS_PTRACE, so non-dumpable does not keep it
  // from our /proc/PID/exe: the CLI must be running from a sealed memfd copy.
  Container c = Start({"--privileged"});
  ASSERT_TRUE(c.ok());
  ExecExe e = ExeOfARunningExec(c.id());
  EXPECT_NE(e.target.find("memfd:nslab-sealed-exe"), std::string::npos) << e.target;
  EXPECT_FALSE(e.writable) << "the sealed copy took a write";
  // A default container cannot ptrace it: the CLI keeps running from its own file.
  Container d = Start({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(ExeOfARunningExec(d.id()).target.find("memfd:"), std::string::npos);
}

TEST_F(HardeningTest, UserNamespaceContainerIsHardenedToo) {
  // With --user, root inside is uid 65534 outside; the layers apply the same way
  // (the capabilities are then those of the container's own user namespace). The
  // rootfs must be reachable by that uid: the built-in image is.
  Container c = RunDetached({"--user", "busybox", "sleep", "1000"});
  ASSERT_TRUE(c.ok());
  pid_t init = c.InitPid();
  EXPECT_EQ(ProcStatus(init, "CapBnd"), kDockerCaps);
  EXPECT_EQ(ProcStatus(init, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatus(init, "Seccomp"), "2");
  EXPECT_EQ(harness::ProcFds(init), (std::vector<int>{0, 1, 2}));
  auto r = Cli({"exec", c.id(), "sh", "-c", "ls -l /proc/keys; touch /proc/sys/kernel/hostname"});
  EXPECT_EQ(r.out.rfind("c", 0), 0u) << r.out;  // a character device: /dev/null
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
}

TEST_F(HardeningTest, InspectDescribesTheProfile) {
  Container c = Start({"--cap-add", "NET_ADMIN"});
  ASSERT_TRUE(c.ok());
  auto r = Cli({"inspect", c.id()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("CAP_NET_ADMIN"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no_new_privs: on"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seccomp: filter"), std::string::npos) << r.out;
}

TEST_F(HardeningTest, RemoveLeavesNothing) {
  Container c = Start({});
  ASSERT_TRUE(c.ok());
  harness::Footprint fp = harness::FootprintOf(c.id());
  auto r = c.Remove();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(harness::Leftovers(fp), std::vector<std::string>{});
}

}  // namespace
}  // namespace nslab
