#include "common/engine/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::engine {

void RunHooks(const std::vector<Hook>& hooks, const std::string& kind,
              const std::string& state_json) {
  for (size_t i = 0; i < hooks.size(); ++i) {
    const Hook& h = hooks[i];
    const std::string name = "hook " + kind + "[" + std::to_string(i) + "] \"" + h.path + "\"";
    narrate::Step("running " + name);
    Pipe in = MakePipe();
    std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = h.env;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = Check(fork(), "fork", name);
    if (pid == 0) {
      dup2(in.read.Get(), 0);
      execve(h.path.c_str(), argv.data(), envp.data());
      std::fprintf(stderr, "%s: %s: %s\n", ProgramName().c_str(), name.c_str(), strerror(errno));
      _exit(127);
    }
    in.read.Reset();
    // A hook that does not read its stdin must not kill us with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    for (size_t off = 0; off < state_json.size();) {
      ssize_t n = write(in.write.Get(), state_json.data() + off, state_json.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the hook closed its stdin: fine
      off += static_cast<size_t>(n);
    }
    in.write.Reset();
    if (h.timeout) {
      // pidfd_open(2): wait for the hook with a timeout, without a timed loop.
      UniqueFd pfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
      struct pollfd p = {pfd.Get(), POLLIN, 0};
      int n;
      do {
        n = poll(&p, 1, *h.timeout * 1000);
      } while (n < 0 && errno == EINTR);
      if (n == 0) {
        kill(pid, SIGKILL);
        process::WaitPid(pid);
        throw UsageError(name + ": timed out after " + std::to_string(*h.timeout) + "s");
      }
    }
    process::ExitStatus st = process::WaitPid(pid);
    if (st.code != 0 || st.Signaled()) throw UsageError(name + ": " + st.Describe());
  }
}

}  // namespace nslab::engine
