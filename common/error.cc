#include "common/error.h"

#include <cstdio>
#include <cstring>

namespace nslab {
namespace {

std::string Format(int err, std::string_view call, std::string_view arg,
                   std::string_view hint) {
  std::string msg(call);
  if (!arg.empty()) {
    msg += " \"";
    msg += arg;
    msg += "\"";
  }
  msg += ": ";
  msg += std::strerror(err);
  if (!hint.empty()) {
    msg += " (hint: ";
    msg += hint;
    msg += ")";
  }
  return msg;
}

std::string& ProgramNameStorage() {
  static std::string name = "nslab";
  return name;
}

}  // namespace

SysError::SysError(int err, std::string_view call, std::string_view arg,
                   std::string_view hint)
    : std::runtime_error(Format(err, call, arg, hint)),
      err_(err),
      call_(call),
      arg_(arg),
      hint_(hint) {}

SysError::SysError(const SysError& e, const std::string& context)
    : std::runtime_error(context + ": " + e.what()),
      err_(e.err_),
      call_(e.call_),
      arg_(e.arg_),
      hint_(e.hint_) {}

std::string HintFor(std::string_view call, int err) {
  const bool ns_call = call == "clone" || call == "unshare" || call == "setns" ||
                       call == "clone3";
  switch (err) {
    case EPERM:
      if (ns_call)
        return "creating namespaces needs root: run with sudo, or add --user where the "
               "lab offers it";
      if (call == "mount" || call == "umount2" || call == "pivot_root")
        return "needs CAP_SYS_ADMIN in the mount namespace's user namespace: run with sudo";
      if (call == "write" || call == "open") return "needs root: run with sudo";
      return "operation not permitted: run with sudo";
    case EACCES:
      return call == "execve" || call == "execvp" ? "the file is not executable"
                                                  : "permission denied: run with sudo";
    case EINVAL:
      if (call == "pivot_root")
        return "new_root must be a mount point not on the root's mount, and neither may "
               "have shared propagation: make / private first (mount --make-rprivate /)";
      if (call == "mount" || call == "umount2")
        return "check the flags and that the target is a mount point";
      return "";
    case ENOSPC:
      if (call == "mount")
        return "too many mounts: see /proc/sys/fs/mount-max";
      if (call == "clone" || call == "unshare")
        return "namespace limit reached: see /proc/sys/user/max_*_namespaces";
      return "";
    case EBUSY:
      if (call == "umount2") return "something still uses it: a process's cwd or open file";
      return "";
    case ENOENT:
      if (call == "execvp" || call == "execve") return "command not found in the sandbox";
      return "";
    case EUSERS:
      return "too many nested user namespaces (limit 32)";
    default:
      return "";
  }
}

void CheckErrno(int err, std::string_view call, std::string_view arg) {
  if (err != 0) {
    if (err < 0) err = -err;
    throw SysError(err, call, arg, HintFor(call, err));
  }
}

[[noreturn]] void Rethrow(std::string_view context) {
  std::string prefix(context);
  prefix += ": ";
  try {
    throw;
  } catch (const SysError& e) {
    throw SysError(e, std::string(context));
  } catch (const ExitCodeError& e) {
    throw ExitCodeError(e.exit_code(), prefix + e.what());
  } catch (const UsageError& e) {
    throw UsageError(prefix + e.what());
  } catch (const std::exception& e) {
    throw std::runtime_error(prefix + e.what());
  }
}

int ReportError(const std::exception& e, int fallback) {
  std::fflush(stdout);
  std::fprintf(stderr, "%s: %s\n", ProgramName().c_str(), e.what());
  std::fflush(stderr);
  if (auto* exit = dynamic_cast<const ExitCodeError*>(&e)) return exit->exit_code();
  return fallback;
}

void SetProgramName(std::string_view name) { ProgramNameStorage() = std::string(name); }
const std::string& ProgramName() { return ProgramNameStorage(); }

}  // namespace nslab
