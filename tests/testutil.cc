#include "tests/testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace nslab::testutil {

std::string Runfile(const std::string& rel) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) return rel;  // run by hand from the workspace root
  return std::string(srcdir) + "/" + (ws ? ws : "nslab") + "/" + rel;
}

std::string LabPath(const std::string& name) { return Runfile("labs/" + name); }

namespace {

void Drain(int fd, std::string* into) {
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) into->append(buf, static_cast<size_t>(n));
}

int ShellCode(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

pid_t Spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // its own group, so a timeout can kill everything it started
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

RunResult Run(const std::vector<std::string>& argv, const std::string& input,
              int timeout_seconds) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return {};
  pid_t pid = Spawn(argv, in[0], out[1], err[1]);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // Small inputs only: write all, then close so the child sees EOF.
  if (!input.empty()) (void)!write(in[1], input.data(), input.size());
  close(in[1]);
  RunResult r;
  const time_t deadline = time(nullptr) + timeout_seconds;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int n = poll(fds, 2, 1000);
    if (time(nullptr) > deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      break;
    }
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents & (POLLIN | POLLHUP)) {
        size_t before = (i == 0 ? r.out : r.err).size();
        Drain(fds[i].fd, i == 0 ? &r.out : &r.err);
        if ((i == 0 ? r.out : r.err).size() == before) (i == 0 ? out_open : err_open) = false;
      }
    }
  }
  close(out[0]);
  close(err[0]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = ShellCode(wstatus);
  return r;
}

RunResult RunLab(const std::string& name, const std::vector<std::string>& args,
                 const std::string& input, int timeout_seconds) {
  std::vector<std::string> argv = {LabPath(name)};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, input, timeout_seconds);
}

Background Start(const std::vector<std::string>& argv) {
  int out[2], err[2];
  Background b;
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return b;
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  b.pid = Spawn(argv, devnull, out[1], err[1]);
  close(devnull);
  close(out[1]);
  close(err[1]);
  b.out_fd = out[0];
  b.err_fd = err[0];
  return b;
}

RunResult Background::Finish() {
  RunResult r;
  for (;;) {
    size_t before = r.out.size();
    Drain(out_fd, &r.out);
    if (r.out.size() == before) break;
  }
  for (;;) {
    size_t before = r.err.size();
    Drain(err_fd, &r.err);
    if (r.err.size() == before) break;
  }
  close(out_fd);
  close(err_fd);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = ShellCode(wstatus);
  return r;
}

bool IsRoot() { return geteuid() == 0; }

std::string UniqueName(const std::string& prefix) {
  static int counter = 0;
  return prefix + std::to_string(getpid() % 100000) + "x" + std::to_string(counter++);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

bool HasLine(const std::string& text, const std::string& line) {
  auto lines = Lines(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

std::vector<std::string> MountPoints() {
  std::vector<std::string> points;
  int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  std::string text;
  if (fd >= 0) {
    for (;;) {
      size_t before = text.size();
      Drain(fd, &text);
      if (text.size() == before) break;
    }
    close(fd);
  }
  for (const auto& l : Lines(text)) {
    std::istringstream f(l);
    std::string field;
    for (int i = 0; i < 5 && f >> field; ++i) {
    }
    points.push_back(field);
  }
  std::sort(points.begin(), points.end());
  return points;
}

}  // namespace nslab::testutil
