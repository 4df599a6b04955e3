// probe — a static program copied into a container that tries the known escapes and
// reports, one line each, whether the container held.
//
// Teaches: a security claim is only as good as the attack that tests it. Runtimes
// test themselves from inside: crun runs tests/init.c in its containers, runc's
// integration tests run exploit steps in busybox. This probe is statically linked
// (no libc needed in the rootfs) and does what busybox cannot: chroot without exec in
// between, chdir through /proc/self/fd/N, open /proc/PID/exe for writing, raw ioctls
// and syscalls, unshare + mount cgroup v1 in one process.
//
//   probe status                    CapEff/CapBnd/NoNewPrivs/Seccomp and open fds
//   probe chroot SENTINEL           mkdir x; chroot x; cd ..(x64); chroot .; open SENTINEL
//   probe fdcwd SENTINEL            chdir /proc/self/fd/N, N = 3..20; reach SENTINEL
//   probe exe [SECONDS [DEV:INO,..]] open /proc/*/exe for writing (CVE-2019-5736), in a loop;
//                                   keep O_PATH fds and reopen them for writing at the end;
//                                   any fd on the listed host files is an escape
//   probe release-agent             unshare -UrmC; mount cgroup v1; write release_agent
//   probe tiocsti                   TIOCSTI on fds 0-2 and /dev/tty (CVE-2017-5226)
//   probe syscalls                  errnos of keyctl, unshare, mount, clone3, bpf...
//   probe masked                    masked and read-only /proc paths
//   probe crash                     dies of a segmentation fault (for fault tests)
//
// Output: "BLOCKED name: detail", "ESCAPED name: detail" or "INFO name: detail".
// Exit status: 0 when nothing escaped, 1 when something did, 2 for bad usage.
// Safe by construction: it never writes to an exe it manages to open, and writes
// release_agent only with the value it read from it.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

int g_escaped = 0;

void Say(const char* verdict, const std::string& name, const std::string& detail) {
  std::printf("%s %s: %s\n", verdict, name.c_str(), detail.c_str());
  std::fflush(stdout);
}
void Blocked(const std::string& n, const std::string& d) { Say("BLOCKED", n, d); }
void Escaped(const std::string& n, const std::string& d) {
  Say("ESCAPED", n, d);
  g_escaped = 1;
}
void Info(const std::string& n, const std::string& d) { Say("INFO", n, d); }

std::string ErrName(int e) {
  switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    case ETXTBSY: return "ETXTBSY";
    case ENOTTY: return "ENOTTY";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case ELOOP: return "ELOOP";
    case EFAULT: return "EFAULT";
    case ENOTDIR: return "ENOTDIR";
    case EBUSY: return "EBUSY";
    default: return "errno " + std::to_string(e);
  }
}
std::string Result(long rc) { return rc == -1 ? ErrName(errno) : "ok"; }

std::string ReadSmall(const std::string& path, size_t limit = 4096) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string s(limit, '\0');
  ssize_t n = read(fd, s.data(), limit);
  close(fd);
  s.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return s;
}

// Can this process read the sentinel through `path`?
bool ReadsSentinel(const std::string& path, const std::string& token) {
  std::string s = ReadSmall(path);
  return !token.empty() && s.find(token) != std::string::npos;
}

std::vector<int> OpenFds() {
  std::vector<int> out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  int own = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != own) out.push_back(fd);
  }
  closedir(d);
  return out;
}

std::string StatusLine(const std::string& key) {
  std::string s = ReadSmall("/proc/self/status", 1 << 16);
  size_t p = s.find("\n" + key + ":");
  if (p == std::string::npos) return "?";
  p = s.find_first_not_of(" \t", p + key.size() + 2);
  return s.substr(p, s.find('\n', p) - p);
}

