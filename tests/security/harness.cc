#include "tests/security/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace nslab::harness {
namespace {

using testutil::ProcessAlive;
using testutil::TmpDir;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  size_t a = s.find_first_not_of(" \t\n");
  return a == std::string::npos ? "" : s.substr(a);
}

// "cgroup" mounts and our path in each: the directories whose subtrees are ours.
std::vector<std::string> OwnCgroupDirs() {
  std::map<std::string, std::string> own;  // controller list ("" for v2) -> path
  std::istringstream cg(testutil::ReadText("/proc/self/cgroup"));
  std::string line;
  while (std::getline(cg, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    own[line.substr(a + 1, b - a - 1)] = line.substr(b + 1);
  }
  std::vector<std::string> dirs;
  std::istringstream mi(testutil::ReadText("/proc/self/mountinfo"));
  while (std::getline(mi, line)) {
    std::istringstream f(line);
    std::vector<std::string> v;
    std::string x;
    while (f >> x) v.push_back(x);
    auto dash = std::find(v.begin(), v.end(), "-");
    if (dash == v.end() || dash + 3 > v.end() || v.size() < 5) continue;
    const std::string fstype = *(dash + 1), super = *(dash + 3), root = v[3], point = v[4];
    std::string key;
    if (fstype == "cgroup2") {
      key = "";
    } else if (fstype == "cgroup") {
      // The super options list the controllers ("rw,memory", "rw,name=systemd").
      for (const auto& [ctrls, path] : own) {
        if (ctrls.empty()) continue;
        std::string first = ctrls.substr(0, ctrls.find(','));
        if (super.find(first) != std::string::npos) key = ctrls;
      }
      if (key.empty()) continue;
    } else {
      continue;
    }
    auto it = own.find(key);
    if (it == own.end()) continue;
    std::string path = it->second;
    if (root != "/" && path.rfind(root, 0) == 0) path = path.substr(root.size());
    dirs.push_back(point + (path == "/" ? "" : path));
  }
  return dirs;
}

// Names 11_container gives what it creates: cgroups "nslab-<id>", host veth ends
// "nsl<10 hex>h" (and the bridge nslab0). Other programs' objects (another lab run by
// hand, a benchmark) do not disturb the comparison.
bool IsHex(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}
bool IsContainerName(const std::string& name, const std::string& prefix) {
  if (prefix == "nslab-")
    return name.size() == 18 && name.rfind("nslab-", 0) == 0 && IsHex(name.substr(6));
  return name == "nslab0" || (name.size() == 14 && name.rfind("nsl", 0) == 0 &&
                              name.back() == 'h' && IsHex(name.substr(3, 10)));
}

void WalkCgroups(const std::string& dir, int depth, std::vector<std::string>* out) {
  if (depth > 3) return;
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    std::string child = dir + "/" + e->d_name;
    if (IsContainerName(e->d_name, "nslab-")) out->push_back(child);
    WalkCgroups(child, depth + 1, out);
  }
  closedir(d);
}

}  // namespace

namespace {

// The cgroups this test process was in before IsolateCgroups, and the ones it made.
std::vector<std::pair<std::string, std::string>> g_moved;  // original dir, private dir

void WritePid(const std::string& dir, pid_t pid) {
  std::ofstream f(dir + "/cgroup.procs");
  f << pid << std::flush;
}

// Removes the empty cgroups beneath dir, deepest first (a leak a test has already
// reported must not outlive the test: rmdir only succeeds on an empty cgroup).
void RemoveEmptyChildren(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> children;
  while (dirent* e = readdir(d))
    if (e->d_type == DT_DIR && e->d_name[0] != '.') children.push_back(dir + "/" + e->d_name);
  closedir(d);
  for (const auto& c : children) {
    RemoveEmptyChildren(c);
    rmdir(c.c_str());
  }
}

void RestoreCgroups() {
  for (const auto& [original, mine] : g_moved) {
    WritePid(original, getpid());
    RemoveEmptyChildren(mine);
    rmdir(mine.c_str());
  }
  g_moved.clear();
}

// Moves this test process into a cgroup of its own ("nslab-test-<pid>") beneath its
// current one in every hierarchy. Lab 11 creates each container's cgroup beneath the
// caller's, so ours then hold only our containers: another helper's containers
// (which land beside them when the caller's cgroup is a hierarchy's root) cannot
// disturb the leftover comparison. Undone at exit. Fails quietly where cgroups are
// not writable (the sandbox).
void IsolateCgroups() {
  for (const auto& dir : OwnCgroupDirs()) {
    const std::string mine = dir + "/nslab-test-" + std::to_string(getpid());
    if (mkdir(mine.c_str(), 0755) != 0 && errno != EEXIST) continue;
    std::ofstream f(mine + "/cgroup.procs");
    f << getpid() << std::flush;
    if (!f) {
      rmdir(mine.c_str());
      continue;
    }
    g_moved.push_back({dir, mine});
  }
  if (!g_moved.empty()) std::atexit(RestoreCgroups);
}

}  // namespace

