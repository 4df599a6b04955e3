// Lab 09b — nested user namespaces, and who owns which namespace (ioctl_ns(2)).
//
// A side lab of lab 09 (its rootfs, network and IPC left out: the lesson is the
// ownership, not the sandbox). The lab clones an "outer" child in a new user, UTS,
// PID and mount namespace, and maps its root to host uid --outer-base. That child,
// root of its own user namespace, clones the "inner" child the same way and writes
// its map itself: a user namespace inside a user namespace. Each uts/pid/mnt
// namespace is owned by the user namespace that was new in the same clone(2). The
// host then reads, through /proc/PID/ns/* fds and the ioctls NS_GET_USERNS,
// NS_GET_PARENT, NS_GET_NSTYPE and NS_GET_OWNER_UID, the tree of who owns what.
//
//   bazel run //labs:09b_nested                           # the tree, then the inside
//   bazel run //labs:09b_nested -- -v -- hostname         # CMD in the innermost
//   lsns -o NS,TYPE,PID,PNS,ONS                           # the same ioctls
//
// Read: ioctl_ns(2), user_namespaces(7), namespaces(7), lsns(8).
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "common/lab.h"
#include "common/mount.h"
#include "common/narrate.h"
#include "common/nsowner.h"
#include "common/process.h"
#include "common/proctree.h"
#include "common/user.h"
#include "common/uts.h"

using namespace nslab;

namespace {

constexpr unsigned kOuterCount = 65536;  // ids of the outer namespace, as podman gives
constexpr unsigned kInnerCount = 1000;   // ids of the inner one, taken from the outer's

// The new namespaces of each child: the user namespace is created first and owns
// the others (clone(2) orders them so).
constexpr int kFlags = CLONE_NEWUSER | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS;

// What every child does first: become root of its namespace, its own hostname, and a
// /proc of its PID namespace (so that its /proc/PID names its own children).
void SetUpInChild(const std::string& hostname) {
  user::SetupInChild();  // setresgid/setresuid(0): the parent wrote the maps
  // That uid change without execve cleared "dumpable": our /proc/PID files (and our
  // children's) would belong to host root, and the outer child could not open the
  // inner's uid_map. Dumpable again, they belong to our own root.
  narrate::Syscall("prctl", "PR_SET_DUMPABLE, 1");
  Check(prctl(PR_SET_DUMPABLE, 1), "prctl", "PR_SET_DUMPABLE");
  uts::SetHostnameInChild(hostname);  // CAP_SYS_ADMIN over the uts ns our user ns owns
  mount::MakePrivateInChild();
  mount::MountProcInChild("/proc");
}

// The one child of `parent` (the outer child's inner one), from the host's /proc.
pid_t OnlyChildOf(pid_t parent) {
  const auto procs = proctree::Snapshot();
  auto it = procs.find(parent);
  if (it == procs.end() || it->second.children.size() != 1)
    throw SysError(ESRCH, "find the inner child", "/proc/" + std::to_string(parent));
  return it->second.children[0];
}

}  // namespace

