// Lab 10 — cgroups: memory, process and CPU limits, and CLONE_NEWCGROUP.
//
// Lab 09 plus a cgroup and one more namespace. Namespaces change what the sandbox
// sees; a cgroup limits what it uses. Before the clone the lab finds where the
// memory, pids and cpu controllers live (cgroup v2, or v1 hierarchies as on many
// hosts still), creates a cgroup for the sandbox beneath its own (the path in
// /proc/self/cgroup: never anywhere else) and writes the limits into it. While the
// child waits on the sync pipe, the parent writes the child's pid into cgroup.procs;
// after go, the child unshares a cgroup namespace, rooted at the cgroup it is now in,
// so /proc/self/cgroup inside reads "/". The demo pushes against each limit: a
// bounded fork bomb, a memory hog, a CPU spinner; the host then reads what the kernel
// counted. The cgroup is removed when the lab ends — also after an OOM kill, a
// SIGKILL of the sandbox or Ctrl-C.
//
//   bazel run //labs:10_cgroup
//   bazel run //labs:10_cgroup -- cat /proc/self/cgroup       # every line ends in :/
//   bazel run //labs:10_cgroup -- --memory 16M -- dd if=/dev/zero of=/dev/null bs=64M count=1
//
// Read: cgroups(7), cgroup_namespaces(7), Documentation/admin-guide/cgroup-v2.rst,
// Documentation/admin-guide/cgroup-v1/memory.rst, Documentation/scheduler/sched-bwc.rst.
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/cgroup.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/ipc.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/net.h"
#include "common/ns.h"
#include "common/pid.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/user.h"
#include "common/uts.h"

using namespace nslab;

namespace {

const std::vector<std::string> kPitfalls = {"shared", "not-a-mount-point",
                                            "proc-without-pidns"};

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = CheckPtr(opendir(dir.c_str()), "opendir", dir);
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// The demo, run by PID 1 after pivot_root: what the sandbox now sees.
int ShowRootInChild() {
  std::string line;
  for (const auto& name : List("/")) line += name + "  ";
  narrate::Step("ls / (the busybox image, not the host):");
  narrate::Block(line);
  std::string procs;
  for (const auto& name : List("/proc")) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    procs += name + "  " + ReadFile("/proc/" + name + "/comm");
  }
  narrate::Step("processes in my /proc (what ps shows):");
  narrate::Block(procs);
  std::vector<narrate::Row> rows;
  for (const auto& m : mount::ReadMountInfo())
    rows.push_back({{m.mount_point, m.fstype, m.optional.empty() ? "private" : m.optional,
                     m.options}});
  narrate::Step("my mount table (/proc/self/mountinfo):");
  narrate::Table({"mount point", "type", "propagation", "options"}, rows);
  return 0;
}

// --pitfall NAME: make one classic mistake on purpose and let the kernel's error
// (or wrong result) show. Returns only for proc-without-pidns.
void ShowPitfallInChild(const std::string& name, const rootfs::RunDir& run,
                        const rootfs::Source& source) {
  mount::MakePrivateInChild();
  if (name == "shared") {
    narrate::Step("pitfall: making / shared again (a new peer group, in our namespace only)");
    mount::Mount("", "/", "", MS_REC | MS_SHARED);
    rootfs::PopulateInChild(run.rootfs(), source);
    mount::PivotRootInChild(run.rootfs());  // EINVAL: the mounts are shared
  } else if (name == "not-a-mount-point") {
    narrate::Step("pitfall: pivot_root into /usr of the unpacked image, a plain directory");
    rootfs::PopulateInChild(run.rootfs(), source);
    mount::PivotRootInChild(run.rootfs() + "/usr", /*make_mount_point=*/false);  // EINVAL
  } else {
    narrate::Step("pitfall: no CLONE_NEWPID, so the new /proc shows the host's PID namespace");
  }
}

