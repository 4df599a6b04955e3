#include "common/doctor.h"

#include "common/cgroup/placement.h"
#include "common/cgroup/systemd.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/narrate.h"
#include "common/ns.h"

namespace nslab::doctor {
namespace {

// The file's contents, or nullopt-like "missing" flag when it cannot be read. The
// doctor never throws for a missing file: a missing file is a finding.
bool Read(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Labs n..11: each lab keeps what the one before it added, so a concept missing
// from the host blocks its own lab and every later one.
std::vector<int> From(int n) {
  std::vector<int> labs;
  for (int i = n; i <= 11; ++i) labs.push_back(i);
  return labs;
}

Finding Ok(std::string check, std::string detail) {
  return {std::move(check), Verdict::kOk, std::move(detail), "", {}};
}
Finding Warn(std::string check, std::string detail, std::string fix) {
  return {std::move(check), Verdict::kWarn, std::move(detail), std::move(fix), {}};
}
Finding Fail(std::string check, std::string detail, std::string fix, std::vector<int> labs) {
  return {std::move(check), Verdict::kFail, std::move(detail), std::move(fix),
          std::move(labs)};
}

// One line of mountinfo (proc(5)): only the fields the checks need.
struct Mount {
  std::string mount_point, optional, fstype, super_options;
};

std::vector<Mount> ReadMounts(const Host& host) {
  std::vector<Mount> mounts;
  std::string text;
  if (!Read(host.proc + "/self/mountinfo", &text)) return mounts;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = Words(line);
    // id parent major:minor root mount_point options [optional...] - fstype source super
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 7 || dash == f.end() || f.end() - dash < 4) continue;
    Mount m;
    m.mount_point = f[4];
    for (auto it = f.begin() + 6; it != dash; ++it)
      m.optional += (m.optional.empty() ? "" : " ") + *it;
    m.fstype = dash[1];
    m.super_options = dash[3];
    mounts.push_back(m);
  }
  return mounts;
}

// A mount point as seen by the host, moved below the fake /sys when tests give one.
std::string UnderSys(const Host& host, const std::string& mount_point) {
  if (mount_point == "/sys" || mount_point.rfind("/sys/", 0) == 0)
    return host.sys + mount_point.substr(4);
  return mount_point;
}

// PROC/self/cgroup: "0::/path" for v2, "4:memory:/path" for v1 hierarchies.
struct CgroupLine {
  std::vector<std::string> controllers;
  std::string path;
};
std::vector<CgroupLine> ReadSelfCgroup(const Host& host) {
  std::vector<CgroupLine> lines;
  std::string text;
  if (!Read(host.proc + "/self/cgroup", &text)) return lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    lines.push_back({Split(line.substr(a + 1, b - a - 1), ','), line.substr(b + 1)});
  }
  return lines;
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Which labs need each namespace kind: the lab that introduces it, and the later
// ones, which keep it — except the user namespace, which 11_container uses only
// with --user.
std::vector<int> LabsNeeding(const std::string& kind) {
  static const std::map<std::string, int> by = {
      {"uts", 4}, {"pid", 5}, {"mnt", 6}, {"ipc", 7},
      {"net", 8}, {"user", 9}, {"cgroup", 10},
  };
  if (kind == "user") return {9, 10};
  auto it = by.find(kind);
  return it == by.end() ? std::vector<int>{} : From(it->second);
}

// The kernel config option that builds each kind in.
std::string KernelOption(const std::string& kind) {
  static const std::map<std::string, std::string> opt = {
      {"cgroup", "CGROUPS"}, {"ipc", "IPC_NS"}, {"mnt", "NAMESPACES"},
      {"net", "NET_NS"},     {"pid", "PID_NS"}, {"time", "TIME_NS"},
      {"user", "USER_NS"},   {"uts", "UTS_NS"},
  };
  auto it = opt.find(kind);
  return it == opt.end() ? "NAMESPACES" : it->second;
}

// Reads an integer sysctl from PROC/sys/...; false when the file does not exist.
bool Sysctl(const Host& host, const std::string& rel, long* value) {
  std::string text;
  if (!Read(host.proc + "/sys/" + rel, &text)) return false;
  *value = std::strtol(text.c_str(), nullptr, 10);
  return true;
}

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kOk: return "ok";
    case Verdict::kWarn: return "warn";
    case Verdict::kFail: return "fail";
  }
  return "?";
}