int main(int argc, char** argv) {
  lab::Options opt;
  unsigned outer_base = 100000;
  unsigned inner_base = 1000;
  CLI::App app{"09b_nested: a user namespace inside a user namespace, and the tree of "
               "which user namespace owns which namespace (ioctl_ns); `-- CMD` runs CMD "
               "in the innermost namespaces"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--outer-base", outer_base,
                 "The host uid (and gid) that is root of the outer user namespace; it maps "
                 "65536 ids from there")
      ->capture_default_str();
  app.add_option("--inner-base", inner_base,
                 "The outer namespace's uid (and gid) that is root of the inner one; it maps "
                 "1000 ids from there, so at most 64536")
      ->check(CLI::Range(0u, kOuterCount - kInnerCount))
      ->capture_default_str();
  return lab::Main("09b_nested", app, argc, argv, opt, [&] {
    lab::RequireRoot("mapping host uid " + std::to_string(outer_base) + " and on");
    if (outer_base > 4294967294u - kOuterCount)
      throw UsageError("--outer-base " + std::to_string(outer_base) +
                       ": the 65536 ids would run past the last uid (4294967294)");
    narrate::Title("09b_nested: a user namespace in a user namespace");
    const std::string outer_map = user::MapLine(0, outer_base, kOuterCount);
    const std::string inner_map = user::MapLine(0, inner_base, kInnerCount);
    // The inner child waits for this pipe's byte (or EOF) until the host has read the
    // tree: the namespaces must still exist when the host looks at them.
    Pipe shown = MakePipe();

    // 1. The outer child: new user, uts, pid and mnt namespaces, owned by its new
    //    user namespace, whose owner uid is ours (0).
    process::Child outer = process::Clone({kFlags}, [&] {
      shown.write.Reset();
      SetUpInChild("nslab-outer");
      // 2. As root of the outer namespace (host uid outer_base) it makes the inner
      //    one: its parent is the outer user namespace, its owner uid outer_base.
      const int outer_report = process::ReportFdInChild();
      process::Child inner = process::Clone({kFlags}, [&] {
        // Our copy of the outer child's report pipe would keep the host's Go() waiting
        // until we exec: only our own (Clone made it) tells our parent.
        if (outer_report >= 0) close(outer_report);
        SetUpInChild("nslab-inner");
        // Setup done: the host may look now; wait until it has.
        process::ReportReadyInChild();
        char byte;
        while (read(shown.read.Get(), &byte, 1) < 0 && errno == EINTR) {
        }
        shown.read.Reset();
        if (opt.Demo()) {
          narrate::Step("inside the innermost: hostname \"" + uts::Hostname() + "\", uid " +
                        std::to_string(getuid()) + ", pid " + std::to_string(getpid()));
          std::string map, word;
          for (std::istringstream in(ReadFile("/proc/self/uid_map")); in >> word;)
            map += (map.empty() ? "" : " ") + word;
          narrate::Step("my uid_map: \"" + map + "\" (in the outer namespace's ids)");
          return 0;
        }
        return process::Exec(opt.command);
      });
      // 3. The maps of a user namespace are written from its parent namespace by a
      //    process with CAP_SETUID there: we are root of the outer one. /proc is ours,
      //    so inner.pid() is right for /proc/PID.
      user::WriteMapFile(inner.pid(), "uid_map", inner_map);
      user::WriteMapFile(inner.pid(), "gid_map", inner_map);
      inner.Go();
      process::ReportReadyInChild();  // the host's Go() returns: both are set up
      shown.read.Reset();
      return inner.Wait().ShellCode();
    });
    shown.read.Reset();
    user::WriteMapFile(outer.pid(), "uid_map", outer_map);
    user::WriteMapFile(outer.pid(), "gid_map", outer_map);
    narrate::Step("outer child " + std::to_string(outer.pid()) + ": uid_map \"" +
                  TrimNewlines(outer_map) + "\" (its root is host uid " +
                  std::to_string(outer_base) + ")");
    outer.Go();
    const pid_t inner = OnlyChildOf(outer.pid());
    narrate::Step("inner child " + std::to_string(inner) + ": uid_map \"" +
                  TrimNewlines(inner_map) + "\", written by the outer child (its root is "
                  "outer uid " + std::to_string(inner_base) + ", host uid " +
                  std::to_string(outer_base + inner_base) + ")");

    // 4. From the host: each process's /proc/PID/ns/{user,uts,pid,mnt}, each one's
    //    owner (NS_GET_USERNS) and type (NS_GET_NSTYPE), each user namespace's parent
    //    (NS_GET_PARENT, up to the top we can see) and owner uid (NS_GET_OWNER_UID).
    narrate::Step("who owns what, read with ioctl_ns(2) on /proc/{" + std::to_string(getpid()) +
                  "," + std::to_string(outer.pid()) + "," + std::to_string(inner) + "}/ns/*:");
    narrate::Block(nsowner::RenderTree(nsowner::Collect({getpid(), outer.pid(), inner})));
    narrate::Step("the outer user namespace's owner uid is ours; the inner one's is host uid " +
                  std::to_string(outer_base) + ", the outer root that created it");
    shown.write.Reset();  // EOF: the inner child goes on

    process::ExitStatus st = outer.Wait();
    narrate::Step("outer child " + st.Describe());
    return st.ShellCode();
  });
}
