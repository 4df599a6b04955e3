// nslab-shim — the per-container monitor of lab 11, as a binary of its own.
//
// The engine (11_container run) creates the container in a detached process and then
// execs this small, statically linked program in place of itself: same pid, so the
// container's init stays its child (nslab-shim───sh in pstree), but only a few hundred
// KiB stay resident per container instead of the whole CLI (conmon's reason to be a
// separate C program). Not meant to be started by hand; see common/shim.h for its
// argv and file descriptor contract.
//
// Read: common/shim.h, prctl(2) PR_SET_CHILD_SUBREAPER, signalfd(2), conmon(8).
#include <cstdio>

#include "common/error.h"
#include "common/shim.h"

int main(int argc, char** argv) {
  nslab::SetProgramName(nslab::shim::kName);
  try {
    return nslab::shim::Run(nslab::shim::ParseArgv(argc, argv));
  } catch (const std::exception& e) {
    return nslab::ReportError(e, 125);
  }
}
