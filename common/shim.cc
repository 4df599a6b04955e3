#include "common/shim.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/console.h"
#include "common/error.h"
#include "common/narrate.h"
#include "common/process.h"
#include "common/subid.h"

namespace nslab::shim {
namespace {

// One stream the shim copies: from a container-side fd to the log and (attached)
// to the CLI's stdout/stderr.
struct Stream {
  int fd = -1;
  int out = -1;  // the attached CLI's fd, or -1
  bool open() const { return fd >= 0; }
};

void CloseStream(Stream& s) {
  if (s.fd >= 0) close(s.fd);
  s.fd = -1;
}

// The container's log, capped and rotated (issue 13): 400 MB on stdout must not give
// a 400 MB file. Each write that would pass the cap first shifts container.log ->
// .1 -> .2 ... (the oldest falls off) and starts an empty container.log, as Docker's
// json-file driver and conmon do. Memory stays one 16 KiB buffer whatever the flood:
// the shim writes what it reads before it reads again, so a container that writes
// faster than the disk is slowed by its full pipe, never buffered.
struct Log {
  std::string path;
  int fd = -1;
  int64_t size = 0, max = kDefaultLogSizeMax;
  int files = kDefaultLogMaxFiles;

  void Open() {
    fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    size = (fd >= 0 && fstat(fd, &st) == 0) ? st.st_size : 0;
  }
  void Rotate() {
    if (fd >= 0) close(fd);
    for (int k = files - 1; k >= 1; --k) {
      const std::string from = k == 1 ? path : path + "." + std::to_string(k - 1);
      rename(from.c_str(), (path + "." + std::to_string(k)).c_str());
    }
    if (files <= 1) unlink(path.c_str());
    Open();
  }
  void Write(const char* buf, size_t n) {
    while (fd >= 0 && n > 0) {
      if (size >= max) Rotate();
      if (fd < 0) return;
      size_t room = static_cast<size_t>(max - size);
      size_t part = n < room ? n : room;
      if (!console::WriteFully(fd, buf, part)) return;
      size += static_cast<int64_t>(part);
      buf += part;
      n -= part;
    }
  }
};

// Reads what is available on s and copies it. Returns false at EOF (or EIO, which
// a pty master returns once no process holds the slave any more).
bool Pump(Stream& s, Log& log) {
  char buf[16384];
  ssize_t n = read(s.fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  log.Write(buf, static_cast<size_t>(n));
  if (s.out >= 0 && !console::WriteFully(s.out, buf, static_cast<size_t>(n)))
    s.out = -1;  // the CLI went away: keep logging
  return true;
}

}  // namespace

std::string LogPath(const std::string& id) { return state::Dir(id) + "/container.log"; }

int64_t ParseLogSize(const std::string& text) {
  size_t i = 0;
  int64_t v = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && v < (int64_t{1} << 50))
    v = v * 10 + (text[i++] - '0');
  int shift = 0;
  if (i + 1 == text.size()) {
    switch (text[i] | 0x20) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      default: shift = -1;
    }
    ++i;
  }
  if (i == 0 || i != text.size() || shift < 0 || v >= (int64_t{1} << 40) || (v << shift) < 4096)
    throw UsageError("--log-size-max " + Quote(text) +
                     ": give a size of at least 4096 bytes, like 10M, 512k or 1048576");
  return v << shift;
}

uint64_t CopyLog(const std::string& id, int out) {
  const std::string path = LogPath(id);
  uint64_t total = 0;
  // Oldest first: the highest-numbered part that exists, down to container.log.
  for (int k = 64; k >= 0; --k) {
    const std::string part = k == 0 ? path : path + "." + std::to_string(k);
    int fd = open(part.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n < 0) continue;
      if (!console::WriteFully(out, buf, static_cast<size_t>(n))) break;
      total += static_cast<uint64_t>(n);
    }
    close(fd);
  }
  return total;
}

std::vector<std::string> Argv(const std::string& binary, const Options& o) {
  std::string flags = "-";
  if (o.tty) flags += 't';
  if (o.interactive) flags += 'i';
  if (o.attached) flags += 'a';
  if (o.remove) flags += 'r';
  return {binary, o.state_dir, o.id, std::to_string(o.init), flags,
          std::to_string(o.log_size_max) + ":" + std::to_string(o.log_max_files)};
}

