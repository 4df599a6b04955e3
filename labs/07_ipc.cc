// Lab 07 — CLONE_NEWIPC: System V objects and POSIX message queues of the sandbox's own.
//
// Lab 06 plus one flag. System V message queues, shared memory segments and
// semaphore sets are found by a numeric key in a table that belongs to an IPC
// namespace; POSIX message queues live in an mqueue filesystem that belongs to one
// too. The sandbox cannot see or touch the host's objects, nor the host the
// sandbox's, and when the namespace's last process exits the kernel frees them all.
//
//   bazel run //labs:07_ipc
//   bazel run //labs:07_ipc -- cat /proc/sysvipc/msg    # empty, whatever the host has
//
// Read: ipc_namespaces(7), sysvipc(7), mq_overview(7), ipcs(1), ipcmk(1).
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "common/fd.h"
#include "common/ipc.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/pid.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir, pitfall;
  CLI::App app{"07_ipc: a sandbox with IPC objects of its own (System V and POSIX queues)"};
  lab::AddCommonFlags(app, opt);
  uts::AddFlags(app, hostname);
  rootfs::AddFlags(app, rootfs_dir, pitfall);
  return lab::Main("07_ipc", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    rootfs::Source source = rootfs::ChooseSource(rootfs_dir, opt.command);  // validated
    narrate::Title("07_ipc: IPC objects of its own");
    int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC;
    if (pitfall == "proc-without-pidns") flags &= ~CLONE_NEWPID;
    const std::string mounts_before = ReadFile("/proc/self/mountinfo");
    rootfs::RunDir run = rootfs::PrepareRun("07_ipc");  // removed on every way out

    // 0. Demo: the host makes System V objects of its own, for the sandbox not to see.
    ipc::Demo ipc_demo(getpid(), opt.Demo());  // host objects and observer; removed at the end

    // 1. clone(2) with CLONE_NEWIPC: the child's IPC tables start empty; the rest
    //    is lab 06's recipe.
    process::Child child = process::Clone({flags}, [&] {
      uts::SetHostnameInChild(hostname);
      if (!pitfall.empty()) rootfs::ShowPitfallInChild(pitfall, run, source);
      rootfs::EnterInChild(run.rootfs(), source);           // lab 06's recipe, one call
      ipc::MountMqueueInChild("/dev/mqueue");               // our IPC namespace's queues
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      if (opt.Demo()) {
        mount::ShowRootInChild();
        ipc_demo.ShowInChild();  // last: it waits until the host has looked
        return 0;
      }
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // 2. The parent prepares while the child waits; here it only looks.
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
    narrate::Step("my hostname is still \"" + uts::Hostname() + "\"");
    ipc_demo.FinishFromParent();

    // 4. Nothing to unmount: every mount lived in the child's namespace and died
    //    with it. Only the per-run directory remains, and it goes now.
    rootfs::RemoveRunFromParent(run, mounts_before);  // and shows the host unchanged
    return st.ShellCode();
  });
}