int Status() {
  for (const char* k : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                        "Seccomp"})
    Info(k, StatusLine(k));
  std::string fds;
  for (int fd : OpenFds()) {
    char target[512] = {0};
    ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target,
                         sizeof target - 1);
    fds += (fds.empty() ? "" : " ") + std::to_string(fd) + "=" + (n > 0 ? target : "?");
  }
  Info("fds", fds);
  return 0;
}

// The sentinel is given as a host path; its token is the file name's last part
// (tests write the same token into the file), so the probe knows what to look for.
std::string TokenOf(const std::string& sentinel) {
  return sentinel.substr(sentinel.rfind('/') + 1);
}

std::string UpAndOver(const std::string& sentinel) {
  std::string rel;
  for (int i = 0; i < 64; ++i) rel += "../";
  return rel + sentinel.substr(sentinel.find_first_not_of('/'));
}

int Chroot(const std::string& sentinel) {
  const std::string token = TokenOf(sentinel);
  struct stat root_before;
  stat("/", &root_before);
  // The classic escape: chroot into a subdirectory *without* chdir into it. The cwd
  // is now outside the root, so ".." walks up freely; a second chroot(".") makes
  // wherever we ended the root. It defeats chroot(2); it must not defeat
  // pivot_root(2), which leaves no host directory above the container's root.
  const char* dir = "/tmp/.probe-chroot";
  mkdir("/tmp", 01777);
  if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
    Info("chroot", std::string("mkdir ") + dir + ": " + ErrName(errno));
    dir = "/.probe-chroot";
    mkdir(dir, 0700);
  }
  if (chroot(dir) == -1) {
    Blocked("chroot", std::string("chroot refused: ") + ErrName(errno));
    return 0;
  }
  for (int i = 0; i < 64; ++i) (void)!chdir("..");
  if (chroot(".") == -1) {
    Blocked("chroot", std::string("second chroot refused: ") + ErrName(errno));
    return 0;
  }
  struct stat root_after;
  stat("/", &root_after);
  if (ReadsSentinel(sentinel, token)) {
    Escaped("chroot", "read the host sentinel " + sentinel);
  } else {
    bool same = root_after.st_dev == root_before.st_dev &&
                root_after.st_ino == root_before.st_ino;
    Blocked("chroot", std::string("sentinel unreachable; walked up to ") +
                          (same ? "the container's own root" : "another directory") +
                          " (pivot_root, not chroot)");
  }
  return 0;
}

int FdCwd(const std::string& sentinel) {
  const std::string token = TokenOf(sentinel);
  int tried = 0;
  for (int n = 3; n <= 20; ++n) {
    const std::string path = "/proc/self/fd/" + std::to_string(n);
    if (chdir(path.c_str()) == -1) continue;  // EBADF/ENOENT (no such fd), ENOTDIR
    ++tried;
    char cwd[4096];
    bool outside = getcwd(cwd, sizeof cwd) == nullptr || cwd[0] != '/';
    if (ReadsSentinel(UpAndOver(sentinel), token))
      Escaped("fdcwd", path + " leads to the host: read the sentinel");
    else if (outside)
      Escaped("fdcwd", path + " is a directory outside the container's root");
    else
      Info("fdcwd", path + " is a directory inside the container");
    (void)!chdir("/");
  }
  if (g_escaped == 0)
    Blocked("fdcwd", tried == 0 ? "no directory fd in 3..20 (nothing leaked)"
                                : "no directory fd leads outside the root");
  return 0;
}

// The host binaries the test names (DEV:INO,DEV:INO as stat(2) gives them on the
// host: st_dev is one number per mounted filesystem, kernel-wide).
std::vector<std::pair<dev_t, ino_t>> g_host_files;
// O_PATH fds taken on exe links that are not files of the container, kept to the end
// (the CVE's patience: reopen for writing once the process has exited).
std::vector<std::pair<int, std::string>> g_held;