std::string Init() {
  static std::string dir;
  if (!dir.empty()) return dir;
  IsolateCgroups();
  const char* env = std::getenv("NSLAB_STATE_DIR");
  if (env && *env) {
    dir = env;
  } else {
    // Under /run, not TEST_TMPDIR: with --user the container's root (uid 65534
    // outside) must pass through the state directory's path, and Bazel keeps
    // TEST_TMPDIR under /root (0700). Removed at exit.
    char tmpl[] = "/run/nslab-test-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) {
      dir = tmpl;
      chmod(dir.c_str(), 0711);
      std::atexit([] { testutil::Run({"rm", "-rf", "--one-file-system", StateDir()}); });
    } else {
      dir = TmpDir() + "/nslab-state-" + std::to_string(getpid());
      mkdir(dir.c_str(), 0711);
    }
    setenv("NSLAB_STATE_DIR", dir.c_str(), 1);
  }
  return dir;
}

std::string StateDir() { return Init(); }

std::string LabBinary() { return testutil::LabPath("11_container"); }
std::string ShimBinary() { return testutil::LabPath("nslab-shim"); }
std::string ProbeBinary() { return testutil::Runfile("tests/security/probe"); }
std::string BusyboxTar() { return testutil::Runfile("images/busybox.tar"); }

