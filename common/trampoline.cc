// trampoline — see trampoline.h. The sealed memfd, and the exec through it.
#include "common/trampoline.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/narrate.h"
#include "common/process.h"

extern "C" {
extern const char nslab_trampoline[];  // common/trampoline_main.c, linked (BUILD)
extern const uint64_t nslab_trampoline_size;
}

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

namespace nslab::trampoline {
namespace {

constexpr const char* kName = "nslab-trampoline";

}  // namespace

size_t Size() { return static_cast<size_t>(nslab_trampoline_size); }

UniqueFd Prepare() {
  // MFD_EXEC: with vm.memfd_noexec=1 a memfd is otherwise created non-executable
  // (Linux 6.3); older kernels refuse the unknown flag with EINVAL.
  int fd = static_cast<int>(
      syscall(SYS_memfd_create, kName, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC));
  if (fd < 0 && errno == EINVAL)
    fd = static_cast<int>(syscall(SYS_memfd_create, kName, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  UniqueFd memfd(Check(fd, "memfd_create", kName));
  WriteAll(memfd.Get(), std::string(nslab_trampoline, Size()), kName);
  // The seals make the copy immutable for everyone, us included, for good:
  // F_SEAL_SEAL forbids removing them, so a process that reaches it through
  // /proc/PID/exe can open it but never change a byte (fcntl(2) "File Sealing").
  Check(fcntl(memfd.Get(), F_ADD_SEALS,
              F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
        "fcntl", "F_ADD_SEALS");
  return memfd;
}

std::string ResolveInChild(const std::string& command) {
  auto check = [](const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return errno;
    if (S_ISDIR(st.st_mode)) return EACCES;
    if (!S_ISREG(st.st_mode) || access(path.c_str(), X_OK) != 0) return EACCES;
    return 0;
  };
  auto fail = [&](int err) -> std::string {
    int code = (err == ENOENT || err == ENOTDIR) ? process::kNotFound : process::kNotExecutable;
    throw ExitCodeError(code,
                        SysError(err, "execvp", command, HintFor("execvp", err)).what());
  };
  if (command.empty()) fail(ENOENT);
  if (command.find('/') != std::string::npos) {
    if (int err = check(command)) fail(err);
    return command;
  }
  // execvp(3)'s search: the first directory of $PATH holding an executable file; a
  // file found but not executable is EACCES only if nothing later is executable.
  const char* env = std::getenv("PATH");
  const std::string path = env ? env : "/bin:/usr/bin";
  int seen = ENOENT;
  for (size_t start = 0;;) {
    size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? end : end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + command;
    int err = check(candidate);
    if (err == 0) return candidate;
    if (err == EACCES) seen = EACCES;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  // A shell calls "found nowhere, some directory unreadable" not found, as
  // process::Exec does.
  fail(seen == EACCES ? EACCES : ENOENT);
  return "";  // not reached
}

int ExecInChild(int trampoline_fd, const std::vector<std::string>& argv, int report_fd) {
  if (argv.empty()) throw ExitCodeError(process::kSetupFailed, "no command to run");
  const std::string path = ResolveInChild(argv[0]);
  std::vector<std::string> args = {kName, std::to_string(report_fd), path};
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<char*> raw;
  for (auto& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  // The error pipe must live through this one execve (the trampoline closes it on
  // the next); every other fd is close-on-exec already (CloseExtraFdsInChild).
  if (report_fd >= 0) Check(fcntl(report_fd, F_SETFD, 0), "fcntl", "report pipe");
  narrate::Syscall("execveat", "sealed " + std::string(kName) + ", \"\", AT_EMPTY_PATH -> " + path);
  std::fflush(stdout);
  std::fflush(stderr);
  syscall(SYS_execveat, trampoline_fd, "", raw.data(), environ, AT_EMPTY_PATH);
  int err = errno;
  if (report_fd >= 0) fcntl(report_fd, F_SETFD, FD_CLOEXEC);
  throw SysError(err, "execveat", kName);
}

}  // namespace nslab::trampoline
