// process — clone(2) with a stack of our own, a parent/child sync pipe, waiting, and
// decoding how a child ended.
//
// Teaches: a container is a process started with clone(2) and namespace flags. The
// child often must wait while the parent prepares things only the parent can do
// (write its uid_map, move it into a cgroup, give it a veth). The classic way (TLPI
// ch. 28, crun's sync socket) is a pipe: the child blocks in read(2) until the parent
// writes one byte. A second pipe, close-on-exec, carries the child's error back: when
// execve succeeds the kernel closes it and the parent reads EOF; when anything fails
// first, the child writes why, and the parent prints it once.
// Read: clone(2), wait(2), execve(2), prctl(2) PR_SET_PDEATHSIG, pipe(7).
//
//   process::Child child = process::Clone({CLONE_NEWUTS}, [&] {
//     uts::SetHostname("nslab");        // runs in the child, after Go()
//     return process::Exec(command);    // never returns
//   });
//   /* parent prepares here */
//   child.Go();                         // child continues; throws its setup error
//   return child.Wait().ShellCode();
#ifndef NSLAB_COMMON_PROCESS_H_
#define NSLAB_COMMON_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "common/fd.h"

namespace nslab::process {

// How a child ended: an exit code, or the signal that killed it.
struct ExitStatus {
  int code = 0;
  int signal = 0;
  bool core_dumped = false;
  bool Signaled() const { return signal != 0; }
  // What a shell reports in $?: the code, or 128 + signal.
  int ShellCode() const { return signal != 0 ? 128 + signal : code; }
  // "exited with status 3" / "killed by signal 9 (SIGKILL)".
  std::string Describe() const;
};
ExitStatus Decode(int wstatus);

// Exit codes a child uses when it fails before running the command (like shells,
// tini and Docker): 125 the sandbox could not be set up, 126 not executable,
// 127 not found.
inline constexpr int kSetupFailed = 125;
inline constexpr int kNotExecutable = 126;
inline constexpr int kNotFound = 127;

struct CloneOptions {
  int flags = 0;                    // CLONE_NEW* flags; SIGCHLD is added
  bool kill_with_parent = true;     // PR_SET_PDEATHSIG(SIGKILL) in the child
  bool forward_signals = true;      // SIGINT/SIGTERM/SIGHUP to us go on to the child
  size_t stack_size = 1 << 20;      // plus one guard page below it
};

// Code run in the child. It returns an exit code or calls Exec(). Exceptions it
// throws are reported to the parent (they never cross the clone).
using ChildFn = std::function<int()>;

class Child {
 public:
  Child() = default;
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // A child that was never waited for is killed (SIGKILL) and reaped, so an
  // exception in the parent leaves no orphan or zombie behind.
  ~Child();

  pid_t pid() const { return pid_; }

  // Tells the child to continue, then blocks until it has exec'd (the error pipe
  // closes) or has ended. If it reported an error, throws ExitCodeError with the
  // child's message and exit code.
  void Go();
  // Waits for the child to end (retrying on EINTR) and returns how it ended.
  ExitStatus Wait();
  // Gives up ownership: the destructor will no longer kill or reap it.
  pid_t Release();

 private:
  friend Child Clone(const CloneOptions&, ChildFn);
  pid_t pid_ = -1;
  UniqueFd go_;      // write end: one byte lets the child continue
  UniqueFd report_;  // read end: the child's error message, EOF on exec
  bool forwarding_ = false;
};

// Runs in a child made by Clone: tells the parent's Go() that setup is done without
// an execve (closes the report pipe). For a child that then waits for something
// else before it execs (the OCI engine's init blocks on its exec fifo until
// `start`); an error after this is printed on the child's stderr instead.
void ReportReadyInChild();

// waitpid(2) until pid ends (retrying on EINTR); how it ended.
ExitStatus WaitPid(pid_t pid);

// For code right after fork(2) in the child: runs fn and _exits with what it
// returns. An exception is printed once on stderr and becomes the exit code it
// carries (127, 126) or 125. Never returns: the child must not unwind into the
// parent's code.
[[noreturn]] void RunInChild(const ChildFn& fn);

// clone(2) with `opts.flags | SIGCHLD` on a freshly mapped stack. The child blocks
// until Go(); then it runs fn and _exits with what fn returns.
Child Clone(const CloneOptions& opts, ChildFn fn);

// Runs in a child: execvp(argv). Declared to return int so that a child function
// can end with `return process::Exec(cmd);` — it never returns. On failure throws ExitCodeError 127 (not found) or
// 126 (not executable) whose message names the command and errno.
[[noreturn]] int Exec(const std::vector<std::string>& argv);

// In a child made by Clone: the write end of its error pipe (close-on-exec, so
// the parent sees EOF at the execve); -1 elsewhere. For an exec that goes through
// another program first (common/trampoline.h), which reports on it instead.
int ReportFdInChild();

// Renders clone flags as text: "CLONE_NEWUTS|CLONE_NEWPID|SIGCHLD" (nsjail's
// cloneFlagsToStr); used by the -v narration.
std::string CloneFlagsToString(int flags);

// A signal given by a user: "TERM", "SIGTERM", "sigterm" or "15". Throws UsageError
// naming the text when it is no signal of this kernel (1..SIGRTMAX).
int ParseSignal(const std::string& text);

// A helper binary that ships beside ours (nslab-shim, nslab-net): $ENV_VAR if set,
// else next to /proc/self/exe, in its Bazel runfiles, or under $RUNFILES_DIR /
// $TEST_SRCDIR. Throws ExitCodeError(125) naming every place looked at and the
// bazel target that builds it.
std::string FindHelperBinary(const std::string& name, const char* env_var);

}  // namespace nslab::process

#endif  // NSLAB_COMMON_PROCESS_H_
