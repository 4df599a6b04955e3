// primitives — Google Benchmark of each step a container start is made of, through the
// project's own common/ modules, so the slowest step is known before anyone guesses.
//
// Teaches: a container start is a chain of kernel operations — clone(2) with namespace
// flags, a root filesystem (image unpacked, bind or overlay mount), pivot_root(2),
// procfs, a /dev, sysfs, masked paths, a veth pair or a bridge, a cgroup, capabilities
// and a seccomp filter. Their costs differ by orders of magnitude: a UTS namespace is
// nearly free, a network namespace costs most of a clone, unpacking an image costs
// more than all the namespaces together. Measure each one alone.
// Read: clone(2), pivot_root(2), mount(2), network_namespaces(7), cgroups(7),
// seccomp(2); https://github.com/google/benchmark/blob/main/docs/user_guide.md
//
//   bazel build //bench:primitives
//   sudo bazel-bin/bench/primitives                      # everything (root)
//   sudo bazel-bin/bench/primitives --benchmark_filter=Clone
//
// Isolation: main() first moves the benchmark into its own mount and network
// namespaces (mounts private), so every mount, veth and bridge it makes lives there
// and vanishes with the process, even if it is killed; cgroups are created beneath
// our own cgroup and removed after each iteration. Steps that change the calling
// process for good (pivot_root, seccomp, capabilities) run in a cloned child that
// times itself and sends the figure back through a pipe (manual time).
// Never run by the tests; `bazel build //...` only builds it.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/cgroup.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/image.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/net.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/seccomp.h"
#include "common/security.h"
#include "common/state.h"
#include "common/store.h"
#include "common/user.h"

namespace nslab::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Benchmarks timed inside a child clone one child per iteration: a fixed count keeps
// a step of a few microseconds from cloning for minutes. Deleting links waits for
// RCU grace periods (tens of ms): fewer runs.
constexpr int kChildRuns = 300;
constexpr int kSlowRuns = 20;

// Set up once by main(): a tmpfs of our own (over /tmp, in our namespace) with the
// image unpacked in it.
struct World {
  bool root = false;
  std::string error;      // why the world could not be set up ("" = fine)
  std::string base;       // tmpfs in our private mount namespace
  std::string image_tar;  // //images:busybox
  std::string image_dir;  // the image unpacked once (the store's lower layer)
  int counter = 0;
  std::string Fresh(const std::string& what) {
    return base + "/" + what + "-" + std::to_string(++counter);
  }
};
World world;

bool Ready(benchmark::State& state) {
  if (!world.root) {
    state.SkipWithError("needs root");
    return false;
  }
  if (!world.error.empty()) {
    state.SkipWithError(world.error.c_str());
    return false;
  }
  return true;
}

void MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) < 0 && errno != EEXIST) Check(-1, "mkdir", path);
}

// Clones a child with `flags`; the child runs `setup` (not timed), then `timed`, and
// writes the nanoseconds `timed` took into a pipe. Returns them, or -1 on failure
// (the child's error is put in *error).
int64_t TimedInChild(int flags, const std::function<void()>& setup,
                     const std::function<void()>& timed, std::string* error) {
  int fds[2];
  Check(pipe2(fds, O_CLOEXEC), "pipe2", "timing");
  UniqueFd rd(fds[0]), wr(fds[1]);
  process::CloneOptions opts;
  opts.flags = flags;
  opts.forward_signals = false;
  process::Child child = process::Clone(opts, [&] {
    setup();
    auto t0 = Clock::now();
    timed();
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    if (write(wr.Get(), &ns, sizeof ns) != sizeof ns) return 1;
    return 0;
  });
  wr.Reset();
  try {
    child.Go();
  } catch (const std::exception& e) {
    *error = e.what();
    child.Wait();
    return -1;
  }
  int64_t ns = -1;
  ssize_t n = read(rd.Get(), &ns, sizeof ns);
  process::ExitStatus st = child.Wait();
  if (n != sizeof ns || st.ShellCode() != 0) {
    *error = "child " + st.Describe();
    return -1;
  }
  return ns;
}