testutil::RunResult Cli(const std::vector<std::string>& args, const std::string& input,
                        int timeout_seconds) {
  Init();
  std::vector<std::string> argv = {LabBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testutil::Run(argv, input, timeout_seconds);
}

std::string MakeRootfs(const std::string& name) {
  static int counter = 0;
  const std::string dir =
      TmpDir() + "/rootfs-" + name + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  mkdir(dir.c_str(), 0755);
  auto tar = testutil::Run({"tar", "-xf", BusyboxTar(), "-C", dir});
  EXPECT_EQ(tar.exit_code, 0) << "tar: " << tar.err;
  auto cp = testutil::Run({"cp", ProbeBinary(), dir + "/bin/probe"});
  EXPECT_EQ(cp.exit_code, 0) << "cp: " << cp.err;
  chmod((dir + "/bin/probe").c_str(), 0755);
  return dir;
}

Sentinel MakeSentinel() {
  std::random_device rd;
  std::ostringstream token;
  token << "nslabsentinel" << std::hex << rd() << rd();
  Sentinel s;
  s.token = token.str();
  const std::string dir = TmpDir() + "/sentinel-" + s.token;
  mkdir(dir.c_str(), 0700);
  s.path = dir + "/" + s.token;
  std::ofstream(s.path) << s.token;
  return s;
}

bool SentinelIntact(const Sentinel& s) { return testutil::ReadText(s.path) == s.token; }

Facts ReadState(const std::string& id) {
  Facts f;
  std::istringstream in(testutil::ReadText(StateDir() + "/" + id + "/state"));
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    f[line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  return f;
}

std::string Fact(const Facts& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() || it->second.empty() ? "" : it->second.front();
}

Footprint FootprintOf(const std::string& id) {
  Footprint fp;
  fp.id = id;
  fp.state_dir = StateDir() + "/" + id;
  Facts f = ReadState(id);
  fp.host_if = Fact(f, "host_if");
  if (f.count("cgroup")) fp.cgroups = f["cgroup"];
  fp.init = static_cast<pid_t>(std::atoi(Fact(f, "pid").c_str()));
  fp.shim = static_cast<pid_t>(std::atoi(Fact(f, "shim_pid").c_str()));
  return fp;
}

std::vector<std::string> Leftovers(const Footprint& fp) {
  std::vector<std::string> out;
  if (testutil::PathExists(fp.state_dir)) out.push_back("state dir " + fp.state_dir + " exists");
  for (const auto& p : testutil::MountPoints())
    if (p.find(fp.id) != std::string::npos) out.push_back("mount " + p);
  if (!fp.host_if.empty() && testutil::PathExists("/sys/class/net/" + fp.host_if))
    out.push_back("link " + fp.host_if);
  for (const auto& c : fp.cgroups)
    if (!c.empty() && testutil::PathExists(c)) out.push_back("cgroup " + c);
  std::vector<std::string> walked;
  for (const auto& d : OwnCgroupDirs()) WalkCgroups(d, 0, &walked);
  for (const auto& c : walked)
    if (c.find(fp.id) != std::string::npos) out.push_back("cgroup " + c);
  if (ProcessAlive(fp.init)) out.push_back("process " + std::to_string(fp.init) + " (init) alive");
  if (ProcessAlive(fp.shim)) out.push_back("process " + std::to_string(fp.shim) + " (shim) alive");
  return out;
}

Container& Container::operator=(Container&& o) noexcept {
  Remove();
  id_ = std::move(o.id_);
  o.id_.clear();
  return *this;
}

pid_t Container::InitPid() const {
  return static_cast<pid_t>(std::atoi(Fact(ReadState(id_), "pid").c_str()));
}

testutil::RunResult Container::Remove() {
  testutil::RunResult r;
  if (id_.empty()) return r;
  r = Cli({"rm", "-f", id_});
  id_.clear();
  return r;
}

Container RunDetached(const std::vector<std::string>& args, testutil::RunResult* result) {
  std::vector<std::string> argv = {"run", "-d"};
  // --net none unless the caller chose a network.
  if (std::find(args.begin(), args.end(), "--net") == args.end()) {
    argv.push_back("--net");
    argv.push_back("none");
  }
  argv.insert(argv.end(), args.begin(), args.end());
  testutil::RunResult r = Cli(argv);
  if (result) *result = r;
  std::string id = Trim(r.out);
  if (r.exit_code != 0 || id.empty() || id.find('\n') != std::string::npos) {
    ADD_FAILURE() << "run -d failed (" << r.exit_code << "): " << r.err << r.out;
    // Something may have been created: remove by name when given.
    auto n = std::find(args.begin(), args.end(), "--name");
    if (n != args.end() && n + 1 != args.end()) Cli({"rm", "-f", *(n + 1)});
    return Container();
  }
  return Container(id);
}

std::string ProcStatus(pid_t pid, const std::string& key) {
  // pid 0 would read /proc/self in StatusField; here it names no process.
  return pid <= 0 ? "" : testutil::StatusField(key, pid);
}

std::vector<int> ProcFds(pid_t pid) {
  std::vector<int> out;
  for (const auto& e : testutil::Entries("/proc/" + std::to_string(pid) + "/fd"))
    out.push_back(std::atoi(e.c_str()));
  std::sort(out.begin(), out.end());
  return out;
}

Snapshot TakeSnapshot() {
  Snapshot s;
  const std::string state = StateDir();
  for (const auto& p : testutil::MountPoints())
    if (p.find("nslab") != std::string::npos) s.items.push_back("mount " + p);
  std::vector<std::string> cgroups;
  for (const auto& d : OwnCgroupDirs()) WalkCgroups(d, 0, &cgroups);
  for (const auto& c : cgroups) s.items.push_back("cgroup " + c);
  const std::vector<std::string> entries = testutil::Entries(state);
  for (const auto& e : entries) s.items.push_back("state " + e);
  // Links: only the veths of containers we know of (a state entry or a cgroup of
  // ours): "nsl" + the id's first 10 hex digits + "h". Other programs' links come
  // and go on a shared host.
  std::set<std::string> ids(entries.begin(), entries.end());
  for (const auto& c : cgroups) ids.insert(c.substr(c.rfind("nslab-") + 6));
  for (const auto& l : testutil::Entries("/sys/class/net")) {
    if (!IsContainerName(l, "nsl") || l == "nslab0") continue;
    for (const auto& id : ids)
      if (id.size() >= 10 && l.compare(3, 10, id, 0, 10) == 0) s.items.push_back("link " + l);
  }
  const std::string me = std::to_string(getpid());
  for (const auto& e : testutil::Entries("/proc")) {
    if (e.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = testutil::ReadText("/proc/" + e + "/stat");
    size_t p = stat.rfind(')');
    if (p == std::string::npos || p + 2 >= stat.size()) continue;
    std::istringstream rest(stat.substr(p + 2));
    std::string st, ppid;
    rest >> st >> ppid;
    if (st == "Z" && ppid == me) s.items.push_back("zombie " + e);
    std::string cmdline = testutil::ReadText("/proc/" + e + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (Trim(testutil::ReadText("/proc/" + e + "/comm")) == "nslab-shim" &&
        cmdline.find(state) != std::string::npos)
      s.items.push_back("shim " + e);
  }
  std::sort(s.items.begin(), s.items.end());
  return s;
}

std::vector<std::string> Diff(const Snapshot& before, const Snapshot& after) {
  std::vector<std::string> out;
  std::set<std::string> a(before.items.begin(), before.items.end());
  std::set<std::string> b(after.items.begin(), after.items.end());
  for (const auto& x : b)
    if (!a.count(x)) out.push_back("+" + x);
  for (const auto& x : a)
    if (!b.count(x)) out.push_back("-" + x);
  return out;
}

std::vector<std::string> NonEmptyLines(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& l : testutil::Lines(text))
    if (!Trim(l).empty()) out.push_back(l);
  return out;
}

bool WaitForImpl(bool (*pred)(void*), void* arg, int seconds) {
  const time_t end = time(nullptr) + seconds;
  for (;;) {
    if (pred(arg)) return true;
    if (time(nullptr) > end) return pred(arg);
    usleep(20 * 1000);
  }
}

std::string Sha256(const std::string& path) {
  auto r = testutil::Run({"sha256sum", path});
  if (r.exit_code != 0) return "";
  return r.out.substr(0, r.out.find(' '));
}

}  // namespace nslab::harness
