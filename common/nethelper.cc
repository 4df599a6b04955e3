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

namespace nslab::nethelper {
namespace {

bool Executable(const std::string& p) { return access(p.c_str(), X_OK) == 0; }

}  // namespace

std::string FindBinary() {
  std::vector<std::string> tried;
  if (const char* env = std::getenv("NSLAB_NET"); env != nullptr && *env != '\0') {
    if (Executable(env)) return env;
    tried.push_back(env);
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    std::string self(exe);
    std::string dir = self.substr(0, self.rfind('/'));
    for (const std::string& p : {dir + "/" + kName, self + ".runfiles/nslab/labs/" + kName}) {
      if (Executable(p)) return p;
      tried.push_back(p);
    }
  }
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    const char* env = std::getenv(var);
    if (env == nullptr || *env == '\0') continue;
    std::string p = std::string(env) + "/nslab/labs/" + kName;
    if (Executable(p)) return p;
    tried.push_back(p);
  }
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t;
  throw ExitCodeError(125, std::string("cannot find the ") + kName + " binary (looked at " +
                               where + "; build it with `bazel build //labs:" + kName + "`)");
}

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
