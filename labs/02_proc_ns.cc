// Lab 02 — namespace identity: /proc/PID/ns/* side by side, like lsns per process.
//
// A namespace has no name, only an identity: the inode of its nsfs file. Read the
// links of several processes and the differing rows show where they are isolated.
//
//   bazel run //labs:02_proc_ns                     # itself beside pid 1
//   bazel run //labs:02_proc_ns -- -p 1 -p 4242     # any pids
//   bazel run //labs:02_proc_ns -- ls -l /proc/self/ns   # a command, as in lab 01
//
// Read: namespaces(7) "The /proc/[pid]/ns/ directory", lsns(8), readlink(2).
#include <unistd.h>

#include "common/error.h"
#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  std::vector<pid_t> pids;
  CLI::App app{"02_proc_ns: the namespaces of processes side by side"};
  app.add_option("-p,--pid", pids, "A process to show (repeatable; default: self and 1)")
      ->check(CLI::Range(1, 1 << 22));  // pid_max is at most 2^22
  lab::AddCommonFlags(app, opt);
  return lab::Main("02_proc_ns", app, argc, argv, opt, [&] {
    std::string note;
    if (pids.empty()) {
      pids = {getpid(), 1};
      // Reading another process's ns links needs ptrace read access: where pid 1
      // holds capabilities we lack (a container host's init often does), the
      // kernel says EACCES. The demo then compares with our parent instead.
      try {
        ns::Read(1);
      } catch (const SysError& e) {
        note = std::string("pid 1 is not readable here (") + e.what() +
               "); showing my parent instead";
        pids = {getpid(), getppid()};
      }
    }

    // 1. Read every link first, so that one bad pid fails before any output.
    std::vector<ns::Identity> ids;
    std::vector<std::string> columns;
    for (pid_t p : pids) {
      ids.push_back(ns::Read(p));
      columns.push_back(p == getpid() ? "self " + std::to_string(p) : std::to_string(p));
    }
    narrate::Title("02_proc_ns: namespace identity");
    if (!note.empty()) narrate::Step(note);
    narrate::Step("readlink /proc/PID/ns/*: the number is the namespace's nsfs inode");
    narrate::Table(ns::TableHeader(columns), ns::TableRows(ids));
    narrate::Step("rows marked * differ: there the processes are isolated from each other");

    if (opt.Demo()) return 0;
    // 2. With a command: run it as lab 01 does. It shares all our namespaces.
    pid_t pid = Check(fork(), "fork");
    if (pid == 0) process::RunInChild([&] { return process::Exec(opt.command); });
    return process::WaitPid(pid).ShellCode();
  });
}
