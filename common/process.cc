#include "common/process.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/narrate.h"

namespace nslab::process {
namespace {

// Signal forwarding: while a child runs, Ctrl-C (SIGINT), SIGTERM and SIGHUP sent to
// the lab are passed on to it, so that the lab goes on to wait and clean up instead
// of dying with mounts and links left behind. A PID namespace's init ignores every
// signal it has no handler for when it comes from outside (pid_namespaces(7)), so
// such a child gets SIGKILL, as `docker kill` would send.
volatile sig_atomic_t g_forward_pid = 0;
volatile sig_atomic_t g_forward_kill = 0;
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

void ForwardSignal(int sig) {
  pid_t pid = g_forward_pid;
  if (pid > 0) kill(pid, g_forward_kill ? SIGKILL : sig);
}

void StartForwarding(pid_t pid, bool kill_instead) {
  g_forward_pid = pid;
  g_forward_kill = kill_instead;
  struct sigaction sa = {};
  sa.sa_handler = ForwardSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : kForwarded) sigaction(sig, &sa, nullptr);
}

// Only the child that forwarding is for may stop it: when a Child is replaced by
// move-assignment, the new one has already started forwarding for itself.
void StopForwarding(pid_t pid) {
  if (g_forward_pid != pid) return;
  g_forward_pid = 0;
  struct sigaction sa = {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig : kForwarded) sigaction(sig, &sa, nullptr);
}

// Everything the child needs, in memory it gets a copy of (no CLONE_VM).
struct ChildArgs {
  ChildFn* fn;
  int go_read, go_write, report_read, report_write;
  bool kill_with_parent;
};

// Reports an error to the parent in the form "<exit code> <message>" and returns
// the exit code.
int ReportToParent(int fd, int code, const char* message) {
  std::string line = std::to_string(code) + " " + message;
  (void)!write(fd, line.data(), line.size());
  return code;
}

// The error pipe of the clone child we are (-1 in any other process, and once
// ReportReadyInChild closed it). Each child has its own copy (no CLONE_VM).
int g_report_fd = -1;

int ChildMain(void* raw) {
  auto* args = static_cast<ChildArgs*>(raw);
  g_report_fd = args->report_write;
  narrate::SetRole(narrate::Role::kChild);
  // Our copies of the parent's pipe ends would keep the pipes open forever.
  close(args->go_write);
  close(args->report_read);
  int code = 0;
  try {
    if (args->kill_with_parent) {
      // If the lab dies, take the sandbox with it (issue: no orphaned sandboxes).
      Check(prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl", "PR_SET_PDEATHSIG");
    }
    // The handlers installed by the parent for forwarding are not wanted here.
    for (int sig : kForwarded) signal(sig, SIG_DFL);
    // Wait for the parent. EOF instead of a byte means the parent died before it
    // could tell us to go (and before our PR_SET_PDEATHSIG took effect): give up.
    char byte;
    ssize_t n;
    do {
      n = read(args->go_read, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(kSetupFailed);
    close(args->go_read);
    code = (*args->fn)();
  } catch (const ExitCodeError& e) {
    code = g_report_fd < 0 ? ReportError(e, e.exit_code())
                           : ReportToParent(g_report_fd, e.exit_code(), e.what());
  } catch (const std::exception& e) {
    code = g_report_fd < 0 ? ReportError(e, kSetupFailed)
                           : ReportToParent(g_report_fd, kSetupFailed, e.what());
  }
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

// Is there a file called `name` in a directory of $PATH (execvp's default when unset)?
bool FoundOnPath(const std::string& name) {
  const char* env = std::getenv("PATH");
  const std::string path = env ? env : "/bin:/usr/bin";
  size_t start = 0;
  for (;;) {
    size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? end : end - start);
    struct stat st;
    if (stat(((dir.empty() ? "." : dir) + "/" + name).c_str(), &st) == 0) return true;
    if (end == std::string::npos) return false;
    start = end + 1;
  }
}

}  // namespace

int ReportFdInChild() { return g_report_fd; }

std::string ExitStatus::Describe() const {
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return "killed by signal " + std::to_string(signal) + " (SIG" +
           (name ? name : "?") + ")" + (core_dumped ? ", core dumped" : "");
  }
  return "exited with status " + std::to_string(code);
}

ExitStatus Decode(int wstatus) {
  ExitStatus st;
  if (WIFEXITED(wstatus)) {
    st.code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    st.signal = WTERMSIG(wstatus);
    st.core_dumped = WCOREDUMP(wstatus);
  }
  return st;
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      go_(std::move(other.go_)),
      report_(std::move(other.report_)),
      forwarding_(std::exchange(other.forwarding_, false)) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    Child previous(std::move(*this));  // its destructor kills and reaps our old child
    pid_ = std::exchange(other.pid_, -1);
    go_ = std::move(other.go_);
    report_ = std::move(other.report_);
    forwarding_ = std::exchange(other.forwarding_, false);
  }
  return *this;
}

Child::~Child() {
  if (forwarding_) StopForwarding(pid_);
  if (pid_ > 0) {
    int saved = errno;
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    errno = saved;
  }
}

void Child::Go() {
  if (!go_.Valid()) throw std::logic_error("Child::Go() called twice or on no child");
  narrate::Syscall("write", "sync pipe: go");
  // A child killed before it read the byte leaves the pipe without a reader: write(2)
  // then raises SIGPIPE, which would end us silently. Ignore it for this one write
  // and let Wait() tell how the child ended.
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, &old);
  ssize_t n;
  do {
    n = write(go_.Get(), "g", 1);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  sigaction(SIGPIPE, &old, nullptr);
  go_.Reset();
  if (n < 0 && err != EPIPE) Check(-1, "write", "sync pipe");
  if (n < 0) {  // EPIPE: the child is gone
    report_.Reset();
    return;
  }
  // Blocks until the child execs (close-on-exec closes its end) or exits.
  std::string report = ReadAll(report_.Get());
  report_.Reset();
  if (report.empty()) return;
  int code = kSetupFailed;
  size_t space = report.find(' ');
  if (space != std::string::npos) {
    code = std::atoi(report.substr(0, space).c_str());
    report.erase(0, space + 1);
  }
  throw ExitCodeError(code, report);
}

void ReportReadyInChild() {
  if (g_report_fd < 0) return;
  close(g_report_fd);  // the parent's Go() reads EOF: "set up", as after an execve
  g_report_fd = -1;
}

ExitStatus WaitPid(pid_t pid) {
  int wstatus = 0;
  for (;;) {
    pid_t r = waitpid(pid, &wstatus, 0);
    if (r >= 0) break;
    if (errno == EINTR) continue;
    Check(r, "waitpid", std::to_string(pid));
  }
  return Decode(wstatus);
}

void RunInChild(const ChildFn& fn) {
  narrate::SetRole(narrate::Role::kChild);
  int code;
  try {
    code = fn();
  } catch (const std::exception& e) {
    code = ReportError(e, kSetupFailed);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

ExitStatus Child::Wait() {
  // waitpid(-1) would reap *any* child: never let a spent Child do that.
  if (pid_ <= 0) throw std::logic_error("Child::Wait() called twice or on no child");
  ExitStatus st = WaitPid(pid_);
  if (forwarding_) {
    StopForwarding(pid_);
    forwarding_ = false;
  }
  pid_ = -1;
  return st;
}

pid_t Child::Release() {
  if (forwarding_) {
    StopForwarding(pid_);
    forwarding_ = false;
  }
  return std::exchange(pid_, -1);
}

Child Clone(const CloneOptions& opts, ChildFn fn) {
  if (opts.flags & CLONE_NEWTIME) {
    // clone(2) reads its low byte as the exit signal, and CLONE_NEWTIME (0x80) lies
    // in it: the kernel would refuse with a bare EINVAL.
    throw UsageError(
        "clone(2) cannot create a time namespace: call unshare(CLONE_NEWTIME) and fork "
        "instead (see time_namespaces(7))");
  }
  Pipe go = MakePipe();
  Pipe report = MakePipe();

  // A stack of our own, with one PROT_NONE guard page below it so that an overflow
  // faults instead of silently writing over other memory. Stacks grow down on every
  // architecture Linux runs containers on, so clone() gets the top address.
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t total = opts.stack_size + page;
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) Check(-1, "mmap", "child stack");
  Check(mprotect(mem, page, PROT_NONE), "mprotect", "stack guard page");
  char* stack_top = static_cast<char*>(mem) + total;

  ChildArgs args{&fn, go.read.Get(), go.write.Get(), report.read.Get(),
                 report.write.Get(), opts.kill_with_parent};
  const int flags = opts.flags | SIGCHLD;
  narrate::Syscall("clone", CloneFlagsToString(flags));
  std::fflush(stdout);  // or the child would print our buffered output again
  std::fflush(stderr);
  pid_t pid = clone(ChildMain, stack_top, flags, &args);
  int saved = errno;
  // Without CLONE_VM the child has its own copy of the stack: ours can go now.
  munmap(mem, total);
  if (pid < 0) {
    errno = saved;
    Check(-1, "clone", CloneFlagsToString(flags));
  }

  Child child;
  child.pid_ = pid;
  child.go_ = std::move(go.write);
  child.report_ = std::move(report.read);
  if (opts.forward_signals) {
    StartForwarding(pid, (opts.flags & CLONE_NEWPID) != 0);
    child.forwarding_ = true;
  }
  return child;  // go.read and report.write close here: only the child holds them
}

int Exec(const std::vector<std::string>& argv) {
  if (argv.empty()) throw ExitCodeError(kSetupFailed, "no command to run");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  narrate::Syscall("execvp", argv[0]);
  std::fflush(stdout);
  // execvp(3) reports EACCES when some PATH directory could not be searched and the
  // command was found nowhere else; a shell calls that "not found" (127), so do we.
  if (argv[0].find('/') == std::string::npos && !FoundOnPath(argv[0])) {
    throw ExitCodeError(kNotFound, SysError(ENOENT, "execvp", argv[0],
                                            HintFor("execvp", ENOENT))
                                       .what());
  }
  execvp(args[0], args.data());
  int err = errno;
  int code = (err == ENOENT || err == ENOTDIR) ? kNotFound : kNotExecutable;
  throw ExitCodeError(code, SysError(err, "execvp", argv[0], HintFor("execvp", err)).what());
}

int ParseSignal(const std::string& text) {
  std::string name = text;
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit) && name.size() < 4) {
    int n = std::atoi(name.c_str());
    if (n >= 1 && n <= SIGRTMAX) return n;
  } else {
    for (int sig = 1; sig < SIGRTMIN; ++sig) {
      const char* abbrev = sigabbrev_np(sig);
      if (abbrev != nullptr && name == abbrev) return sig;
    }
  }
  throw UsageError("unknown signal " + Quote(text) + " (a name like TERM or KILL, or a number)");
}