const char* CgroupLayoutName(CgroupLayout l) {
  switch (l) {
    case CgroupLayout::kNone: return "none";
    case CgroupLayout::kV1: return "v1";
    case CgroupLayout::kV2: return "v2";
    case CgroupLayout::kHybrid: return "hybrid";
  }
  return "?";
}

Host::Host()
    : euid(geteuid()),
      has_library([](const std::string& soname) {
        // RTLD_NOLOAD would only find libraries already loaded; RTLD_LAZY loads it
        // the way the dynamic linker would when a lab starts.
        void* h = dlopen(soname.c_str(), RTLD_LAZY | RTLD_LOCAL);
        if (h == nullptr) return false;
        dlclose(h);
        return true;
      }),
      busybox_image([] { return std::string_view(); }) {}

const std::map<int, std::string>& LabNames() {
  static const std::map<int, std::string> names = {
      {1, "01_process"}, {2, "02_proc_ns"}, {3, "03_clone"},  {4, "04_uts"},
      {5, "05_pid"},     {6, "06_mount"},   {7, "07_ipc"},    {8, "08_net"},
      {9, "09_user"},    {10, "10_cgroup"}, {11, "11_container"},
  };
  return names;
}

std::vector<Finding> CheckKernel(const Host& host) {
  std::string release;
  if (!Read(host.proc + "/sys/kernel/osrelease", &release))
    return {Warn("kernel", "cannot read " + host.proc + "/sys/kernel/osrelease",
                 "is /proc mounted? (mount -t proc proc /proc)")};
  release = Trim(release);
  int major = 0, minor = 0;
  std::sscanf(release.c_str(), "%d.%d", &major, &minor);
  // 5.6 brought the last namespace kind (time) and clone3; cgroup namespaces date
  // from 4.6. The labs are written and tested on 6.x.
  if (major < 4 || (major == 4 && minor < 6))
    return {Fail("kernel", release + " (older than 4.6: no cgroup namespace)",
                 "use a kernel of 5.6 or later (Debian bookworm has 6.1)", From(10))};
  if (major < 5 || (major == 5 && minor < 6))
    return {Warn("kernel", release + " (older than 5.6: no time namespace)",
                 "the labs are tested on 6.x; 5.6 or later is best")};
  return {Ok("kernel", release)};
}

std::vector<Finding> CheckNamespaces(const Host& host) {
  std::vector<Finding> out;
  for (const auto& kind : ns::Kinds()) {
    if (kind.clone_flag == 0) continue;  // *_for_children are views, not kinds
    const std::string name = kind.name;
    const std::string check = "namespace " + name;
    const std::vector<int> labs = LabsNeeding(name);
    const std::string link = host.proc + "/self/ns/" + name;
    if (!Exists(link)) {
      std::string why = "no " + link + ": the kernel was built without it";
      if (labs.empty())
        out.push_back(Warn(check, why, "no lab needs it; a newer kernel has it"));
      else
        out.push_back(Fail(check, why,
                           "use a kernel with CONFIG_" + KernelOption(name) + "=y",
                           labs));
      continue;
    }
    char buf[128];
    ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
    std::string detail = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "present";
    // user.max_<kind>_namespaces: how many of this kind a user may create; 0
    // disables the kind for everyone, root included (user_namespaces(7)).
    long max = -1;
    const std::string sysctl = "user/max_" + name + "_namespaces";
    if (Sysctl(host, sysctl, &max)) detail += ", max " + std::to_string(max);
    if (max == 0) {
      std::string why = detail + ": user.max_" + name + "_namespaces is 0";
      std::string fix = "sysctl -w user.max_" + name + "_namespaces=10000";
      if (labs.empty())
        out.push_back(Warn(check, why, fix));
      else
        out.push_back(Fail(check, why, fix, labs));
      continue;
    }
    out.push_back(Ok(check, detail));
  }
  return out;
}

