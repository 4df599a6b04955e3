// pid — the PID namespace: the first process is PID 1 inside and an ordinary pid
// outside, and it inherits init's duties.
//
// Teaches: a process has one pid per PID namespace it is visible in, from the
// outermost to its own; /proc/PID/status lists them on the NSpid line
// ("NSpid: 4242 1"). The first process of a new namespace is its init: orphans of
// the namespace are reparented to it and it must reap them or they stay zombies;
// it ignores signals from inside it has no handler for; and when it dies the kernel
// SIGKILLs everything else in the namespace. A minimal init (tini, docker --init,
// catatonit) forwards signals to the real program and reaps everything.
// Read: pid_namespaces(7), proc(5) (NSpid), wait(2), prctl(2) PR_SET_CHILD_SUBREAPER.
//
//   auto pids = pid::NsPids(child.pid());          // {4242, 1}
//   // in a PID-namespace init that forks a program and must reap its orphans:
//   return pid::RunAsInit([&] { return process::Exec(cmd); });
#ifndef NSLAB_COMMON_PID_H_
#define NSLAB_COMMON_PID_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/process.h"

namespace nslab::pid {

// The NSpid line of /proc/PID/status: PID as seen from the namespace of the /proc
// mount read (normally the host's) down to its own namespace, e.g. {4242, 1}.
// Throws SysError when the process does not exist.
std::vector<pid_t> NsPids(pid_t pid);
// Parses the text of a status file (for tests); empty when there is no NSpid line.
std::vector<pid_t> ParseNsPids(const std::string& status_text);
// "4242 1": NsPids joined by spaces, for tables.
std::string NsPidsString(pid_t pid);

// This process's pid as the mounted /proc sees it: readlink("/proc/self"). In a new
// PID namespace that still uses the host's /proc (lab 05) this is the host pid —
// one reason a container needs its own /proc (lab 06).
pid_t PidInProcMount();

// One child that ended and was reaped.
struct Reaped {
  pid_t pid = 0;
  process::ExitStatus status;
};

// waitpid(-1) in a loop: reaps every child that has already ended (WNOHANG), or,
// with block = true, waits until there are no children left at all (ECHILD). This
// is an init's duty: orphans reparented to PID 1 become zombies until it does so.
std::vector<Reaped> ReapAllInChild(bool block = false);

struct InitOptions {
  // Signals sent to the init are passed on to the program (tini's default set).
  bool forward_signals = true;
  // The init narrates each orphan it reaps (-v narration, [child 1] ...).
  bool narrate_reaps = true;
};

// A minimal init, run by PID 1 of a new PID namespace (or by a subreaper): forks
// `program` (which usually ends with process::Exec), forwards SIGINT, SIGTERM,
// SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH to it, reaps every process that
// ends — the program and any orphan — and returns the program's shell code (code,
// or 128 + signal) once the program has ended. Like tini, but in-process.
int RunAsInit(const process::ChildFn& program, const InitOptions& opts = {});

// The State line of /proc/PID/status: "Z (zombie)", "S (sleeping)"; "?" when the
// line is missing. Throws SysError when the process does not exist.
std::string ProcessState(pid_t host_pid);

// --- Lab 05's demo ---

// Run by PID 1 of a new PID namespace that still uses the host's /proc: shows its
// pids, the host's /proc, then an init's duties step by step — an orphan reparented
// to it and left a zombie until reaped, and a sleeper left running when it exits.
// `victim_out` is a pipe to the host: the sleeper writes its host pid there.
int ShowInitDutiesInChild(int victim_out);
// Run by the host after PID 1 has exited: reads the sleeper's host pid from
// `victim_in` (nothing when the demo failed first) and shows that the kernel killed it.
void ShowSleeperKilledFromParent(int victim_in);

}  // namespace nslab::pid

#endif  // NSLAB_COMMON_PID_H_