void RunTimedInChild(benchmark::State& state, int flags, const std::function<void()>& setup,
                     const std::function<void()>& timed) {
  if (!Ready(state)) return;
  for (auto _ : state) {
    std::string error;
    int64_t ns = TimedInChild(flags, setup, timed, &error);
    if (ns < 0) {
      state.SkipWithError(error.c_str());
      return;
    }
    state.SetIterationTime(static_cast<double>(ns) / 1e9);
  }
}

// ---- clone(2) with each namespace flag -------------------------------------------

// Clone + Go + the child's _exit + Wait: what process::Clone costs with these flags.
// The network namespace dominates: the kernel sets up a whole network stack (lo,
// sysctls, netfilter hooks) and tears it down later in a workqueue.
void BM_Clone(benchmark::State& state) {
  if (!Ready(state)) return;
  process::CloneOptions opts;
  opts.flags = static_cast<int>(state.range(0));
  opts.forward_signals = false;
  for (auto _ : state) {
    process::Child child = process::Clone(opts, [] { return 0; });
    child.Go();
    if (child.Wait().ShellCode() != 0) {
      state.SkipWithError("child failed");
      return;
    }
  }
  state.SetLabel(process::CloneFlagsToString(opts.flags));
}
constexpr int kFive = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET;
BENCHMARK(BM_Clone)
    ->Arg(0)
    ->Arg(CLONE_NEWUTS)
    ->Arg(CLONE_NEWPID)
    ->Arg(CLONE_NEWNS)
    ->Arg(CLONE_NEWIPC)
    ->Arg(CLONE_NEWNET)
    ->Arg(CLONE_NEWCGROUP)
    ->Arg(kFive)
    ->Arg(kFive | CLONE_NEWCGROUP)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The same clone, then execve of the static busybox `true` inside the image dir's
// host path: the cost of exec itself, the floor of any runtime.
void BM_CloneExecTrue(benchmark::State& state) {
  if (!Ready(state)) return;
  process::CloneOptions opts;
  opts.flags = static_cast<int>(state.range(0));
  opts.forward_signals = false;
  const std::string busybox = world.image_dir + "/bin/busybox";
  for (auto _ : state) {
    process::Child child = process::Clone(opts, [&] {
      return process::Exec({busybox, "true"});
    });
    child.Go();
    if (child.Wait().ShellCode() != 0) {
      state.SkipWithError("busybox true failed");
      return;
    }
  }
}
BENCHMARK(BM_CloneExecTrue)->Arg(0)->Arg(kFive)->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---- root filesystem ---------------------------------------------------------------

// rootfs::PopulateInChild from the image: a tmpfs, then the whole tarball unpacked
// (what lab 06 does on every run). Unmounting is not timed.
void BM_PopulateFromImage(benchmark::State& state) {
  if (!Ready(state)) return;
  rootfs::Source src;
  src.image_tar = world.image_tar;
  for (auto _ : state) {
    std::string dir = world.Fresh("img");
    MakeDir(dir);
    rootfs::PopulateInChild(dir, src);
    state.PauseTiming();
    mount::Unmount(dir, MNT_DETACH);
    rmdir(dir.c_str());
    state.ResumeTiming();
  }
}
BENCHMARK(BM_PopulateFromImage)->UseRealTime()->Unit(benchmark::kMicrosecond);

// image::Unpack alone into an existing tmpfs (libarchive's share of the above).
void BM_ImageUnpack(benchmark::State& state) {
  if (!Ready(state)) return;
  for (auto _ : state) {
    state.PauseTiming();
    std::string dir = world.Fresh("unpack");
    MakeDir(dir);
    mount::ScopedMount m = mount::ScopedMount::Make("tmpfs", dir, "tmpfs", 0, "mode=755");
    state.ResumeTiming();
    image::Unpack(world.image_tar, dir);
    state.PauseTiming();
    m.Reset();
    rmdir(dir.c_str());
    state.ResumeTiming();
  }
}
BENCHMARK(BM_ImageUnpack)->UseRealTime()->Unit(benchmark::kMicrosecond);

