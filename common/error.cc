#include "common/error.h"

#include <cstdio>
#include <cstring>

namespace nslab {
namespace {

void AppendEscaped(std::string* out, unsigned char c) {
  static const char kHex[] = "0123456789abcdef";
  switch (c) {
    case '\n': *out += "\\n"; return;
    case '\t': *out += "\\t"; return;
    case '\r': *out += "\\r"; return;
    default:
      *out += "\\x";
      *out += kHex[c >> 4];
      *out += kHex[c & 0xf];
  }
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string Format(int err, std::string_view call, std::string_view arg,
                   std::string_view hint) {
  std::string msg(call);
  if (!arg.empty()) {
    // The argument is often user input (a path, a name): quoted and escaped.
    msg += " ";
    msg += Quote(arg);
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

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (IsControl(c)) {
      AppendEscaped(&out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string EscapeControl(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (IsControl(c)) {
      AppendEscaped(&out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

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

std::string HintFor(std::string_view call, int err, std::string_view arg) {
  const bool ns_call = call == "clone" || call == "unshare" || call == "setns" ||
                       call == "clone3";
  switch (err) {
    case EPERM:
      // clone(2)/unshare(2) with CLONE_NEWUSER need no privilege at all, so EPERM
      // there means the host forbids it: Debian's kernel.unprivileged_userns_clone=0,
      // Ubuntu's AppArmor restriction, or a caller inside a chroot (user_namespaces(7)).
      if ((call == "clone" || call == "unshare" || call == "clone3") &&
          arg.find("CLONE_NEWUSER") != std::string_view::npos)
        return "this host forbids user namespaces to you (sysctl "
               "kernel.unprivileged_userns_clone=0, AppArmor's "
               "apparmor_restrict_unprivileged_userns, or a chroot): run 00_doctor, or "
               "sudo; see docs/09_user.md#pitfalls";
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
               "have shared propagation: make / private first (mount --make-rprivate /); "
               "see docs/06_mount.md#pitfalls";
      if (call == "mount" || call == "umount2")
        return "check the flags and that the target is a mount point";
      return "";
    case ENOSPC:
      if (call == "mount")
        return "too many mounts in this mount namespace (sysctl fs.mount-max); see "
               "docs/06_mount.md#pitfalls";
      if (call == "clone" || call == "unshare")
        return "namespace limit reached: see /proc/sys/user/max_*_namespaces";
      return "";
    case EBUSY:
      if (call == "umount2" || call == "umount")
        return "something still uses it: a process's cwd or open file, or a mount "
               "below it (MNT_DETACH detaches it lazily); see docs/06_mount.md#pitfalls";
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
    throw SysError(err, call, arg, HintFor(call, err, arg));
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
  // One line, whatever the message quotes (issue 13): control characters escaped.
  std::fprintf(stderr, "%s: %s\n", ProgramName().c_str(), EscapeControl(e.what()).c_str());
  std::fflush(stderr);
  if (auto* exit = dynamic_cast<const ExitCodeError*>(&e)) return exit->exit_code();
  return fallback;
}

void SetProgramName(std::string_view name) { ProgramNameStorage() = std::string(name); }
const std::string& ProgramName() { return ProgramNameStorage(); }

}  // namespace nslab