void ParseHostFiles(const std::string& list) {
  size_t pos = 0;
  while (pos < list.size()) {
    size_t comma = list.find(',', pos);
    std::string item = list.substr(pos, comma == std::string::npos ? comma : comma - pos);
    size_t colon = item.find(':');
    if (colon != std::string::npos)
      g_host_files.push_back({static_cast<dev_t>(std::strtoull(item.c_str(), nullptr, 10)),
                              static_cast<ino_t>(std::strtoull(item.c_str() + colon + 1, nullptr, 10))});
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
}

bool IsHostFile(const struct stat& st) {
  for (const auto& [dev, ino] : g_host_files)
    if (st.st_dev == dev && st.st_ino == ino) return true;
  return false;
}

// A memfd sealed against writes (the runtime's sealed copies): readable, never
// writable by anyone, so reaching it is no escape.
bool IsSealedAgainstWrites(int path_fd) {
  int r = open(("/proc/self/fd/" + std::to_string(path_fd)).c_str(), O_RDONLY | O_CLOEXEC);
  if (r < 0) return false;
  int seals = fcntl(r, F_GET_SEALS);
  close(r);
  return seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_SEAL);
}

// An fd opened for writing on an exe: an escape unless it is a sealed memfd, where
// the kernel refuses every write (fcntl(2) F_SEAL_WRITE), for root too.
bool WritableEscape(int wfd) {
  int seals = fcntl(wfd, F_GET_SEALS);
  return !(seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_SEAL));
}

// Tries to open every visible /proc/PID/exe for writing, directly and through an
// O_PATH fd reopened via /proc/self/fd (the CVE-2019-5736 route). Never writes.
void ScanExe(int* seen, int* opened) {
  DIR* d = opendir("/proc");
  if (!d) return;
  const pid_t self = getpid();
  while (dirent* e = readdir(d)) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0 || pid == self) continue;
    const std::string exe = std::string("/proc/") + e->d_name + "/exe";
    char target[512] = {0};
    if (readlink(exe.c_str(), target, sizeof target - 1) <= 0) continue;
    ++*seen;
    int fd = open(exe.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0 && !WritableEscape(fd)) {
      close(fd);
      fd = -1;
    }
    if (fd >= 0) {
      ++*opened;
      Escaped("exe", exe + " -> " + target + " opened for writing (not written)");
      close(fd);
      continue;
    }
    int path_fd = open(exe.c_str(), O_PATH | O_CLOEXEC);
    if (path_fd >= 0) {
      // The process may have exec'd between the readlink and the open (a trampoline
      // becoming the container's own command): judge what the fd holds, not the
      // name read before it.
      const std::string held = "/proc/self/fd/" + std::to_string(path_fd);
      ssize_t n = readlink(held.c_str(), target, sizeof target - 1);
      if (n <= 0) {
        close(path_fd);
        continue;
      }
      target[n] = '\0';
      // Reaching an executable that is not a file of the container (a runtime
      // process caught while joining, e.g. `exec` before it is non-dumpable) is
      // already the hole: the O_PATH fd could be reopened once the binary is idle.
      struct stat via_proc, by_path;
      bool have = fstat(path_fd, &via_proc) == 0;
      bool inside = have && stat(target, &by_path) == 0 && via_proc.st_dev == by_path.st_dev &&
                    via_proc.st_ino == by_path.st_ino;
      if (have && IsHostFile(via_proc)) {
        ++*opened;
        Escaped("exe", exe + " -> " + target + ": an fd on the host's runtime binary");
      } else if (!inside && !IsSealedAgainstWrites(path_fd)) {
        ++*opened;
        Escaped("exe", exe + " -> " + target + ": a host executable reachable through /proc");
      }
      int w = open(("/proc/self/fd/" + std::to_string(path_fd)).c_str(), O_WRONLY | O_CLOEXEC);
      if (w >= 0 && WritableEscape(w)) {
        ++*opened;
        Escaped("exe", exe + " -> " + target + " reopened for writing via O_PATH");
      }
      if (w >= 0) close(w);
      if (!inside && g_held.size() < 200) {
        g_held.push_back({path_fd, exe + " -> " + target});
      } else {
        close(path_fd);
      }
    }
  }
  closedir(d);
}