// store::Rootfs for an image already in the store: what lab 11 pays per container to
// find its lower layer (the unpacking happened once, in main()).
void BM_StoreRootfs(benchmark::State& state) {
  if (!Ready(state)) return;
  for (auto _ : state) benchmark::DoNotOptimize(store::Rootfs(store::kBuiltin));
}
BENCHMARK(BM_StoreRootfs)->Unit(benchmark::kMicrosecond);

// rootfs::PopulateInChild from a directory (--rootfs DIR): one recursive bind mount.
void BM_PopulateFromDir(benchmark::State& state) {
  if (!Ready(state)) return;
  rootfs::Source src;
  src.rootfs_dir = world.image_dir;
  for (auto _ : state) {
    std::string dir = world.Fresh("bind");
    MakeDir(dir);
    rootfs::PopulateInChild(dir, src);
    state.PauseTiming();
    mount::Unmount(dir, MNT_DETACH);
    rmdir(dir.c_str());
    state.ResumeTiming();
  }
}
BENCHMARK(BM_PopulateFromDir)->UseRealTime()->Unit(benchmark::kMicrosecond);

// An overlay over the image unpacked once (lower), upper and work directories made
// fresh per container: what a store-backed runtime pays per container.
void BM_OverlayMount(benchmark::State& state) {
  if (!Ready(state)) return;
  for (auto _ : state) {
    std::string dir = world.Fresh("ovl");
    MakeDir(dir);
    MakeDir(dir + "/upper");
    MakeDir(dir + "/work");
    MakeDir(dir + "/merged");
    mount::Mount("overlay", dir + "/merged", "overlay", 0,
                 "lowerdir=" + world.image_dir + ",upperdir=" + dir + "/upper,workdir=" + dir +
                     "/work");
    state.PauseTiming();
    mount::Unmount(dir + "/merged", MNT_DETACH);
    rootfs::RunDir(dir).Reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_OverlayMount)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The other end of an overlay: a child mounts one in its own mount namespace and
// exits; timed from its last word to waitpid's return. Dropping the namespace
// unmounts the overlay, and unmounting an overlay syncs its upper filesystem — when
// that is the host's disk (range(0) = 1: upper in RunBase(), /run/nslab, as lab 11
// does), sync_filesystem writes back that whole filesystem, other programs' dirty
// data included, before the parent hears of the exit. The `volatile` mount option
// (range(1) = 1) skips that sync; a tmpfs upper (range(0) = 0) makes it cheap.
void BM_OverlayExit(benchmark::State& state) {
  if (!Ready(state)) return;
  const bool on_disk = state.range(0) != 0, volatile_opt = state.range(1) != 0;
  std::string base = on_disk ? rootfs::RunBase() + "/primitives-" + std::to_string(getpid())
                             : world.Fresh("ovlexit");
  state.SetLabel(std::string(on_disk ? "upper on " + rootfs::RunBase() : "upper on tmpfs") +
                 (volatile_opt ? ", volatile" : ""));
  MakeDir(rootfs::RunBase());
  rootfs::RunDir owner(base);  // removed when done, also on disk
  MakeDir(base);
  for (auto _ : state) {
    state.PauseTiming();
    for (const char* d : {"/upper", "/work", "/merged"}) MakeDir(base + d);
    int fds[2];
    Check(pipe2(fds, O_CLOEXEC), "pipe2", "overlay exit");
    UniqueFd rd(fds[0]), wr(fds[1]);
    // A plain fork: process::Child::Go() would wait for the child's end, the very
    // thing timed here.
    pid_t pid = Check(fork(), "fork", "overlay exit");
    if (pid == 0) {
      process::RunInChild([&] {
        Check(unshare(CLONE_NEWNS), "unshare", "CLONE_NEWNS");
        mount::MakePrivateInChild();
        mount::Mount("overlay", base + "/merged", "overlay", 0,
                     "lowerdir=" + world.image_dir + ",upperdir=" + base + "/upper,workdir=" +
                         base + "/work" + (volatile_opt ? ",volatile" : ""));
        // Something written, as a container's first steps write.
        UniqueFd f(Check(open((base + "/merged/tmp/x").c_str(),
                              O_WRONLY | O_CREAT | O_CLOEXEC, 0644), "open", "tmp/x"));
        if (write(f.Get(), "x", 1) != 1) return 1;
        f.Reset();
        char c = 'x';
        return write(wr.Get(), &c, 1) == 1 ? 0 : 1;
      });
    }
    wr.Reset();
    char c;
    bool ok = read(rd.Get(), &c, 1) == 1;
    auto t0 = Clock::now();
    process::ExitStatus st = process::WaitPid(pid);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
    if (!ok || st.ShellCode() != 0) {
      state.SkipWithError("child failed");
      return;
    }
    // A fresh upper and work for the next container.
    for (const char* d : {"/upper", "/work", "/merged"}) rootfs::RunDir(base + d).Reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_OverlayExit)
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1})
    ->UseManualTime()
    ->Iterations(kSlowRuns * 5)
    ->Unit(benchmark::kMicrosecond);

