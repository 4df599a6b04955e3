#include "common/engine/init.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "common/console.h"
#include "common/engine/cgroups.h"
#include "common/engine/hooks.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::engine {
namespace {

bool PathExists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

// Joins `path` (absolute, as the container sees it) onto `root` so that no symlink
// in it leads out of root: each component that is a symlink is resolved as if root
// were "/" (runc's securejoin). The protection against mount targets redirected by a
// hostile rootfs (CVE-2021-30465 class) is this step.
std::string SecureJoin(const std::string& root, const std::string& path) {
  std::vector<std::string> parts;
  std::string rest = path;
  int links = 0;
  std::vector<std::string> todo;
  auto push_path = [&](const std::string& p) {
    std::vector<std::string> comps;
    size_t i = 0;
    while (i <= p.size()) {
      size_t j = p.find('/', i);
      if (j == std::string::npos) j = p.size();
      std::string c = p.substr(i, j - i);
      if (!c.empty() && c != ".") comps.push_back(c);
      i = j + 1;
    }
    todo.insert(todo.begin(), comps.begin(), comps.end());
  };
  push_path(rest);
  while (!todo.empty()) {
    std::string c = todo.front();
    todo.erase(todo.begin());
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    std::string cur = root;
    for (const auto& p : parts) cur += "/" + p;
    cur += "/" + c;
    struct stat st;
    if (lstat(cur.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (++links > 40) throw SysError(ELOOP, "resolve", path);
      char buf[4096];
      ssize_t n = readlink(cur.c_str(), buf, sizeof buf - 1);
      Check(n, "readlink", cur);
      std::string target(buf, static_cast<size_t>(n));
      if (!target.empty() && target[0] == '/') parts.clear();
      push_path(target);
      continue;
    }
    parts.push_back(c);
  }
  std::string out = root;
  for (const auto& p : parts) out += "/" + p;
  return out;
}

void MkdirAll(const std::string& path, mode_t mode = 0755) {
  if (path.empty()) return;
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw SysError(ENOTDIR, "mkdir", path);
    return;
  }
  MkdirAll(path.substr(0, path.rfind('/')), mode);
  if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) Check(-1, "mkdir", path);
}