Options ParseArgv(int argc, char** argv) {
  if (argc != 5 && argc != 6)
    throw UsageError(
        "usage: nslab-shim STATE_DIR ID INIT_PID -[tiar] [LOGMAX:FILES] (started by "
        "11_container run, not by hand)");
  Options o;
  o.state_dir = argv[1];
  o.id = argv[2];
  state::ValidateId(o.id);
  o.init = static_cast<pid_t>(std::atoi(argv[3]));
  if (o.init <= 0) throw UsageError(std::string("bad init pid \"") + argv[3] + "\"");
  for (const char* f = argv[4]; *f; ++f) {
    switch (*f) {
      case '-':
        break;
      case 't':
        o.tty = true;
        break;
      case 'i':
        o.interactive = true;
        break;
      case 'a':
        o.attached = true;
        break;
      case 'r':
        o.remove = true;
        break;
      default:
        throw UsageError(std::string("bad shim flag '") + *f + "'");
    }
  }
  if (argc == 6) {
    char* end = nullptr;
    o.log_size_max = std::strtoll(argv[5], &end, 10);
    o.log_max_files = (end && *end == ':') ? std::atoi(end + 1) : 0;
    if (o.log_size_max < 4096 || o.log_max_files < 1 || o.log_max_files > 64)
      throw UsageError("bad log limit " + Quote(argv[5]) + " (BYTES:FILES)");
  }
  return o;
}

std::string FindBinary() { return process::FindHelperBinary(kName, "NSLAB_SHIM"); }

void Exec(const std::string& binary, const Options& o) {
  std::vector<std::string> args = Argv(binary, o);
  args[0] = kName;  // what ps aux shows: "nslab-shim /run/nslab <id> <pid> -ti"
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string shown;
  for (const auto& a : args) shown += (shown.empty() ? "" : " ") + a;
  narrate::Syscall("execve", binary + " [" + shown + "]");
  std::fflush(stdout);
  std::fflush(stderr);
  execv(binary.c_str(), argv.data());
  Check(-1, "execv", binary);
  std::abort();  // not reached
}