// The IPC part of the demo, run by the child in its new IPC namespace: the host's
// objects are not in its tables; it makes its own (left for the kernel to free when
// the namespace dies) and a POSIX queue in a fresh mqueue mount; then it lets the
// host's observer look (`made`) and waits until it has (`looked` reaches EOF).
void ShowIpcInChild(key_t host_key, key_t sandbox_key, int made, int looked) {
  auto before = ipc::ListSysV();
  const bool leak = ipc::Contains(before, ipc::SysVKind::kMsg, host_key);
  narrate::Step("/proc/sysvipc here lists " + std::to_string(before.size()) +
                " objects: nothing with the host's key " + ipc::KeyToString(host_key) +
                (leak ? " (BUT IT IS HERE?!)" : ""));
  // Released, not removed: the namespace frees them when its last process exits.
  ipc::CreateSysVQueue(sandbox_key).Release();
  ipc::CreateSysVShm(sandbox_key).Release();
  ipc::CreateSysVSem(sandbox_key).Release();
  narrate::Step("made a message queue, a shared memory segment and a semaphore set "
                "with key " + ipc::KeyToString(sandbox_key) + "; /proc/sysvipc here:");
  narrate::Table({"kind", "key", "id", "perms", "uid"}, ipc::Rows(ipc::ListSysV()));
  // A fresh mqueue mount shows *this* IPC namespace's POSIX queues.
  ipc::MountMqueueInChild("/dev/mqueue");
  ipc::CreatePosixQueue("/nslab").Release();
  std::string names;
  for (const auto& n : ipc::ListPosixQueues("/dev/mqueue")) names += " " + n;
  narrate::Step("mq_open(\"/nslab\") in a fresh mqueue mount: /dev/mqueue holds:" + names);
  WriteAll(made, "m");
  close(made);
  ReadAll(looked);  // EOF: the host has looked
  narrate::Step("exiting without removing anything: the IPC namespace dies with its "
                "last process and takes every object in it along");
}

// The host's look while the sandbox still holds its objects. The lab itself waits
// in Go() until the child is done, so a forked helper looks for it — what `ipcs`
// typed in another terminal would show (ipcs reads the same /proc/sysvipc files).
pid_t StartHostObserver(Pipe& made, Pipe& looked, key_t host_key, key_t sandbox_key) {
  std::fflush(stdout);
  pid_t pid = Check(fork(), "fork", "observer");
  if (pid == 0) process::RunInChild([&] {
    narrate::SetRole(narrate::Role::kHost);  // it speaks for the host
    made.write.Reset();
    looked.read.Reset();
    if (ReadAll(made.read.Get(), 1).empty()) return 0;  // the child failed first
    std::vector<ipc::SysVObject> ours;
    for (const auto& o : ipc::ListSysV())
      if (o.key == host_key || o.key == sandbox_key) ours.push_back(o);
    narrate::Step("meanwhile on the host, /proc/sysvipc (what ipcs reads) has, of our keys:");
    narrate::Table({"kind", "key", "id", "perms", "uid"}, ipc::Rows(ours));
    bool leak = false;
    for (const auto& o : ours) leak = leak || o.key == sandbox_key;
    narrate::Step(leak ? "the sandbox's objects are visible here?!"
                       : "the sandbox's " + ipc::KeyToString(sandbox_key) +
                             " objects are not among them");
    return 0;  // exiting closes `looked`: the child goes on
  });
  return pid;
}

// Who the child is inside its user namespace, and what that means outside.
void ShowUserInChild() {
  std::string map = ReadFile("/proc/self/uid_map"), status = ReadFile("/proc/self/status");
  size_t at = status.find("CapEff:\t");
  std::string caps = at == std::string::npos ? "?" : status.substr(at + 8, 16);
  narrate::Step("uid " + std::to_string(getuid()) + ", gid " + std::to_string(getgid()) +
                " inside; /proc/self/uid_map (inside outside count):");
  narrate::Block(map);
  narrate::Step("CapEff " + caps + ": every capability, over my namespaces only");
}

// The links of the caller's network namespace, as a table.
void ShowLinksInChild(const std::string& when) {
  std::vector<narrate::Row> rows;
  for (const net::LinkInfo& l : net::ListLinks()) {
    std::string addrs;
    for (const auto& a : l.addresses) addrs += (addrs.empty() ? "" : " ") + a;
    rows.push_back({{l.name, l.Up() ? "UP" : "DOWN", l.FlagsText(), addrs}});
  }
  narrate::Step("links in my network namespace " + when + ":");
  narrate::Table({"link", "state", "flags", "ipv4"}, rows);
}