// The flags a bind remount must keep: those the kernel locks on a mount that came
// from a less privileged namespace (nosuid, nodev, noexec, ro), else EPERM.
unsigned long LockedFlags(const std::string& path) {
  struct statvfs s;
  if (statvfs(path.c_str(), &s) < 0) return 0;
  unsigned long f = 0;
  if (s.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (s.f_flag & ST_NODEV) f |= MS_NODEV;
  if (s.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (s.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

void BindRemount(const std::string& target, unsigned long flags) {
  mount::Mount("", target, "", MS_BIND | MS_REMOUNT | flags | LockedFlags(target));
}

// type "cgroup": the container's view of its own cgroups (config-linux.md). On a
// cgroup v1 or hybrid host (this one) a tmpfs with, per hierarchy, the container's own
// cgroup directory bound onto it, as runc and crun build it (not the whole hierarchy:
// that would show every cgroup of the host, and its root's limits instead of ours);
// on a pure v2 host the container's cgroup directory alone. `own` is where the init
// sits on the host, read before any cgroup namespace hid the paths.
void MountCgroups(const Mount& m, const std::string& dest,
                  const std::vector<std::pair<std::string, std::string>>& own) {
  const unsigned long flags = m.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  MkdirAll(dest);
  if (own.size() == 1 && own[0].first == "/sys/fs/cgroup") {
    mount::Mount(own[0].second, dest, "", MS_BIND | MS_REC);
    BindRemount(dest, flags);
    return;
  }
  mount::Mount("tmpfs", dest, "tmpfs", (flags & ~MS_RDONLY), "mode=755");
  for (const auto& [mount_point, dir] : own) {
    std::string sub = dest + "/" + mount_point.substr(mount_point.rfind('/') + 1);
    MkdirAll(sub);
    mount::Mount(dir, sub, "", MS_BIND | MS_REC);
    BindRemount(sub, flags);
  }
  if (flags & MS_RDONLY) BindRemount(dest, MS_RDONLY);
}

// One entry of config.json's mounts, in order (runc's mountToRootfs).
void MountOne(const std::string& root, const Mount& m,
              const std::vector<std::pair<std::string, std::string>>& own_cgroups) {
  const std::string dest = SecureJoin(root, m.destination);
  if (m.type == "cgroup") return MountCgroups(m, dest, own_cgroups);
  if (m.Bind()) {
    struct stat st;
    Check(stat(m.source.c_str(), &st), "stat", m.source);
    if (S_ISDIR(st.st_mode)) {
      MkdirAll(dest);
    } else {
      MkdirAll(dest.substr(0, dest.rfind('/')));
      if (!PathExists(dest)) UniqueFd f = Open(dest, O_WRONLY | O_CREAT, 0644);
    }
    mount::Mount(m.source, dest, "", MS_BIND | (m.flags & MS_REC));
    // mount(2) ignores every other flag on a new bind: they need a remount.
    const unsigned long extra = m.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra != 0) BindRemount(dest, extra);
  } else {
    MkdirAll(dest);
    try {
      mount::Mount(m.source, dest, m.type, m.flags & ~MS_REMOUNT, m.data);
    } catch (const SysError& e) {
      // A fresh sysfs needs privilege over the network namespace: in a user
      // namespace that does not own it (no network namespace of the container's),
      // bind the host's read-only instead, as runc does.
      if (!(m.type == "sysfs" && e.err() == EPERM)) throw;
      mount::Mount("/sys", dest, "", MS_BIND | MS_REC);
      BindRemount(dest, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
  }
  if (m.propagation != 0) mount::Mount("", dest, "", m.propagation);
}

// The devices every container has (runtime.md "Default Devices"), bound from the
// host's /dev (mknod is refused in a user namespace, a bind is not), plus the
// /dev/fd, stdin... symlinks and /dev/ptmx -> pts/ptmx.
void SetupDevInChild(const std::string& root, const Spec& spec) {
  bool bound_dev = false;
  for (const auto& m : spec.mounts)
    if (m.destination == "/dev" && m.Bind()) bound_dev = true;
  const std::string dev = SecureJoin(root, "/dev");
  if (!bound_dev) {
    MkdirAll(dev);
    for (const char* name : {"null", "zero", "full", "random", "urandom", "tty"}) {
      std::string path = dev + "/" + name;
      if (!PathExists(path)) UniqueFd f = Open(path, O_WRONLY | O_CREAT, 0666);
      mount::Mount(std::string("/dev/") + name, path, "", MS_BIND);
    }
    struct Link {
      const char *target, *name;
    };
    for (Link l : {Link{"/proc/self/fd", "fd"}, Link{"/proc/self/fd/0", "stdin"},
                   Link{"/proc/self/fd/1", "stdout"}, Link{"/proc/self/fd/2", "stderr"},
                   Link{"pts/ptmx", "ptmx"}}) {
      std::string path = dev + "/" + l.name;
      if (!PathExists(path)) Check(symlink(l.target, path.c_str()), "symlink", path);
    }
  }
  // linux.devices: nodes the manager asked for (--device).
  for (const auto& d : spec.devices) {
    const std::string path = SecureJoin(root, d.path);
    MkdirAll(path.substr(0, path.rfind('/')));
    mode_t type = d.type == "b" ? S_IFBLK : d.type == "p" ? S_IFIFO : S_IFCHR;
    dev_t num = makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
    if (PathExists(path)) unlink(path.c_str());
    narrate::Syscall("mknod", path);
    if (mknod(path.c_str(), type | (d.file_mode & 07777), num) < 0) {
      if (errno != EPERM) Check(-1, "mknod", path);
      // In a user namespace: bind the host's node of the same path instead.
      UniqueFd f = Open(path, O_WRONLY | O_CREAT, 0666);
      mount::Mount(d.path, path, "", MS_BIND);
      continue;
    }
    Check(chown(path.c_str(), d.uid, d.gid), "chown", path);
  }
}

void PivotOrChroot(const std::string& root, bool no_pivot) {
  if (!no_pivot) return mount::PivotRootInChild(root);
  // --no-pivot (a root on a ramfs, where pivot_root is EINVAL): move the root mount
  // over / and chroot into it, as runc's msMoveRoot. Escapable with CAP_SYS_CHROOT:
  // only for hosts that cannot pivot.
  Check(chdir(root.c_str()), "chdir", root);
  mount::Mount(root, "/", "", MS_MOVE);
  Check(chroot("."), "chroot", root);
  Check(chdir("/"), "chdir", "/");
}

void WriteSysctls(const Spec& spec) {
  for (const auto& [key, value] : spec.sysctl) {
    std::string path = "/proc/sys/" + key;
    for (size_t i = 10; i < path.size(); ++i)
      if (path[i] == '.') path[i] = '/';
    narrate::Syscall("write", path + " <- " + value);
    try {
      WriteFile(path, value);
    } catch (const SysError& e) {
      throw UsageError("config.json: linux.sysctl \"" + key + "\": " + e.what());
    }
  }
}

// maskedPaths: /dev/null over files, an empty read-only tmpfs over directories;
// readonlyPaths: bound onto themselves read-only. Missing paths are skipped (a
// kernel without /proc/sched_debug), as runc does.
void MaskAndReadOnlyInChild(const Spec& spec) {
  for (const auto& p : spec.masked_paths) {
    struct stat st;
    if (stat(p.c_str(), &st) < 0) {
      if (errno == ENOENT) continue;
      Check(-1, "stat", p);
    }
    if (S_ISDIR(st.st_mode)) {
      mount::Mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0");
    } else {
      mount::Mount("/dev/null", p, "", MS_BIND);
    }
  }
  for (const auto& p : spec.readonly_paths) {
    if (!PathExists(p)) continue;
    mount::Mount(p, p, "", MS_BIND | MS_REC);
    BindRemount(p, MS_RDONLY | MS_REC);
  }
}

void ConsoleInChild(const InitPlan& plan) {
  const Process& proc = plan.spec->process;
  if (!proc.terminal) {
    // A session of its own (as runc's init): no controlling terminal of the caller's.
    if (getsid(0) != getpid()) setsid();
    return;
  }
  // The pty comes from the container's own devpts (/dev/ptmx -> pts/ptmx): its slave
  // is /dev/pts/0 inside, and the host's ptys are never visible.
  console::Pty pty = console::OpenPty();
  if (proc.console_height || proc.console_width) {
    struct winsize ws = {};
    ws.ws_row = static_cast<unsigned short>(proc.console_height);
    ws.ws_col = static_cast<unsigned short>(proc.console_width);
    Check(ioctl(pty.master.Get(), TIOCSWINSZ, &ws), "ioctl", "TIOCSWINSZ");
  }
  // One message with the master as SCM_RIGHTS: what conmon and containerd-shim wait for.
  console::SendFd(plan.console_socket, pty.master.Get());
  pty.master.Reset();
  close(plan.console_socket);
  console::AttachInChild(pty.slave.Release());
}

int LastCap() {
  static int last = std::atoi(ReadFile("/proc/sys/kernel/cap_last_cap").c_str());
  return last;
}

void ApplyCaps(const Capabilities& c) {
  cap_t caps = CheckPtr(cap_init(), "cap_init");
  struct Free {
    cap_t c;
    ~Free() { cap_free(c); }
  } free_caps{caps};
  for (int i = 0; i <= LastCap(); ++i) {
    cap_value_t v = i;
    const uint64_t bit = uint64_t{1} << i;
    if (c.effective & bit) cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
    if (c.permitted & bit) cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
    if (c.inheritable & bit) cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_SET);
  }
  narrate::Syscall("capset", "process.capabilities");
  Check(cap_set_proc(caps), "cap_set_proc", "process.capabilities");
  Check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl", "PR_CAP_AMBIENT");
  // The kernel lets a capability into the ambient set only when it is permitted *and*
  // inheritable (capabilities(7)); `runc spec` lists ambient ones without the
  // inheritable set, and runc then leaves them out: so do we, said with --debug.
  for (int i = 0; i <= LastCap(); ++i) {
    const uint64_t bit = uint64_t{1} << i;
    if (!(c.ambient & bit)) continue;
    if (!(c.inheritable & bit) || !(c.permitted & bit)) {
      narrate::Step("ambient capability " + std::to_string(i) +
                    " skipped: not in both permitted and inheritable");
      continue;
    }
    Check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0), "prctl",
          "PR_CAP_AMBIENT_RAISE " + std::to_string(i));
  }
}

std::string EnvValue(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) return e.substr(key.size() + 1);
  return "";
}

// args[0] as execvp would find it with the container's PATH, checked before the
// process is released, so that `create` (not the start) reports a missing command
// with runc's words — podman turns them into exit codes 127 and 126.
std::string LookPath(const Process& proc) {
  const std::string& name = proc.args[0];
  auto check = [&](const std::string& p) -> int {
    struct stat st;
    if (stat(p.c_str(), &st) < 0 || S_ISDIR(st.st_mode)) return ENOENT;
    if (access(p.c_str(), X_OK) < 0) return EACCES;
    return 0;
  };
  if (name.find('/') != std::string::npos) {
    int e = check(name);
    if (e == ENOENT)
      throw ExitCodeError(process::kNotFound,
                          "exec: \"" + name + "\": stat " + name + ": no such file or directory");
    if (e == EACCES)
      throw ExitCodeError(process::kNotExecutable, "exec: \"" + name + "\": permission denied");
    return name;
  }
  std::string path = EnvValue(proc.env, "PATH");
  if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  bool denied = false;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    std::string dir = path.substr(i, j - i);
    std::string p = (dir.empty() ? "." : dir) + "/" + name;
    int e = check(p);
    if (e == 0) return p;
    if (e == EACCES) denied = true;
    i = j + 1;
  }
  if (denied)
    throw ExitCodeError(process::kNotExecutable, "exec: \"" + name + "\": permission denied");
  throw ExitCodeError(process::kNotFound,
                      "exec: \"" + name + "\": executable file not found in $PATH");
}

}  // namespace