// ---- inside the child: pivot_root, /proc, /dev, /sys, the whole lab 06 recipe ------

// A child in new mount (+pid) namespaces whose setup makes / private and binds the
// unpacked image at a fresh directory; `timed` then works on it.
struct ChildRoot {
  std::string root;
  ChildRoot() : root(world.Fresh("root")) { MakeDir(root); }
  ~ChildRoot() { rmdir(root.c_str()); }
  std::function<void()> Setup() const {
    std::string r = root;
    return [r] {
      mount::MakePrivateInChild();
      rootfs::Source src;
      src.rootfs_dir = world.image_dir;
      rootfs::PopulateInChild(r, src);
    };
  }
};

void BM_PivotRoot(benchmark::State& state) {
  ChildRoot c;
  RunTimedInChild(state, CLONE_NEWNS, c.Setup(), [&] { mount::PivotRootInChild(c.root); });
}
BENCHMARK(BM_PivotRoot)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

void BM_MountProc(benchmark::State& state) {
  ChildRoot c;
  RunTimedInChild(state, CLONE_NEWNS | CLONE_NEWPID, c.Setup(),
                  [&] { mount::MountProcInChild(c.root + "/proc"); });
}
BENCHMARK(BM_MountProc)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

void BM_SetupDev(benchmark::State& state) {
  ChildRoot c;
  RunTimedInChild(state, CLONE_NEWNS, c.Setup(),
                  [&] { mount::SetupDevInChild(c.root + "/dev"); });
}
BENCHMARK(BM_SetupDev)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

void BM_MountSys(benchmark::State& state) {
  ChildRoot c;
  RunTimedInChild(state, CLONE_NEWNS | CLONE_NEWNET, c.Setup(),
                  [&] { mount::MountSysReadOnlyInChild(c.root + "/sys"); });
}
BENCHMARK(BM_MountSys)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

// rootfs::EnterInChild, the lab 06 recipe, from the image (unpack per run) and from a
// directory (bind): the difference is the per-container price of not having a store.
void BM_EnterInChild(benchmark::State& state) {
  std::string root = world.Fresh("enter");
  MakeDir(root);
  rootfs::Source src;
  if (state.range(0) == 0) {
    src.image_tar = world.image_tar;
    state.SetLabel("image (unpack)");
  } else {
    src.rootfs_dir = world.image_dir;
    state.SetLabel("directory (bind)");
  }
  RunTimedInChild(state, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET, [] {},
                  [&] { rootfs::EnterInChild(root, src); });
  rmdir(root.c_str());
}
BENCHMARK(BM_EnterInChild)->Arg(0)->Arg(1)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

