// shim — the monitor that sits between the CLI and a container: it holds the
// container's stdio, waits for its init, records how it ended, cleans up, exits.
//
// Teaches: after `docker run -d` the CLI is gone, yet someone must still be the
// container init's parent: reap it (or it stays a zombie), keep its pty master or
// output pipes open (or it gets SIGHUP/EPIPE) and write down its exit status. That
// someone is a small process per container — containerd-shim, conmon — detached from
// the CLI's session (setsid, double fork), reparented to init, and marked a *child
// subreaper* (PR_SET_CHILD_SUBREAPER) so that processes orphaned below it come to it
// rather than to PID 1. On the host `pstree -p` then shows
//   nslab-shim(812)───sh(813)
// The shim is its own tiny static binary (labs/nslab_shim.cc), so what stays resident
// per container is a few hundred KiB, like conmon's.
//
// The file descriptor contract with whoever execs it (the engine in the container's
// future parent, see container.h): fds 0-2 are the attached CLI's stdio (or
// /dev/null when detached), and
//   3  kReadyFd  — attached only: "exit N\n" is written here when the container ends;
//   4  kOutFd    — the pty master (tty) or the read end of the container's stdout;
//   5  kErrFd    — the read end of the container's stderr (no tty), else absent;
//   6  kInFd     — the write end of the container's stdin (-i without tty), else absent.
// argv: nslab-shim <state-dir> <id> <init-pid> [flags: t i a r] [<log-max>:<log-files>]
//   t = tty, i = interactive, a = attached, r = remove everything when it ends (--rm);
//   the log rotates at <log-max> bytes and keeps <log-files> files (default 10 MiB x 3).
// Signals to the shim: SIGWINCH — copy the window size of fd 0 onto the pty;
// SIGTERM/SIGINT/SIGHUP — SIGKILL the container (an attached CLI was interrupted).
// Read: prctl(2) PR_SET_CHILD_SUBREAPER, PR_SET_NAME; setsid(2); credentials(7);
// signalfd(2); poll(2); conmon's src/conmon.c.
//
//   shim::Options o{.state_dir = d, .id = id, .init = pid, .tty = true};
//   shim::Exec(shim::FindBinary(), o);        // in the double-forked process
#ifndef NSLAB_COMMON_SHIM_H_
#define NSLAB_COMMON_SHIM_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/state.h"

namespace nslab::shim {

inline constexpr int kReadyFd = 3;
inline constexpr int kOutFd = 4;
inline constexpr int kErrFd = 5;
inline constexpr int kInFd = 6;

// The name the shim shows in ps and pstree.
inline constexpr const char* kName = "nslab-shim";

inline constexpr int64_t kDefaultLogSizeMax = 10 << 20;
inline constexpr int kDefaultLogMaxFiles = 3;

// "10M", "512k", "1048576" -> bytes (powers of 1024), at least 4096. Throws UsageError
// naming the text.
int64_t ParseLogSize(const std::string& text);

struct Options {
  std::string state_dir;  // Base(), passed on as NSLAB_STATE_DIR semantics
  std::string id;
  pid_t init = 0;
  bool tty = false;
  bool interactive = false;
  bool attached = false;
  bool remove = false;
  // The container's log (issue 13): container.log is rotated to container.log.1 ...
  // when it would pass log_size_max bytes; log_max_files files are kept in all, so
  // the log never holds more than log_size_max * log_max_files bytes (Docker's
  // json-file max-size/max-file, conmon's --log-size-max).
  int64_t log_size_max = kDefaultLogSizeMax;
  int log_max_files = kDefaultLogMaxFiles;
};

// argv for the shim binary, and back.
std::vector<std::string> Argv(const std::string& binary, const Options& o);
// Throws UsageError on a malformed command line.
Options ParseArgv(int argc, char** argv);

// The nslab-shim binary: beside /proc/self/exe, else in its runfiles
// (<exe>.runfiles/nslab/labs/nslab-shim), else $NSLAB_SHIM. Throws ExitCodeError(125)
// naming where it looked.
std::string FindBinary();

// execve(2) of the shim: fds kReadyFd..kInFd must already be in place (not
// CLOEXEC). Returns only by throwing.
[[noreturn]] void Exec(const std::string& binary, const Options& o);

// The monitor itself (the shim binary's main): marks itself a subreaper, names
// itself, relays and logs output, waits for the init, records the exit, cleans up
// (CleanupAfterExit, and everything with --rm), reports to an attached CLI, returns
// its own exit code (0 normally).
int Run(const Options& o);

// What goes when a container has ended: its cgroup directories (anything left in
// them is SIGKILLed first) and its address allocation. Idempotent; errors are
// printed, not thrown (it runs from the shim and from `rm -f`, which must recover).
void CleanupAfterExit(const state::Record& r);

// Dir(id)/container.log: the container's output, as the shim captured it (the newest
// part; older parts are container.log.1, .2, ...).
std::string LogPath(const std::string& id);

// Writes the whole log of container id to fd, oldest rotated part first (what `logs`
// prints); streams it, whatever its size. Returns the bytes copied.
uint64_t CopyLog(const std::string& id, int fd);

}  // namespace nslab::shim

#endif  // NSLAB_COMMON_SHIM_H_