std::string ApplyProcessInChild(const Process& proc, const Seccomp* seccomp) {
  // 1. rlimits (raising one above the hard limit needs CAP_SYS_RESOURCE).
  for (const auto& r : proc.rlimits) {
    struct rlimit l = {static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)};
    narrate::Syscall("setrlimit", r.name);
    if (setrlimit(r.resource, &l) < 0)
      Check(-1, "setrlimit", r.name + " " + std::to_string(r.soft) + ":" + std::to_string(r.hard));
  }
  // 2. The environment is exactly process.env (nothing of the runtime's).
  clearenv();
  for (const auto& e : proc.env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
  }
  // 3. Without noNewPrivileges the filter must be loaded while we still hold
  //    CAP_SYS_ADMIN (seccomp(2)); with it, as late as possible (runc's order).
  if (seccomp && !proc.no_new_privileges) LoadSeccompInChild(*seccomp);
  // 4. The user: the bounding set while we may still change it, then groups, gid,
  //    uid, keeping the permitted set across the uid change (PR_SET_KEEPCAPS).
  if (proc.capabilities) {
    for (int i = 0; i <= LastCap(); ++i)
      if (!(proc.capabilities->bounding & (uint64_t{1} << i)))
        Check(prctl(PR_CAPBSET_DROP, i, 0, 0, 0), "prctl", "PR_CAPBSET_DROP " + std::to_string(i));
  }
  Check(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl", "PR_SET_KEEPCAPS");
  const User& u = proc.user;
  narrate::Syscall("setgroups", std::to_string(u.additional_gids.size()) + " groups");
  if (setgroups(u.additional_gids.size(), u.additional_gids.data()) < 0 && errno != EPERM)
    Check(-1, "setgroups", "process.user.additionalGids");
  narrate::Syscall("setresgid", std::to_string(u.gid));
  Check(setresgid(u.gid, u.gid, u.gid), "setresgid", std::to_string(u.gid));
  narrate::Syscall("setresuid", std::to_string(u.uid));
  Check(setresuid(u.uid, u.uid, u.uid), "setresuid", std::to_string(u.uid));
  Check(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl", "PR_SET_KEEPCAPS");
  // 5. Capabilities: effective, permitted, inheritable, ambient as listed.
  if (proc.capabilities) ApplyCaps(*proc.capabilities);
  if (u.umask) umask(*u.umask);
  // 6. The working directory, as the user (its permissions apply).
  if (chdir(proc.cwd.c_str()) < 0)
    throw UsageError("chdir to cwd (\"" + proc.cwd + "\") set in config.json failed: " +
                     strerror(errno));
  // 7. The command must exist before we tell `create` we are ready.
  std::string path = LookPath(proc);
  // 8. no_new_privs, then the late filter.
  if (proc.no_new_privileges)
    Check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl", "PR_SET_NO_NEW_PRIVS");
  if (seccomp && proc.no_new_privileges) LoadSeccompInChild(*seccomp);
  return path;
}

void ExecProcess(const Process& proc, const std::string& path) {
  std::vector<char*> argv;
  for (const auto& a : proc.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execv(path.c_str(), argv.data());
  int e = errno;
  throw ExitCodeError(e == ENOENT ? process::kNotFound : process::kNotExecutable,
                      "exec: \"" + proc.args[0] + "\": " + strerror(e));
}

int InitInChild(const InitPlan& plan) {
  const Spec& spec = *plan.spec;
  // 0. Not dumpable until the execve (which makes the user's program dumpable again):
  //    while it waits for `start`, the init *is* the runtime's binary, and a process
  //    in the container could otherwise open /proc/INIT/exe — the host's binary — and
  //    write to it once we exit (CVE-2019-5736; runc's nsexec does the same).
  Check(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl", "PR_SET_DUMPABLE");
  // 1. The exec fifo: an O_PATH fd the parent opened while the host's state directory
  //    was reachable (after pivot_root it is not); the last step reopens it through
  //    /proc/self/fd to wait for `start`.
  UniqueFd fifo(plan.fifo_fd);
  if (plan.state_write_fd >= 0) close(plan.state_write_fd);
  // 2. Namespaces given by path (user first: it grants the rights to join the rest).
  for (const auto& [type, fd] : plan.join) {
    narrate::Syscall("setns", type);
    Check(setns(fd, 0), "setns", "linux.namespaces " + type);
    close(fd);
  }
  // 3. Root of a new user namespace: the parent has written the maps by now.
  if (spec.NewNamespace("user")) {
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
      narrate::Step("uid/gid 0 are not mapped: staying with the ids we have");
  }
  // 4. A cgroup namespace rooted at the cgroup the parent moved us into (so
  //    /proc/self/cgroup reads "/" inside; see common/cgroup.h UnshareInChild).
  //    First, where we are on the host, for a "cgroup" mount (step 7).
  const auto own_cgroups = cgroups::OwnDirs();
  if (plan.cgroup_ns_new) Check(unshare(CLONE_NEWCGROUP), "unshare", "CLONE_NEWCGROUP");
  // 5. Mount propagation: nothing we mount reaches the host, nor its mounts us.
  unsigned long prop = MS_PRIVATE;
  const unsigned long kShared = MS_SHARED, kSlave = MS_SLAVE;
  const std::string& rp = spec.rootfs_propagation;
  if (rp == "slave" || rp == "rslave") prop = MS_SLAVE;
  if (rp == "shared" || rp == "rshared") prop = MS_SHARED;
  if (rp == "unbindable" || rp == "runbindable") prop = MS_UNBINDABLE;
  // (shared: made shared again after pivot_root; until then slave, so that nothing
  // of ours reaches the host while we build the root)
  const unsigned long first = prop == kShared ? kSlave : prop;
  mount::Mount("", "/", "", MS_REC | first);
  // 6. The root, a mount point of its own (pivot_root needs one).
  const std::string& root = spec.root_path;
  mount::Mount(root, root, "", MS_BIND | MS_REC);
  // 7. config.json's mounts, in their order; then /dev's default devices.
  for (const auto& m : spec.mounts) {
    try {
      MountOne(root, m, own_cgroups);
    } catch (...) {
      Rethrow("config.json: mounts " + m.destination);
    }
  }
  SetupDevInChild(root, spec);
  // 8. createContainer hooks: container namespaces, still before pivot_root.
  std::string state_json;
  if (plan.state_fd >= 0) {
    state_json = ReadAll(plan.state_fd);
    close(plan.state_fd);
  }
  RunHooks(spec.hooks.create_container, "createContainer", state_json);
  // 9. pivot_root (never chroot, unless --no-pivot), then what needs the new /proc.
  PivotOrChroot(root, plan.no_pivot);
  if (prop == MS_SHARED) mount::Mount("", "/", "", MS_REC | MS_SHARED);
  WriteSysctls(spec);
  if (spec.root_readonly) BindRemount("/", MS_RDONLY);
  MaskAndReadOnlyInChild(spec);
  // 10. Hostname and domain name of the new UTS namespace.
  if (!spec.hostname.empty())
    Check(sethostname(spec.hostname.data(), spec.hostname.size()), "sethostname", spec.hostname);
  if (!spec.domainname.empty())
    Check(setdomainname(spec.domainname.data(), spec.domainname.size()), "setdomainname",
          spec.domainname);
  // 11. stdio: the pty (sent to the console socket) or the caller's, in a new session.
  ConsoleInChild(plan);
  // 12. The process: rlimits, env, user, capabilities, cwd, no_new_privs, seccomp.
  const Seccomp* sc = spec.seccomp ? &*spec.seccomp : nullptr;
  std::string path = ApplyProcessInChild(spec.process, sc);
  // 13. No fd of the runtime's crosses execve (CVE-2024-21626), except the
  //     --preserve-fds ones (3..3+N-1), which the manager passes on (LISTEN_FDS).
  for (int fd = 3; fd < 3 + plan.preserve_fds; ++fd) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  if (close_range(3 + plan.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    Check(-1, "close_range", std::to_string(3 + plan.preserve_fds));
  // 14. Ready: `create` returns. Then wait for `start`: open(2) of the fifo for
  //     writing blocks until `start` opens it for reading.
  process::ReportReadyInChild();
  const std::string reopen = "/proc/self/fd/" + std::to_string(fifo.Get());
  UniqueFd w;
  for (;;) {
    int fd = open(reopen.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      w.Reset(fd);
      break;
    }
    if (errno != EINTR) Check(-1, "open", "exec.fifo (" + reopen + ")");
  }
  WriteAll(w.Get(), "0", "exec.fifo");
  w.Reset();
  fifo.Reset();
  // 15. startContainer hooks, in the container, then the user's process.
  RunHooks(spec.hooks.start_container, "startContainer", state_json);
  ExecProcess(spec.process, path);
}

}  // namespace nslab::engine
