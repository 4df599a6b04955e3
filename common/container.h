// container — the engine: create a container from a spec, start it, read its state,
// signal it, delete it; and exec a process into a running one.
//
// Teaches: a container is the composition of every earlier lab. Its init is cloned
// into new uts, ipc, mnt, net, pid and cgroup namespaces (+ user with --user) and
// held on the sync pipe while the parent does what only the parent can (cgroup,
// veth, uid maps); then, in the child, in this order: private mounts, an overlay
// root (lower = the image, upper/work in the state directory) mounted *inside its
// own mount namespace* (so nothing is left on the host however it ends), /proc,
// /dev, /sys, pivot_root, hostname, network, masked paths, stdio, capabilities,
// no_new_privs, seccomp, exec. The engine is kept apart from the shim (shim.h) as
// crun is apart from conmon: the engine creates and starts, the shim watches.
//
// The flow of `run` (see docs/11_container.md):
//   CLI ──fork──> A ──setsid, fork──> B (A exits: B is reparented, detached)
//   B: PR_SET_CHILD_SUBREAPER, Create() clones the init, parent-side setup, Start()
//      lets it exec; B reports "started <pid>" to the CLI, then execs nslab-shim —
//      same pid, so the init stays its child: nslab-shim(B)───sh(init).
// Read: namespaces(7), clone(2), setns(2), pivot_root(2), overlayfs.rst, runc's
// libcontainer/process_linux.go and nsenter/, the OCI runtime spec (runtime.md).
//
//   container::Spec spec = ...;                  // from the CLI's flags
//   state::Record r = container::Prepare(spec);  // validates, state dir, record
//   int code = container::Run(spec, r);          // fork, detach, shim...
#ifndef NSLAB_COMMON_CONTAINER_H_
#define NSLAB_COMMON_CONTAINER_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/cgroup/placement.h"
#include "common/security.h"
#include "common/state.h"

namespace nslab::container {

// What the user asked for (the CLI's flags for `run`).
struct Spec {
  std::string image = "busybox";     // ignored when rootfs_dir is set
  std::string rootfs_dir;            // --rootfs DIR: run it as is (no overlay)
  std::vector<std::string> command;  // default {"sh"}
  std::string name, hostname;
  std::string net = "bridge";      // bridge | none
  std::string memory, pids, cpus;  // cgroup limits as typed ("" = none)
  // Integration hook (issue 12, cgroup): who makes the cgroup (--cgroup-manager).
  cgroup::Manager cgroup_manager = cgroup::Manager::kAuto;
  bool user = false;               // --user: a user namespace, root -> 65534
  bool detach = false, tty = false, interactive = false, remove = false;
  security::Profile security;  // --privileged, --cap-add, --cap-drop
  int64_t log_size_max = 10 << 20;  // --log-size-max (issue 13), 3 files kept by the shim
};

// Validates everything a typo could break (hostname, name, net mode, limits,
// capabilities, image, command) before anything is created; throws UsageError or
// ExitCodeError(125). Then allocates an id, creates the state directory and writes
// the first record (status "created").
state::Record Prepare(const Spec& spec);

// The whole `run`: fork/setsid/fork, create and start in the detached process,
// exec the shim there. Detached: prints nothing, returns 0 once the init has
// exec'd (the CLI prints the id). Attached: relays the terminal (raw mode with -t,
// SIGWINCH forwarded to the shim) and returns the container's exit code. A start
// failure returns its code (125, 126, 127) after printing one line.
int Run(const Spec& spec, const state::Record& record);

// `stop`: SIGTERM to the init, SIGKILL after `timeout_seconds`, then waits for the
// shim to record the end. A container already stopped is fine.
void Stop(const std::string& id, int timeout_seconds);

// `kill`-like: one signal to the init. Throws when it is not running.
void Signal(const std::string& id, int sig);

// `rm`: refuses a running container unless force (then SIGKILL first); removes its
// cgroup, veth, address, any mount left under its state dir, and the state dir.
// Always recovers with force, whatever state the record is in.
void Delete(const std::string& id, bool force);

struct ExecOptions {
  bool tty = false, interactive = false;
};
// `exec`: joins the running container's namespaces with setns(2) (user first when
// there is one), its cgroup and root, forks so the PID namespace applies, and runs
// command (with its own pty with tty). Returns the command's exit code. Refuses a
// container that is not running (ExitCodeError 125).
int Exec(const std::string& id, const std::vector<std::string>& command, const ExecOptions& opts);

// The running container's init pid (throws ExitCodeError 125 when not running).
pid_t InitPid(const std::string& id);

// Lines for `inspect`: the record as "key: value" lines.
std::vector<std::string> Describe(const state::Record& r);

}  // namespace nslab::container

#endif  // NSLAB_COMMON_CONTAINER_H_
