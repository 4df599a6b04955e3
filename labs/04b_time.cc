// Lab 04b — CLONE_NEWTIME: a boot-time and a monotonic clock of the sandbox's own.
//
// A side lab of lab 04: the same child in a new UTS namespace, and one namespace
// more that clone(2) cannot make. The lab calls unshare(CLONE_NEWTIME) itself: it
// stays in the host's time namespace, its *next children* go into the new one
// (/proc/self/ns/time_for_children). Before the first child exists the lab writes
// the namespace's offsets to /proc/self/timens_offsets; afterwards the kernel
// refuses (EACCES). Inside, uptime and CLOCK_MONOTONIC are shifted; the date
// (CLOCK_REALTIME) is the host's.
//
//   bazel run //labs:04b_time
//   bazel run //labs:04b_time -- --boottime 864000 -- uptime   # up 10 days more
//
// Read: time_namespaces(7), clock_gettime(2), unshare(2), proc(5) /proc/uptime.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"
#include "common/timens.h"
#include "common/uts.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::string hostname = "nslab";
  timens::Offsets offsets{0, 10 * 86400};  // monotonic +0, boot time +10 days
  CLI::App app{"04b_time: a child in new UTS and time namespaces, with clocks of its own"};
  lab::AddCommonFlags(app, opt);
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
  timens::AddOffsetFlags(app, offsets);
  return lab::Main("04b_time", app, argc, argv, opt, [&] {
    lab::RequireRoot("creating namespaces");
    uts::ValidateHostname(hostname);  // a bad name is refused before anything exists
    timens::Validate(offsets);        // so is an offset the kernel would refuse
    narrate::Title("04b_time: clocks of its own");
    const int flags = CLONE_NEWUTS;

    // 0. unshare(CLONE_NEWTIME): a new time namespace for our next children (we stay
    //    in the host's). Its offsets are written now, while nobody is in it.
    timens::UnshareForChildren();
    timens::WriteOffsets(offsets);
    narrate::Step("/proc/self/timens_offsets (my children's): " +
                  timens::Describe(timens::ReadOffsets()));

    // 1. clone(2) with CLONE_NEWUTS: the child lands in time_for_children as well; it
    //    renames itself, then runs the command.
    process::Child child = process::Clone({flags}, [&] {
      uts::SetHostnameInChild(hostname);
      narrate::Step("sethostname done: my hostname is \"" + uts::Hostname() + "\"");
      narrate::Step("my clocks: " + timens::DescribeClocks());
      if (opt.Demo()) return 0;
      return process::Exec(opt.command);
    });
    narrate::Step("clone(" + process::CloneFlagsToString(flags | SIGCHLD) +
                  ") gave child " + std::to_string(child.pid()) + "; it waits on the pipe");

    // 2. The parent looks while the child waits: time and uts rows differ.
    narrate::Table(ns::TableHeader({"host", "child"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(child.pid())}));
    if (opt.Demo()) {
      // The namespace has a member now: its offsets are fixed (time_namespaces(7)).
      try {
        timens::WriteOffsets({0, 0});
      } catch (const SysError& e) {
        if (e.err() != EACCES) throw;
        narrate::Step("writing the offsets again: " + std::string(strerror(e.err())) +
                      " (the child is in the namespace now)");
      }
    }
    narrate::Step("the marked rows are the child's own; now writing the go byte");

    // 3. Let the child go; its setup error, if any, is thrown here.
    child.Go();
    process::ExitStatus st = child.Wait();
    narrate::Step("child " + st.Describe());
    narrate::Step("my clocks:    " + timens::DescribeClocks());
    return st.ShellCode();
  });
}
