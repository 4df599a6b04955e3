// trampoline — exec a container's command so that no process inside ever runs, or
// can reach, the host's runtime binary (CVE-2019-5736), at the cost of microseconds.
//
// Teaches: the attack of CVE-2019-5736 needs only one thing: a process of the
// container whose /proc/PID/exe is the runtime's binary on the host. The obvious
// route is a process caught while it joins (`exec`), closed by making it non-dumpable
// (security::SetNonDumpableInChild). The sly one is the container's own command: a
// script whose first line is "#!/proc/self/exe". execve(2) opens a script's
// interpreter in the exec'ing process, whose /proc/self/exe is still *our* binary;
// the script then runs the host's 11_container inside the container, dumpable,
// hardened or not — and any process there opens /proc/PID/exe O_PATH, waits for it
// to exit, and reopens it for writing through /proc/self/fd/N.
//
// runc's first fix copied its whole binary into a sealed memfd and re-executed it at
// every start (some 10 MB copied per start); crun re-execs a sealed copy too (~1.3 ms).
// Here the engine never execs the command itself: it execs a 9 KiB program without
// libc (common/trampoline_main.c) from a sealed memfd, which execs the command. The
// copy costs microseconds; the trampoline's /proc/PID/exe is the sealed memfd; and a
// script naming /proc/self/exe as its interpreter gets the trampoline, which refuses.
// Read: execve(2) "Interpreter scripts", memfd_create(2), fcntl(2) "File Sealing",
// execveat(2) AT_EMPTY_PATH, runc's libcontainer/nsenter/cloned_binary.c.
//
//   UniqueFd t = trampoline::Prepare();           // before fork/clone, in the engine
//   ...                                           // in the child, as its last step:
//   return trampoline::ExecInChild(t.Get(), command, process::ReportFdInChild());
#ifndef NSLAB_COMMON_TRAMPOLINE_H_
#define NSLAB_COMMON_TRAMPOLINE_H_

#include <string>
#include <vector>

#include "common/fd.h"

namespace nslab::trampoline {

// A memfd (close-on-exec) holding the trampoline built into this binary, sealed
// against every change (F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_SEAL).
// MFD_EXEC where the kernel knows it (vm.memfd_noexec, Linux 6.3).
UniqueFd Prepare();

// The trampoline's bytes (for tests and the docs).
size_t Size();

// The command's path as execvp(3) would find it on $PATH ("sh" -> "/bin/sh"), after
// the checks that give Docker's codes: ExitCodeError 127 when it is nowhere, 126 when
// it is not an executable regular file. Run in the child, inside the container's root.
std::string ResolveInChild(const std::string& command);

// Runs in the child as the very last step: execveat(trampoline_fd, "", AT_EMPTY_PATH)
// with argv "nslab-trampoline REPORT_FD PATH ARGV...". report_fd (the engine's error
// pipe, or -1) is made to survive this one execve; the trampoline marks it
// close-on-exec again and reports an execve failure of the command through it as
// "CODE message". Never returns; throws ExitCodeError (127/126) when the command
// cannot be found or run, SysError when the trampoline itself cannot be exec'd.
[[noreturn]] int ExecInChild(int trampoline_fd, const std::vector<std::string>& argv,
                             int report_fd);

}  // namespace nslab::trampoline

#endif  // NSLAB_COMMON_TRAMPOLINE_H_
