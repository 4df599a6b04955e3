// subreaper_exec — runs a command as a child subreaper: `subreaper_exec CMD ARGS...`.
//
// Teaches: an orphan is adopted by its nearest ancestor that called
// prctl(PR_SET_CHILD_SUBREAPER), else by PID 1. containerd 1.6 starts each
// containerd-shim-runc-v2 through `shim start`, which spawns the real shim and exits,
// so the shim is an orphan at once; on a systemd host it lands under PID 1, and
// pstree shows systemd───containerd-shim-runc-v2───sh, not the
// containerd───containerd-shim───sh of the reference observation (shim v1, which
// containerd forked and kept). Started through this program, containerd is the
// subreaper the shim falls back to, and the reference shape comes back. The attribute
// survives execve(2) but not fork(2). Read: prctl(2) PR_SET_CHILD_SUBREAPER, execve(2).
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

#include "common/error.h"

int main(int argc, char** argv) {
  nslab::SetProgramName("subreaper_exec");
  if (argc < 2) {
    std::fprintf(stderr, "usage: subreaper_exec CMD [ARG...]\n");
    return 2;
  }
  try {
    nslab::Check(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl", "PR_SET_CHILD_SUBREAPER");
    nslab::Check(execvp(argv[1], argv + 1), "execvp", argv[1]);
  } catch (const std::exception& e) {
    return nslab::ReportError(e, 127);  // 127: not run, as a shell says it
  }
}
