#include "common/engine/cgroups.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/mount.h"
#include "common/narrate.h"

namespace nslab::engine::cgroups {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

// 10 ms without a timed test: the kernel updates freezer and cgroup states
// asynchronously and offers no event on v1 to wait for.
void Pause() {
  struct timespec ts = {0, 10 * 1000 * 1000};
  nanosleep(&ts, nullptr);
}

struct Hierarchy {
  int version;
  std::vector<std::string> controllers;
  std::string mount;
  std::string own;  // the caller's cgroup in it, relative to the mount
};

// The mounted hierarchies (mountinfo: fstype cgroup / cgroup2) and where we sit in
// each (/proc/self/cgroup).
std::vector<Hierarchy> Hierarchies() {
  std::vector<std::pair<std::string, std::string>> self;  // controllers, path
  for (const auto& line : Split(ReadFile("/proc/self/cgroup"), '\n')) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    self.push_back({line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  std::vector<Hierarchy> out;
  std::set<std::string> seen;
  for (const auto& m : mount::ReadMountInfo()) {
    Hierarchy h;
    std::string key;
    if (m.fstype == "cgroup2") {
      h.version = 2;
      key = "";
    } else if (m.fstype == "cgroup") {
      h.version = 1;
      for (const auto& o : Split(m.super_options, ',')) {
        static const std::set<std::string> kNotControllers = {"rw", "ro", "xattr",
                                                              "noprefix", "clone_children"};
        if (kNotControllers.count(o) || o.rfind("release_agent=", 0) == 0) continue;
        h.controllers.push_back(o);
      }
      for (const auto& c : h.controllers) key += (key.empty() ? "" : ",") + c;
    } else {
      continue;
    }
    if (!seen.insert(key).second) continue;  // the same hierarchy mounted twice
    h.mount = m.mount_point;
    bool found = false;
    for (const auto& [ctrls, path] : self) {
      std::vector<std::string> mine = Split(ctrls, ',');
      std::sort(mine.begin(), mine.end());
      std::vector<std::string> theirs = h.controllers;
      std::sort(theirs.begin(), theirs.end());
      if ((h.version == 2 && ctrls.empty()) || (h.version == 1 && !ctrls.empty() && mine == theirs)) {
        // A hierarchy mounted from a subtree (field 4 of mountinfo is not "/"):
        // our path inside it is relative to that subtree.
        std::string p = path;
        if (m.root != "/" && p.compare(0, m.root.size(), m.root) == 0) p = p.substr(m.root.size());
        h.own = p.empty() ? "/" : p;
        found = true;
      }
    }
    if (found) out.push_back(h);
  }
  return out;
}

std::string Join(const std::string& a, const std::string& b) {
  if (b.empty() || b == "/") return a;
  if (!a.empty() && a.back() == '/') return b[0] == '/' ? a + b.substr(1) : a + b;
  return b[0] == '/' ? a + b : a + "/" + b;
}

void Write(const std::string& dir, const std::string& file, const std::string& value) {
  narrate::Syscall("write", dir + "/" + file + " <- " + value);
  WriteFile(dir + "/" + file, value);
}

const Node* Find(const std::vector<Node>& nodes, const std::string& controller) {
  for (const auto& n : nodes)
    if (std::find(n.controllers.begin(), n.controllers.end(), controller) != n.controllers.end())
      return &n;
  return nullptr;
}

const Node* V2(const std::vector<Node>& nodes) {
  for (const auto& n : nodes)
    if (n.version == 2) return &n;
  return nullptr;
}

bool V2Has(const Node* v2, const std::string& controller) {
  if (v2 == nullptr) return false;
  for (const auto& c : Split(TrimNewlines(ReadFile(v2->dir + "/cgroup.controllers")), ' '))
    if (c == controller) return true;
  return false;
}

[[noreturn]] void Missing(const std::string& field, const std::string& controller) {
  throw UsageError("config.json: linux.resources." + field + " needs the " + controller +
                   " controller, which this host does not offer to us");
}

std::string DeviceLine(const DeviceRule& r) {
  auto num = [](int64_t n) { return n < 0 ? std::string("*") : std::to_string(n); };
  return r.type + " " + num(r.major) + ":" + num(r.minor) + " " + r.access;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> OwnDirs() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& h : Hierarchies()) out.push_back({h.mount, Join(h.mount, h.own)});
  return out;
}

std::string HostMode() {
  bool v1 = false, v2 = false;
  for (const auto& h : Hierarchies()) {
    if (h.version == 1 && !(h.controllers.size() == 1 && h.controllers[0].rfind("name=", 0) == 0))
      v1 = true;
    if (h.version == 2) v2 = true;
  }
  return v1 && v2 ? "hybrid" : v1 ? "v1" : "v2";
}

std::vector<Node> Plan(const std::string& cgroups_path) {
  if (cgroups_path.find(':') != std::string::npos)
    throw UsageError("config.json: linux.cgroupsPath \"" + cgroups_path +
                     "\" is a systemd path (slice:prefix:name); this runtime manages cgroupfs "
                     "paths only (see --systemd-cgroup)");
  for (const auto& part : Split(cgroups_path, '/'))
    if (part == "..")
      throw UsageError("config.json: linux.cgroupsPath \"" + cgroups_path +
                       "\" must not contain \"..\"");
  std::vector<Hierarchy> hs = Hierarchies();
  const bool hybrid = HostMode() == "hybrid";
  std::vector<Node> nodes;
  for (const auto& h : hs) {
    if (h.version == 2 && hybrid) {
      // The unified tree of a hybrid host: used only if it carries a controller
      // (here it carries none; crun refuses such hosts, we use the v1 trees).
      std::string ctrls = TrimNewlines(ReadFile(Join(h.mount, h.own) + "/cgroup.controllers"));
      if (ctrls.empty()) continue;
    }
    Node n;
    n.version = h.version;
    n.controllers = h.controllers;
    // Absolute: from the hierarchy's root; relative: from our own cgroup.
    n.dir = cgroups_path[0] == '/' ? Join(h.mount, cgroups_path)
                                   : Join(Join(h.mount, h.own), cgroups_path);
    nodes.push_back(n);
  }
  return nodes;
}

void Create(std::vector<Node>& nodes) {
  for (auto& n : nodes) {
    // mkdir -p: find the deepest existing ancestor, then create downwards.
    std::vector<std::string> missing;
    std::string d = n.dir;
    while (!Exists(d)) {
      missing.push_back(d);
      d = d.substr(0, d.rfind('/'));
    }
    std::reverse(missing.begin(), missing.end());
    for (const auto& m : missing) {
      narrate::Syscall("mkdir", m);
      if (mkdir(m.c_str(), 0755) < 0 && errno != EEXIST) Check(-1, "mkdir", m);
      if (n.created.empty()) n.created = m;
      // A new v1 cpuset is empty: copy the parent's cpus and mems, or no task fits.
      if (n.version == 1 &&
          std::find(n.controllers.begin(), n.controllers.end(), "cpuset") != n.controllers.end()) {
        std::string parent = m.substr(0, m.rfind('/'));
        for (const char* f : {"cpuset.cpus", "cpuset.mems"})
          if (TrimNewlines(ReadFile(m + "/" + f)).empty())
            WriteFile(m + "/" + f, TrimNewlines(ReadFile(parent + "/" + f)));
      }
    }
    if (n.version == 2) {
      // Delegate the controllers the parent offers to the new cgroup's level: each
      // ancestor we created must enable them in its cgroup.subtree_control.
      std::string top = n.created.empty() ? n.dir : n.created;
      std::string parent = top.substr(0, top.rfind('/'));
      for (std::string p = parent; p.size() <= n.dir.size();) {
        std::string ctrls = TrimNewlines(ReadFile(p + "/cgroup.controllers"));
        std::string enable;
        for (const auto& c : Split(ctrls, ' '))
          if (c == "memory" || c == "pids" || c == "cpu" || c == "cpuset")
            enable += (enable.empty() ? "+" : " +") + c;
        if (p == n.dir) break;
        if (!enable.empty()) {
          try {
            Write(p, "cgroup.subtree_control", enable);
          } catch (const SysError&) {
            // EBUSY: the parent holds processes (no internal processes rule); the
            // limits that need it are then refused by Apply, naming the field.
          }
        }
        size_t next = n.dir.find('/', p.size() + 1);
        p = next == std::string::npos ? n.dir : n.dir.substr(0, next);
      }
    }
  }
}

void Apply(const std::vector<Node>& nodes, const Resources& res) {
  const Node* v2 = V2(nodes);
  auto place = [&](const std::string& ctrl, const std::string& field) -> std::string {
    if (const Node* n = Find(nodes, ctrl)) return n->dir;
    if (V2Has(v2, ctrl)) return v2->dir;
    Missing(field, ctrl);
  };
  auto on_v2 = [&](const std::string& dir) { return v2 != nullptr && dir == v2->dir; };
  if (res.memory_limit || res.memory_reservation || res.memory_swap) {
    std::string dir = place("memory", "memory.limit");
    if (on_v2(dir)) {
      if (res.memory_limit) Write(dir, "memory.max", std::to_string(*res.memory_limit));
      if (res.memory_reservation)
        Write(dir, "memory.low", std::to_string(*res.memory_reservation));
      // The spec's swap is memory+swap; v2's memory.swap.max is swap alone.
      if (res.memory_swap && res.memory_limit && *res.memory_swap > 0 &&
          Exists(dir + "/memory.swap.max"))
        Write(dir, "memory.swap.max", std::to_string(*res.memory_swap - *res.memory_limit));
    } else {
      if (res.memory_limit) Write(dir, "memory.limit_in_bytes", std::to_string(*res.memory_limit));
      if (res.memory_reservation)
        Write(dir, "memory.soft_limit_in_bytes", std::to_string(*res.memory_reservation));
      // memsw exists only with swap accounting on (swapaccount=1): without it there is
      // no swap limit to set, as Docker's warning says.
      if (res.memory_swap && Exists(dir + "/memory.memsw.limit_in_bytes"))
        Write(dir, "memory.memsw.limit_in_bytes", std::to_string(*res.memory_swap));
    }
  }
  if (res.pids_limit) {
    std::string dir = place("pids", "pids.limit");
    Write(dir, "pids.max", *res.pids_limit < 0 ? "max" : std::to_string(*res.pids_limit));
  }
  if (res.cpu_shares || res.cpu_quota || res.cpu_period) {
    std::string dir = place("cpu", "cpu");
    if (on_v2(dir)) {
      if (res.cpu_shares) {
        // runc's conversion of v1 shares (2..262144) to v2 weight (1..10000).
        uint64_t s = *res.cpu_shares;
        uint64_t w = s == 0 ? 100 : 1 + ((s - 2) * 9999) / 262142;
        Write(dir, "cpu.weight", std::to_string(w));
      }
      if (res.cpu_quota || res.cpu_period) {
        std::string quota =
            res.cpu_quota && *res.cpu_quota > 0 ? std::to_string(*res.cpu_quota) : "max";
        Write(dir, "cpu.max", quota + " " + std::to_string(res.cpu_period.value_or(100000)));
      }
    } else {
      if (res.cpu_shares) Write(dir, "cpu.shares", std::to_string(*res.cpu_shares));
      if (res.cpu_period) Write(dir, "cpu.cfs_period_us", std::to_string(*res.cpu_period));
      if (res.cpu_quota) Write(dir, "cpu.cfs_quota_us", std::to_string(*res.cpu_quota));
    }
  }
  if (!res.cpuset_cpus.empty() || !res.cpuset_mems.empty()) {
    std::string dir = place("cpuset", "cpu.cpus");
    if (!res.cpuset_cpus.empty()) Write(dir, "cpuset.cpus", res.cpuset_cpus);
    if (!res.cpuset_mems.empty()) Write(dir, "cpuset.mems", res.cpuset_mems);
  }
  if (!res.devices.empty()) {
    const Node* n = Find(nodes, "devices");
    if (n == nullptr)
      throw UsageError(
          "config.json: linux.resources.devices needs the v1 devices controller (on cgroup v2 "
          "the allowlist is a BPF program, not supported here)");
    // In order, as the kernel's allowlist is built: each rule adds or removes.
    for (const auto& r : res.devices)
      Write(n->dir, r.allow ? "devices.allow" : "devices.deny", DeviceLine(r));
    // Then the devices every container has (runtime.md "Default Devices": null, zero,
    // full, random, urandom, tty, ptmx and the ptys of its devpts), as runc and crun
    // add them whatever the spec's rules say: without c 5:2, a `deny a` would make
    // the container's own /dev/ptmx unusable.
    // runc's list (libcontainer/specconv AllowedDevices): also mknod of anything (the
    // node stays unusable), the console and /dev/net/tun.
    for (const char* rule : {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",
                             "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",
                             "c 136:* rwm", "c 10:200 rwm"})
      Write(n->dir, "devices.allow", rule);
  }
}

void AddProcess(const std::vector<Node>& nodes, pid_t pid) {
  for (const auto& n : nodes) Write(n.dir, "cgroup.procs", std::to_string(pid));
}

std::vector<pid_t> Pids(const std::vector<Node>& nodes) {
  std::set<pid_t> pids;
  for (const auto& n : nodes) {
    std::string text;
    try {
      text = ReadFile(n.dir + "/cgroup.procs");
    } catch (const SysError&) {
      continue;
    }
    for (const auto& l : Split(text, '\n'))
      if (!l.empty()) pids.insert(std::atoi(l.c_str()));
  }
  return {pids.begin(), pids.end()};
}

void Freeze(const std::vector<Node>& nodes, bool frozen) {
  const Node* n = Find(nodes, "freezer");
  const Node* v2 = V2(nodes);
  if (n == nullptr && v2 != nullptr && Exists(v2->dir + "/cgroup.freeze")) n = v2;
  if (n == nullptr)
    throw UsageError(std::string("cannot ") + (frozen ? "pause" : "resume") +
                     ": the container has no freezer cgroup (config.json has no "
                     "linux.cgroupsPath)");
  for (int i = 0; i < 1000; ++i) {
    if (n->version == 2) {
      Write(n->dir, "cgroup.freeze", frozen ? "1" : "0");
    } else {
      Write(n->dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
    }
    if (Frozen(nodes) == frozen) return;
    Pause();
  }
  throw UsageError(std::string("the freezer did not reach ") + (frozen ? "FROZEN" : "THAWED"));
}

bool Frozen(const std::vector<Node>& nodes) {
  try {
    if (const Node* n = Find(nodes, "freezer"))
      return TrimNewlines(ReadFile(n->dir + "/freezer.state")) == "FROZEN";
    if (const Node* v2 = V2(nodes)) {
      for (const auto& l : Split(ReadFile(v2->dir + "/cgroup.events"), '\n'))
        if (l == "frozen 1") return true;
    }
  } catch (const SysError&) {
  }
  return false;
}

void Destroy(const std::vector<Node>& nodes) {
  // A frozen cgroup's tasks cannot die: thaw first.
  if (Frozen(nodes)) {
    try {
      Freeze(nodes, false);
    } catch (const std::exception&) {
    }
  }
  for (int i = 0; i < 1000; ++i) {
    std::vector<pid_t> left = Pids(nodes);
    if (left.empty()) break;
    for (pid_t p : left) {
      narrate::Syscall("kill", std::to_string(p) + ", SIGKILL");
      kill(p, SIGKILL);
    }
    Pause();
  }
  std::string first_error;
  for (const auto& n : nodes) {
    if (n.created.empty()) continue;
    for (std::string d = n.dir; d.size() >= n.created.size(); d = d.substr(0, d.rfind('/'))) {
      // The leaf: rmdir fails with EBUSY while its last task is still exiting.
      int r = -1;
      for (int i = 0; i < 500; ++i) {
        r = rmdir(d.c_str());
        if (r == 0 || errno == ENOENT || errno != EBUSY || d != n.dir) break;
        Pause();
      }
      if (r < 0 && errno != ENOENT) {
        // An ancestor we made that now holds someone else's cgroup (conmon's
        // <parent>/conmon): it is theirs too now; stop there.
        if (d != n.dir && (errno == EBUSY || errno == ENOTEMPTY)) break;
        if (first_error.empty()) first_error = SysError(errno, "rmdir", d).what();
      }
      if (d == n.created) break;
    }
  }
  if (!first_error.empty()) throw UsageError(first_error);
}

}  // namespace nslab::engine::cgroups
