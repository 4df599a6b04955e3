// fd — RAII ownership of file descriptors, and pipes that are close-on-exec.
//
// Teaches: a descriptor the program forgets to close leaks into every child it
// execs (and into a container: the CVE-2024-21626 class). Own each fd in exactly one
// UniqueFd, open everything O_CLOEXEC, and hand ownership on with Release().
// Read: open(2) O_CLOEXEC, pipe2(2), close(2).
//
//   UniqueFd fd(Check(open(path, O_RDONLY | O_CLOEXEC), "open", path));
//   Pipe p = MakePipe();  // p.read, p.write; both close on exec
#ifndef NSLAB_COMMON_FD_H_
#define NSLAB_COMMON_FD_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nslab {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int Get() const { return fd_; }
  bool Valid() const { return fd_ >= 0; }
  explicit operator bool() const { return Valid(); }
  // Gives up ownership without closing.
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the current fd (if any) and owns `fd` instead.
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// pipe2(O_CLOEXEC).
Pipe MakePipe();

// open(2) with O_CLOEXEC added; throws SysError naming the path.
UniqueFd Open(const std::string& path, int flags, int mode = 0644);

// Whole-file helpers for /proc and /sys files (short, text).
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, std::string_view data);

// The "key<sep>value" lines of a small text file, in order; lines without `sep` are
// skipped. For lab 11's record and image files ("pid=4242") and the like.
std::vector<std::pair<std::string, std::string>> KeyValueLines(const std::string& text,
                                                               char sep = '=');
// The text without its trailing newlines: ReadFile("/proc/1/comm") ends in one.
std::string TrimNewlines(std::string s);
// The names in a directory, sorted, without "." and ".."; throws SysError naming it.
std::vector<std::string> ListDir(const std::string& dir);

// write(2)/read(2) loops that retry on EINTR and partial transfers.
void WriteAll(int fd, std::string_view data, std::string_view what = "pipe");
// Reads until EOF (or `limit` bytes).
std::string ReadAll(int fd, size_t limit = 1 << 20);

}  // namespace nslab

#endif  // NSLAB_COMMON_FD_H_