Finding CheckRoot(const Host& host) {
  if (host.euid == 0) return Ok("root", "euid 0");
  // Creating any namespace but a user namespace needs CAP_SYS_ADMIN in the user
  // namespace that owns ours; 09_user shows how an unprivileged user gets it, and
  // 10_cgroup keeps it (given a cgroup delegated to the user).
  return Fail("root", "euid " + std::to_string(host.euid) + ": not root",
              "run with sudo (bazel run --run_under=sudo //labs:NN); 01-03, 09 and 10 "
              "run without root",
              {4, 5, 6, 7, 8, 11});
}

std::vector<Finding> CheckUserNamespaces(const Host& host) {
  std::vector<Finding> out;
  const bool root = host.euid == 0;
  long v = 0;
  // Debian's and Ubuntu's own patch: 0 lets only privileged users create user
  // namespaces (Debian kernels before 5.10 shipped it 0).
  if (Sysctl(host, "kernel/unprivileged_userns_clone", &v)) {
    const char* check = "unprivileged userns";
    if (v != 0) {
      out.push_back(Ok(check, "kernel.unprivileged_userns_clone = " + std::to_string(v)));
    } else {
      std::string detail = "kernel.unprivileged_userns_clone = 0: only root may create user "
                           "namespaces";
      std::string fix = "sysctl -w kernel.unprivileged_userns_clone=1";
      if (root)
        out.push_back(Warn(check, detail + " (you are root: not affected)", fix));
      else
        out.push_back(Fail(check, detail, fix, {9, 10}));
    }
  }
  // Ubuntu 23.10+: unprivileged user namespaces are created but confined by an
  // AppArmor profile without capabilities, so writing uid_map or mounting inside
  // fails with EPERM/EACCES unless a profile allows "userns".
  if (Sysctl(host, "kernel/apparmor_restrict_unprivileged_userns", &v)) {
    const char* check = "apparmor userns";
    if (v == 0) {
      out.push_back(
          Ok(check, "kernel.apparmor_restrict_unprivileged_userns = 0"));
    } else {
      std::string detail = "kernel.apparmor_restrict_unprivileged_userns = " +
                           std::to_string(v) +
                           ": unprivileged user namespaces get no capabilities";
      std::string fix =
          "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor "
          "profile with `userns,` for the lab binary";
      if (root)
        out.push_back(Warn(check, detail + " (you are root: not affected)", fix));
      else
        out.push_back(Fail(check, detail, fix, {9, 10}));
    }
  }
  if (out.empty())
    out.push_back(Ok("unprivileged userns", "no sysctl restricts it"));
  return out;
}

CgroupLayout DetectCgroupLayout(const Host& host) {
  bool v1 = false, v2 = false;
  for (const auto& m : ReadMounts(host)) {
    if (m.fstype == "cgroup") v1 = true;
    if (m.fstype == "cgroup2") v2 = true;
  }
  if (v1 && v2) return CgroupLayout::kHybrid;
  if (v2) return CgroupLayout::kV2;
  if (v1) return CgroupLayout::kV1;
  return CgroupLayout::kNone;
}