// security::MaskPathsInChild after the new root is entered.
void BM_MaskPaths(benchmark::State& state) {
  std::string root = world.Fresh("mask");
  MakeDir(root);
  rootfs::Source src;
  src.rootfs_dir = world.image_dir;
  RunTimedInChild(
      state, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET, [&] { rootfs::EnterInChild(root, src); },
      [] { security::MaskPathsInChild(security::Profile{}); });
  rmdir(root.c_str());
}
BENCHMARK(BM_MaskPaths)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

// ---- hardening ------------------------------------------------------------------------

void BM_SeccompLoad(benchmark::State& state) {
  RunTimedInChild(
      state, 0, [] { Check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl", "NO_NEW_PRIVS"); },
      [] { seccomp::LoadInChild(seccomp::Options{}); });
}
BENCHMARK(BM_SeccompLoad)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

// Capabilities, no_new_privs and seccomp together (security::ApplyInChild).
void BM_SecurityApply(benchmark::State& state) {
  RunTimedInChild(state, 0, [] {}, [] { security::ApplyInChild(security::Profile{}); });
}
BENCHMARK(BM_SecurityApply)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

void BM_CloseExtraFds(benchmark::State& state) {
  RunTimedInChild(state, 0, [] {}, [] { security::CloseExtraFdsInChild(); });
}
BENCHMARK(BM_CloseExtraFds)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

// ---- network (inside our private network namespace) -----------------------------------

// Parent side of lab 08: a veth pair with one end created in the child's network
// namespace, an address and IFF_UP on the host end. range(0) = 1 also times the
// explicit deletion (which a runtime can leave to the kernel: the pair dies with the
// child's namespace).
void BM_Veth(benchmark::State& state) {
  if (!Ready(state)) return;
  const bool time_delete = state.range(0) != 0;
  state.SetLabel(time_delete ? "create + delete" : "create (deletion not timed)");
  process::CloneOptions opts;
  opts.flags = CLONE_NEWNET;
  opts.forward_signals = false;
  for (auto _ : state) {
    process::Child child = process::Clone(opts, [] { return 0; });
    std::string host = "bvh" + std::to_string(world.counter), peer = "bvc" + std::to_string(world.counter);
    ++world.counter;
    auto t0 = Clock::now();
    net::ScopedLink link = net::CreateVethFromParent(child.pid(), host, peer);
    net::AddAddress(host, "10.199.0.1/30");
    net::SetUp(host);
    auto t1 = Clock::now();
    if (time_delete) {
      link.Delete();
      t1 = Clock::now();
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    link.Delete();
    child.Go();
    child.Wait();
  }
}
BENCHMARK(BM_Veth)->Arg(0)->Arg(1)->UseManualTime()->Iterations(kSlowRuns)->Unit(benchmark::kMicrosecond);

// The child's side: lo up (all a --net none container needs).
void BM_LoopbackUp(benchmark::State& state) {
  RunTimedInChild(state, CLONE_NEWNET, [] {}, [] { net::SetUpLoopbackInChild(); });
}
BENCHMARK(BM_LoopbackUp)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

// Lab 11's bridge: created with its address and brought up, then deleted (timed).
void BM_BridgeCreateDelete(benchmark::State& state) {
  if (!Ready(state)) return;
  for (auto _ : state) {
    std::string name = "bbr" + std::to_string(++world.counter);
    net::EnsureBridge(name, "10.199.1.1/24");
    net::ScopedLink(name).Delete();
  }
}
BENCHMARK(BM_BridgeCreateDelete)->UseRealTime()->Iterations(kSlowRuns)->Unit(benchmark::kMicrosecond);

// The per-container part with a bridge already there: veth + attach to the bridge.
void BM_VethAttachToBridge(benchmark::State& state) {
  if (!Ready(state)) return;
  const std::string bridge = "bbrx";
  net::EnsureBridge(bridge, "10.199.2.1/24");
  net::ScopedLink bridge_link(bridge);
  process::CloneOptions opts;
  opts.flags = CLONE_NEWNET;
  opts.forward_signals = false;
  for (auto _ : state) {
    process::Child child = process::Clone(opts, [] { return 0; });
    std::string host = "bah" + std::to_string(world.counter), peer = "bac" + std::to_string(world.counter);
    ++world.counter;
    auto t0 = Clock::now();
    net::ScopedLink link = net::CreateVethFromParent(child.pid(), host, peer);
    net::AttachToBridge(host, bridge);
    auto t1 = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    link.Delete();
    child.Go();
    child.Wait();
  }
}
BENCHMARK(BM_VethAttachToBridge)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

// ---- user namespace and container state ----------------------------------------------

// Parent side of lab 09: uid_map, setgroups and gid_map of a child in a new user
// namespace (root inside = 65534 outside).
void BM_UserNsMaps(benchmark::State& state) {
  if (!Ready(state)) return;
  process::CloneOptions opts;
  opts.flags = CLONE_NEWUSER;
  opts.forward_signals = false;
  for (auto _ : state) {
    process::Child child = process::Clone(opts, [] { return 0; });
    auto t0 = Clock::now();
    user::WriteMapsFromParent(child.pid(), 65534, 65534);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
    child.Go();
    child.Wait();
  }
}
BENCHMARK(BM_UserNsMaps)->UseManualTime()->Iterations(kChildRuns)->Unit(benchmark::kMicrosecond);

// Lab 11's bookkeeping: state::CreateDir (lock, name check, mkdir, first record), one
// more Save (the engine's), RemoveDir — in a state directory on a tmpfs
// (range(0) = 0) or on /run's filesystem (range(0) = 1), where lab 11 keeps it.
void BM_StateCreateSaveRemove(benchmark::State& state) {
  if (!Ready(state)) return;
  const bool on_disk = state.range(0) != 0;
  const std::string base = on_disk ? rootfs::RunBase() + "/primitives-state-" +
                                         std::to_string(getpid())
                                   : world.base + "/state";
  state.SetLabel(on_disk ? "state in " + rootfs::RunBase() : "state on tmpfs");
  MakeDir(rootfs::RunBase());
  rootfs::RunDir owner(base);
  Check(setenv("NSLAB_STATE_DIR", base.c_str(), 1), "setenv", "NSLAB_STATE_DIR");
  for (auto _ : state) {
    state::Record r;
    r.id = state::NewId();
    r.name = r.id;
    r.command = {"/bin/true"};
    state::CreateDir(r);
    r.pid = getpid();
    state::Save(r);
    state::RemoveDir(r.id);
  }
  unsetenv("NSLAB_STATE_DIR");
}
BENCHMARK(BM_StateCreateSaveRemove)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---- cgroups (beneath our own cgroup) -----------------------------------------------

void BM_CgroupDetect(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(cgroup::Detect());
}
BENCHMARK(BM_CgroupDetect)->Unit(benchmark::kMicrosecond);

// Create (with memory and pids limits when range(0) = 1) and Destroy.
void BM_CgroupCreateDestroy(benchmark::State& state) {
  if (!Ready(state)) return;
  cgroup::Layout layout = cgroup::Detect();
  if (layout.mode == cgroup::Mode::kNone) {
    state.SkipWithError("no usable cgroup controller");
    return;
  }
  cgroup::Limits limits;
  if (state.range(0) != 0) {
    if (layout.For("memory")) limits.memory_bytes = 64 << 20;
    if (layout.For("pids")) limits.pids = 64;
  }
  state.SetLabel(cgroup::ModeName(layout.mode) + ", " + limits.Describe());
  for (auto _ : state) {
    cgroup::ScopedCgroup cg =
        cgroup::Create(layout, "nslab-bench-" + std::to_string(getpid()), limits);
    cg.Destroy();
  }
}
BENCHMARK(BM_CgroupCreateDestroy)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

// With a process moved in (AddProcess) that exits before Destroy. Moving a process
// takes cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period
// unless another move happened just before: back to back (range(0) = 0) the moves
// share one; after 50 ms of idleness (range(0) = 1, not timed) each pays its own —
// what a lone container start pays.
void BM_CgroupWithProcess(benchmark::State& state) {
  if (!Ready(state)) return;
  const bool idle = state.range(0) != 0;
  state.SetLabel(idle ? "50 ms idle before each (lone start)" : "back to back");
  cgroup::Layout layout = cgroup::Detect();
  if (layout.mode == cgroup::Mode::kNone) {
    state.SkipWithError("no usable cgroup controller");
    return;
  }
  process::CloneOptions opts;
  opts.forward_signals = false;
  for (auto _ : state) {
    if (idle) {
      state.PauseTiming();
      usleep(50000);
      state.ResumeTiming();
    }
    cgroup::ScopedCgroup cg =
        cgroup::Create(layout, "nslab-bench-" + std::to_string(getpid()), cgroup::Limits{});
    process::Child child = process::Clone(opts, [] { return 0; });
    cg.AddProcess(child.pid());
    child.Go();
    child.Wait();
    cg.Destroy();
  }
}
BENCHMARK(BM_CgroupWithProcess)->Arg(0)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CgroupWithProcess)->Arg(1)->UseRealTime()->Iterations(kSlowRuns)->Unit(
    benchmark::kMicrosecond);

// ---- the world -----------------------------------------------------------------------

// images/busybox.tar among our runfiles (a data dependency), or in bazel-bin when run
// by hand from the workspace. A file, so that every image:: and rootfs:: entry point
// that takes a path can be timed with it.
std::string FindImageTar() {
  std::vector<std::string> tried;
  if (const char* dir = std::getenv("RUNFILES_DIR"))
    tried.push_back(std::string(dir) + "/nslab/images/busybox.tar");
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) tried.push_back(std::string(exe, n) + ".runfiles/nslab/images/busybox.tar");
  tried.push_back("bazel-bin/images/busybox.tar");
  std::string list;
  for (const auto& path : tried) {
    if (access(path.c_str(), R_OK) == 0) return path;
    list += " " + path;
  }
  throw UsageError("images/busybox.tar not found (bazel build //images:busybox); looked in" +
                   list);
}