// ping(8) from inside, to the host end. busybox ping opens a raw ICMP socket, which
// needs CAP_NET_RAW: root inside has it over its own network namespace.
int PingFromChild(const std::string& addr) {
  std::fflush(stdout);
  pid_t pid = Check(fork(), "fork", "ping");
  if (pid == 0) process::RunInChild([&] { return process::Exec({"ping", "-c1", "-W5", addr}); });
  return process::WaitPid(pid).ShellCode();
}

std::string TrimNewlines(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

int64_t NowMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// A fork bomb, bounded: `tries` forks as fast as possible, each child only waits;
// count what the kernel refused, then kill and reap them all.
void ForkBombInChild(int tries) {
  std::vector<pid_t> kids;
  int refused = 0, first_errno = 0;
  for (int i = 0; i < tries; ++i) {
    pid_t kid = fork();
    if (kid == 0) {
      pause();
      _exit(0);
    }
    if (kid < 0) {
      if (first_errno == 0) first_errno = errno;
      ++refused;
      continue;
    }
    kids.push_back(kid);
  }
  narrate::Step("fork bomb: " + std::to_string(tries) + " forks: " +
                std::to_string(kids.size()) + " succeeded, " + std::to_string(refused) +
                " refused" +
                (refused ? std::string(" with ") + strerrorname_np(first_errno) + " (" +
                               std::strerror(first_errno) + ")"
                         : std::string()));
  for (pid_t kid : kids) kill(kid, SIGKILL);
  for (pid_t kid : kids) process::WaitPid(kid);
}

// A memory hog: a child touches 1M after 1M, up to `cap_mb`, reporting each one.
void MemoryHogInChild(int cap_mb) {
  Pipe progress = MakePipe();
  std::fflush(stdout);
  pid_t hog = Check(fork(), "fork", "memory hog");
  if (hog == 0) process::RunInChild([&] {
    progress.read.Reset();
    for (int mb = 1; mb <= cap_mb; ++mb) {
      char* p = static_cast<char*>(std::malloc(1 << 20));
      if (p == nullptr) return 1;
      std::memset(p, 0xa5, 1 << 20);  // touching the pages is what charges them
      WriteAll(progress.write.Get(), ".");
    }
    return 0;
  });
  progress.write.Reset();
  size_t touched = ReadAll(progress.read.Get()).size();
  process::ExitStatus st = process::WaitPid(hog);
  narrate::Step("memory hog: touched " + std::to_string(touched) + "M of " +
                std::to_string(cap_mb) + "M, then " + st.Describe() +
                (st.signal == SIGKILL ? ": the OOM killer" : ""));
}

// A CPU spinner: burns `cpu_ms` of CPU time and measures how much wall time it took.
void CpuSpinInChild(int cpu_ms) {
  Pipe result = MakePipe();
  std::fflush(stdout);
  pid_t spinner = Check(fork(), "fork", "cpu spinner");
  if (spinner == 0) process::RunInChild([&] {
    const int64_t start = NowMs(CLOCK_MONOTONIC);
    while (NowMs(CLOCK_PROCESS_CPUTIME_ID) < cpu_ms) {
    }
    WriteAll(result.write.Get(), std::to_string(NowMs(CLOCK_MONOTONIC) - start));
    return 0;
  });
  result.write.Reset();
  std::string wall = ReadAll(result.read.Get());
  process::WaitPid(spinner);
  narrate::Step("cpu spinner: " + std::to_string(cpu_ms) + " ms of CPU took " + wall +
                " ms of wall time");
}

// The cgroup part of the demo: the namespace's view, then each limit pushed. Every
// loop is bounded, so it ends (and the host stays responsive) even without limits.
void ShowLimitsInChild(const cgroup::Limits& limits, unsigned long host_cgroup_ns) {
  narrate::Step("cgroup namespace " +
                std::to_string(ns::Read(pid::PidInProcMount())["cgroup"]) + " (the host's is " +
                std::to_string(host_cgroup_ns) + "); /proc/self/cgroup reads:");
  narrate::Block(TrimNewlines(ReadFile("/proc/self/cgroup")));
  ForkBombInChild(static_cast<int>(std::min<int64_t>(2 * limits.pids.value_or(32), 256)));
  MemoryHogInChild(static_cast<int>(
      std::min<int64_t>(4 * (limits.memory_bytes.value_or(int64_t{64} << 20) >> 20), 1024)));
  CpuSpinInChild(300);
}

// What the kernel counted, read by the host from the cgroup's files.
void ShowCounters(const cgroup::ScopedCgroup& cg) {
  cgroup::MemoryCounters m = cg.MemoryEvents();
  cgroup::PidsCounters p = cg.PidsEvents();
  cgroup::CpuCounters c = cg.CpuStats();
  auto v2 = [&](const char* controller) {
    for (const auto& n : cg.nodes())
      for (const auto& ctl : n.controllers)
        if (ctl == controller) return n.version == 2;
    return false;
  };
  const bool mem2 = v2("memory"), cpu2 = v2("cpu");
  narrate::Step("what the kernel counted in " + cg.name() + ":");
  narrate::Table(
      {"controller", "file", "counter", "value"},
      {{{"pids", "pids.events", "max", std::to_string(p.max)}, p.max > 0},
       {{"memory", mem2 ? "memory.events" : "memory.oom_control", "oom_kill",
         std::to_string(m.oom_kill)},
        m.oom_kill > 0},
       {{"memory", mem2 ? "memory.events" : "memory.failcnt+memsw.failcnt",
         mem2 ? "max" : "failcnt", std::to_string(m.max)},
        m.max > 0},
       {{"cpu", "cpu.stat", "nr_throttled", std::to_string(c.nr_throttled)}, c.nr_throttled > 0},
       {{"cpu", "cpu.stat", cpu2 ? "throttled_usec" : "throttled_time/1000",
         std::to_string(c.throttled_usec)},
        c.throttled_usec > 0}});
}

}  // namespace

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir, pitfall;
  std::string network = "veth";
  std::string subnet = "10.77.0.0/16";
  uid_t uid = user::DefaultOutsideUid();
  gid_t gid = user::DefaultOutsideGid();
  cgroup::Limits limits;
  CLI::App app{"10_cgroup: a sandbox with memory, pids and cpu limits and a cgroup namespace"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  app.add_option("--rootfs", rootfs_dir,
                 "Run this unpacked root filesystem instead of the built-in busybox image");
  app.add_option("--pitfall", pitfall,
                 "Make a classic mistake on purpose, to see the kernel's answer: shared "
                 "(pivot_root with shared mounts: EINVAL), not-a-mount-point (pivot_root "
                 "into a plain directory: EINVAL), proc-without-pidns (a fresh /proc "
                 "without CLONE_NEWPID lists the host's processes)")
      ->check(CLI::IsMember(kPitfalls));
  app.add_option("--net", network, "veth: a veth pair to the host; none: only lo")
      ->check(CLI::IsMember({"veth", "none"}))
      ->capture_default_str();
  app.add_option("--subnet", subnet,
                 "IPv4 subnet the run's /30 is taken from (host .1, sandbox .2)")
      ->capture_default_str();
  app.add_option("--uid", uid, "The host uid that is root inside (default: 65534 when run "
                               "as root, else your own uid, the only one you may map)")
      ->capture_default_str();
  app.add_option("--gid", gid, "The host gid that is group 0 inside (same defaults)")
      ->capture_default_str();
  cgroup::AddLimitFlags(app, limits);  // --memory, --pids, --cpus: strict, once each
  return lab::Main("10_cgroup", app, argc, argv, opt, [&] {
    user::CheckUserNamespacesEnabled();  // no root needed: the user namespace is the key
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    // Defaults small enough for the demo to reach each limit at once, large enough for
    // a shell and its pipelines (docs/10_cgroup.md).
    if (!limits.memory_bytes) limits.memory_bytes = int64_t{64} << 20;
    if (!limits.pids) limits.pids = 32;
    if (!limits.cpus) limits.cpus = 0.5;
    rootfs::Source source = rootfs::ChooseSource(rootfs_dir, opt.command);  // validated
    // Names and addresses are this run's: parallel runs never collide.
    const std::string host_if = net::HostIfName(getpid()), child_if = net::ChildIfName(getpid());
    const net::PointToPoint p2p = net::PointToPointFor(net::Subnet::Parse(subnet), getpid());
    if (network == "veth" && geteuid() != 0) {
      // The host end would be created in the host's network namespace.
      narrate::Step("not root: a veth needs CAP_NET_ADMIN on the host; --net none (lo only)");
      network = "none";
    }
    narrate::Title("10_cgroup: limits, and a cgroup namespace");
    int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET |
                CLONE_NEWUSER;
    if (pitfall == "proc-without-pidns") flags &= ~CLONE_NEWPID;
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    user::UseOwnRunDirIfUnprivileged();  // /run/nslab is root's
    rootfs::RunDir run = rootfs::PrepareRun("10_cgroup");  // removed on every way out
    // Root inside is uid `uid` on the host, with no power over host-owned files: the
    // run directory becomes its (the image is inside this binary, nothing to open).
    user::ChownForChild(run.path(), uid, gid);

    // 0. Demo: the host makes System V objects of its own, for the sandbox not to see.
    const key_t host_key = ipc::DemoKey(getpid());
    const key_t sandbox_key = host_key + 0x10000;  // 0x4e54....: the sandbox's
    std::vector<ipc::ScopedSysV> host_objects;     // removed when the lab ends
    Pipe made = MakePipe(), looked = MakePipe();   // child -> host observer -> child
    if (opt.Demo()) {
      host_objects.push_back(ipc::CreateSysVQueue(host_key));
      host_objects.push_back(ipc::CreateSysVShm(host_key));
      host_objects.push_back(ipc::CreateSysVSem(host_key));
      narrate::Step("the host made a message queue, a shm segment and a semaphore set "
                    "with key " + ipc::KeyToString(host_key));
    }

    // 0b. The cgroup: where do memory, pids and cpu live (v2, v1 or both), and where
    //     is our own cgroup in each? The sandbox's is made beneath ours, limits
    //     written, before the clone; it is destroyed after the child is reaped —
    //     ~ScopedCgroup kills what is left inside and removes it, however the child ended.
    cgroup::Layout layout = cgroup::Detect();
    narrate::Step(cgroup::ModeName(layout.mode) + ": " + layout.reason);
    for (const auto& dir : cgroup::RemoveStale(layout, "nslab-10-"))
      narrate::Step("removed " + dir + ", left behind by a 10_cgroup that was SIGKILLed");
    cgroup::ScopedCgroup cg = cgroup::Create(layout, cgroup::RunCgroupName("10"), limits);
    for (const auto& n : cg.nodes()) narrate::Step("created " + n.dir);
    narrate::Step("limits: " + limits.Describe());
    const unsigned long host_cgroup_ns = ns::Read(getpid())["cgroup"];

    // 1. clone(2) with CLONE_NEWUSER: the user namespace is made first and owns the
    //    others; the child has no ids until the maps are written, then becomes root
    //    of its namespace and follows the recipe of lab 08.
    process::Child child = process::Clone({flags}, [&] {
      // First thing after go: the parent has moved us into the cgroup, so the new
      // cgroup namespace is rooted there and /proc/self/cgroup reads "/" (not
      // CLONE_NEWCGROUP in `flags`: that would root it at the lab's own cgroup).
      cgroup::UnshareInChild();
      made.read.Reset();  // the observer's ends
      looked.write.Reset();
      user::SetupInChild();  // setresgid/setresuid(0): the maps are there
      if (opt.Demo()) ShowUserInChild();
      uts::SetHostnameInChild(hostname);
      if (opt.Demo()) ShowLinksInChild("at first");
      if (network == "veth")
        net::ConfigureInChild(child_if, p2p.child_cidr, p2p.host_addr);  // lo too
      else
        net::SetUpLoopbackInChild();
      if (!pitfall.empty()) ShowPitfallInChild(pitfall, run, source);
      mount::MakePrivateInChild();                          // nothing leaks to the host
      rootfs::PopulateInChild(run.rootfs(), source);        // tmpfs + busybox image
      mount::MountProcInChild(run.rootfs() + "/proc");      // our PID namespace's /proc
      mount::SetupDevInChild(run.rootfs() + "/dev");        // null, zero, tty, pts...
      mount::MountSysReadOnlyInChild(run.rootfs() + "/sys");
      mount::PivotRootInChild(run.rootfs());                // / is now the rootfs
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) {
        ShowRootInChild();
        ShowLinksInChild("once configured");
        if (network == "veth") {
          narrate::Step("ping -c1 " + p2p.host_addr + " (the host end):");
          narrate::Step(PingFromChild(p2p.host_addr) == 0 ? "the host end answered"
                                                          : "no answer from the host end");
        }
        ShowLimitsInChild(limits, host_cgroup_ns);
        ShowIpcInChild(host_key, sandbox_key, made.write.Release(), looked.read.Get());
        return 0;
      }
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");
    made.write.Reset();  // the child's ends
    looked.read.Reset();
    pid_t observer = opt.Demo() ? StartHostObserver(made, looked, host_key, sandbox_key) : -1;
    made.read.Reset();
    looked.write.Reset();

    // First of all, the child's id maps (each file can be written only once).
    user::WriteMapsFromParent(child.pid(), uid, gid);
    narrate::Step("wrote /proc/" + std::to_string(child.pid()) + "/uid_map \"" +
                  user::ReadMap(child.pid(), "uid_map") + "\" and gid_map \"" +
                  user::ReadMap(child.pid(), "gid_map") + "\"");

    // 2. The parent prepares while the child waits: a veth pair whose other end is
    //    created in the child's network namespace; our end gets the .1 and goes up.
    net::ScopedLink veth;  // deleted when the lab ends (SIGKILL: see docs/08_net.md)
    if (network == "veth") {
      veth = net::CreateVethFromParent(child.pid(), host_if, child_if);
      net::AddAddress(host_if, p2p.host_cidr);
      net::SetUp(host_if);
      narrate::Step("veth " + host_if + " (" + p2p.host_cidr + ", here) <-> " + child_if +
                    " (" + p2p.child_cidr + ", in the child's namespace)");
    }
    // 2b. Move the child into its cgroup while it waits: all it execs or forks from
    //     now on is counted and limited. Only after go does it unshare its cgroup
    //     namespace, whose root is the cgroup it is in at that moment.
    cg.AddProcess(child.pid());
    narrate::Step("wrote " + std::to_string(child.pid()) + " to cgroup.procs; /proc/" +
                  std::to_string(child.pid()) + "/cgroup (the host's view) reads:");
    narrate::Block(TrimNewlines(ReadFile("/proc/" + std::to_string(child.pid()) + "/cgroup")));
    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("NSpid in /proc/" + std::to_string(child.pid()) + "/status: " +
                  pid::NsPidsString(child.pid()) + " (its pid here, then inside)");
    narrate::Step("root filesystem: " + source.Describe() + ", in " + run.rootfs());
    narrate::Step("the marked rows are the child's own; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    if (opt.Demo() || narrate::Verbose()) ShowCounters(cg);  // then ~ScopedCgroup: rmdir
    narrate::Step("my hostname is still \"" + uts::Hostname() + "\"");
    if (observer > 0) process::WaitPid(observer);
    if (opt.Demo())
      narrate::Step(std::string("the host's tables hold ") +
                    (ipc::Contains(ipc::ListSysV(), ipc::SysVKind::kMsg, sandbox_key)
                         ? "the sandbox's queue?!"
                         : "no " + ipc::KeyToString(sandbox_key) +
                               " object: they died with the sandbox's IPC namespace") +
                    "; ours are removed as the lab exits");
    if (veth.Valid()) {
      veth.Delete();
      narrate::Step("deleted " + host_if + "; its peer went with it");
    }

    // 4. Nothing to unmount: every mount lived in the child's namespace and died
    //    with it. Only the per-run directory remains, and it goes now.
    const std::string path = run.path();
    run.Reset();
    struct stat sb;
    narrate::Step(path + (stat(path.c_str(), &sb) < 0 ? " removed" : " still exists?!"));
    narrate::Step(ReadFile("/proc/self/mountinfo") == mounts_before
                      ? "my mount table is exactly what it was before the run"
                      : "my mount table CHANGED during the run?!");
    return st.ShellCode();
  });
}