std::vector<Finding> CheckCgroups(const Host& host) {
  std::vector<Finding> out;
  const std::vector<Mount> mounts = ReadMounts(host);
  const std::vector<CgroupLine> self = ReadSelfCgroup(host);
  const CgroupLayout layout = DetectCgroupLayout(host);

  std::string v2_mount;
  std::vector<std::string> v1_points;
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup2" && v2_mount.empty()) v2_mount = m.mount_point;
    if (m.fstype == "cgroup") v1_points.push_back(m.mount_point);
  }
  std::string detail = CgroupLayoutName(layout);
  switch (layout) {
    case CgroupLayout::kNone:
      out.push_back(Fail("cgroup layout", "no cgroup filesystem is mounted",
                         "mount -t cgroup2 none /sys/fs/cgroup", {10}));
      return out;
    case CgroupLayout::kV2:
      detail += ": cgroup2 at " + v2_mount;
      break;
    case CgroupLayout::kV1:
      detail += ": " + std::to_string(v1_points.size()) + " v1 hierarchies";
      break;
    case CgroupLayout::kHybrid:
      detail += ": v1 hierarchies and cgroup2 at " + v2_mount;
      break;
  }
  out.push_back(Ok("cgroup layout", detail));

  // Which cgroup manager 10_cgroup and 11_container will use, and why: decided by
  // the code they run (cgroup::MakePlan), on this host's (or the fake tree's) files.
  cgroup::Manager manager = cgroup::Manager::kCgroupfs;
  {
    cgroup::Host ch;
    ch.sys_fs_cgroup = UnderSys(host, "/sys/fs/cgroup");
    ch.proc_self_cgroup = host.proc + "/self/cgroup";
    ch.run_systemd_system = host.run + "/systemd/system";
    ch.as_root = host.euid == 0;
    try {
      cgroup::Plan plan = cgroup::MakePlan(cgroup::Manager::kAuto, "nslab-doctor", {}, ch);
      manager = plan.manager;
      std::string unreachable;
      // On the real host, also knock on systemd's door: a scope needs its bus.
      if (manager == cgroup::Manager::kSystemd && host.run == "/run" && host.proc == "/proc")
        unreachable = cgroup::systemd::Probe(plan.bus);
      if (unreachable.empty())
        out.push_back(Ok("cgroup manager", plan.Describe()));
      else
        out.push_back(Warn("cgroup manager", plan.Describe() + "; but: " + unreachable,
                           "--cgroup-manager cgroupfs (as root: a cgroup at the top, "
                           "/sys/fs/cgroup/nslab/)"));
    } catch (const std::exception& e) {
      out.push_back(Warn("cgroup manager", e.what(), "check " + host.proc + "/self/cgroup"));
    }
  }
  const bool root = host.euid == 0;

  std::string v2_path;
  for (const auto& l : self)
    if (l.controllers.empty()) v2_path = l.path;
  std::string root_controllers;
  if (!v2_mount.empty()) Read(UnderSys(host, v2_mount) + "/cgroup.controllers", &root_controllers);

  for (const std::string c : {"memory", "pids", "cpu"}) {
    const std::string check = "cgroup " + c;
    // 1. cgroup v2: the controller must be in our cgroup's cgroup.controllers (the
    //    parent made it available to us); 10_cgroup creates a child cgroup beneath
    //    ours, so it must also be enabled in our cgroup.subtree_control — or be
    //    enableable, which the kernel refuses (EBUSY) while our cgroup holds
    //    processes itself ("no internal processes", cgroup-v2.rst).
    if (!v2_mount.empty() && !v2_path.empty()) {
      std::string dir = UnderSys(host, v2_mount) + (v2_path == "/" ? "" : v2_path);
      std::string text;
      Read(dir + "/cgroup.controllers", &text);
      const bool offered_root = Contains(Words(root_controllers), c);
      if (manager == cgroup::Manager::kSystemd && offered_root) {
        // systemd enables, down to our scope, what a unit property needs.
        out.push_back(Ok(check, "v2, offered by the kernel (" + v2_mount +
                                    "/cgroup.controllers): systemd enables it for the "
                                    "labs' scopes in nslab.slice" +
                                    (root ? std::string()
                                          : " (your own instance: a default limit whose "
                                            "controller user@.service does not delegate "
                                            "is skipped)")));
        continue;
      }
      const bool enable_down = !Contains(Words(text), c) && root && offered_root;
      if (Contains(Words(text), c) || enable_down) {
        std::string sub, procs;
        Read(dir + "/cgroup.subtree_control", &sub);
        Read(dir + "/cgroup.procs", &procs);
        const bool writable = access(dir.c_str(), W_OK) == 0;
        const std::string where =
            "v2, " + v2_mount + v2_path +
            (enable_down ? " (offered by the kernel, not enabled down to our cgroup: the "
                           "labs enable it on the way down)"
                         : "");
        if (!writable) {
          out.push_back(Fail(check, where + " is not writable by you",
                             "run as root, or ask for a delegated cgroup "
                             "(systemd-run --user -p Delegate=yes --scope bash)",
                             {10}));
        } else if (Contains(Words(sub), c)) {
          out.push_back(Ok(check, where + ": delegated (in cgroup.subtree_control)"));
        } else if (v2_path == "/" || Trim(procs).empty()) {
          out.push_back(Ok(check, where + ": available; 10_cgroup enables it for children"));
        } else if (root) {
          // Our cgroup holds processes, so it cannot enable controllers for children
          // (EBUSY); root's cgroupfs manager uses the top of the tree instead.
          out.push_back(Ok(check, where + ": our cgroup holds processes (enabling it for "
                                          "children gives EBUSY), so the labs use a cgroup "
                                          "at the top, " + v2_mount + "/nslab/"));
        } else {
          out.push_back(Warn(check,
                             where + ": available but not enabled for children, and the "
                                     "cgroup holds processes (enabling it gives EBUSY)",
                             "move your shell to a leaf first: mkdir " + v2_mount +
                                 v2_path + "/shell; echo $$ > " + v2_mount + v2_path +
                                 "/shell/cgroup.procs; echo +" + c + " > " + v2_mount +
                                 v2_path + "/cgroup.subtree_control"));
        }
        continue;
      }
    }
    // 2. cgroup v1: a hierarchy mounted with the controller (possibly co-mounted,
    //    "cpu,cpuacct"), and our directory in it from PROC/self/cgroup.
    const Mount* v1 = nullptr;
    for (const auto& m : mounts)
      if (m.fstype == "cgroup" && Contains(Split(m.super_options, ','), c)) v1 = &m;
    std::string path;
    for (const auto& l : self)
      if (Contains(l.controllers, c)) path = l.path;
    if (v1 != nullptr && !path.empty()) {
      std::string dir = UnderSys(host, v1->mount_point) + (path == "/" ? "" : path);
      const std::string where = "v1, " + v1->mount_point + (path == "/" ? "" : path);
      if (!Exists(dir))
        out.push_back(Fail(check, where + " does not exist", "check the mount", {10}));
      else if (access(dir.c_str(), W_OK) != 0)
        out.push_back(Fail(check, where + " is not writable by you",
                           "run as root, or have root chown that directory to you "
                           "(v1 delegation)",
                           {10}));
      else
        out.push_back(Ok(check, where));
      continue;
    }
    std::string why = "the " + c + " controller is in no cgroup hierarchy we can use";
    if (!v2_mount.empty())
      why += " (not in " + v2_mount + v2_path + "/cgroup.controllers)";
    out.push_back(Fail(check, why,
                       "enable it in the parent cgroup: echo +" + c +
                           " > PARENT/cgroup.subtree_control (or cgroup_enable=" + c +
                           " on the kernel command line)",
                       {10}));
  }
  return out;
}

