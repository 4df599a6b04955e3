#include "common/container.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <thread>

#include "common/cgroup.h"
#include "common/cgroup/view.h"
#include "common/console.h"
#include "common/devices.h"
#include "common/error.h"
#include "common/image/store.h"  // images-helper hook (issue 17)
#include "common/fd.h"
#include "common/ipc.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/net.h"
#include "common/ns.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/shim.h"
#include "common/store.h"
#include "common/subid.h"
#include "common/trampoline.h"
#include "common/user.h"
#include "common/uts.h"

namespace nslab::container {
namespace {

constexpr const char* kBridge = "nslab0";
constexpr const char* kBridgeCidr = "10.88.0.1/16";
constexpr const char* kSubnet = "10.88.0.0/16";
constexpr const char* kGateway = "10.88.0.1";
constexpr const char* kPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Address allocations belong to the bridge, which is one per host: they live in
// /run/nslab/net whatever NSLAB_STATE_DIR says (tests with private state dirs would
// otherwise hand out the same address twice on the shared bridge).
std::string NetStateDir() { return "/run/nslab/net"; }
std::string RootDir(const std::string& id) { return state::Dir(id) + "/rootfs"; }

security::Profile ProfileOf(const state::Record& r) {
  security::Profile p;
  p.privileged = r.privileged;
  p.cap_add = r.cap_add;
  p.cap_drop = r.cap_drop;
  return p;
}

// The container's environment: a clean one, as docker gives (nothing of the host's).
void SetEnvInChild(const state::Record& r, bool tty) {
  clearenv();
  setenv("PATH", kPath, 1);
  setenv("HOSTNAME", r.hostname.c_str(), 1);
  setenv("HOME", "/root", 1);
  if (tty) setenv("TERM", "xterm", 1);
}

// pidfd_open(2): a descriptor for a process that is not our child, readable once it
// has ended — so `stop` and `rm` wait without polling /proc in a loop.
int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Waits up to timeout_ms for pid (with this start time) to end. True when it did.
bool WaitGone(pid_t pid, uint64_t start, int timeout_ms) {
  if (!state::Alive(pid, start)) return true;
  UniqueFd fd(PidfdOpen(pid));
  if (!fd.Valid()) return !state::Alive(pid, start);
  if (!state::Alive(pid, start)) return true;  // the pid was reused meanwhile
  struct pollfd p = {fd.Get(), POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n > 0 || !state::Alive(pid, start);
}

// The bridge is made once per host. Once it is there (up, with its address), one
// dump of the links says so; EnsureBridge would learn it from errors, and the first
// exception a static binary throws costs ~3 ms (libgcc sorts the unwind tables).
bool BridgeReady() {
  for (const auto& l : net::ListLinks())
    if (l.name == kBridge)
      return l.Up() &&
             std::find(l.addresses.begin(), l.addresses.end(), kBridgeCidr) != l.addresses.end();
  return false;
}

// Moves fd to a number >= 100 (close-on-exec), so that dup2 into 3..6 cannot
// clobber a source that happens to sit there.
int Lift(int fd) {
  return fd < 0 ? -1 : Check(fcntl(fd, F_DUPFD_CLOEXEC, 100), "fcntl", "F_DUPFD");
}

void Place(int lifted, int target) {
  if (lifted < 0) return;
  Check(dup2(lifted, target), "dup2", std::to_string(target));  // clears FD_CLOEXEC
  close(lifted);
}

// The container's side and the shim's side of its stdio.
struct Stdio {
  Pipe console;       // tty: the init sends its pty master through it
  UniqueFd master;    // tty: received from the init
  Pipe out, err, in;  // no tty
  UniqueFd null;      // /dev/null for stdin without -i
};

Stdio MakeStdio(bool tty, bool interactive) {
  Stdio io;
  if (tty) {
    io.console = console::MakeFdSocket();
    return io;
  }
  io.out = MakePipe();
  io.err = MakePipe();
  if (interactive) {
    io.in = MakePipe();
  } else {
    io.null = Open("/dev/null", O_RDONLY);
  }
  return io;
}

void AttachStdioInChild(Stdio& io, bool tty) {
  if (tty) {
    // The pty comes from the container's own devpts (mounted by SetupDevInChild):
    // inside, sh's terminal is /dev/pts/0; the master goes to the shim.
    console::Pty pty = console::OpenPty();
    console::SendFd(io.console.write.Get(), pty.master.Get());
    console::AttachInChild(pty.slave.Release());
    return;
  }
  // Its own session (as runc gives an init): no terminal, no signals from ours.
  if (getsid(0) != getpid()) setsid();
  int in = io.in.read.Valid() ? io.in.read.Get() : io.null.Get();
  Check(dup2(in, 0), "dup2", "stdin");
  Check(dup2(io.out.write.Get(), 1), "dup2", "stdout");
  Check(dup2(io.err.write.Get(), 2), "dup2", "stderr");
}

// ---- The init, in the child ------------------------------------------------------

// Blocks until the parent has moved us into the container's cgroup (one byte on
// fd); EOF means it could not.
void WaitForCgroupInChild(int fd) {
  if (fd < 0) return;
  char byte;
  ssize_t n;
  do {
    n = read(fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1)
    throw ExitCodeError(process::kSetupFailed, "the container could not be moved into its cgroup");
  close(fd);
}

int InitInChild(const Spec& spec, const state::Record& r, Stdio& io, int cgroup_fd,
                int cgroup_write_fd, const cgroup::Plan* plan, int trampoline_fd,
                bool lower_is_cwd) {
  // Our copy of the parent's end, or we would never see EOF if the parent fails.
  if (cgroup_write_fd >= 0) close(cgroup_write_fd);
  signal(SIGPIPE, SIG_DFL);  // the engine ignores it; the container must not
  // 1. Root of the user namespace (when there is one): the maps are written.
  if (r.user) user::SetupInChild();
  // 2. Mounts of our own, none propagating to the host. (The parent moves us into our
  //    cgroup meanwhile: that move can take a whole RCU grace period; see step 5.)
  mount::MakePrivateInChild();
  const std::string root = RootDir(r.id);
  if (!r.image.empty()) {
    // 3. The overlay, mounted in *this* mount namespace only: the image is the
    //    read-only lower layer, every change lands in upper/ of the state dir, and
    //    the mount vanishes with the namespace — nothing to unmount on the host.
    //    `volatile` (Linux 5.10): the overlay skips every sync of its upper layer. Without
    //    it, the unmount when the namespace dies syncs the whole host filesystem that
    //    holds upper/ (everyone's dirty data; 4-28 ms on every container exit here). The
    //    price — upper/ may be incomplete after a host crash — is nothing to a container
    //    that cannot be restarted; its changes still stay readable in upper/ until `rm`.
    const std::string dir = state::Dir(r.id);
    if (r.remove) {
      // --rm: nothing the container writes outlives it, so none of it need touch the
      // host's disk (here /run is on it: every mkdir, write and rmdir goes through the
      // journal, and the shim's cleanup would wait for that). A tmpfs over the state
      // directory, in *this* mount namespace only, holds upper/, work/ and the mount
      // point; the host's directory keeps just the record and the log. Its pages are
      // charged to the container's memory cgroup, as any tmpfs write is.
      mount::Mount("tmpfs", dir, "tmpfs", 0, "mode=0755");
      for (const char* sub : {"/rootfs", "/upper", "/work"})
        Check(mkdir((dir + sub).c_str(), 0755), "mkdir", dir + sub);
    }
    // SECURITY(issue 13): the store is 0700, and a --user init is an unprivileged uid
    // on the host that cannot walk it. The engine cloned us with the image's rootfs as
    // its cwd, which clone(CLONE_NEWNS) moved onto our own copy of that mount
    // (copy_mnt_ns switches root and cwd): an fd on "." names it in *our* namespace,
    // as overlayfs requires (an fd opened by the engine would be on the host's mount,
    // and the kernel refuses it: "failed to clone lowerpath").
    UniqueFd lower_fd;
    if (lower_is_cwd) lower_fd = Open(".", O_PATH | O_DIRECTORY);
    const std::string lower =
        lower_fd ? "/proc/self/fd/" + std::to_string(lower_fd.Get()) : r.rootfs;
    const std::string layers =
        "lowerdir=" + lower + ",upperdir=" + dir + "/upper,workdir=" + dir + "/work";
    try {
      mount::Mount("overlay", root, "overlay", MS_NODEV, layers + ",volatile");
    } catch (const SysError& e) {
      if (e.err() != EINVAL) throw;
      mount::Mount("overlay", root, "overlay", MS_NODEV, layers);  // a kernel before 5.10
    }
  } else {
    mount::Mount(r.rootfs, root, "", MS_BIND | MS_REC);  // --rootfs: as is
    mount::MakeNodevInChild(root);  // SECURITY(issue 13): no device node of the rootfs opens
  }
  // 4. The pseudo filesystems, then pivot_root into the new root.
  mount::MountProcInChild(root + "/proc");
  mount::SetupDevInChild(root + "/dev");
  ipc::MountMqueueInChild(root + "/dev/mqueue");  // POSIX queues: mq_overview(7)
  mount::MountSysReadOnlyInChild(root + "/sys");
  mount::PivotRootInChild(root);
  // 5. A cgroup namespace rooted at the cgroup the parent has moved us into by now,
  //    so /proc/self/cgroup reads "/" inside (cgroup_namespaces(7)).
  WaitForCgroupInChild(cgroup_fd);
  cgroup::UnshareInChild();
  // 5b. Integration hook (issue 12, cgroup): its own cgroup, read-only, at
  //     /sys/fs/cgroup (mounted inside the new cgroup namespace: rooted at it).
  if (plan != nullptr) cgroup::MountViewInChild("/sys/fs/cgroup", plan->layout);
  // 6. Hardening of /proc and /sys: masked and read-only paths.
  security::CheckSysInChild();  // SECURITY(issue 13): /sys is our sysfs, not a swapped dir
  security::MaskPathsInChild(spec.security);
  // 7. Hostname and network.
  uts::SetHostnameInChild(r.hostname);
  if (r.net == "bridge") {
    net::ConfigureInChild("eth0", r.address, kGateway);
  } else {
    net::SetUpLoopbackInChild();
  }
  // 8. Stdio: the pty slave as controlling terminal, or the shim's pipes.
  AttachStdioInChild(io, r.tty);
  SetEnvInChild(r, r.tty);
  Check(chdir("/"), "chdir", "/");
  // 9. Last: no host fd crosses execve, then capabilities, no_new_privs, seccomp.
  security::CloseExtraFdsInChild();
  security::ApplyInChild(spec.security);
  // SECURITY(issue 13, CVE-2019-5736): the command is exec'd by the sealed trampoline,
  // never by this (host) binary: "#!/proc/self/exe" then names the trampoline.
  return trampoline::ExecInChild(trampoline_fd, r.command, process::ReportFdInChild());
}

// ---- Create and start, in the detached process B -----------------------------------

// Everything created for the container that must go if the start fails.
struct Resources {
  cgroup::Placement cgroup;  // issue 12 hook: systemd scope or cgroupfs directories
  net::ScopedLink link;
  std::string address;
};

// Runs in B (detached, in its own session). Clones the init, does the parent-side
// setup, lets it exec, then execs the shim (which reports "started" to the CLI).
// On failure: prints one line (the CLI's stderr is still ours), records the error,
// writes "fail CODE" to the CLI and returns the code.
int CreateStartAndBecomeShim(const Spec& spec, state::Record r, const std::string& shim_bin,
                             int ready_fd) {
  // Orphans of the container come to us (and to the shim we become), not to PID 1.
  Check(prctl(PR_SET_CHILD_SUBREAPER, 1), "prctl", "PR_SET_CHILD_SUBREAPER");
  // A CLI that went away must not kill us with SIGPIPE before we record how the
  // start went (the init sets it back to the default before it execs).
  signal(SIGPIPE, SIG_IGN);
  Resources res;
  int code = 0;
  try {
    // The engine now, the shim after its execve. Written down with the init's pid,
    // after the clone (one record write fewer on the way; until then the CLI that
    // created the record, waiting for us, answers for it).
    r.shim_pid = getpid();
    r.shim_start = state::StartTime(r.shim_pid);
    Stdio io = MakeStdio(r.tty, r.interactive);
    int flags = CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID;
    if (r.user) flags |= CLONE_NEWUSER;

    // The cgroup first: a limit that cannot be honoured fails before the clone.
    cgroup::Limits limits;
    if (!spec.memory.empty()) limits.memory_bytes = cgroup::ParseMemory(spec.memory);
    if (!spec.pids.empty()) limits.pids = cgroup::ParsePids(spec.pids);
    if (!spec.cpus.empty()) limits.cpus = cgroup::ParseCpus(spec.cpus);
    // No limit asked for: no cgroup of its own (as `crun --cgroup-manager=disabled`).
    // The container stays in the caller's cgroup, under a cgroup namespace of its own.
    // Moving a process into a cgroup costs an RCU grace period on cgroup v1 (~10 ms,
    // more than the rest of a start), so it is paid only when a limit needs it.
    // Integration hook (issue 12, cgroup): the manager is chosen and each limit
    // checked here, before the clone; the cgroup is placed after it (the mover).
    cgroup::Plan plan;
    const bool own_cgroup = !limits.Empty();
    if (own_cgroup) {
      plan = cgroup::MakePlan(spec.cgroup_manager, "nslab-" + r.id, limits);
      narrate::Step("cgroup manager " + plan.Describe());
    } else {
      narrate::Step("no --memory/--pids/--cpus: no cgroup of its own (the caller's)");
    }

    // The address before the clone: the child gets its copy of the record then.
    if (r.net == "bridge") {
      if (!BridgeReady()) net::EnsureBridge(kBridge, kBridgeCidr);
      res.address = net::AllocateAddress(NetStateDir(), kSubnet, r.id);
      r.address = res.address;
      r.address_file = NetStateDir() + "/" + res.address.substr(0, res.address.find('/'));
      r.host_if = "nsl" + r.id.substr(0, 10) + "h";  // 14 characters < IFNAMSIZ
    }

    // The init: cloned into the new namespaces, waiting on the sync pipe.
    process::CloneOptions opts;
    opts.flags = flags;
    opts.forward_signals = false;  // we are detached; the shim handles signals
    opts.kill_with_parent = true;  // the shim dies -> the container dies, nothing leaks
    // The cgroup move and the child's mounts overlap: on cgroup v1 the first write to
    // cgroup.procs waits for an RCU grace period (~10 ms), longer than the mounts.
    Pipe cgroup_ready;
    if (own_cgroup) cgroup_ready = MakePipe();
    const int cgroup_fd = cgroup_ready.read.Get(), cgroup_write_fd = cgroup_ready.write.Get();
    // SECURITY(issue 13, CVE-2019-5736): the sealed trampoline the init execs through.
    UniqueFd trampoline_fd = trampoline::Prepare();
    // SECURITY(issue 13): --user: the image's rootfs as the init's cwd (see InitInChild).
    const bool lower_is_cwd = r.user && !r.image.empty();
    UniqueFd cwd;
    if (lower_is_cwd) {
      cwd = Open(".", O_PATH | O_DIRECTORY);
      Check(chdir(r.rootfs.c_str()), "chdir", r.rootfs);
    }
    process::Child child = process::Clone(opts, [&] {
      return InitInChild(spec, r, io, cgroup_fd, cgroup_write_fd, own_cgroup ? &plan : nullptr,
                         trampoline_fd.Get(), lower_is_cwd);
    });
    trampoline_fd.Reset();
    if (cwd) Check(fchdir(cwd.Get()), "fchdir", "the engine's working directory");
    cgroup_ready.read.Reset();

    // Parent-side setup while the child waits.
    if (r.user) {
      // SECURITY(issue 13): the container's own block of host ids when /etc/subuid has
      // one for nslab (or root); else the shared 65534, as before.
      std::optional<subid::Block> block = subid::Find(subid::StateDir(), r.id);
      if (block)
        user::WriteMapsFromParent(child.pid(), block->uid, block->gid, block->count);
      else
        user::WriteMapsFromParent(child.pid(), user::DefaultOutsideUid(),
                                  user::DefaultOutsideGid());
    }
    std::exception_ptr mover_error;
    std::thread mover;
    struct JoinOnExit {
      std::thread& t;
      ~JoinOnExit() {
        if (t.joinable()) t.join();
      }
    } join_mover{mover};
    if (own_cgroup) {
      const pid_t pid = child.pid();
      mover = std::thread([&res, &cgroup_ready, &mover_error, &plan, pid] {
        try {
          res.cgroup = cgroup::Place(plan, pid);  // issue 12 hook: the one call
          // SECURITY(issue 13): the device allowlist wherever the container has a
          // cgroup (cgroup2: a BPF program; v1: where a devices node is among them),
          // before the init may go on.
          for (const auto& dir : res.cgroup.Dirs()) devices::ProtectCgroup(dir);
          WriteAll(cgroup_ready.write.Get(), "c", "cgroup sync pipe");
        } catch (...) {
          mover_error = std::current_exception();
        }
        cgroup_ready.write.Reset();  // EOF: the child gives up
      });
    }
    if (r.net == "bridge") {
      res.link = net::CreateVethFromParent(child.pid(), r.host_if, "eth0");
      net::AttachToBridge(r.host_if, kBridge);
    }
    r.pid = child.pid();
    r.pid_start = state::StartTime(child.pid());
    r.started = state::Now();
    state::Save(r);

    // Go: the child sets itself up and execs; its error, if any, is thrown here
    // (the cgroup's error first: it is the cause of the child's).
    try {
      child.Go();
    } catch (...) {
      if (mover.joinable()) mover.join();
      if (mover_error) std::rethrow_exception(mover_error);
      throw;
    }
    if (mover.joinable()) mover.join();
    if (mover_error) std::rethrow_exception(mover_error);
    if (!res.cgroup.Empty()) {
      // Issue 12 hook: where the manager put it, for the shim's cleanup and inspect.
      r.cgroups = res.cgroup.Dirs();
      r.cgroup_manager = res.cgroup.Describe();
      state::Save(r);
    }

    if (r.tty) {
      io.console.write.Reset();
      io.master = console::ReceiveFd(io.console.read.Get());
      if (!io.master.Valid())
        throw ExitCodeError(process::kSetupFailed, "the container sent no pty master");
    }

    // From here the container runs: nothing is torn down by our destructors.
    child.Release();
    res.cgroup.Release();
    res.link.Release();
    res.address.clear();

    // The shim's fds (see shim.h), then execve: same pid, the init stays our child.
    int ready = Lift(ready_fd);
    int out = Lift(r.tty ? io.master.Get() : io.out.read.Get());
    int err = r.tty ? -1 : Lift(io.err.read.Get());
    int in = (!r.tty && r.interactive) ? Lift(io.in.write.Get()) : -1;
    io = Stdio();  // our copies of the container's ends close now
    if (spec.detach) {
      // Detached: the shim must not hold the CLI's terminal or pipes, or
      // `id=$(11_container run -d ...)` would wait for it forever.
      int null = Check(open("/dev/null", O_RDWR | O_CLOEXEC), "open", "/dev/null");
      for (int fd = 0; fd < 3; ++fd) dup2(null, fd);
      close(null);
    }
    Place(ready, shim::kReadyFd);
    Place(out, shim::kOutFd);
    Place(err, shim::kErrFd);
    Place(in, shim::kInFd);
    shim::Options so;
    so.state_dir = state::Base();
    so.id = r.id;
    so.init = r.pid;
    so.tty = r.tty;
    so.interactive = r.interactive;
    so.attached = !spec.detach;
    so.remove = r.remove;
    so.log_size_max = spec.log_size_max;  // SECURITY(issue 13): capped, rotated log
    shim::Exec(shim_bin, so);
  } catch (const ExitCodeError& e) {
    code = ReportError(e);
    r.error = e.what();
  } catch (const UsageError& e) {
    code = ReportError(e, process::kSetupFailed);
    r.error = e.what();
  } catch (const std::exception& e) {
    code = ReportError(e, process::kSetupFailed);
    r.error = e.what();
  }
  // The start failed: undo, record why, tell the CLI.
  res.link.Delete();
  res.cgroup = cgroup::Placement();
  if (!res.address.empty()) {
    try {
      net::ReleaseAddress(NetStateDir(), res.address);
    } catch (const std::exception&) {
    }
  }
  r.cgroups.clear();
  r.address_file.clear();
  try {
    if (r.remove) {
      state::RemoveDir(r.id);
    } else {
      r.exited = true;
      r.exit_code = code;
      r.finished = state::Now();
      state::Save(r);
    }
  } catch (const std::exception&) {
  }
  std::string line = "fail " + std::to_string(code) + "\n";
  console::WriteFully(ready_fd, line.data(), line.size());
  return code;
}

// Reads one line from fd (up to '\n' or EOF), byte by byte: what follows is not ours.
bool ReadLine(int fd, std::string* line) {
  line->clear();
  char c;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return !line->empty();
    if (c == '\n') return true;
    *line += c;
  }
}

volatile sig_atomic_t g_shim_pid = 0;
volatile sig_atomic_t g_pending_stop = 0;
void ForwardToShim(int sig) {
  pid_t pid = g_shim_pid;
  // Before the shim has said "started" we only remember an interrupt.
  if (pid <= 0) {
    if (sig != SIGWINCH) g_pending_stop = 1;
    return;
  }
  // The window size is copied by the shim; any other signal means "end it".
  kill(pid, sig == SIGWINCH ? SIGWINCH : SIGTERM);
}

void CleanupMountsUnder(const std::string& dir) {
  std::vector<mount::MountInfo> mounts = mount::ReadMountInfo();
  std::reverse(mounts.begin(), mounts.end());
  for (const auto& m : mounts) {
    if (m.mount_point.compare(0, dir.size() + 1, dir + "/") == 0)
      umount2(m.mount_point.c_str(), MNT_DETACH);
  }
}

}  // namespace

// ---- Prepare and Run ------------------------------------------------------------

state::Record Prepare(const Spec& in) {
  Spec spec = in;
  if (spec.net != "bridge" && spec.net != "none")
    throw UsageError("--net " + Quote(spec.net) + ": use bridge or none");
  if (!spec.hostname.empty()) uts::ValidateHostname(spec.hostname);
  if (!spec.name.empty()) state::ValidateName(spec.name);
  if (!spec.memory.empty()) cgroup::ParseMemory(spec.memory);
  if (!spec.pids.empty()) cgroup::ParsePids(spec.pids);
  if (!spec.cpus.empty()) cgroup::ParseCpus(spec.cpus);
  security::ValidateProfile(spec.security);
  if (geteuid() != 0) {
    // Rootless: only what an unprivileged user may do.
    if (!spec.user)
      throw UsageError("running as an unprivileged user needs --user (a user namespace)");
    if (spec.net != "none")
      throw UsageError("an unprivileged user cannot attach veths to the bridge: use --net none");
    if (!spec.memory.empty() || !spec.pids.empty() || !spec.cpus.empty())
      throw UsageError("cgroup limits need root (no delegated cgroup here)");
  }
  if (spec.user) user::CheckUserNamespacesEnabled();
  if (spec.command.empty()) spec.command = {"sh"};

  state::Record r;
  if (!spec.rootfs_dir.empty()) {
    rootfs::Source src = rootfs::ChooseSource(spec.rootfs_dir, spec.command);
    r.rootfs = src.rootfs_dir;
  } else {
    r.image = store::NormalizeName(spec.image);
    // BEGIN images-helper hook (issue 17): a loaded (layered) image runs from its layers,
    // stacked as the overlay's lowerdirs (top first), with its Entrypoint + Cmd. Env,
    // WorkingDir and User are the run-flags work (image::Resolve(...).config has them).
    // Its command is not looked up here (the layers are not one tree until mounted):
    // the init's execve reports 127 as for any image.
    if (image::Exists(r.image)) {
      image::Resolved img = image::Resolve(r.image);
      r.rootfs = img.lowerdir;
      std::vector<std::string> command = image::Command(img.config, in.command);
      if (!command.empty()) spec.command = command;
    } else {
    // END images-helper hook
    r.rootfs = store::Rootfs(r.image);
    if (!rootfs::ContainsCommand(r.rootfs, spec.command[0]))
      throw ExitCodeError(process::kNotFound, "exec: \"" + spec.command[0] +
                                                  "\": executable file not found in " +
                                                  "the image " + r.image);
    }  // images-helper hook
  }
  r.id = state::NewId();
  r.name = spec.name.empty() ? r.id : spec.name;
  r.hostname = spec.hostname.empty() ? r.id : spec.hostname;
  r.command = spec.command;
  r.net = spec.net;
  r.tty = spec.tty;
  r.interactive = spec.interactive;
  r.remove = spec.remove;
  r.user = spec.user;
  r.privileged = spec.security.privileged;
  r.cap_add = spec.security.cap_add;
  r.cap_drop = spec.security.cap_drop;
  cgroup::Limits limits;
  if (!spec.memory.empty()) limits.memory_bytes = cgroup::ParseMemory(spec.memory);
  if (!spec.pids.empty()) limits.pids = cgroup::ParsePids(spec.pids);
  if (!spec.cpus.empty()) limits.cpus = cgroup::ParseCpus(spec.cpus);
  r.limits = limits.Describe();
  r.created = state::Now();
  // Until the engine takes over, the creating CLI answers for the record: if it dies
  // here, ps says "unknown", not "created" forever.
  r.creator_pid = getpid();
  r.creator_start = state::StartTime(r.creator_pid);
  state::CreateDir(r);
  try {
    const std::string dir = state::Dir(r.id);
    // --rm with an image: the init makes these on a tmpfs of its own (InitInChild).
    const bool layers_here = !r.remove || r.image.empty();
    if (layers_here)
      for (const char* sub : {"/rootfs", "/upper", "/work"})
        Check(mkdir((dir + sub).c_str(), 0755), "mkdir", dir + sub);
    if (r.user) {
      // Root inside is 65534 (or the caller) outside: it must be able to walk into
      // the state dir and own the overlay's upper and work directories.
      uid_t uid = user::DefaultOutsideUid();
      gid_t gid = user::DefaultOutsideGid();
      // SECURITY(issue 13): a block of host ids of its own (common/subid.h).
      if (geteuid() == 0) {
        if (std::optional<subid::Block> block =
                subid::Reserve(subid::StateDir(), r.id, state::Base())) {
          uid = block->uid;
          gid = block->gid;
        } else {
          narrate::Step("no nslab (or root) entry in " + subid::SubUidPath() + " and " +
                        subid::SubGidPath() + ": root inside is the shared uid 65534 outside");
        }
      }
      if (geteuid() == 0) {
        // SECURITY(issue 13): searchable by the container's own gid only (0710), not by
        // every host user (0711): upper/ holds the container's setuid files.
        Check(chown(dir.c_str(), static_cast<uid_t>(-1), gid), "chown", dir);
        Check(chmod(dir.c_str(), 0710), "chmod", dir);
      } else {
        Check(chmod(dir.c_str(), 0711), "chmod", dir);
      }
      if (layers_here)
        for (const char* sub : {"/upper", "/work"})
          Check(chown((dir + sub).c_str(), uid, gid), "chown", dir + sub);
    }
  } catch (...) {
    if (r.user) subid::Release(subid::StateDir(), r.id);  // SECURITY(issue 13)
    state::RemoveDir(r.id);
    throw;
  }
  return r;
}

int Run(const Spec& spec, const state::Record& record) {
  std::string shim_bin;
  try {
    shim_bin = shim::FindBinary();
  } catch (...) {
    state::RemoveDir(record.id);  // nothing started: leave no record behind
    throw;
  }
  // Pin the state directory for everything forked from here: after SetupInChild the
  // init's euid is 0 (of its user namespace), and Base() would pick root's default.
  setenv("NSLAB_STATE_DIR", state::Base().c_str(), 1);
  Pipe ready = MakePipe();
  // Attached: an interrupt from now on ends the container, also one that arrives
  // while it is being created (the handlers are reset in the forked children).
  const int kSignals[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_sa[4];
  if (!spec.detach) {
    struct sigaction sa = {};
    sa.sa_handler = ForwardToShim;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 4; ++i) sigaction(kSignals[i], &sa, &old_sa[i]);
  }
  struct RestoreSignals {
    bool on;
    const int* sigs;
    struct sigaction* old;
    ~RestoreSignals() {
      g_shim_pid = 0;
      if (on)
        for (int i = 0; i < 4; ++i) sigaction(sigs[i], &old[i], nullptr);
    }
  } restore{!spec.detach, kSignals, old_sa};
  std::fflush(stdout);
  std::fflush(stderr);
  // The double fork: A starts a new session and forks B, then exits at once. B is
  // orphaned, reparented to init (or the nearest subreaper), in a session without a
  // terminal: nothing the CLI's shell does (Ctrl-C, closing the terminal) reaches it.
  narrate::Syscall("fork", "A: setsid, fork B, exit");
  pid_t a = fork();
  if (a < 0) {
    int saved = errno;
    state::RemoveDir(record.id);
    errno = saved;
    Check(-1, "fork", "shim");
  }
  if (a == 0) {
    for (int sig : kSignals) signal(sig, SIG_DFL);
    setsid();
    pid_t b = fork();
    if (b != 0) _exit(b < 0 ? process::kSetupFailed : 0);
    ready.read.Reset();
    process::RunInChild([&] {
      narrate::SetRole(narrate::Role::kHost);
      return CreateStartAndBecomeShim(spec, record, shim_bin, ready.write.Get());
    });
  }
  ready.write.Reset();
  process::WaitPid(a);

  std::string line;
  if (!ReadLine(ready.read.Get(), &line))
    throw ExitCodeError(process::kSetupFailed, "the container's shim ended before it started");
  if (line.compare(0, 5, "fail ") == 0) return std::atoi(line.c_str() + 5);
  // "started INIT SHIM"
  pid_t init = 0, shim_pid = 0;
  std::sscanf(line.c_str(), "started %d %d", &init, &shim_pid);
  narrate::Step("shim " + std::to_string(shim_pid) + " started the container's init " +
                std::to_string(init));
  if (spec.detach) return 0;

  // Attached: the shim relays between our stdio and the container. We only forward
  // signals and wait for "exit N".
  console::RawMode raw;
  if (spec.tty && isatty(STDIN_FILENO)) raw = console::RawMode(STDIN_FILENO);
  g_shim_pid = shim_pid;
  if (g_pending_stop) kill(shim_pid, SIGTERM);  // interrupted while it was created
  if (spec.tty) kill(shim_pid, SIGWINCH);       // the size may have changed already
  bool got = ReadLine(ready.read.Get(), &line);
  g_shim_pid = 0;
  raw.Restore();
  if (got && line.compare(0, 5, "exit ") == 0) return std::atoi(line.c_str() + 5);
  throw ExitCodeError(process::kSetupFailed, "lost the container's shim (pid " +
                                                 std::to_string(shim_pid) +
                                                 ") before it reported the exit");
}

// ---- Lifecycle ------------------------------------------------------------------

pid_t InitPid(const std::string& id) {
  state::Record r = state::Load(id);
  if (state::Status(r) != state::kRunning)
    throw ExitCodeError(process::kSetupFailed, "container " + id + " is not running");
  return r.pid;
}

void Signal(const std::string& id, int sig) {
  state::Record r = state::Load(id);
  if (state::Status(r) != state::kRunning || !state::Alive(r.pid, r.pid_start))
    throw ExitCodeError(process::kSetupFailed, "container " + id + " is not running");
  narrate::Syscall("kill", std::to_string(r.pid) + ", " + std::to_string(sig));
  Check(kill(r.pid, sig), "kill", std::to_string(r.pid));
}

void Stop(const std::string& id, int timeout_seconds) {
  state::Record r = state::Load(id);
  if (state::Alive(r.pid, r.pid_start)) {
    // SIGTERM first. A PID namespace's init only gets signals it has a handler for
    // (pid_namespaces(7)): a shell as init ignores it, hence the SIGKILL after the
    // timeout, as `docker stop` does.
    narrate::Step("SIGTERM to the init " + std::to_string(r.pid));
    kill(r.pid, SIGTERM);
    if (!WaitGone(r.pid, r.pid_start, timeout_seconds * 1000)) {
      narrate::Step("still running after " + std::to_string(timeout_seconds) + "s: SIGKILL");
      kill(r.pid, SIGKILL);
      WaitGone(r.pid, r.pid_start, 10000);
    }
  }
  // The shim writes the exit record, then exits: wait for it so that `ps` right
  // after `stop` tells the truth.
  WaitGone(r.shim_pid, r.shim_start, 10000);
}

void Delete(const std::string& id, bool force) {
  const std::string dir = state::Dir(id);
  state::Lock lock = state::Lock::Exclusive(dir);
  state::Record r = state::Load(id);
  std::string status = state::Status(r);
  bool init_alive = state::Alive(r.pid, r.pid_start);
  bool shim_alive = state::Alive(r.shim_pid, r.shim_start);
  if ((init_alive || shim_alive) && status != state::kExited) {
    if (!force)
      throw ExitCodeError(process::kSetupFailed, "container " + id + " is " + status +
                                                     ": stop it first, or remove it with `rm -f`");
  }
  if (init_alive || shim_alive) {
    // The shim takes this lock to record the exit: release it while we wait.
    lock.Unlock();
    if (init_alive) {
      narrate::Step("SIGKILL to the init " + std::to_string(r.pid));
      kill(r.pid, SIGKILL);
      WaitGone(r.pid, r.pid_start, 10000);
    }
    if (!WaitGone(r.shim_pid, r.shim_start, 10000)) {
      kill(r.shim_pid, SIGKILL);  // a stuck shim: rm -f always recovers
      WaitGone(r.shim_pid, r.shim_start, 10000);
    }
    struct stat st;
    if (stat(dir.c_str(), &st) < 0) return;  // --rm: the shim removed everything
    lock = state::Lock::Exclusive(dir);
    try {
      r = state::Load(id);
    } catch (const std::exception&) {
      return;
    }
  }
  shim::CleanupAfterExit(r);
  if (!r.host_if.empty()) {
    // The kernel deletes the veth when the container's network namespace dies, a
    // little later; make sure it is gone now.
    try {
      if (net::LinkExists(r.host_if)) net::ScopedLink(r.host_if).Delete();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", ProgramName().c_str(), e.what());
    }
  }
  CleanupMountsUnder(dir);
  state::RemoveDir(id);
}

// ---- exec -----------------------------------------------------------------------

int Exec(const std::string& id, const std::vector<std::string>& command, const ExecOptions& opts) {
  if (command.empty()) throw UsageError("exec needs a command");
  state::Record r = state::Load(id);
  if (state::Status(r) != state::kRunning)
    throw ExitCodeError(process::kSetupFailed,
                        "container " + id + " is not running (" + state::Status(r) + ")");
  const pid_t init = r.pid;

  // Open the init's namespaces now, while we still see its /proc entry. The user
  // namespace comes first: joining it gives the capabilities needed to join the
  // others it owns (setns(2)). Namespaces equal to ours are skipped (setns to one's
  // own user namespace is EINVAL).
  ns::Identity mine = ns::Read(getpid());
  ns::Identity theirs = ns::Read(init);
  struct Target {
    const char* kind;
    int flag;
    UniqueFd fd;
  };
  std::vector<Target> targets;
  for (auto [kind, flag] : std::vector<std::pair<const char*, int>>{{"user", CLONE_NEWUSER},
                                                                    {"cgroup", CLONE_NEWCGROUP},
                                                                    {"ipc", CLONE_NEWIPC},
                                                                    {"uts", CLONE_NEWUTS},
                                                                    {"net", CLONE_NEWNET},
                                                                    {"pid", CLONE_NEWPID},
                                                                    {"mnt", CLONE_NEWNS}}) {
    if (mine[kind] == theirs[kind]) continue;
    std::string path = "/proc/" + std::to_string(init) + "/ns/" + kind;
    targets.push_back({kind, flag, Open(path, O_RDONLY)});
  }
  if (!state::Alive(init, r.pid_start))  // the pid was reused between Load and Open
    throw ExitCodeError(process::kSetupFailed, "container " + id + " is not running");

  Pipe console_sock;  // exec -t: the pty is opened inside, its master sent back
  if (opts.tty) console_sock = console::MakeFdSocket();
  UniqueFd null;
  if (!opts.interactive) null = Open("/dev/null", O_RDONLY);
  const security::Profile profile = ProfileOf(r);
  // SECURITY(issue 13, CVE-2019-5736): the exec'd command starts from the sealed
  // trampoline, so "#!/proc/self/exe" cannot lead back to this binary.
  UniqueFd trampoline_fd = trampoline::Prepare();

  std::fflush(stdout);
  std::fflush(stderr);
  pid_t c1 = Check(fork(), "fork", "exec");
  if (c1 == 0) {
    process::RunInChild([&]() -> int {
      Check(prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl", "PR_SET_PDEATHSIG");
      // Until it has joined, a process inside could ptrace us and reach host files
      // through our /proc/PID/{fd,exe}: not dumpable (runc's nsexec does the same).
      security::SetNonDumpableInChild();
      // The container's cgroup, through the host's cgroupfs (before the mount
      // namespace hides it): limits apply to exec'd processes too.
      for (const auto& dir : r.cgroups) {
        int fd = open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
          (void)!write(fd, "0", 1);
          close(fd);
        }
      }
      for (auto& t : targets) {
        narrate::Syscall("setns", std::string("/proc/") + std::to_string(init) + "/ns/" + t.kind +
                                      ", " + process::CloneFlagsToString(t.flag));
        Check(setns(t.fd.Get(), t.flag), "setns", t.kind);
      }
      // setns(CLONE_NEWNS) put our root and cwd at the namespace's root: the
      // container's root after its pivot_root.
      Check(chdir("/"), "chdir", "/");
      // setns(CLONE_NEWPID) applies to children only: fork once more.
      pid_t c2 = Check(fork(), "fork", "exec (in the PID namespace)");
      if (c2 == 0) {
        process::RunInChild([&]() -> int {
          Check(prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl", "PR_SET_PDEATHSIG");
          if (opts.tty) {
            console::Pty pty = console::OpenPty();  // the container's /dev/ptmx
            console::SendFd(console_sock.write.Get(), pty.master.Get());
            pty.master.Reset();
            console::AttachInChild(pty.slave.Release());
          } else if (!opts.interactive) {
            Check(dup2(null.Get(), 0), "dup2", "stdin");
          }
          // In a user namespace, become its root (host uid 0 is unmapped there).
          if (r.user) user::SetupInChild();
          SetEnvInChild(r, opts.tty);
          security::VerifyCwdInChild();
          security::CloseExtraFdsInChild();
          security::ApplyInChild(profile);
          return trampoline::ExecInChild(trampoline_fd.Get(), command, -1);  // SECURITY(issue 13)
        });
      }
      for (auto& t : targets) t.fd.Reset();
      console_sock = Pipe();
      return process::WaitPid(c2).ShellCode();
    });
  }
  for (auto& t : targets) t.fd.Reset();
  console_sock.write.Reset();
  if (opts.tty) {
    UniqueFd master = console::ReceiveFd(console_sock.read.Get());
    if (master.Valid()) {
      console::RawMode raw;
      if (isatty(STDIN_FILENO)) raw = console::RawMode(STDIN_FILENO);
      console::CopyWindowSize(STDIN_FILENO, master.Get());
      console::Relay(opts.interactive ? STDIN_FILENO : -1, master.Get(), master.Get(),
                     STDOUT_FILENO);
    }
  }
  return process::WaitPid(c1).ShellCode();
}

std::vector<std::string> Describe(const state::Record& r) {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
  };
  std::vector<std::string> out = {
      "id: " + r.id,
      "name: " + r.name,
      "status: " + state::StatusDetail(r),
      "image: " + (r.image.empty() ? std::string("(--rootfs)") : r.image),
      "rootfs: " + r.rootfs,
      "command: " + join(r.command),
      "hostname: " + r.hostname,
      "network: " + r.net + (r.address.empty() ? "" : " " + r.address + " via " + r.host_if),
      "cgroup: " + (r.cgroups.empty() ? std::string("- (no limits: the caller's)")
                                        : join(r.cgroups)),
      "limits: " + r.limits,
      "cgroup manager: " + (r.cgroup_manager.empty() ? std::string("-") : r.cgroup_manager),
      "user namespace: " + std::string(r.user ? "yes" : "no") + [&]() -> std::string {
        if (!r.user) return "";
        std::optional<subid::Block> b = subid::Find(subid::StateDir(), r.id);
        return b ? " (root = host uid " + std::to_string(b->uid) + ", " +
                       std::to_string(b->count) + " ids of its own)"
                 : " (root = host uid 65534, shared)";
      }(),
      "tty: " + std::string(r.tty ? "yes" : "no"),
      "shim pid: " + std::to_string(r.shim_pid),
      "init pid: " + std::to_string(r.pid),
      "created: " + state::FormatTime(r.created),
      "started: " + state::FormatTime(r.started),
      "finished: " + state::FormatTime(r.finished),
  };
  if (r.exited) out.push_back("exit code: " + std::to_string(r.exit_code));
  if (!r.error.empty()) out.push_back("error: " + r.error);
  for (const auto& l : security::Describe(ProfileOf(r))) out.push_back(l);
  return out;
}

}  // namespace nslab::container
