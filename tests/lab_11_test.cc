// lab_11 — end-to-end: 11_container reproduces what `docker run -it -d busybox`
// leaves on a host (a shim parent, `1 sh` inside, new namespaces), runs, execs,
// logs, stops and removes containers, and leaves nothing behind. Checked from
// outside: /proc, the mount table, links, cgroup directories, the state directory.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "common/cgroup.h"
#include "common/cgroup/placement.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::Lines;
using testutil::RunResult;

std::string Bin() { return testutil::LabPath("11_container"); }

RunResult Ctr(const std::vector<std::string>& args, const std::string& input = "") {
  std::vector<std::string> argv = {Bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testutil::Run(argv, input, 90);
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string Readlink(const std::string& path) {
  char buf[256];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Field 4 of /proc/PID/stat.
pid_t Ppid(pid_t pid) {
  std::string s = Slurp("/proc/" + std::to_string(pid) + "/stat");
  size_t close = s.rfind(')');
  if (close == std::string::npos) return -1;
  return std::atoi(s.c_str() + close + 4);
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  while (dirent* e = readdir(d)) {
    pid_t p = std::atoi(e->d_name);
    if (p > 0 && Ppid(p) == parent) out.push_back(p);
  }
  closedir(d);
  return out;
}

std::string Comm(pid_t pid) {
  std::string c = Slurp("/proc/" + std::to_string(pid) + "/comm");
  if (!c.empty() && c.back() == '\n') c.pop_back();
  return c;
}

// "shim pid: 123" and friends from `inspect`.
std::map<std::string, std::string> Inspect(const std::string& id) {
  std::map<std::string, std::string> kv;
  for (const auto& l : Lines(Ctr({"inspect", id}).out)) {
    size_t colon = l.find(": ");
    if (colon != std::string::npos) kv[l.substr(0, colon)] = l.substr(colon + 2);
  }
  return kv;
}

std::vector<std::string> LinkNames() {
  std::vector<std::string> out;
  DIR* d = opendir("/sys/class/net");
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Links and mount points that belong to container `id` (parallel tests may add and
// remove their own: compare only what is ours).
std::vector<std::string> LinksOf(const std::string& id) {
  std::vector<std::string> out;
  for (const auto& l : LinkNames())
    if (l.find("nsl" + id.substr(0, 10)) == 0) out.push_back(l);
  return out;
}
std::vector<std::string> MountsOf(const std::string& id) {
  std::vector<std::string> out;
  for (const auto& m : testutil::MountPoints())
    if (m.find(id) != std::string::npos) out.push_back(m);
  return out;
}

// Issue 12: anywhere in the cgroup tree, whichever manager placed it (beneath our
// own cgroup in v1's memory/pids/cpu, at the top of a v2 tree, a systemd scope).
bool CgroupExists(const std::string& id) {
  RunResult r = testutil::Run({"find", "/sys/fs/cgroup", "-maxdepth", "5", "(", "-name",
                               "nslab-" + id, "-o", "-name", "nslab-" + id + ".scope", ")"});
  return !r.out.empty();
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// One state and image directory for the whole binary, under /tmp so that the
// --user container's root (65534 outside) can walk into it.
class Lab11Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = "/tmp/nslab-lab11-" + std::to_string(getpid());
    setenv("NSLAB_STATE_DIR", (base_ + "/run").c_str(), 1);
    setenv("NSLAB_IMAGE_DIR", (base_ + "/lib").c_str(), 1);
  }
  static void TearDownTestSuite() {
    for (const auto& id : Lines(Ctr({"ps", "-q"}).out)) Ctr({"rm", "-f", id});
    testutil::Run({"rm", "-rf", base_});
  }
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  }
  static std::string StateDir(const std::string& id) { return base_ + "/run/" + id; }
  static std::string base_;
};
std::string Lab11Test::base_;

// Starts `run -d -t busybox` (docker run -it -d busybox) and returns its id.
std::string RunDetachedShell(const std::string& name, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"run", "-d", "-t", "--name", name};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("busybox");
  RunResult r = Ctr(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string id = r.out;
  while (!id.empty() && id.back() == '\n') id.pop_back();
  return id;
}

TEST_F(Lab11Test, RunDetachedPrintsTheIdAndPsShowsItRunning) {
  const std::string name = testutil::UniqueName("ps");
  std::string id = RunDetachedShell(name);
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{12}"))) << id;
  RunResult ps = Ctr({"ps"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_EQ(Lines(ps.out)[0].rfind("CONTAINER ID", 0), 0u) << ps.out;
  bool found = false;
  for (const auto& l : Lines(ps.out)) {
    if (l.rfind(id, 0) == 0) {
      found = true;
      EXPECT_NE(l.find(name), std::string::npos) << l;
      EXPECT_NE(l.find("running"), std::string::npos) << l;
      EXPECT_NE(l.find(" sh "), std::string::npos) << l;
    }
  }
  EXPECT_TRUE(found) << ps.out;
  EXPECT_EQ(Ctr({"rm", "-f", name}).exit_code, 0);
}

TEST_F(Lab11Test, TheShimIsTheParentOfShAndOutlivesTheCli) {
  const std::string name = testutil::UniqueName("tree");
  std::string id = RunDetachedShell(name);
  auto kv = Inspect(id);
  pid_t shim = std::atoi(kv["shim pid"].c_str());
  pid_t init = std::atoi(kv["init pid"].c_str());
  ASSERT_GT(shim, 0);
  ASSERT_GT(init, 0);
  // nslab-shim───sh, as pstree -p shows it.
  EXPECT_EQ(Comm(shim), "nslab-shim");
  EXPECT_EQ(Ppid(init), shim);
  EXPECT_EQ(ChildrenOf(shim), std::vector<pid_t>{init});
  EXPECT_EQ(Comm(init), "sh");
  // Detached: the CLI that started it is gone; the shim was reparented (to init or a
  // subreaper), and is in a session of its own, not ours.
  EXPECT_NE(Ppid(shim), getpid());
  EXPECT_NE(getsid(shim), getsid(0));
  // The pty: sh's stdin is a terminal of the container's own devpts.
  EXPECT_EQ(Readlink("/proc/" + std::to_string(init) + "/fd/0"), "/dev/pts/0");
  // A shim is small: well under the CLI's size in memory.
  std::string status = Slurp("/proc/" + std::to_string(shim) + "/status");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(status, m, std::regex(R"(VmRSS:\s+(\d+) kB)")));
  EXPECT_LT(std::stoi(m[1]), 4096) << "shim RSS " << m[1] << " kB";
  EXPECT_EQ(Ctr({"rm", "-f", id}).exit_code, 0);
}

TEST_F(Lab11Test, ExecPsShowsShAsPid1) {
  const std::string name = testutil::UniqueName("exec");
  RunDetachedShell(name);
  RunResult r = Ctr({"exec", name, "ps"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(R"(\s*1 root\s+sh)"))) << r.out;
  // Only the container's processes: sh and ps.
  EXPECT_EQ(lines.size(), 3u) << r.out;
  // exec -t: a pty of its own, from the container's devpts.
  RunResult t = Ctr({"exec", "-t", name, "tty"});
  EXPECT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("/dev/pts/"), std::string::npos) << t.out;
  // The exit code of the exec'd command comes back.
  EXPECT_EQ(Ctr({"exec", name, "sh", "-c", "exit 5"}).exit_code, 5);
  EXPECT_EQ(Ctr({"exec", name, "nope"}).exit_code, 127);
  EXPECT_EQ(Ctr({"rm", "-f", name}).exit_code, 0);
  // exec into a container that is gone: 125.
  EXPECT_EQ(Ctr({"exec", name, "ps"}).exit_code, 125);
}

TEST_F(Lab11Test, NamespaceTableMatchesTheReferenceObservation) {
  const std::string name = testutil::UniqueName("ns");
  std::string id = RunDetachedShell(name);
  auto kv = Inspect(id);
  pid_t shim = std::atoi(kv["shim pid"].c_str());
  pid_t init = std::atoi(kv["init pid"].c_str());
  auto ns = [](pid_t pid, const std::string& kind) {
    return Readlink("/proc/" + std::to_string(pid) + "/ns/" + kind);
  };
  for (const char* kind : {"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "uts"}) {
    EXPECT_NE(ns(shim, kind), ns(init, kind)) << kind;
    EXPECT_EQ(ns(shim, kind), ns(getpid(), kind)) << kind << ": the shim is on the host";
  }
  EXPECT_EQ(ns(shim, "user"), ns(init, "user"));  // no --user: the host's
  // inspect prints the same table, differing rows marked.
  RunResult r = Ctr({"inspect", id});
  for (const char* kind : {"cgroup", "ipc", "mnt", "net", "pid", "uts"})
    EXPECT_TRUE(std::regex_search(r.out, std::regex(std::string(R"(\* )") + kind + " ")))
        << kind << "\n"
        << r.out;
  EXPECT_FALSE(std::regex_search(r.out, std::regex(R"(\* user )"))) << r.out;
  EXPECT_EQ(Ctr({"rm", "-f", id}).exit_code, 0);
}

TEST_F(Lab11Test, NoLimitsMeansNoCgroupOfItsOwn) {
  // Without --memory/--pids/--cpus the container stays in the caller's cgroup (as
  // crun --cgroup-manager=disabled), in a cgroup namespace of its own.
  const std::string name = testutil::UniqueName("nocg");
  std::string id = RunDetachedShell(name);
  auto kv = Inspect(id);
  EXPECT_FALSE(CgroupExists(id));
  EXPECT_EQ(kv["cgroup"].rfind("-", 0), 0u) << kv["cgroup"];
  pid_t init = std::atoi(kv["init pid"].c_str());
  EXPECT_EQ(Slurp("/proc/" + std::to_string(init) + "/cgroup"), Slurp("/proc/self/cgroup"));
  EXPECT_NE(Readlink("/proc/" + std::to_string(init) + "/ns/cgroup"),
            Readlink("/proc/self/ns/cgroup"));
  EXPECT_EQ(Ctr({"rm", "-f", id}).exit_code, 0);
}

TEST_F(Lab11Test, TwoContainersAreIsolatedButNetworked) {
  const std::string a = testutil::UniqueName("neta"), b = testutil::UniqueName("netb");
  RunDetachedShell(a);
  RunDetachedShell(b);
  std::string addr_b = Inspect(b)["network"];  // "bridge 10.88.0.N/16 via nsl...h"
  std::smatch m;
  ASSERT_TRUE(std::regex_search(addr_b, m, std::regex(R"(bridge (10\.88\.\d+\.\d+)/16)")))
      << addr_b;
  RunResult ping = Ctr({"exec", a, "ping", "-c", "1", "-W", "3", m[1]});
  EXPECT_EQ(ping.exit_code, 0) << ping.out << ping.err;
  RunResult host = Ctr({"exec", a, "ping", "-c", "1", "-W", "3", "10.88.0.1"});
  EXPECT_EQ(host.exit_code, 0) << host.out << host.err;
  // Isolated: a sees only its own processes, has its own hostname, and b's files
  // are not a's (separate overlay upper layers).
  EXPECT_EQ(Ctr({"exec", b, "touch", "/only-in-b"}).exit_code, 0);
  EXPECT_NE(Ctr({"exec", a, "ls", "/only-in-b"}).exit_code, 0);
  EXPECT_EQ(Lines(Ctr({"exec", a, "ps"}).out).size(), 3u);
  EXPECT_NE(Ctr({"exec", a, "hostname"}).out, Ctr({"exec", b, "hostname"}).out);
  EXPECT_EQ(Ctr({"rm", "-f", a, b}).exit_code, 0);
}

TEST_F(Lab11Test, LogsAreCaptured) {
  const std::string name = testutil::UniqueName("logs");
  RunResult run = Ctr({"run", "--name", name, "--net", "none", "busybox", "sh", "-c",
                       "echo to-stdout; echo to-stderr >&2"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("to-stdout"), std::string::npos);  // attached: relayed
  EXPECT_NE(run.err.find("to-stderr"), std::string::npos);
  RunResult logs = Ctr({"logs", name});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_NE(logs.out.find("to-stdout"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("to-stderr"), std::string::npos) << logs.out;
  EXPECT_EQ(Ctr({"rm", name}).exit_code, 0);  // exited: no -f needed
  EXPECT_EQ(Ctr({"logs", name}).exit_code, 125);
}

// Issue 12: the container sees its own cgroup, read-only, at /sys/fs/cgroup.
TEST_F(Lab11Test, TheContainerSeesItsOwnCgroupReadOnly) {
  const cgroup::Layout layout = cgroup::Detect();  // h points into it
  const cgroup::Hierarchy* h = layout.For("memory");
  if (h == nullptr) GTEST_SKIP() << "no memory controller here";
  const std::string file = h->version == 2
                               ? "/sys/fs/cgroup/memory.max"
                               : "/sys/fs/cgroup/" + h->v1_options + "/memory.limit_in_bytes";
  RunResult r = Ctr({"run", "--rm", "--net", "none", "--memory", "32M", "busybox", "cat", file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "33554432\n") << r.err;
  RunResult w = Ctr({"run", "--rm", "--net", "none", "--memory", "32M", "busybox", "sh", "-c",
                     "echo 1 > " + file + " || exit 42"});
  EXPECT_EQ(w.exit_code, 42) << w.err;
  EXPECT_NE((w.out + w.err).find("Read-only file system"), std::string::npos)
      << w.out << w.err;
  // Inside, a read-only cgroup filesystem at /sys/fs/cgroup (or beneath it, v1).
  RunResult m = Ctr({"run", "--rm", "--net", "none", "--memory", "32M", "busybox", "sh", "-c",
                     "grep ' /sys/fs/cgroup' /proc/self/mountinfo"});
  EXPECT_NE(m.out.find(" ro,"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find(h->version == 2 ? " - cgroup2 " : " - cgroup "), std::string::npos)
      << m.out;
}

// Issue 12: inspect says which manager placed the cgroup, where, and why.
TEST_F(Lab11Test, InspectNamesTheCgroupManager) {
  const cgroup::Manager m =
      cgroup::MakePlan(cgroup::Manager::kAuto, "nslab-probe", cgroup::Limits{}).manager;
  const std::string name = testutil::UniqueName("mgr");
  std::string id = RunDetachedShell(name, {"--memory", "48M"});
  auto kv = Inspect(id);
  EXPECT_EQ(kv["cgroup manager"].rfind(cgroup::ManagerName(m) + ": ", 0), 0u)
      << kv["cgroup manager"];
  EXPECT_NE(kv["cgroup manager"].find(kv["cgroup"]), std::string::npos) << kv["cgroup"];
  EXPECT_TRUE(CgroupExists(id));
  EXPECT_EQ(Ctr({"rm", "-f", id}).exit_code, 0);
  EXPECT_FALSE(CgroupExists(id));
  RunResult bad = Ctr({"run", "--rm", "--cgroup-manager", "bogus", "busybox", "true"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--cgroup-manager"), std::string::npos) << bad.err;
}

TEST_F(Lab11Test, StopAndRmLeaveNothingBehind) {
  const std::string name = testutil::UniqueName("stop");
  std::string id = RunDetachedShell(name, {"--memory", "64M", "--pids", "64"});
  auto kv = Inspect(id);
  EXPECT_TRUE(CgroupExists(id));
  EXPECT_EQ(LinksOf(id).size(), 1u);  // its veth
  pid_t init = std::atoi(kv["init pid"].c_str());

  // sh as PID 1 ignores SIGTERM: stop falls back to SIGKILL after -t.
  RunResult stop = Ctr({"stop", "-t", "1", name});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_FALSE(Exists("/proc/" + std::to_string(init)));
  RunResult ps = Ctr({"ps"});
  bool exited = false;
  for (const auto& l : Lines(ps.out))
    if (l.rfind(id, 0) == 0) exited = l.find("exited (137)") != std::string::npos;
  EXPECT_TRUE(exited) << ps.out;
  EXPECT_FALSE(CgroupExists(id)) << "the shim removes the cgroup when the container ends";

  EXPECT_EQ(Ctr({"rm", name}).exit_code, 0);
  EXPECT_FALSE(Exists(StateDir(id)));
  EXPECT_TRUE(MountsOf(id).empty());
  EXPECT_TRUE(LinksOf(id).empty());
  EXPECT_FALSE(CgroupExists(id));
  for (const auto& f : Lines(testutil::Run({"ls", "/run/nslab/net"}).out))
    EXPECT_EQ(Slurp("/run/nslab/net/" + f).find(id), std::string::npos) << f;
}

TEST_F(Lab11Test, KillDeliversTheNamedSignalAndRefusesUnknownOnes) {
  const std::string name = testutil::UniqueName("kill");
  // An init with a handler for TERM: the signal reaches it and decides its status.
  RunResult run = Ctr({"run", "-d", "--net", "none", "--name", name, "busybox", "sh", "-c",
                       "trap 'exit 7' TERM; while true; do sleep 1; done"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string id = Lines(run.out).at(0);
  pid_t init = std::atoi(Inspect(id)["init pid"].c_str());
  ASSERT_GT(init, 0);

  RunResult bad = Ctr({"kill", "-s", "banana", name});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_EQ(Lines(bad.err).size(), 1u) << bad.err;
  EXPECT_NE(bad.err.find("unknown signal \"banana\""), std::string::npos) << bad.err;
  EXPECT_TRUE(Exists("/proc/" + std::to_string(init))) << "nothing was sent";

  EXPECT_EQ(Ctr({"kill", "-s", "sigterm", name}).exit_code, 0);
  Ctr({"stop", "-t", "10", name});  // waits for the end the TERM caused
  bool exited7 = false;
  for (const auto& l : Lines(Ctr({"ps"}).out))
    if (l.rfind(id, 0) == 0) exited7 = l.find("exited (7)") != std::string::npos;
  EXPECT_TRUE(exited7) << Ctr({"ps"}).out;
  EXPECT_EQ(Ctr({"kill", name}).exit_code, 125) << "it is not running any more";
  EXPECT_EQ(Ctr({"rm", name}).exit_code, 0);
}

// `run -it` as a person types it: script(1) gives the CLI a terminal of its own (a pty
// whose size we set), our input is what the person types.
TEST_F(Lab11Test, InteractiveRunGetsItsOwnPtyTheWindowSizeAndTheExitCode) {
  const size_t before = Lines(Ctr({"ps", "-q"}).out).size();
  const std::string cmd = "stty rows 33 cols 101; " + Bin() +
                          " run -it --rm --net none busybox sh";
  RunResult r = testutil::Run({"script", "-qec", cmd, "/dev/null"},
                              "tty; stty size; echo marker-$((6*7)); exit 3\n", 60);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("/dev/pts/0"), std::string::npos)
      << "the pty comes from the container's own devpts\n" << r.out;
  EXPECT_NE(r.out.find("33 101"), std::string::npos) << "window size passed on\n" << r.out;
  EXPECT_NE(r.out.find("marker-42"), std::string::npos) << "the shell ran our input\n" << r.out;
  EXPECT_EQ(Lines(Ctr({"ps", "-q"}).out).size(), before) << "--rm left a container";
}

TEST_F(Lab11Test, RmRefusesARunningContainerWithoutForce) {
  const std::string name = testutil::UniqueName("rmrun");
  std::string id = RunDetachedShell(name);
  RunResult rm = Ctr({"rm", name});
  EXPECT_EQ(rm.exit_code, 125);
  EXPECT_NE(rm.err.find("running"), std::string::npos) << rm.err;
  EXPECT_TRUE(Exists(StateDir(id)));
  EXPECT_EQ(Ctr({"rm", "-f", name}).exit_code, 0);
  EXPECT_FALSE(Exists(StateDir(id)));
}

TEST_F(Lab11Test, RmForceRecoversAfterTheShimIsKilled) {
  const std::string name = testutil::UniqueName("kshim");
  std::string id = RunDetachedShell(name);
  auto kv = Inspect(id);
  pid_t shim = std::atoi(kv["shim pid"].c_str());
  pid_t init = std::atoi(kv["init pid"].c_str());
  // No record (the run failed): kill(0, ...) would kill this test's process group.
  ASSERT_GT(shim, 0) << "no shim pid in inspect";
  ASSERT_GT(init, 0) << "no init pid in inspect";
  ASSERT_EQ(kill(shim, SIGKILL), 0);
  // The init dies with its shim (parent-death signal); ps must not say "running".
  for (int i = 0; i < 200 && Exists("/proc/" + std::to_string(init) + "/stat") &&
                  Slurp("/proc/" + std::to_string(init) + "/stat").find(") Z") == std::string::npos;
       ++i)
    usleep(10000);
  for (const auto& l : Lines(Ctr({"ps"}).out))
    if (l.rfind(id, 0) == 0) {
      EXPECT_EQ(l.find("running"), std::string::npos) << l;
    }
  EXPECT_EQ(Ctr({"exec", name, "ps"}).exit_code, 125);
  EXPECT_EQ(Ctr({"rm", "-f", name}).exit_code, 0);
  EXPECT_FALSE(Exists(StateDir(id)));
  EXPECT_FALSE(CgroupExists(id));
  EXPECT_TRUE(LinksOf(id).empty());
}

TEST_F(Lab11Test, ExitCodesAreDockers) {
  auto code = [](std::vector<std::string> args) { return Ctr(args).exit_code; };
  EXPECT_EQ(code({"run", "--rm", "--net", "none", "busybox", "true"}), 0);
  EXPECT_EQ(code({"run", "--rm", "--net", "none", "busybox", "false"}), 1);
  EXPECT_EQ(code({"run", "--rm", "--net", "none", "busybox", "sh", "-c", "exit 42"}), 42);
  EXPECT_EQ(code({"run", "--bogus-flag", "busybox"}), 125);
  EXPECT_EQ(code({"run", "--rm", "no-such-image"}), 125);
  EXPECT_EQ(code({"run", "--rm", "--net", "moon", "busybox"}), 125);
  EXPECT_EQ(code({"exec", "no-such-container", "ps"}), 125);
  EXPECT_EQ(code({"rm", "no-such-container"}), 125);
  EXPECT_EQ(code({"stop", "no-such-container"}), 125);
  EXPECT_EQ(code({"inspect", "no-such-container"}), 125);
  EXPECT_EQ(code({"run", "--rm", "--net", "none", "busybox", "/etc/passwd"}), 126);
  EXPECT_EQ(code({"run", "--rm", "--net", "none", "busybox", "no-such-command"}), 127);
  // 137: an attached run whose container is killed (stop -t 0 from another CLI).
  const std::string name = testutil::UniqueName("k9");
  auto bg = testutil::Start(
      {Bin(), "run", "--rm", "--name", name, "--net", "none", "busybox", "sleep", "1000"});
  for (int i = 0; i < 500 && Ctr({"exec", name, "true"}).exit_code != 0; ++i) usleep(10000);
  EXPECT_EQ(Ctr({"stop", "-t", "0", name}).exit_code, 0);
  RunResult r = bg.Finish();
  EXPECT_EQ(r.exit_code, 137) << r.err;
  EXPECT_EQ(Ctr({"inspect", name}).exit_code, 125);  // --rm: gone
}

TEST_F(Lab11Test, InterruptingAnAttachedRunCleansUp) {
  const std::string name = testutil::UniqueName("intr");
  auto bg = testutil::Start({Bin(), "run", "--rm", "--name", name, "busybox", "sleep", "1000"});
  std::string id;
  for (int i = 0; i < 500; ++i) {
    if (Ctr({"exec", name, "true"}).exit_code == 0) break;
    usleep(10000);
  }
  id = Inspect(name)["id"];
  ASSERT_FALSE(id.empty());
  kill(bg.pid, SIGINT);  // Ctrl-C of the attached CLI
  RunResult r = bg.Finish();
  EXPECT_EQ(r.exit_code, 137) << r.err;
  EXPECT_FALSE(Exists(StateDir(id)));
  EXPECT_FALSE(CgroupExists(id));
  // The veth goes with the network namespace, which the kernel tears down from a
  // workqueue shortly after the last process left it.
  for (int i = 0; i < 500 && !LinksOf(id).empty(); ++i) usleep(10000);
  EXPECT_TRUE(LinksOf(id).empty());
  EXPECT_TRUE(MountsOf(id).empty());
}

TEST_F(Lab11Test, UserNamespaceMapsRootToNobody) {
  RunResult r = Ctr({"run", "--rm", "--user", "--net", "none", "busybox", "sh", "-c",
                     "id -u; cat /proc/self/uid_map"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_GE(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0], "0");
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(R"(\s*0\s+65534\s+1)"))) << lines[1];
}

// Rootless: an ordinary user (65534 here) runs a container with --user --net none;
// state and images go to directories of its own. The two binaries are copied where
// that user can run them (Bazel's output base is root's, mode 0700): the CLI execs
// the shim found beside it. The image needs no copy: it is built into the CLI.
TEST_F(Lab11Test, RootlessWithUserNamespaceAndNoNetwork) {
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs setpriv (util-linux)";
  const std::string dir = base_ + "/rootless";
  ASSERT_EQ(testutil::Run({"mkdir", "-p", dir + "/bin"}).exit_code, 0);
  ASSERT_EQ(
      testutil::Run({"cp", "-L", Bin(), testutil::LabPath("nslab-shim"), dir + "/bin/"}).exit_code,
      0);
  ASSERT_EQ(testutil::Run({"chmod", "-R", "a+rX", base_}).exit_code, 0);
  ASSERT_EQ(testutil::Run({"chown", "65534:65534", dir}).exit_code, 0);
  auto as_nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"setpriv",
                                     "--reuid=65534",
                                     "--regid=65534",
                                     "--clear-groups",
                                     "env",
                                     "-i",
                                     "PATH=/usr/bin:/bin",
                                     "HOME=/nonexistent",
                                     "NSLAB_STATE_DIR=" + dir + "/run",
                                     "NSLAB_IMAGE_DIR=" + dir + "/lib",
                                     dir + "/bin/11_container"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testutil::Run(argv);
  };
  // Without --user, or with the bridge, it says what is missing.
  EXPECT_EQ(as_nobody({"run", "--rm", "--net", "none", "busybox", "true"}).exit_code, 125);
  EXPECT_EQ(as_nobody({"run", "--rm", "--user", "busybox", "true"}).exit_code, 125);
  RunResult r = as_nobody({"run", "--rm", "--user", "--net", "none", "busybox", "sh", "-c",
                           "id -u; cat /proc/self/uid_map"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_GE(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0], "0");
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(R"(\s*0\s+65534\s+1)"))) << lines[1];
  // Detached, exec, rm: the whole lifecycle, and nothing left in its state dir.
  RunResult d = as_nobody({"run", "-d", "-t", "--user", "--net", "none", "busybox"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  std::string id = Lines(d.out)[0];
  RunResult ps = as_nobody({"exec", id, "ps"});
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_TRUE(std::regex_search(ps.out, std::regex(R"(\n\s*1 root\s+sh\n)"))) << ps.out;
  EXPECT_EQ(as_nobody({"rm", "-f", id}).exit_code, 0);
  EXPECT_TRUE(Lines(testutil::Run({"ls", "-A", dir + "/run"}).out).empty());
}

TEST_F(Lab11Test, PrivilegedKeepsEveryCapability) {
  auto capeff = [](bool privileged) {
    std::vector<std::string> args = {"run", "--rm", "--net", "none"};
    if (privileged) args.push_back("--privileged");
    args.insert(args.end(), {"busybox", "grep", "CapEff", "/proc/self/status"});
    return Ctr(args).out;
  };
  std::string normal = capeff(false), privileged = capeff(true);
  EXPECT_NE(normal, privileged);
  EXPECT_NE(normal.find("CapEff:"), std::string::npos) << normal;
}

TEST_F(Lab11Test, ImportedImagesRunAndAreListed) {
  RunResult imp = Ctr({"import", testutil::Runfile("images/busybox.tar"), "copied"});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  RunResult images = Ctr({"images"});
  EXPECT_TRUE(std::regex_search(images.out, std::regex(R"(\ncopied\s+\d)"))) << images.out;
  EXPECT_TRUE(std::regex_search(images.out, std::regex(R"(\nbusybox\s+\d)"))) << images.out;
  // A change inside lands in the container's upper layer, never in the image.
  RunResult run = Ctr({"run", "--rm", "--net", "none", "copied", "sh", "-c",
                       "echo changed > /etc/hostname && cat /etc/hostname"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "changed\n");
  EXPECT_NE(Slurp(base_ + "/lib/images/copied/rootfs/etc/hostname"), "changed\n");
  EXPECT_EQ(Ctr({"import", testutil::Runfile("images/busybox.tar"), "copied"}).exit_code, 125);
}

TEST_F(Lab11Test, DemoReproducesTheReferenceObservation) {
  auto bg = testutil::Start({Bin()});
  const pid_t cli = bg.pid;
  RunResult r = bg.Finish();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex(R"(nslab-shim\(\d+\)\n\s+└─sh\(\d+\) \[cgroup ipc mnt net pid uts\])")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n\s+1 root\s+sh\n)"))) << r.out;
  for (const char* kind : {"cgroup", "ipc", "mnt", "net", "pid", "uts"})
    EXPECT_TRUE(std::regex_search(r.out, std::regex(std::string(R"(\* )") + kind + " "))) << kind;
  EXPECT_NE(r.out.find("is gone"), std::string::npos) << r.out;
  // Nothing named after the demo is left.
  EXPECT_EQ(Ctr({"inspect", "nslab-demo-" + std::to_string(cli)}).exit_code, 125);
}

}  // namespace
}  // namespace nslab
