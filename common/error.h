// error — one exception type for failed system calls, and the one place that prints it.
//
// Teaches: errno must be saved before anything else runs (bubblewrap's `errsv`); a
// message names the call, its key argument and strerror, e.g.
//   pivot_root "/run/nslab/x/rootfs": Invalid argument (hint: ...)
// and errnos that puzzle students get a hint. Read: errno(3), strerror(3).
//
//   int fd = Check(open(path, O_RDONLY | O_CLOEXEC), "open", path);
//   try { ... } catch (const std::exception& e) { return ReportError(e); }
#ifndef NSLAB_COMMON_ERROR_H_
#define NSLAB_COMMON_ERROR_H_

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace nslab {

// A system call failed. what() is the full one-line message.
class SysError : public std::runtime_error {
 public:
  SysError(int err, std::string_view call, std::string_view arg,
           std::string_view hint = {});
  // The same error with context in front of the message (see Rethrow).
  SysError(const SysError& e, const std::string& context);
  int err() const { return err_; }
  const std::string& call() const { return call_; }
  const std::string& arg() const { return arg_; }
  const std::string& hint() const { return hint_; }

 private:
  int err_;
  std::string call_, arg_, hint_;
};

// A request that makes no sense (bad flag value, missing rootfs...). No errno.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Adds context in front of an error while keeping its type, errno and exit code
// (crun's crun_error_wrap). Call inside a catch block:
//   catch (...) { Rethrow("preparing rootfs"); } -> "preparing rootfs: mount ...".
[[noreturn]] void Rethrow(std::string_view context);

// A hint for an errno that students meet often from `call`, or "" if none. `arg` is
// the call's key argument as Check got it (clone's flags as text, a mount target):
// clone's EPERM means something else with CLONE_NEWUSER. Hints for the errnos with
// several documented causes name the lab page that explains them
// ("see docs/06_mount.md#pitfalls"). One line, always.
std::string HintFor(std::string_view call, int err, std::string_view arg = {});

// User text in a message, quoted: "\"" + text + "\"" with every control character
// escaped C-style (\n, \t, \r, \x1b...), and '"' and '\' escaped, so that a name
// like $'a\nname=evil' cannot break the one-line error (or forge a second line, or
// drive the terminal with escape sequences). Use it wherever user input is echoed:
//   throw UsageError("invalid container name " + Quote(name) + ": ...");
std::string Quote(std::string_view text);
// The same escaping without the quotes and without touching '"' and '\': what
// ReportError applies to a whole message, the last line of defence.
std::string EscapeControl(std::string_view text);

// Throws SysError(errno, call, arg) when result is -1 (or a null pointer); else returns it.
template <typename T>
T Check(T result, std::string_view call, std::string_view arg = {}) {
  if (result == static_cast<T>(-1)) {
    int saved = errno;  // first thing: later calls may overwrite errno
    throw SysError(saved, call, arg, HintFor(call, saved, arg));
  }
  return result;
}
template <typename T>
T* CheckPtr(T* result, std::string_view call, std::string_view arg = {}) {
  if (result == nullptr) {
    int saved = errno;
    throw SysError(saved, call, arg, HintFor(call, saved, arg));
  }
  return result;
}

// For calls that return a positive errno instead of setting it (pthread, libnl...).
void CheckErrno(int err, std::string_view call, std::string_view arg = {});

// Prints "<prog>: <message>" once on stderr and returns the exit code for it:
// an exception that carries an exit code (ExitCodeError) gives its own, others `fallback`.
int ReportError(const std::exception& e, int fallback = 1);

// The program name used in error lines ("04_uts"); set once by lab::Main.
void SetProgramName(std::string_view name);
const std::string& ProgramName();

// An error that must end the program with a specific code (127 not found, 126 not
// executable, 125 runtime error in lab 11).
class ExitCodeError : public std::runtime_error {
 public:
  ExitCodeError(int code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  int exit_code() const { return code_; }

 private:
  int code_;
};

}  // namespace nslab

#endif  // NSLAB_COMMON_ERROR_H_