int Exe(int seconds) {
  int seen = 0, opened = 0, scans = 0;
  const time_t end = time(nullptr) + seconds;
  do {
    ScanExe(&seen, &opened);
    ++scans;
    if (seconds > 0) usleep(2000);
  } while (time(nullptr) < end && opened == 0);
  // The processes are gone by now: what the fds lead to is no longer "text busy".
  for (const auto& [fd, what] : g_held) {
    int w = open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_WRONLY | O_CLOEXEC);
    if (w >= 0 && WritableEscape(w)) {
      ++opened;
      Escaped("exe", what + ": reopened for writing after it exited");
    }
    if (w >= 0) close(w);
    close(fd);
  }
  if (opened == 0)
    Blocked("exe", "no /proc/PID/exe writable (" + std::to_string(scans) + " scans, " +
                       std::to_string(seen) + " exe links seen, " +
                       std::to_string(g_held.size()) + " sealed copies reached)");
  return 0;
}

bool WriteFile(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  close(fd);
  return ok;
}

int ReleaseAgent() {
  // CVE-2022-0492: `unshare -UrmC` gives a process every capability in a new user
  // namespace; it could then mount a cgroup v1 hierarchy and write release_agent, a
  // program the *host* kernel runs as root. Run in a child so the parent's reports
  // are simple.
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) == -1) {
    Blocked("release-agent", "unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWCGROUP): " +
                                 ErrName(errno));
    return 0;
  }
  WriteFile("/proc/self/setgroups", "deny");
  WriteFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
  WriteFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
  Info("release-agent", "unshare succeeded (user+mount+cgroup namespaces)");
  mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  const char* dir = "/tmp/.probe-cgroup";
  mkdir("/tmp", 01777);
  mkdir(dir, 0700);
  for (const char* opts : {"rdma", "memory", "pids", "cpu", "none,name=probe"}) {
    if (mount("cgroup", dir, "cgroup", 0, opts) == -1) {
      Info("release-agent", std::string("mount cgroup v1 -o ") + opts + ": " + ErrName(errno));
      continue;
    }
    const std::string agent = std::string(dir) + "/release_agent";
    std::string current = ReadSmall(agent);
    if (current.empty()) current = "\n";
    // Writes back exactly what is there: proves the capability, changes nothing.
    if (WriteFile(agent, current))
      Escaped("release-agent", std::string("wrote ") + agent + " (-o " + opts + ")");
    else
      Blocked("release-agent", std::string("write release_agent (-o ") + opts +
                                   "): " + ErrName(errno));
    umount2(dir, MNT_DETACH);
    return 0;
  }
  Blocked("release-agent", "no cgroup v1 hierarchy could be mounted");
  return 0;
}

int Tiocsti() {
  // CVE-2017-5226: push a character into the input queue of a terminal the
  // container shares with the user. The character is a harmless space.
  char c = ' ';
  bool any_ok = false;
  std::string detail;
  std::vector<std::pair<std::string, int>> fds = {{"fd0", 0}, {"fd1", 1}, {"fd2", 2}};
  int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty >= 0) fds.push_back({"/dev/tty", tty});
  for (auto& [name, fd] : fds) {
    long rc = ioctl(fd, TIOCSTI, &c);
    // The same request with high bits set: the kernel uses only the low 32.
    long rc_high = syscall(SYS_ioctl, fd, (1UL << 32) | TIOCSTI, &c);
    detail += name + "=" + Result(rc) + "/" + Result(rc_high) + " ";
    if (rc == 0 || rc_high == 0) any_ok = true;
  }
  if (tty >= 0) close(tty);
  if (any_ok)
    Escaped("tiocsti", detail);
  else
    Blocked("tiocsti", detail);
  return 0;
}

