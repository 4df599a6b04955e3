// Lab 10 — cgroups: limits on memory, processes and CPU, and CLONE_NEWCGROUP.
//
// DRAFT on top of lab 05 (labs 06-09 are not in yet); re-based on 09_user later.
//
// Namespaces change what the sandbox can see; a cgroup limits what it can use. The
// lab creates a cgroup beneath its own (read from /proc/self/cgroup), writes the
// limits into it, moves the child in while the child waits on the sync pipe, and
// removes it when the child is gone. The child then unshares a cgroup namespace,
// rooted at the cgroup it is in, so that /proc/self/cgroup inside reads "/".
//
//   bazel run //labs:10_cgroup
//   bazel run //labs:10_cgroup -- --pids 8 -- sh -c 'for i in $(seq 20); do sleep 9 & done'
//
// Read: cgroups(7), cgroup_namespaces(7), Documentation/admin-guide/cgroup-v2.rst.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/cgroup.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/pid.h"
#include "common/process.h"
#include "common/uts.h"

using namespace nslab;

namespace {

std::string Chomp(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

int64_t NowMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// A fork bomb, bounded: fork `tries` children that only wait, as fast as possible,
// and count how many forks the kernel refused; then kill and reap them all.
void ForkBombInChild(int tries) {
  std::vector<pid_t> kids;
  int refused = 0;
  int first_errno = 0;
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

// A memory hog: a child touches 1M after 1M, up to `cap_mb`, telling us after each.
void MemoryHogInChild(int cap_mb) {
  Pipe progress = MakePipe();
  pid_t hog = Check(fork(), "fork");
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

// A CPU spinner: burns `cpu_ms` of CPU time and measures the wall time it took.
void CpuSpinInChild(int cpu_ms) {
  Pipe result = MakePipe();
  pid_t spinner = Check(fork(), "fork");
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

// The demo run by PID 1: first the cgroup namespace's view, then each limit pushed.
// Every loop is bounded, so it ends (and the host stays responsive) even without limits.
int ShowLimitsInChild(const cgroup::Limits& limits, unsigned long host_cgroup_ns) {
  narrate::Step("cgroup namespace " + std::to_string(ns::Read(pid::PidInProcMount())["cgroup"]) +
                " (the host's is " + std::to_string(host_cgroup_ns) +
                "); /proc/self/cgroup reads:");
  narrate::Block(Chomp(ReadFile("/proc/self/cgroup")));
  ForkBombInChild(static_cast<int>(std::min<int64_t>(2 * limits.pids.value_or(32), 256)));
  MemoryHogInChild(static_cast<int>(
      std::min<int64_t>(4 * (limits.memory_bytes.value_or(int64_t{64} << 20) >> 20), 1024)));
  CpuSpinInChild(300);
  return 0;
}

// What the kernel counted, read from the cgroup's files by the host.
void ShowCounters(const cgroup::ScopedCgroup& cg) {
  cgroup::MemoryCounters m = cg.MemoryEvents();
  cgroup::PidsCounters p = cg.PidsEvents();
  cgroup::CpuCounters c = cg.CpuStats();
  auto file = [&](const char* controller, const char* v2, const char* v1) {
    for (const auto& n : cg.nodes())
      for (const auto& ctl : n.controllers)
        if (ctl == controller) return std::string(n.version == 2 ? v2 : v1);
    return std::string("-");
  };
  narrate::Table({"controller", "file", "counter", "value"},
                 {{{"pids", "pids.events", "max (forks refused)", std::to_string(p.max)},
                   p.max > 0},
                  {{"memory", file("memory", "memory.events", "memory.oom_control"),
                    "oom_kill", std::to_string(m.oom_kill)},
                   m.oom_kill > 0},
                  {{"memory", file("memory", "memory.events", "memory.failcnt"),
                    file("memory", "max", "failcnt (+memsw)"), std::to_string(m.max)},
                   m.max > 0},
                  {{"cpu", "cpu.stat", "nr_throttled", std::to_string(c.nr_throttled)},
                   c.nr_throttled > 0},
                  {{"cpu", "cpu.stat", file("cpu", "throttled_usec", "throttled_time/1000"),
                    std::to_string(c.throttled_usec)},
                   c.throttled_usec > 0}});
}

}  // namespace

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  cgroup::Limits limits;
  CLI::App app{"10_cgroup: a sandbox with memory, pids and cpu limits and its own cgroup namespace"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  cgroup::AddLimitFlags(app, limits);
  return lab::Main("10_cgroup", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces and cgroups");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    // Defaults small enough that the demo reaches each limit at once, large enough
    // for a shell and its pipelines: see docs/10_cgroup.md.
    if (!limits.memory_bytes) limits.memory_bytes = int64_t{64} << 20;
    if (!limits.pids) limits.pids = 32;
    if (!limits.cpus) limits.cpus = 0.5;
    narrate::Title("10_cgroup: cgroup limits and the cgroup namespace");
    const int flags = CLONE_NEWUTS | CLONE_NEWPID;

    // 1. Find where memory, pids and cpu live (v2, v1 or both) and our own cgroup
    //    in each; create ours beneath it with the limits. Before the clone, so that
    //    the cgroup outlives the child: it is removed after the child is reaped.
    cgroup::Layout layout = cgroup::Detect();
    narrate::Step(cgroup::ModeName(layout.mode) + ": " + layout.reason);
    for (const auto& dir : cgroup::RemoveStale(layout, "nslab-10-"))
      narrate::Step("removed " + dir + ", left behind by a 10_cgroup that was SIGKILLed");
    cgroup::ScopedCgroup cg = cgroup::Create(layout, cgroup::RunCgroupName("10"), limits);
    for (const auto& n : cg.nodes()) narrate::Step("created " + n.dir);
    narrate::Step("limits: " + limits.Describe());
    const unsigned long host_cgroup_ns = ns::Read(getpid())["cgroup"];

    // 2. clone(2): the child waits on the pipe; after go, it unshares its cgroup
    //    namespace first — by then it is in the new cgroup (see step 3).
    process::Child child = process::Clone({flags}, [&] {
      cgroup::UnshareInChild();
      uts::SetHostnameInChild(hostname);
      if (opt.Demo()) return ShowLimitsInChild(limits, host_cgroup_ns);
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // 3. Move the child into the cgroup while it waits: everything it execs or forks
    //    from now on is limited. Only then may it create its cgroup namespace, whose
    //    root is the cgroup it is in at that moment (cgroup_namespaces(7)).
    cg.AddProcess(child.pid());
    narrate::Step("wrote " + std::to_string(child.pid()) + " to cgroup.procs; /proc/" +
                  std::to_string(child.pid()) + "/cgroup now reads:");
    narrate::Block(Chomp(ReadFile("/proc/" + std::to_string(child.pid()) + "/cgroup")));

    // 4. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());

    // 5. What the kernel counted. ~ScopedCgroup then kills anything left and rmdirs.
    if (opt.Demo() || narrate::Verbose()) ShowCounters(cg);
    return st.ShellCode();
  });
}
