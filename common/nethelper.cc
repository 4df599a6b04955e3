#include "common/nethelper.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::nethelper {
std::string FindBinary() { return process::FindHelperBinary(kName, "NSLAB_NET"); }

void Run(const Options& o, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {FindBinary()};
  if (narrate::Verbose()) argv.push_back("-v");
  for (const auto& [flag, value] : {std::pair<const char*, const std::string&>{"--bridge", o.bridge},
                                    {"--subnet", o.subnet},
                                    {"--table", o.table},
                                    {"--state-dir", o.state_dir}})
    if (!value.empty()) {
      argv.push_back(flag);
      argv.push_back(value);
    }
  argv.insert(argv.end(), args.begin(), args.end());
  std::string shown;
  for (const auto& a : argv) shown += (shown.empty() ? "" : " ") + a;
  narrate::Syscall("execv", shown);

  Pipe err = MakePipe();
  pid_t pid = Check(fork(), "fork", kName);
  if (pid == 0) {
    // The helper's stderr comes back to us; its stdout (show, counts) is not wanted.
    dup2(err.write.Get(), 2);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) dup2(null, 1);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  err.write.Reset();
  std::string text = ReadAll(err.read.Get(), 64 << 10);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    if (!text.empty()) narrate::Step(TrimNewlines(text));  // a note (ip_forward)
    return;
  }
  // Its last line is the error ("nslab-net: ..."): ours, with the prefix dropped.
  text = TrimNewlines(text);
  std::string line = text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  const std::string prefix = std::string(kName) + ": ";
  if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  if (line.empty()) line = "exited with status " + std::to_string(WEXITSTATUS(status));
  throw ExitCodeError(125, std::string(kName) + " " + args[0] + ": " + line);
}

void Publish(const Options& o, const std::string& id, const std::string& container_ip,
             const std::vector<std::string>& specs) {
  if (specs.empty()) return;
  std::vector<std::string> args = {"publish", id, container_ip.substr(0, container_ip.find('/'))};
  args.insert(args.end(), specs.begin(), specs.end());
  Run(o, args);
}

}  // namespace nslab::nethelper
