// engine/init — what the container's init does in its new namespaces, step by step,
// from the clone to the execve of the user's process.
//
// Teaches: OCI splits a start in two. `create` builds the whole container — the
// namespaces, the mounts in config.json's order, pivot_root, hostname, sysctls,
// masked paths, the user, the capabilities, the seccomp filter — and leaves its init
// blocked one step before execve; `start` only lets it go. The init blocks by opening
// a FIFO in the state directory for writing (runc's exec.fifo): open(2) on a FIFO
// waits until someone opens the other end, and `start` does exactly that. The FIFO
// is opened with O_PATH *before* pivot_root (afterwards the host's state directory
// is out of reach) and reopened for writing through /proc/self/fd/N at the end.
// Each protection and optimisation is one named step of InitInChild (see init.cc),
// in the order runc's standard_init_linux.go applies them.
// Read: runc's libcontainer/standard_init_linux.go and rootfs_linux.go, crun's
// libcrun/linux.c, fifo(7), pivot_root(2), capabilities(7), seccomp(2).
#ifndef NSLAB_COMMON_ENGINE_INIT_H_
#define NSLAB_COMMON_ENGINE_INIT_H_

#include <string>
#include <vector>

#include "common/engine/spec.h"

namespace nslab::engine {

// What the parent prepared for the init (fds stay valid in the clone's copy).
struct InitPlan {
  const Spec* spec = nullptr;
  std::string state_dir;   // ROOT/ID on the host
  std::string fifo;        // ROOT/ID/exec.fifo (for messages)
  int fifo_fd = -1;        // the fifo, O_PATH, opened by the parent
  int console_socket = -1;  // terminal: the socket the pty master goes to
  bool no_pivot = false;
  int preserve_fds = 0;     // fds 3..3+N-1 stay open across execve
  // linux.namespaces with a path, opened by the parent (type, fd), user first.
  std::vector<std::pair<std::string, int>> join;
  int cgroup_ns_new = 0;    // unshare(CLONE_NEWCGROUP) after the cgroup move
  std::string state_json;   // for createContainer/startContainer hooks...
  int state_fd = -1;        // ...read from this pipe (the parent knows our pid)
  int state_write_fd = -1;  // our copy of its write end: closed first, or no EOF
};

// The container's init: runs in the clone (process::Clone's ChildFn). Returns only by
// throwing (an error before ReportReadyInChild reaches `create`); else execs.
int InitInChild(const InitPlan& plan);

// The process part shared by the init and `exec`: rlimits, env, user and groups,
// capabilities, no_new_privs, seccomp (seccomp_spec may be null), cwd, the lookup of
// args[0] in the container's PATH. Leaves only the execve to do; returns argv[0]'s
// resolved path.
std::string ApplyProcessInChild(const Process& proc, const Seccomp* seccomp);

// execve with proc.env; throws ExitCodeError 127/126 (runc's "exec: ..." wording).
[[noreturn]] void ExecProcess(const Process& proc, const std::string& path);

// Builds and loads linux.seccomp through libseccomp (engine/oci_seccomp.cc).
void LoadSeccompInChild(const Seccomp& sc);
// Checks a seccomp section against libseccomp without loading it (at create, so a
// bad action or arch is a clear error before anything exists).
void ValidateSeccomp(const Seccomp& sc);

}  // namespace nslab::engine

#endif  // NSLAB_COMMON_ENGINE_INIT_H_
