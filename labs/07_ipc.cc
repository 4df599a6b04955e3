// Lab 07 — CLONE_NEWIPC: System V objects and POSIX message queues of the sandbox's own.
//
// DRAFT on top of lab 05 + the rootfs of lab 06 (06 is not in yet); re-based on
// labs/06_mount.cc once it is.
//
// Lab 06 plus one flag. System V message queues, shared memory segments and
// semaphore sets are found by a numeric key in a table that belongs to an IPC
// namespace; POSIX message queues live in an mqueue filesystem that belongs to one
// too. The sandbox cannot see or touch the host's objects, nor the host the
// sandbox's, and when the namespace's last process exits the kernel frees them all.
//
//   bazel run //labs:07_ipc
//   bazel run //labs:07_ipc -- cat /proc/sysvipc/msg      # empty, whatever the host has
//
// Read: ipc_namespaces(7), sysvipc(7), mq_overview(7), ipcs(1), ipcmk(1).
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "common/ipc.h"
#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"
#include "common/rootfs.h"
#include "common/uts.h"

using namespace nslab;

namespace {

// The IPC part of the demo, run by the child in its new IPC namespace: the host's
// objects are not in its tables; it makes its own (left for the kernel to free when
// the namespace dies) and a POSIX queue in a fresh mqueue mount; then it lets the
// host's observer look (`made`) and waits until it has (`looked` reaches EOF).
void ShowIpcInChild(key_t host_key, key_t sandbox_key, int made, int looked) {
  auto before = ipc::ListSysV();
  narrate::Step("/proc/sysvipc here lists " + std::to_string(before.size()) +
                " objects: nothing with the host's key " + ipc::KeyToString(host_key) +
                (ipc::Contains(before, ipc::SysVKind::kMsg, host_key) ? " (BUT IT IS HERE?!)" : ""));
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

}  // namespace

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  std::string rootfs_dir;
  CLI::App app{"07_ipc: a sandbox with IPC objects of its own (System V and POSIX queues)"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  app.add_option("--rootfs", rootfs_dir,
                 "Run in this unpacked root filesystem instead of the busybox image");
  return lab::Main("07_ipc", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    rootfs::Source src = rootfs::ChooseSource(rootfs_dir, opt.command);
    narrate::Title("07_ipc: IPC objects of its own");
    const int flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC;
    rootfs::RunDir run = rootfs::PrepareRun("07_ipc");

    // 0. The host makes System V objects of its own, for the sandbox not to see.
    const key_t host_key = ipc::DemoKey(getpid());
    const key_t sandbox_key = host_key + 0x10000;  // 0x4e54....: the sandbox's
    std::vector<ipc::ScopedSysV> host_objects;
    Pipe made = MakePipe(), looked = MakePipe();
    if (opt.Demo()) {
      host_objects.push_back(ipc::CreateSysVQueue(host_key));
      host_objects.push_back(ipc::CreateSysVShm(host_key));
      host_objects.push_back(ipc::CreateSysVSem(host_key));
      narrate::Step("the host made a message queue, a shm segment and a semaphore set "
                    "with key " + ipc::KeyToString(host_key));
    }

    // 1. clone(2) with CLONE_NEWIPC: the child's IPC tables start empty.
    process::Child child = process::Clone({flags}, [&] {
      made.read.Reset();
      looked.write.Reset();
      uts::SetHostnameInChild(hostname);
      rootfs::EnterInChild(run.rootfs(), src);
      if (opt.Demo()) {
        ShowIpcInChild(host_key, sandbox_key, made.write.Release(), looked.read.Get());
        return 0;
      }
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");
    made.write.Reset();
    looked.read.Reset();
    pid_t observer = opt.Demo() ? StartHostObserver(made, looked, host_key, sandbox_key) : -1;
    made.read.Reset();
    looked.write.Reset();

    // 2. The parent prepares while the child waits; here it only looks.
    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    narrate::Step("the marked rows are the child's own namespaces; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    if (observer > 0) process::WaitPid(observer);
    narrate::Step("child " + st.Describe());
    if (opt.Demo())
      narrate::Step(std::string("the host's tables hold ") +
                    (ipc::Contains(ipc::ListSysV(), ipc::SysVKind::kMsg, sandbox_key)
                         ? "the sandbox's queue?!"
                         : "no " + ipc::KeyToString(sandbox_key) +
                               " object: they died with the sandbox's IPC namespace") +
                    "; ours are removed as the lab exits");
    return st.ShellCode();
  });
}