Finding CheckRootPropagation(const Host& host) {
  const Mount* root = nullptr;
  auto mounts = ReadMounts(host);
  for (const auto& m : mounts)
    if (m.mount_point == "/") root = &m;  // the last one is on top
  if (root == nullptr)
    return Warn("propagation of /", "no / in " + host.proc + "/self/mountinfo",
                "is /proc mounted?");
  std::string mode = root->optional.empty() ? "private" : root->optional;
  if (root->optional.find("shared:") != std::string::npos) {
    // pivot_root(2) refuses (EINVAL) when the current root or new_root's parent is
    // shared; systemd makes / shared on purpose. The labs handle it; an experiment
    // by hand with `unshare -m` must too (unshare(1) does it by default).
    return Warn("propagation of /", mode + ": pivot_root would fail with EINVAL",
                "nothing for the labs: 06_mount and later make / private in their own "
                "mount namespace (mount --make-rprivate /); do the same by hand");
  }
  return Ok("propagation of /", mode);
}

Finding CheckOverlay(const Host& host) {
  std::string text;
  Read(host.proc + "/filesystems", &text);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> w = Words(line);
    if (!w.empty() && w.back() == "overlay") return Ok("overlayfs", "in /proc/filesystems");
  }
  // Not registered yet: the kernel loads fs modules on demand at mount(2), if the
  // module is installed for the running kernel.
  std::string release;
  Read(host.proc + "/sys/kernel/osrelease", &release);
  const std::string ko = host.modules + "/" + Trim(release) + "/kernel/fs/overlayfs";
  if (!release.empty() && Exists(ko))
    return Warn("overlayfs", "not loaded, module in " + ko,
                "none needed (mount loads it), or: modprobe overlay");
  return Fail("overlayfs", "not in /proc/filesystems and no module found",
              "modprobe overlay, or a kernel with CONFIG_OVERLAY_FS", {11});
}

