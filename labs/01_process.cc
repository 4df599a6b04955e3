// Lab 01 — a container starts as a plain process: fork(2), execve(2), wait(2).
//
// Before any namespace, see what every container on a host is underneath: a child
// process with a pid, a parent, and the *same* namespaces as that parent. Each
// later lab changes exactly one of these facts.
//
//   bazel run //labs:01_process                  # narrated demo
//   bazel run //labs:01_process -- sh -c 'echo $$; exit 3'   # exits 3
//
// Read: fork(2), execve(2), wait(2), proc(5) /proc/PID/stat, namespaces(7).
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"
#include "common/proctree.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  CLI::App app{"01_process: a container starts as a plain process (fork, exec, wait)"};
  lab::AddCommonFlags(app, opt);
  return lab::Main("01_process", app, argc, argv, opt, [&] {
    // In the demo the child runs `cat`, which lives until we close its stdin: the
    // parent can look at it in /proc while it runs, without any sleep.
    std::vector<std::string> command = opt.Demo() ? std::vector<std::string>{"cat"}
                                                   : opt.command;
    narrate::Title("01_process: fork, exec, wait");
    Pipe stdin_pipe = MakePipe();

    // 1. fork(2): the kernel copies this process. Both copies return from fork;
    //    the child sees 0, the parent sees the child's pid.
    narrate::Syscall("fork", "");
    std::fflush(stdout);
    pid_t pid = Check(fork(), "fork");
    if (pid == 0) {
      process::RunInChild([&] {
        narrate::Step("I am the child: pid " + std::to_string(getpid()) + ", parent " +
                      std::to_string(getppid()));
        if (opt.Demo()) Check(dup2(stdin_pipe.read.Get(), STDIN_FILENO), "dup2", "stdin");
        // 2. execve(2): replace this process's program; the pid stays the same.
        return process::Exec(command);
      });
    }
    stdin_pipe.read.Reset();
    narrate::Step("fork() returned child pid " + std::to_string(pid));

    if (opt.Demo()) {
      // 3. Look at the child from outside, as any host tool would.
      narrate::Step("the process tree below me, read from /proc/PID/stat:");
      narrate::Block(proctree::Render(proctree::Snapshot(), getpid()));
      narrate::Step("namespaces of parent and child, from /proc/PID/ns:");
      narrate::Table(ns::TableHeader({"parent " + std::to_string(getpid()),
                                      "child " + std::to_string(pid)}),
                     ns::TableRows({ns::Read(getpid()), ns::Read(pid)}));
      narrate::Step("no row is marked: the child shares every namespace with me");
      stdin_pipe.write.Reset();  // EOF on cat's stdin: it exits
    }

    // 4. wait(2): collect the exit status, or the child stays a zombie.
    process::ExitStatus st = process::WaitPid(pid);
    narrate::Step("child " + std::to_string(pid) + " " + st.Describe());
    return opt.Demo() ? 0 : st.ShellCode();
  });
}