int Syscalls() {
  // Every call is harmless where it is allowed: missing paths, invalid types, the
  // current hostname — so running the probe on a host by mistake changes nothing.
  std::string d;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  d += "keyctl=" + Result(syscall(SYS_keyctl, 0 /*GET_KEYRING_ID*/, -3, 0));
  d += " add_key=" + Result(syscall(SYS_add_key, "probe-no-such-type", "p", "x", 1, -3));
  d += " mount=" + Result(mount("none", "/.probe-no-such-dir", "tmpfs", 0, nullptr));
  d += " clone3=" + Result(syscall(SYS_clone3, nullptr, 0));
  d += " bpf=" + Result(syscall(SYS_bpf, -1, nullptr, 0));
  d += " perf_event_open=" + Result(syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0));
  d += " open_by_handle_at=" + Result(syscall(SYS_open_by_handle_at, -1, nullptr, 0));
  d += " pivot_root=" + Result(syscall(SYS_pivot_root, "/.probe-no-such-dir", "/.probe-no-such-dir"));
  d += " sethostname=" + Result(sethostname(host, strlen(host)));
  d += " unshare_ns=" + Result(unshare(CLONE_NEWNS));
  d += " unshare_user=" + Result(unshare(CLONE_NEWUSER));
  Info("syscalls", d);
  return 0;
}

int Masked() {
  std::string d;
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                        "/proc/interrupts", "/proc/latency_stats", "/proc/acpi",
                        "/proc/scsi", "/sys/firmware"}) {
    struct stat st;
    if (lstat(p, &st) == -1) {
      d += std::string(p) + "=absent ";
      continue;
    }
    if (S_ISCHR(st.st_mode))
      d += std::string(p) + "=devnull ";
    else if (S_ISDIR(st.st_mode))
      d += std::string(p) + (mkdir((std::string(p) + "/x").c_str(), 0700) == -1
                                 ? "=dir:" + ErrName(errno) + " "
                                 : "=dir:writable ");
    else
      d += std::string(p) + "=file:" + std::to_string(ReadSmall(p, 1 << 16).size()) + "B ";
  }
  for (const char* p : {"/proc/sys/kernel/hostname", "/proc/sysrq-trigger",
                        "/proc/sys/kernel/core_pattern"}) {
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    d += std::string(p) + "=w:" + (fd >= 0 ? "ok" : ErrName(errno)) + " ";
    if (fd >= 0) close(fd);
  }
  Info("masked", d);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  const std::string arg = argc > 2 ? argv[2] : "";
  int rc = 2;
  if (cmd == "status") rc = Status();
  else if (cmd == "chroot" && !arg.empty()) rc = Chroot(arg);
  else if (cmd == "fdcwd" && !arg.empty()) rc = FdCwd(arg);
  else if (cmd == "exe") {
    if (argc > 3) ParseHostFiles(argv[3]);  // probe exe SECONDS DEV:INO,...
    rc = Exe(arg.empty() ? 0 : std::atoi(arg.c_str()));
  }
  else if (cmd == "release-agent") rc = ReleaseAgent();
  else if (cmd == "tiocsti") rc = Tiocsti();
  else if (cmd == "syscalls") rc = Syscalls();
  else if (cmd == "masked") rc = Masked();
  else if (cmd == "crash") {
    // A real fault: the kernel's SIGSEGV reaches even a PID namespace's init, which
    // ignores a SIGSEGV sent with kill(2) (it has no handler).
    *static_cast<volatile int*>(nullptr) = 0;
  }
  if (rc == 2) {
    std::fprintf(stderr,
                 "usage: probe status|chroot SENTINEL|fdcwd SENTINEL|exe [SECONDS]|"
                 "release-agent|tiocsti|syscalls|masked\n");
    return 2;
  }
  return g_escaped ? 1 : 0;
}