std::string CloneFlagsToString(int flags) {
  static const struct {
    int flag;
    const char* name;
  } kFlags[] = {
      {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {CLONE_NEWIPC, "CLONE_NEWIPC"},
      {CLONE_NEWNET, "CLONE_NEWNET"},       {CLONE_NEWNS, "CLONE_NEWNS"},
      {CLONE_NEWPID, "CLONE_NEWPID"},       {CLONE_NEWUSER, "CLONE_NEWUSER"},
      {CLONE_NEWUTS, "CLONE_NEWUTS"},       {CLONE_NEWTIME, "CLONE_NEWTIME"},
      {CLONE_VM, "CLONE_VM"},               {CLONE_FILES, "CLONE_FILES"},
      {CLONE_VFORK, "CLONE_VFORK"},         {CLONE_PARENT, "CLONE_PARENT"},
  };
  std::string out;
  int rest = flags;
  for (const auto& f : kFlags) {
    if ((flags & f.flag) == f.flag) {
      if (!out.empty()) out += "|";
      out += f.name;
      rest &= ~f.flag;
    }
  }
  int sig = rest & CSIGNAL;
  rest &= ~CSIGNAL;
  if (sig != 0) {
    if (!out.empty()) out += "|";
    const char* name = sigabbrev_np(sig);
    out += std::string("SIG") + (name ? name : std::to_string(sig).c_str());
  }
  if (rest != 0) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "%s0x%x", out.empty() ? "" : "|", rest);
    out += hex;
  }
  return out.empty() ? "0" : out;
}

std::string FindHelperBinary(const std::string& name, const char* env_var) {
  auto executable = [](const std::string& p) { return access(p.c_str(), X_OK) == 0; };
  std::vector<std::string> tried;
  if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0') {
    if (executable(env)) return env;
    tried.push_back(env);
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    std::string self(exe);
    std::string dir = self.substr(0, self.rfind('/'));
    for (const std::string& p : {dir + "/" + name, self + ".runfiles/nslab/labs/" + name}) {
      if (executable(p)) return p;
      tried.push_back(p);
    }
  }
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    const char* env = std::getenv(var);
    if (env == nullptr || *env == '\0') continue;
    std::string p = std::string(env) + "/nslab/labs/" + name;
    if (executable(p)) return p;
    tried.push_back(p);
  }
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t;
  throw ExitCodeError(kSetupFailed, "cannot find the " + name + " binary (looked at " + where +
                                        "; build it with `bazel build //labs:" + name + "`)");
}

}  // namespace nslab::process