void SetUpWorld() {
  world.root = geteuid() == 0;
  if (!world.root) return;
  try {
    // Our own mount and network namespaces: nothing we mount or link is seen by (or
    // left on) the host.
    Check(unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare", "CLONE_NEWNS|CLONE_NEWNET");
    mount::MakePrivateInChild();
    // A tmpfs over /tmp, in our namespace only: the host's /tmp gets nothing.
    mount::Mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    world.base = "/tmp/nslab-primitives";
    MakeDir(world.base);
    world.image_tar = FindImageTar();
    world.image_dir = world.base + "/image";
    MakeDir(world.image_dir);
    image::Unpack(world.image_tar, world.image_dir);
    // A store of our own on the tmpfs, filled once (as lab 11's first run does).
    Check(setenv("NSLAB_IMAGE_DIR", (world.base + "/store").c_str(), 1), "setenv",
          "NSLAB_IMAGE_DIR");
    store::Rootfs(store::kBuiltin);
  } catch (const std::exception& e) {
    world.error = e.what();
  }
}


}  // namespace
}  // namespace nslab::bench

int main(int argc, char** argv) {
  nslab::narrate::Configure(/*demo=*/false, /*verbose=*/false);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  nslab::bench::SetUpWorld();
  if (!nslab::bench::world.error.empty())
    std::fprintf(stderr, "primitives: setup failed: %s\n", nslab::bench::world.error.c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;  // our mount and network namespaces, and all in them, die with us
}
