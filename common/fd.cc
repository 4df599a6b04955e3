#include "common/fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/error.h"

namespace nslab {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) {
    int saved = errno;  // a destructor must not change errno seen by the caller
    close(fd_);
    errno = saved;
  }
  fd_ = fd;
}

Pipe MakePipe() {
  int fds[2];
  Check(pipe2(fds, O_CLOEXEC), "pipe2", "O_CLOEXEC");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

UniqueFd Open(const std::string& path, int flags, int mode) {
  return UniqueFd(Check(open(path.c_str(), flags | O_CLOEXEC, mode), "open", path));
}

std::string ReadFile(const std::string& path) {
  UniqueFd fd = Open(path, O_RDONLY);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.Get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    Check(n, "read", path);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void WriteFile(const std::string& path, std::string_view data) {
  UniqueFd fd = Open(path, O_WRONLY | O_TRUNC);
  // Files under /proc and /sys take one write(2) per value: a short write is an error.
  ssize_t n;
  do {
    n = write(fd.Get(), data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  Check(n, "write", path);
}

std::string TrimNewlines(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = CheckPtr(opendir(dir.c_str()), "opendir", dir);
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<std::string, std::string>> KeyValueLines(const std::string& text,
                                                               char sep) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t at = line.find(sep);
    if (at != std::string::npos) out.emplace_back(line.substr(0, at), line.substr(at + 1));
  }
  return out;
}

void WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    Check(n, "write", what);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string ReadAll(int fd, size_t limit) {
  std::string out;
  char buf[4096];
  while (out.size() < limit) {
    ssize_t n = read(fd, buf, std::min(sizeof buf, limit - out.size()));
    if (n < 0 && errno == EINTR) continue;
    Check(n, "read", "pipe");
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace nslab