Finding CheckBusyboxImage(const Host& host) {
  const std::string_view tar = host.busybox_image ? host.busybox_image() : std::string_view();
  // A POSIX tar starts with a 512-byte header whose magic "ustar" sits at offset 257.
  if (tar.size() >= 512 && tar.substr(257, 5) == "ustar")
    return Ok("busybox image", "built into the labs (busybox.tar, " +
                                   std::to_string(tar.size() / 1024) + " KiB)");
  return Fail("busybox image",
              tar.empty() ? "no image built into this binary" : "the built-in image is no tar",
              "bazel build //labs/... (needs busybox-static: scripts/setup)", From(6));
}

std::vector<Finding> CheckLibraries(const Host& host) {
  struct Lib {
    const char* check;
    const char* soname;
    const char* package;
    std::vector<int> labs;
  };
  // The labs link these dynamically: a missing one stops the binary before main
  // with "error while loading shared libraries".
  const Lib libs[] = {
      {"libnl-route-3", "libnl-route-3.so.200", "libnl-route-3-200", {8, 9, 10, 11}},
      {"libcap", "libcap.so.2", "libcap2", {11}},
      {"libseccomp", "libseccomp.so.2", "libseccomp2", {11}},
      {"libarchive", "libarchive.so.13", "libarchive13", {6, 7, 8, 9, 10, 11}},
  };
  std::vector<Finding> out;
  for (const auto& lib : libs) {
    if (host.has_library && host.has_library(lib.soname))
      out.push_back(Ok(lib.check, lib.soname));
    else
      out.push_back(Fail(lib.check, std::string(lib.soname) + " cannot be loaded",
                         std::string("apt-get install ") + lib.package + " (scripts/setup)",
                         lib.labs));
  }
  return out;
}

Finding CheckSeccomp(const Host& host) {
  std::string text;
  Read(host.proc + "/self/status", &text);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Seccomp:", 0) == 0) {
      std::vector<std::string> w = Words(line);
      return Ok("seccomp", "supported (Seccomp: " + (w.size() > 1 ? w[1] : "?") +
                               " in /proc/self/status)");
    }
  return Fail("seccomp", "no Seccomp: line in " + host.proc + "/self/status",
              "a kernel with CONFIG_SECCOMP_FILTER=y", {11});
}

std::vector<Finding> RunAll(const Host& host) {
  std::vector<Finding> all;
  auto add = [&](std::vector<Finding> v) { all.insert(all.end(), v.begin(), v.end()); };
  add(CheckKernel(host));
  add(CheckNamespaces(host));
  all.push_back(CheckRoot(host));
  add(CheckUserNamespaces(host));
  add(CheckCgroups(host));
  all.push_back(CheckRootPropagation(host));
  all.push_back(CheckOverlay(host));
  all.push_back(CheckBusyboxImage(host));
  add(CheckLibraries(host));
  all.push_back(CheckSeccomp(host));
  return all;
}

std::map<int, std::vector<std::string>> BlockedLabs(const std::vector<Finding>& findings) {
  std::map<int, std::vector<std::string>> blocked;
  for (const auto& f : findings)
    if (f.verdict == Verdict::kFail)
      for (int lab : f.labs) blocked[lab].push_back(f.check);
  return blocked;
}

std::string Render(const std::vector<Finding>& findings) {
  std::vector<narrate::Row> rows;
  for (const auto& f : findings)
    rows.push_back({{f.check, VerdictName(f.verdict), f.detail, f.fix},
                    f.verdict != Verdict::kOk});
  std::string out = narrate::RenderTable({"check", "verdict", "detail", "fix"}, rows);
  auto blocked = BlockedLabs(findings);
  if (blocked.empty()) {
    out += "\nevery lab can run here\n";
  } else {
    out += "\nlabs that cannot run here:\n";
    for (const auto& [lab, checks] : blocked)
      out += "  " + LabNames().at(lab) + ": " + Join(checks, ", ") + "\n";
  }
  return out;
}

}  // namespace nslab::doctor