namespace {

// SIGKILL to every process still in the cgroup dir (an exec'd process, say): the
// kernel empties the cgroup once they are reaped by their parents.
void KillCgroupMembers(const std::string& dir) {
  int fd = open((dir + "/cgroup.procs").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  std::string pids = ReadAll(fd, 1 << 16);
  close(fd);
  size_t pos = 0;
  while (pos < pids.size()) {
    pid_t p = static_cast<pid_t>(std::strtol(pids.c_str() + pos, nullptr, 10));
    if (p > 0) kill(p, SIGKILL);
    size_t nl = pids.find('\n', pos);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
}

}  // namespace

void CleanupAfterExit(const state::Record& r) {
  // A systemd scope's cgroup is systemd's to remove: it stops the scope when it sees
  // the cgroup empty and removes the directory then. Removed under it first, the
  // scope would stay "active (running)" with no cgroup at all (seen in the VM stage).
  const bool systemd_scope = r.cgroup_manager.rfind("systemd", 0) == 0;
  // Deepest first is the order they were recorded in reverse; each directory is a
  // leaf (the container could not create sub-cgroups: its cgroupfs is read-only).
  for (auto it = r.cgroups.rbegin(); it != r.cgroups.rend(); ++it) {
    const std::string& dir = *it;
    if (systemd_scope) {
      KillCgroupMembers(dir);
      continue;
    }
    for (int attempt = 0; attempt < 2000; ++attempt) {
      if (rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) {
        std::fprintf(stderr, "%s: rmdir \"%s\": %s\n", ProgramName().c_str(), dir.c_str(),
                     std::strerror(errno));
        break;
      }
      KillCgroupMembers(dir);  // still populated
      usleep(1000);
    }
  }
  // SECURITY(issue 13): the container's block of host ids is free again.
  if (r.user) subid::Release(subid::StateDir(), r.id);
  // The veth needs nothing: it goes with the container's network namespace, which
  // the kernel tears down from a workqueue a little later. Waiting for that here
  // would only slow down every `run --rm` (issue 9: nothing waited on synchronously
  // that the kernel tears down anyway); `rm` deletes it at once if it is still there.
  if (r.address_file.empty()) return;
  if (unlink(r.address_file.c_str()) < 0 && errno != ENOENT)
    std::fprintf(stderr, "%s: unlink \"%s\": %s\n", ProgramName().c_str(), r.address_file.c_str(),
                 std::strerror(errno));
  // The last address out removes the allocator's directory (ENOTEMPTY otherwise), as
  // net::ReleaseAddress does; the shim does not link libnl for that.
  const std::string dir = r.address_file.substr(0, r.address_file.rfind('/'));
  rmdir(dir.c_str());
}

int Run(const Options& o) {
  SetProgramName(kName);
  setenv("NSLAB_STATE_DIR", o.state_dir.c_str(), 1);
  // Shown as nslab-shim by ps -o comm and pstree whatever the binary was called.
  prctl(PR_SET_NAME, kName);
  // Orphans below us (the container's processes once its init is gone) come to us,
  // not to PID 1. Inherited through execve from the engine, which set it already
  // before cloning the init; set again so a shim started any other way behaves too.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);

  // Signals arrive as readable data in the poll loop (signalfd), never in the
  // middle of a write: no handler, no race between waitpid and poll.
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGWINCH, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd sigfd(Check(signalfd(-1, &mask, SFD_CLOEXEC), "signalfd", "SIGCHLD"));

  // Tell the CLI the container runs. A detached CLI then returns at once; an
  // attached one waits on the same pipe for "exit N".
  std::string started = "started " + std::to_string(o.init) + " " + std::to_string(getpid()) + "\n";
  console::WriteFully(kReadyFd, started.data(), started.size());
  if (!o.attached) close(kReadyFd);

  Log log;
  log.path = LogPath(o.id);
  log.max = o.log_size_max;
  log.files = o.log_max_files;
  log.Open();

  Stream out{kOutFd, o.attached ? STDOUT_FILENO : -1};
  Stream err{o.tty ? -1 : kErrFd, o.attached ? STDERR_FILENO : -1};
  // Keystrokes of the attached CLI go to the pty master (tty) or the stdin pipe.
  int in_fd = (o.attached && o.interactive) ? STDIN_FILENO : -1;
  int to_fd = o.tty ? kOutFd : (o.interactive ? kInFd : -1);
  if (o.tty && o.attached) console::CopyWindowSize(STDIN_FILENO, kOutFd);

  bool init_done = false;
  process::ExitStatus status;
  auto reap = [&] {
    for (;;) {
      int ws;
      pid_t p = waitpid(-1, &ws, WNOHANG);
      if (p <= 0) break;
      if (p == o.init) {
        init_done = true;
        status = process::Decode(ws);
      }
    }
  };
  reap();  // the init may have ended before we blocked SIGCHLD

  while (!init_done || out.open() || err.open()) {
    struct pollfd fds[4] = {
        {sigfd.Get(), POLLIN, 0}, {out.fd, POLLIN, 0}, {err.fd, POLLIN, 0}, {in_fd, POLLIN, 0}};
    // Once the init is gone the kernel has killed the rest of its PID namespace, so
    // the output ends soon; the timeout only guards against a writer we do not know.
    int n = poll(fds, 4, init_done ? 500 : -1);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) break;
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sigfd.Get(), &si, sizeof si) == sizeof si) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGCHLD) {
          reap();
        } else if (sig == SIGWINCH) {
          if (o.tty) console::CopyWindowSize(STDIN_FILENO, kOutFd);
        } else if (!init_done) {
          // An interrupted attached CLI, or `kill SHIM`: the container's init
          // ignores signals it has no handler for, so it gets SIGKILL.
          kill(o.init, SIGKILL);
        }
      }
    }
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && !Pump(out, log)) CloseStream(out);
    if ((fds[2].revents & (POLLIN | POLLHUP | POLLERR)) && !Pump(err, log)) CloseStream(err);
    if (fds[3].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t r = read(in_fd, buf, sizeof buf);
      if (r > 0 && to_fd >= 0 && console::WriteFully(to_fd, buf, static_cast<size_t>(r))) {
        // copied
      } else if (r == 0 || (r < 0 && errno != EINTR)) {
        in_fd = -1;  // the CLI's stdin ended: the container's stdin pipe ends too
        if (!o.tty && to_fd >= 0) {
          close(to_fd);
          to_fd = -1;
        }
      }
    }
  }
  if (!init_done) {  // output ended first (it closed its stdout): wait for the end
    status = process::WaitPid(o.init);
  }
  CloseStream(out);
  CloseStream(err);
  // With --rm, what is unlinked below is freed by the kernel only at its last close,
  // and on a disk filesystem (here /run is one) freeing an inode is journal work that
  // can take milliseconds under load. The log, the record and the lock on the
  // directory are therefore held open until the CLI has its answer: it returns as
  // soon as nothing of the container is visible, not when the blocks are freed.
  UniqueFd log_fd(log.fd);
  UniqueFd record_fd;

  // Record the end under the container's lock, so `rm` and `ps` see a whole record.
  int code = status.ShellCode();
  state::Lock lock;
  try {
    lock = state::Lock::Exclusive(state::Dir(o.id));
    state::Record r = state::Load(o.id);
    r.exited = true;
    r.exit_code = code;
    r.finished = state::Now();
    // --rm: the record goes in a moment; writing it first would only cost a file
    // write and a rename on the critical path of `run --rm`.
    if (!o.remove) state::Save(r);
    CleanupAfterExit(r);
    if (o.remove) {
      record_fd = UniqueFd(open((state::Dir(o.id) + "/state").c_str(), O_RDONLY | O_CLOEXEC));
      state::RemoveDir(o.id);
    }
  } catch (const std::exception& e) {
    // `rm -f` removed the directory under us: nothing left to record.
    if (!o.remove) std::fprintf(stderr, "%s: recording the exit: %s\n", kName, e.what());
  }
  if (o.attached) {
    std::string line = "exit " + std::to_string(code) + "\n";
    console::WriteFully(kReadyFd, line.data(), line.size());
  }
  return 0;
}

}  // namespace nslab::shim
