// Unit tests for common/cgroup: strict parsing of the limit flags, Detect on fake
// v1, v2 and hybrid cgroupfs trees, Create/limits/counters/cleanup against fake trees
// for both versions (a fake kernel fills and empties directories), and — where the
// host allows it (root, writable cgroupfs: the target is tagged no-sandbox) — the
// real thing: limits enforced on a forked child, the cgroup namespace's "/" view,
// and nothing left behind.
#include "common/cgroup.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "gtest/gtest.h"
#include "tests/testutil.h"

namespace nslab::cgroup {
namespace {

using testutil::IsDir;
using testutil::ReadText;

// ---- parsing ---------------------------------------------------------------------

TEST(CgroupParseTest, MemoryAcceptsSuffixes) {
  EXPECT_EQ(ParseMemory("64M"), int64_t{64} << 20);
  EXPECT_EQ(ParseMemory("64m"), int64_t{64} << 20);
  EXPECT_EQ(ParseMemory("1G"), int64_t{1} << 30);
  EXPECT_EQ(ParseMemory("2048K"), int64_t{2} << 20);
  EXPECT_EQ(ParseMemory("1T"), int64_t{1} << 40);
  EXPECT_EQ(ParseMemory("1048576"), int64_t{1} << 20);
}

TEST(CgroupParseTest, MemoryRejectsBadValues) {
  for (const char* bad : {"", "-1", "banana", "99999999999999999999G", "9999999999T",
                          "1.5G", "64MB", "M", " 64M", "64M ", "0", "512K", "+64M",
                          "0x40M"}) {
    EXPECT_THROW(ParseMemory(bad), UsageError) << "\"" << bad << "\"";
  }
}

TEST(CgroupParseTest, MemoryErrorNamesTheValue) {
  try {
    ParseMemory("banana");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("\"banana\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("64M"), std::string::npos) << e.what();
  }
}

TEST(CgroupParseTest, PidsAcceptsWholeNumbers) {
  EXPECT_EQ(ParsePids("32"), 32);
  EXPECT_EQ(ParsePids("1"), 1);
  EXPECT_EQ(ParsePids("4194304"), 4194304);
}

TEST(CgroupParseTest, PidsRejectsBadValues) {
  for (const char* bad : {"", "0", "-1", "abc", "3.5", "4194305", "99999999999999999999",
                          "32 ", "+3"}) {
    EXPECT_THROW(ParsePids(bad), UsageError) << "\"" << bad << "\"";
  }
}

TEST(CgroupParseTest, CpusAcceptsDecimals) {
  EXPECT_DOUBLE_EQ(ParseCpus("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(ParseCpus("2"), 2.0);
  EXPECT_DOUBLE_EQ(ParseCpus("1.25"), 1.25);
  EXPECT_DOUBLE_EQ(ParseCpus("0.01"), 0.01);
  EXPECT_DOUBLE_EQ(ParseCpus("1024"), 1024.0);
}

TEST(CgroupParseTest, CpusRejectsBadValues) {
  for (const char* bad : {"", "abc", "0", "0.0", "-1", "-0.5", "0.001", "1025", ".5",
                          "1.", "1e3", "nan", "inf", "0,5", "99999999999999999999"}) {
    EXPECT_THROW(ParseCpus(bad), UsageError) << "\"" << bad << "\"";
  }
}

TEST(CgroupParseTest, CpuQuotaIsAShareOfThePeriod) {
  EXPECT_EQ(CpuQuotaUsec(0.5), 50000);
  EXPECT_EQ(CpuQuotaUsec(2), 200000);
  EXPECT_EQ(CpuQuotaUsec(0.01), 1000);
}

TEST(CgroupParseTest, FormatsBytesInTheLargestExactUnit) {
  EXPECT_EQ(FormatBytes(int64_t{64} << 20), "64M");
  EXPECT_EQ(FormatBytes(int64_t{1536} << 10), "1536K");
  EXPECT_EQ(FormatBytes(int64_t{1} << 30), "1G");
  EXPECT_EQ(FormatBytes(1000), "1000");
}

TEST(CgroupParseTest, DescribesLimits) {
  EXPECT_EQ(Limits{}.Describe(), "no limits");
  Limits l{int64_t{64} << 20, 32, 0.5};
  EXPECT_EQ(l.Describe(), "memory 64M, pids 32, cpus 0.5");
}

// ---- flags -------------------------------------------------------------------------

// Parses args (after the program name) with the limit flags; returns the limits.
Limits ParseFlags(std::vector<std::string> args) {
  CLI::App app{"test"};
  Limits limits;
  AddLimitFlags(app, limits);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  app.parse(reversed);  // CLI11 takes the arguments in reverse order
  return limits;
}

TEST(CgroupFlagsTest, SetsEachLimit) {
  Limits l = ParseFlags({"--memory", "64M", "--pids", "32", "--cpus", "0.5"});
  EXPECT_EQ(l.memory_bytes, int64_t{64} << 20);
  EXPECT_EQ(l.pids, 32);
  EXPECT_EQ(l.cpus, 0.5);
  Limits none = ParseFlags({});
  EXPECT_TRUE(none.Empty());
}

TEST(CgroupFlagsTest, RejectsABadValueWhileParsing) {
  try {
    ParseFlags({"--memory", "banana"});
    FAIL() << "no error";
  } catch (const CLI::ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("--memory"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("banana"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ParseFlags({"--pids", "0"}), CLI::ParseError);
  EXPECT_THROW(ParseFlags({"--cpus", "abc"}), CLI::ParseError);
}

TEST(CgroupFlagsTest, RejectsALimitGivenTwice) {
  EXPECT_THROW(ParseFlags({"--memory", "64M", "--memory", "32M"}), CLI::ParseError);
  EXPECT_THROW(ParseFlags({"--pids", "32", "--pids=8"}), CLI::ParseError);
  EXPECT_THROW(ParseFlags({"--cpus", "1", "--cpus", "1"}), CLI::ParseError);
}

// ---- fake cgroupfs trees -------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/cgroup_test.XXXXXX";
    path_ = CheckPtr(mkdtemp(tmpl.data()), "mkdtemp", tmpl);
  }
  ~TempDir() { (void)!std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void MkdirP(const std::string& path) {
  std::string cur;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      cur = path.substr(0, i);
      mkdir(cur.c_str(), 0755);
    }
  }
}

void Put(const std::string& path, const std::string& text) {
  MkdirP(path.substr(0, path.rfind('/')));
  std::ofstream(path) << text;
}

// A fake kernel for a tree of plain directories: mkdir fills a cgroup directory
// with the control files of its version, rmdir first empties it, and a "killed"
// pid leaves cgroup.procs.
struct FakeCgroupfs {
  explicit FakeCgroupfs(int version) {
    FakeKernel k;
    k.after_mkdir = [version](const std::string& dir) {
      std::vector<std::string> files = {"cgroup.procs"};
      if (version == 2) {
        for (const char* f : {"cgroup.type", "cgroup.kill", "cgroup.controllers",
                              "cgroup.subtree_control", "memory.max", "memory.swap.max",
                              "memory.events", "memory.peak", "pids.max", "pids.events",
                              "pids.current", "cpu.max", "cpu.stat"})
          files.push_back(f);
      } else {
        for (const char* f : {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                              "memory.failcnt", "memory.oom_control",
                              "memory.max_usage_in_bytes", "pids.max", "pids.events",
                              "pids.current", "cpu.cfs_period_us", "cpu.cfs_quota_us",
                              "cpu.stat"})
          files.push_back(f);
      }
      for (const auto& f : files) Put(dir + "/" + f, "");
    };
    k.before_rmdir = [](const std::string& dir) {
      (void)!std::system(("find '" + dir + "' -maxdepth 1 -type f -delete").c_str());
    };
    k.kill_process = [this](pid_t pid) {
      killed.insert(pid);
      for (const auto& procs : procs_files) {
        std::string text = ReadText(procs), out;
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line))
          if (line != std::to_string(pid)) out += line + "\n";
        Put(procs, out);
      }
    };
    SetFakeKernelForTesting(std::move(k));
  }
  ~FakeCgroupfs() { SetFakeKernelForTesting({}); }
  std::vector<std::string> procs_files;  // where kill_process removes pids from
  std::set<pid_t> killed;
};

// This machine's layout: memory, pids, cpu on v1; a cgroup2 mount at unified
// offering only hugetlb; our memory cgroup is not the root.
void MakeV1Tree(const std::string& root) {
  for (const char* c : {"memory", "pids", "cpu", "cpuacct", "systemd"})
    Put(root + "/sys/" + c + "/cgroup.procs", "");
  Put(root + "/sys/memory/lab/session/cgroup.procs", "");
  Put(root + "/sys/unified/cgroup.controllers", "hugetlb\n");
  Put(root + "/proc_self_cgroup",
      "9:name=systemd:/\n8:pids:/\n4:memory:/lab/session\n2:cpuacct:/\n1:cpu:/\n0::/\n");
}

// A pure v2 host: systemd session scope offering memory, pids and cpu.
void MakeV2Tree(const std::string& root, const std::string& offers = "cpu memory pids") {
  Put(root + "/sys/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  Put(root + "/sys/cgroup.subtree_control", "cpu io memory pids\n");
  const std::string own = root + "/sys/user.slice/s.scope";
  Put(own + "/cgroup.controllers", offers + "\n");
  Put(own + "/cgroup.subtree_control", "");
  Put(own + "/cgroup.type", "domain\n");
  Put(own + "/cgroup.procs", "");
  Put(root + "/proc_self_cgroup", "0::/user.slice/s.scope\n");
}

TEST(CgroupDetectTest, V1LikeThisMachine) {
  TempDir t;
  MakeV1Tree(t.path());
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  EXPECT_EQ(l.mode, Mode::kV1);
  EXPECT_TRUE(l.missing.empty());
  EXPECT_EQ(l.v2_mount, t.path() + "/sys/unified");
  ASSERT_EQ(l.hierarchies.size(), 3u);
  const Hierarchy* mem = l.For("memory");
  ASSERT_NE(mem, nullptr);
  EXPECT_EQ(mem->version, 1);
  EXPECT_EQ(mem->mount, t.path() + "/sys/memory");
  EXPECT_EQ(mem->own, "/lab/session");
  EXPECT_EQ(mem->OwnDir(), t.path() + "/sys/memory/lab/session");
  ASSERT_NE(l.For("pids"), nullptr);
  EXPECT_EQ(l.For("pids")->OwnDir(), t.path() + "/sys/pids");
  ASSERT_NE(l.For("cpu"), nullptr);
  EXPECT_EQ(l.For("cpu")->mount, t.path() + "/sys/cpu");
  EXPECT_NE(l.reason.find("memory, pids and cpu are bound to cgroup v1 hierarchies"),
            std::string::npos)
      << l.reason;
  EXPECT_NE(l.reason.find("offers only hugetlb"), std::string::npos) << l.reason;
  EXPECT_NE(l.reason.find("so this lab uses cgroup v1"), std::string::npos) << l.reason;
}

TEST(CgroupDetectTest, V1CoMountedControllers) {
  TempDir t;
  // cpu and cpuacct share one hierarchy mounted as "cpu,cpuacct" (no "cpu" link).
  Put(t.path() + "/sys/cpu,cpuacct/cgroup.procs", "");
  Put(t.path() + "/sys/memory/cgroup.procs", "");
  Put(t.path() + "/sys/pids/cgroup.procs", "");
  Put(t.path() + "/proc_self_cgroup", "3:cpu,cpuacct:/\n2:memory:/\n1:pids:/\n");
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  EXPECT_EQ(l.mode, Mode::kV1);
  ASSERT_NE(l.For("cpu"), nullptr);
  EXPECT_EQ(l.For("cpu")->mount, t.path() + "/sys/cpu,cpuacct");
  EXPECT_TRUE(l.v2_mount.empty());
}

TEST(CgroupDetectTest, V1CoMountedThroughLinksIsOneHierarchy) {
  TempDir t;
  // memory and pids co-mounted, reachable as "memory", "pids" and "memory,pids".
  Put(t.path() + "/sys/memory,pids/cgroup.procs", "");
  ASSERT_EQ(symlink("memory,pids", (t.path() + "/sys/memory").c_str()), 0);
  ASSERT_EQ(symlink("memory,pids", (t.path() + "/sys/pids").c_str()), 0);
  Put(t.path() + "/sys/cpu/cgroup.procs", "");
  Put(t.path() + "/proc_self_cgroup", "2:memory,pids:/\n1:cpu:/\n");
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  ASSERT_EQ(l.hierarchies.size(), 2u);
  EXPECT_EQ(l.For("memory"), l.For("pids"));
  EXPECT_EQ(l.For("memory")->controllers, (std::vector<std::string>{"memory", "pids"}));
}

TEST(CgroupDetectTest, V2Unified) {
  TempDir t;
  MakeV2Tree(t.path());
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  EXPECT_EQ(l.mode, Mode::kV2);
  EXPECT_EQ(l.v2_mount, t.path() + "/sys");
  ASSERT_EQ(l.hierarchies.size(), 1u);
  EXPECT_EQ(l.hierarchies[0].version, 2);
  EXPECT_EQ(l.hierarchies[0].own, "/user.slice/s.scope");
  EXPECT_EQ(l.hierarchies[0].controllers, (std::vector<std::string>{"memory", "pids", "cpu"}));
  EXPECT_NE(l.reason.find("so this lab uses cgroup v2"), std::string::npos) << l.reason;
}

TEST(CgroupDetectTest, V2WithAControllerMissing) {
  TempDir t;
  MakeV2Tree(t.path(), "memory pids");
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  EXPECT_EQ(l.mode, Mode::kV2);
  EXPECT_EQ(l.missing, std::vector<std::string>{"cpu"});
  EXPECT_EQ(l.For("cpu"), nullptr);
  EXPECT_NE(l.reason.find("cpu is in no v1 hierarchy and not offered"), std::string::npos)
      << l.reason;
  // Asking for a limit we cannot enforce fails before anything is created.
  FakeCgroupfs fake(2);
  Limits limits;
  limits.cpus = 0.5;
  EXPECT_THROW(Create(l, "nslab-test", limits), UsageError);
  EXPECT_FALSE(IsDir(t.path() + "/sys/user.slice/s.scope/nslab-test"));
}

TEST(CgroupDetectTest, Hybrid) {
  TempDir t;
  // memory still on v1; pids and cpu given to the unified tree.
  Put(t.path() + "/sys/memory/cgroup.procs", "");
  Put(t.path() + "/sys/unified/cgroup.controllers", "cpu pids\n");
  Put(t.path() + "/sys/unified/me/cgroup.controllers", "cpu pids\n");
  Put(t.path() + "/proc_self_cgroup", "4:memory:/\n0::/me\n");
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  EXPECT_EQ(l.mode, Mode::kHybrid);
  ASSERT_EQ(l.hierarchies.size(), 2u);
  EXPECT_EQ(l.For("memory")->version, 1);
  EXPECT_EQ(l.For("pids")->version, 2);
  EXPECT_EQ(l.For("cpu")->version, 2);
  EXPECT_EQ(l.For("cpu")->OwnDir(), t.path() + "/sys/unified/me");
  EXPECT_NE(l.reason.find("hybrid"), std::string::npos) << l.reason;
}

TEST(CgroupDetectTest, NoCgroupfs) {
  TempDir t;
  Put(t.path() + "/sys/.keep", "");
  Put(t.path() + "/proc_self_cgroup", "0::/\n");
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  EXPECT_EQ(l.mode, Mode::kNone);
  EXPECT_EQ(l.missing.size(), 3u);
  EXPECT_NE(l.reason.find("cannot set any limit"), std::string::npos) << l.reason;
  FakeCgroupfs fake(2);
  EXPECT_THROW(Create(l, "nslab-test", Limits{}), UsageError);
}

TEST(CgroupDetectTest, V1BoundButNotMounted) {
  TempDir t;
  Put(t.path() + "/sys/pids/cgroup.procs", "");
  Put(t.path() + "/proc_self_cgroup", "4:memory:/\n3:pids:/\n");
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  EXPECT_EQ(l.mode, Mode::kV1);
  EXPECT_EQ(l.For("memory"), nullptr);
  EXPECT_NE(l.reason.find("not mounted"), std::string::npos) << l.reason;
}

TEST(CgroupDetectTest, MissingProcFileThrows) {
  EXPECT_THROW(Detect("/nonexistent", "/nonexistent/cgroup"), SysError);
}

// ---- Create on fake trees --------------------------------------------------------------

TEST(CgroupFakeTest, V2WritesLimitsAndCleansUp) {
  TempDir t;
  MakeV2Tree(t.path());
  FakeCgroupfs fake(2);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  const std::string own = t.path() + "/sys/user.slice/s.scope";
  const std::string dir = own + "/nslab-test";
  fake.procs_files = {dir + "/cgroup.procs"};
  {
    ScopedCgroup cg = Create(l, "nslab-test", Limits{int64_t{64} << 20, 32, 0.5});
    ASSERT_TRUE(IsDir(dir));
    EXPECT_EQ(cg.DirFor("memory"), dir);
    EXPECT_EQ(ReadText(dir + "/memory.max"), "67108864");
    EXPECT_EQ(ReadText(dir + "/memory.swap.max"), "0");
    EXPECT_EQ(ReadText(dir + "/pids.max"), "32");
    EXPECT_EQ(ReadText(dir + "/cpu.max"), "50000 100000");
    // The controllers were enabled for our children (each write is one "+ctrl").
    EXPECT_EQ(ReadText(own + "/cgroup.subtree_control").substr(0, 1), "+");

    cg.AddProcess(999999);
    EXPECT_EQ(ReadText(dir + "/cgroup.procs"), "999999");
    EXPECT_EQ(cg.Pids(), std::vector<pid_t>{999999});

    Put(dir + "/memory.events", "low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n");
    Put(dir + "/memory.peak", "67100000\n");
    Put(dir + "/pids.events", "max 5\n");
    Put(dir + "/pids.current", "3\n");
    Put(dir + "/cpu.stat",
        "usage_usec 900\nuser_usec 800\nsystem_usec 100\nnr_periods 10\nnr_throttled 4\n"
        "throttled_usec 2500\n");
    MemoryCounters m = cg.MemoryEvents();
    EXPECT_EQ(m.max, 17);
    EXPECT_EQ(m.oom, 2);
    EXPECT_EQ(m.oom_kill, 1);
    EXPECT_EQ(m.peak, 67100000);
    PidsCounters p = cg.PidsEvents();
    EXPECT_EQ(p.max, 5);
    EXPECT_EQ(p.current, 3);
    CpuCounters c = cg.CpuStats();
    EXPECT_EQ(c.nr_periods, 10);
    EXPECT_EQ(c.nr_throttled, 4);
    EXPECT_EQ(c.throttled_usec, 2500);
    EXPECT_EQ(c.usage_usec, 900);
  }
  // The destructor wrote cgroup.kill, waited for the pid to go and removed the dir.
  EXPECT_EQ(fake.killed, std::set<pid_t>{999999});
  EXPECT_FALSE(IsDir(dir));
}

TEST(CgroupFakeTest, V2SkipsControllersAlreadyEnabled) {
  TempDir t;
  MakeV2Tree(t.path());
  const std::string own = t.path() + "/sys/user.slice/s.scope";
  Put(own + "/cgroup.subtree_control", "cpu memory pids\n");
  Put(own + "/cgroup.procs", "1\n");  // populated, but nothing needs enabling
  FakeCgroupfs fake(2);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  ScopedCgroup cg = Create(l, "nslab-test", Limits{});
  EXPECT_EQ(ReadText(own + "/cgroup.subtree_control"), "cpu memory pids\n");
  EXPECT_TRUE(IsDir(own + "/nslab-test"));
  cg.Destroy();
  EXPECT_FALSE(IsDir(own + "/nslab-test"));
}

TEST(CgroupFakeTest, V2RefusesWhenOthersShareOurCgroup) {
  TempDir t;
  MakeV2Tree(t.path());
  const std::string own = t.path() + "/sys/user.slice/s.scope";
  Put(own + "/cgroup.procs", "1\n" + std::to_string(getpid()) + "\n");
  FakeCgroupfs fake(2);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  try {
    Create(l, "nslab-test", Limits{});
    FAIL() << "no error";
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), EBUSY);
    EXPECT_NE(std::string(e.what()).find("no process"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(IsDir(own + "/nslab-test"));
  EXPECT_FALSE(IsDir(own + "/nslab-test-lab"));
}

TEST(CgroupFakeTest, V2StepsAsideWhenAloneInOurCgroup) {
  TempDir t;
  MakeV2Tree(t.path());
  const std::string own = t.path() + "/sys/user.slice/s.scope";
  const std::string me = std::to_string(getpid());
  Put(own + "/cgroup.procs", me + "\n");
  FakeCgroupfs fake(2);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  {
    ScopedCgroup cg = Create(l, "nslab-test", Limits{});
    // We moved into a leaf beneath our own cgroup so that it could enable controllers.
    EXPECT_TRUE(IsDir(own + "/nslab-test-lab"));
    EXPECT_EQ(ReadText(own + "/nslab-test-lab/cgroup.procs"), me);
    EXPECT_TRUE(IsDir(own + "/nslab-test"));
  }
  // ...and came back, disabled what we enabled, and removed both.
  EXPECT_EQ(ReadText(own + "/cgroup.procs"), me);
  EXPECT_EQ(ReadText(own + "/cgroup.subtree_control").substr(0, 1), "-");
  EXPECT_FALSE(IsDir(own + "/nslab-test-lab"));
  EXPECT_FALSE(IsDir(own + "/nslab-test"));
}

TEST(CgroupFakeTest, V1WritesLimitsAndCountersInEachHierarchy) {
  TempDir t;
  MakeV1Tree(t.path());
  FakeCgroupfs fake(1);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  const std::string mem = t.path() + "/sys/memory/lab/session/nslab-test";
  const std::string pids = t.path() + "/sys/pids/nslab-test";
  const std::string cpu = t.path() + "/sys/cpu/nslab-test";
  fake.procs_files = {mem + "/cgroup.procs", pids + "/cgroup.procs", cpu + "/cgroup.procs"};
  {
    ScopedCgroup cg = Create(l, "nslab-test", Limits{int64_t{16} << 20, 8, 0.25});
    ASSERT_EQ(cg.nodes().size(), 3u);
    EXPECT_EQ(ReadText(mem + "/memory.limit_in_bytes"), "16777216");
    EXPECT_EQ(ReadText(mem + "/memory.memsw.limit_in_bytes"), "16777216");
    EXPECT_EQ(ReadText(pids + "/pids.max"), "8");
    EXPECT_EQ(ReadText(cpu + "/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(ReadText(cpu + "/cpu.cfs_quota_us"), "25000");

    cg.AddProcess(999998);
    for (const auto& d : {mem, pids, cpu}) EXPECT_EQ(ReadText(d + "/cgroup.procs"), "999998");

    Put(mem + "/memory.failcnt", "42\n");
    Put(mem + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    Put(mem + "/memory.max_usage_in_bytes", "16777216\n");
    Put(pids + "/pids.events", "max 7\n");
    Put(cpu + "/cpu.stat",
        "nr_periods 20\nnr_throttled 9\nthrottled_time 450000000\nnr_bursts 0\n");
    MemoryCounters m = cg.Memory();
    EXPECT_EQ(m.max, 42);
    EXPECT_EQ(m.oom_kill, 3);
    EXPECT_EQ(m.peak, 16777216);
    EXPECT_EQ(cg.PidsEvents().max, 7);
    CpuCounters c = cg.Cpu();
    EXPECT_EQ(c.nr_periods, 20);
    EXPECT_EQ(c.nr_throttled, 9);
    EXPECT_EQ(c.throttled_usec, 450000);  // v1 counts nanoseconds
  }
  // No cgroup.kill on v1: each pid got a SIGKILL (here: the fake's), then rmdir.
  EXPECT_EQ(fake.killed, std::set<pid_t>{999998});
  for (const auto& d : {mem, pids, cpu}) EXPECT_FALSE(IsDir(d)) << d;
}

TEST(CgroupFakeTest, CleanupNeverKillsTheCallerItself) {
  TempDir t;
  MakeV2Tree(t.path());
  FakeCgroupfs fake(2);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  const std::string dir = t.path() + "/sys/user.slice/s.scope/nslab-test";
  fake.procs_files = {dir + "/cgroup.procs"};
  ScopedCgroup cg = Create(l, "nslab-test", Limits{});
  cg.AddProcess(getpid());
  // Look at cgroup.kill just before the fake rmdir empties the directory.
  std::string kill_written = "?";
  FakeKernel k;
  k.before_rmdir = [&](const std::string& d) {
    if (d == dir) kill_written = ReadText(d + "/cgroup.kill");
    (void)!std::system(("find '" + d + "' -maxdepth 1 -type f -delete").c_str());
  };
  k.kill_process = [&](pid_t pid) { fake.killed.insert(pid); };
  SetFakeKernelForTesting(k);
  EXPECT_THROW(cg.Destroy(), SysError);
  EXPECT_TRUE(fake.killed.empty());
  EXPECT_EQ(kill_written, "");  // cgroup.kill was not written either
}

TEST(CgroupFakeTest, FailedCreateLeavesNothing) {
  TempDir t;
  MakeV1Tree(t.path());
  FakeCgroupfs fake(1);
  // This fake kernel "forgets" pids.max: writing the limit fails after mkdir.
  FakeKernel k;
  k.after_mkdir = [](const std::string& dir) {
    for (const char* f : {"cgroup.procs", "memory.limit_in_bytes", "cpu.cfs_period_us",
                          "cpu.cfs_quota_us"})
      Put(dir + "/" + f, "");
  };
  k.before_rmdir = [](const std::string& dir) {
    (void)!std::system(("find '" + dir + "' -maxdepth 1 -type f -delete").c_str());
  };
  SetFakeKernelForTesting(k);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  EXPECT_THROW(Create(l, "nslab-test", Limits{int64_t{16} << 20, 8, 1}), SysError);
  EXPECT_FALSE(IsDir(t.path() + "/sys/memory/lab/session/nslab-test"));
  EXPECT_FALSE(IsDir(t.path() + "/sys/pids/nslab-test"));
  EXPECT_FALSE(IsDir(t.path() + "/sys/cpu/nslab-test"));
}

TEST(CgroupFakeTest, RejectsBadNames) {
  TempDir t;
  MakeV1Tree(t.path());
  FakeCgroupfs fake(1);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  for (const char* bad : {"", ".", "..", "a/b", "../escape"})
    EXPECT_THROW(Create(l, bad, Limits{}), UsageError) << bad;
}

TEST(CgroupFakeTest, ReleaseKeepsTheCgroup) {
  TempDir t;
  MakeV1Tree(t.path());
  FakeCgroupfs fake(1);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  std::vector<std::string> dirs;
  {
    ScopedCgroup cg = Create(l, "nslab-test", Limits{});
    dirs = cg.Release();
  }
  ASSERT_EQ(dirs.size(), 3u);
  for (const auto& d : dirs) EXPECT_TRUE(IsDir(d)) << d;
}

// A pid no process has now (searching down from the largest possible).
pid_t DeadPid() {
  for (pid_t p = 4194303; p > 1; --p)
    if (kill(p, 0) < 0 && errno == ESRCH) return p;
  return -1;
}

TEST(CgroupFakeTest, RemoveStaleTakesOnlyEmptyCgroupsOfDeadLabs) {
  TempDir t;
  MakeV1Tree(t.path());
  FakeCgroupfs fake(1);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  const std::string pids = t.path() + "/sys/pids";
  const std::string dead = std::to_string(DeadPid()), alive = std::to_string(getpid());
  Put(pids + "/nslab-10-" + dead + "/cgroup.procs", "");
  Put(pids + "/nslab-10-" + dead + "-lab/cgroup.procs", "");
  Put(pids + "/nslab-10-" + alive + "/cgroup.procs", "");
  Put(pids + "/nslab-11-" + dead + "/cgroup.procs", "");                // another lab's
  Put(pids + "/nslab-10-x" + dead + "/cgroup.procs", "");               // not ours
  std::vector<std::string> removed = RemoveStale(l, "nslab-10-");
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_FALSE(IsDir(pids + "/nslab-10-" + dead));
  EXPECT_FALSE(IsDir(pids + "/nslab-10-" + dead + "-lab"));
  EXPECT_TRUE(IsDir(pids + "/nslab-10-" + alive));
  EXPECT_TRUE(IsDir(pids + "/nslab-11-" + dead));
  EXPECT_TRUE(IsDir(pids + "/nslab-10-x" + dead));
}

TEST(CgroupFakeTest, RemoveStaleStopsASandboxThatOutlivedItsLab) {
  TempDir t;
  MakeV1Tree(t.path());
  FakeCgroupfs fake(1);
  Layout l = Detect(t.path() + "/sys", t.path() + "/proc_self_cgroup");
  const std::string dir = t.path() + "/sys/pids/nslab-10-" + std::to_string(DeadPid());
  Put(dir + "/cgroup.procs", "999997\n");
  fake.procs_files = {dir + "/cgroup.procs"};
  EXPECT_EQ(RemoveStale(l, "nslab-10-"), std::vector<std::string>{dir});
  EXPECT_EQ(fake.killed, std::set<pid_t>{999997});
  EXPECT_FALSE(IsDir(dir));
}

TEST(CgroupTest, RunCgroupNameIsUniquePerProcess) {
  EXPECT_EQ(RunCgroupName("10"), "nslab-10-" + std::to_string(getpid()));
}

// ---- the real host (root, writable cgroupfs) --------------------------------------------

// Skips unless we may create cgroups here: root, and /sys/fs/cgroup writable (Bazel's
// sandbox mounts it read-only; this target is tagged no-sandbox).
Layout RealLayoutOrSkip(bool* skip) {
  *skip = true;
  if (geteuid() != 0) return {};
  Layout l = Detect();
  if (l.mode == Mode::kNone || !l.missing.empty()) return l;
  std::string probe = l.hierarchies[0].OwnDir() + "/nslab-probe-" + std::to_string(getpid());
  if (mkdir(probe.c_str(), 0755) != 0) return l;
  rmdir(probe.c_str());
  *skip = false;
  return l;
}

#define REAL_LAYOUT_OR_SKIP(l)                                              \
  bool skip_##l;                                                            \
  Layout l = RealLayoutOrSkip(&skip_##l);                                   \
  if (skip_##l) GTEST_SKIP() << "needs root and a writable cgroupfs with memory, pids and " \
                                "cpu (run outside Bazel's sandbox)"

// A forked child that waits for one byte on a pipe, then runs fn and _exits.
struct Forked {
  pid_t pid = -1;
  int go = -1;
  template <typename Fn>
  explicit Forked(Fn fn) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return;
    pid = fork();
    if (pid == 0) {
      close(p[1]);
      char b;
      if (read(p[0], &b, 1) != 1) _exit(100);
      _exit(fn());
    }
    close(p[0]);
    go = p[1];
  }
  void Go() {
    (void)!write(go, "g", 1);
    close(go);
    go = -1;
  }
  int Wait() {  // shell code
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
  }
  ~Forked() {
    if (go >= 0) close(go);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

std::string CgroupName() {
  static int n = 0;
  return "nslab-test-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

TEST(CgroupRealTest, OomKillIsCounted) {
  REAL_LAYOUT_OR_SKIP(l);
  ScopedCgroup cg = Create(l, CgroupName(), Limits{int64_t{16} << 20, std::nullopt, std::nullopt});
  Forked child([] {
    // Touch memory 1M at a time, far past the limit: the OOM killer ends us.
    for (int i = 0; i < 512; ++i) {
      char* p = static_cast<char*>(std::malloc(1 << 20));
      if (p == nullptr) return 3;
      std::memset(p, 1, 1 << 20);
    }
    return 0;
  });
  ASSERT_GT(child.pid, 0);
  cg.AddProcess(child.pid);
  child.Go();
  EXPECT_EQ(child.Wait(), 128 + SIGKILL);
  MemoryCounters m = cg.Memory();
  EXPECT_GE(m.oom_kill, 1);
  EXPECT_GT(m.peak, 0);
  // v1 with memory.memsw limited too counts no failcnt on recent kernels (seen on
  // 6.18); v2 always counts the "max" event.
  if (l.For("memory")->version == 2) {
    EXPECT_GE(m.max, 1);
  }
}

TEST(CgroupRealTest, PidsLimitStopsForks) {
  REAL_LAYOUT_OR_SKIP(l);
  ScopedCgroup cg = Create(l, CgroupName(), Limits{std::nullopt, 5, std::nullopt});
  Forked child([] {
    // A bounded fork bomb: 20 forks, each child pauses; count the refusals.
    int refused = 0;
    std::vector<pid_t> kids;
    for (int i = 0; i < 20; ++i) {
      pid_t k = fork();
      if (k == 0) {
        pause();
        _exit(0);
      }
      if (k < 0) {
        if (errno == EAGAIN) ++refused;
        continue;
      }
      kids.push_back(k);
    }
    for (pid_t k : kids) kill(k, SIGKILL);
    for (pid_t k : kids) waitpid(k, nullptr, 0);
    // 1 (us) + 4 children fit under pids.max 5: 16 forks refused.
    return refused == 16 ? 0 : 1;
  });
  ASSERT_GT(child.pid, 0);
  cg.AddProcess(child.pid);
  child.Go();
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(cg.PidsEvents().max, 16);
}

TEST(CgroupRealTest, CpuQuotaThrottles) {
  REAL_LAYOUT_OR_SKIP(l);
  ScopedCgroup cg = Create(l, CgroupName(), Limits{std::nullopt, std::nullopt, 0.1});
  Forked child([] {
    // Spin until we have used 50 ms of CPU: with 10 ms per 100 ms period that takes
    // at least four periods in which the quota runs out.
    timespec ts;
    do {
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    } while (ts.tv_sec == 0 && ts.tv_nsec < 50 * 1000 * 1000);
    return 0;
  });
  ASSERT_GT(child.pid, 0);
  cg.AddProcess(child.pid);
  child.Go();
  EXPECT_EQ(child.Wait(), 0);
  CpuCounters c = cg.Cpu();
  EXPECT_GE(c.nr_throttled, 4);
  EXPECT_GT(c.throttled_usec, 0);
}

TEST(CgroupRealTest, NamespaceRootIsTheNewCgroup) {
  REAL_LAYOUT_OR_SKIP(l);
  ScopedCgroup cg = Create(l, CgroupName(), Limits{});
  Pipe result = MakePipe();
  const int wr = result.write.Get();
  Forked child([wr] {
    try {
      UnshareInChild();
      std::string text = ReadFile("/proc/self/cgroup");
      WriteAll(wr, text);
      return 0;
    } catch (const std::exception& e) {
      WriteAll(wr, std::string("error: ") + e.what());
      return 1;
    }
  });
  ASSERT_GT(child.pid, 0);
  result.write.Reset();
  cg.AddProcess(child.pid);  // first into the cgroup, then the namespace
  child.Go();
  std::string text = ReadAll(result.read.Get());
  EXPECT_EQ(child.Wait(), 0) << text;
  std::istringstream in(text);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.substr(line.size() - 2), ":/") << line;
  }
  EXPECT_GT(lines, 0);
}

TEST(CgroupRealTest, DestroyKillsWhatIsLeftAndRemovesTheCgroup) {
  REAL_LAYOUT_OR_SKIP(l);
  std::vector<std::string> dirs;
  Forked child([] {
    // A process with children of its own, all of which must be killed.
    for (int i = 0; i < 3; ++i)
      if (fork() == 0) {
        pause();
        _exit(0);
      }
    pause();
    return 0;
  });
  ASSERT_GT(child.pid, 0);
  {
    ScopedCgroup cg = Create(l, CgroupName(), Limits{int64_t{64} << 20, 16, 1});
    for (const auto& n : cg.nodes()) dirs.push_back(n.dir);
    cg.AddProcess(child.pid);
    child.Go();
    // Wait (bounded) until all four are inside.
    for (int i = 0; i < 2000 && cg.Pids().size() < 4; ++i) usleep(1000);
    EXPECT_EQ(cg.Pids().size(), 4u);
  }
  EXPECT_EQ(child.Wait(), 128 + SIGKILL);
  for (const auto& d : dirs) EXPECT_FALSE(IsDir(d)) << d;
}

// The v2 tree of a hybrid host offers none of our controllers, but its mechanics
// are real: a cgroup without limits, a process moved in, cgroup.kill, rmdir.
TEST(CgroupRealTest, V2TreeKillsWithCgroupKill) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Layout detected = Detect();
  if (detected.v2_mount.empty()) GTEST_SKIP() << "no cgroup2 mount";
  std::string own;
  {
    std::istringstream in(ReadText("/proc/self/cgroup"));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  Layout l;
  l.mode = Mode::kV2;
  l.v2_mount = detected.v2_mount;
  l.hierarchies.push_back({2, detected.v2_mount, own, {}});
  const std::string parent = l.hierarchies[0].OwnDir();
  if (access((parent + "/cgroup.kill").c_str(), F_OK) != 0 &&
      access((parent + "/cgroup.procs").c_str(), W_OK) != 0)
    GTEST_SKIP() << "cgroup2 tree not writable here";
  std::string dir;
  Forked child([] {
    pause();
    return 0;
  });
  ASSERT_GT(child.pid, 0);
  {
    ScopedCgroup cg;
    try {
      cg = Create(l, CgroupName(), Limits{});
    } catch (const SysError& e) {
      GTEST_SKIP() << "cannot create a cgroup on the v2 tree: " << e.what();
    }
    dir = cg.nodes()[0].dir;
    if (access((dir + "/cgroup.kill").c_str(), F_OK) != 0)
      GTEST_SKIP() << "kernel without cgroup.kill (before 5.14)";
    cg.AddProcess(child.pid);
    EXPECT_EQ(cg.Pids(), std::vector<pid_t>{child.pid});
    EXPECT_NE(ReadText("/proc/" + std::to_string(child.pid) + "/cgroup").find(cg.name()),
              std::string::npos);
  }  // ~ScopedCgroup: cgroup.kill, wait until empty, rmdir
  EXPECT_EQ(child.Wait(), 128 + SIGKILL);
  EXPECT_FALSE(IsDir(dir));
}

// ---- lab 10's demo ---------------------------------------------------------------------

TEST(CgroupDemoTest, WithoutLimitsEachPushRunsToTheEnd) {
  // In a forked child, so that its fork bomb's children are the only ones it has.
  Forked child([] {
    if (ForkBombInChild(4) != 0) return 1;  // nothing refused
    if (waitpid(-1, nullptr, WNOHANG) != -1 || errno != ECHILD) return 2;  // all reaped
    if (MemoryHogInChild(4) != 4) return 3;  // every megabyte touched
    return CpuSpinInChild(10) >= 0 ? 0 : 4;  // the spinner reported
  });
  ASSERT_GT(child.pid, 0);
  child.Go();
  EXPECT_EQ(child.Wait(), 0);
}

TEST(CgroupRealTest, ForkBombDemoIsRefusedByPidsMax) {
  REAL_LAYOUT_OR_SKIP(l);
  ScopedCgroup cg = Create(l, CgroupName(), Limits{std::nullopt, 5, std::nullopt});
  // 1 (the child) + 4 of its 20 forks fit under pids.max 5: 16 refused.
  Forked child([] { return ForkBombInChild(20) == 16 ? 0 : 1; });
  ASSERT_GT(child.pid, 0);
  cg.AddProcess(child.pid);
  child.Go();
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(cg.PidsEvents().max, 16);
  ShowCounters(cg);  // reads every counter file of this layout (silent: narration is off)
}

TEST(CgroupRealTest, MemoryHogDemoIsStoppedByTheLimit) {
  REAL_LAYOUT_OR_SKIP(l);
  ScopedCgroup cg = Create(l, CgroupName(), Limits{int64_t{16} << 20, std::nullopt, std::nullopt});
  Forked child([] { return MemoryHogInChild(64) < 64 ? 0 : 1; });
  ASSERT_GT(child.pid, 0);
  cg.AddProcess(child.pid);
  child.Go();
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_GE(cg.Memory().oom_kill, 1);
}

TEST(CgroupRealTest, AddProcessOfAGonePidFails) {
  REAL_LAYOUT_OR_SKIP(l);
  ScopedCgroup cg = Create(l, CgroupName(), Limits{});
  Forked child([] { return 0; });
  ASSERT_GT(child.pid, 0);
  pid_t gone = child.pid;
  child.Go();
  child.Wait();
  EXPECT_THROW(cg.AddProcess(gone), SysError);
}

}  // namespace
}  // namespace nslab::cgroup
