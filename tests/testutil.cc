#include "tests/testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <fstream>
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

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

std::string MakeTempDir(const std::string& name) {
  static int n = 0;
  std::string dir = TmpDir() + "/" + name + std::to_string(getpid()) + "_" + std::to_string(n++);
  mkdir(dir.c_str(), 0755);
  return dir;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool RunDirInTestTmpdir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp != nullptr) setenv("NSLAB_RUN_DIR", tmp, 1);
  return true;
}

std::string StatusField(const std::string& key, pid_t pid) {
  std::istringstream in(
      ReadText("/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::string v = line.substr(key.size() + 1);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\r')) v.pop_back();
    size_t a = v.find_first_not_of(" \t\n");
    return a == std::string::npos ? "" : v.substr(a);
  }
  return "";
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  std::string stat = ReadText("/proc/" + std::to_string(pid) + "/stat");
  size_t p = stat.rfind(')');  // the name may hold ')' itself: the state follows the last
  return p != std::string::npos && p + 2 < stat.size() && stat[p + 2] != 'Z';
}

pid_t ChildOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                   "/children");
  pid_t child = 0;
  in >> child;
  return child;
}

pid_t ChildRunning(pid_t lab, const std::string& comm) {
  for (int i = 0; i < 3000; ++i) {
    pid_t child = ChildOf(lab);
    if (child > 0) {
      std::ifstream c("/proc/" + std::to_string(child) + "/comm");
      std::string name;
      if (c >> name && name == comm) return child;
    }
    if (kill(lab, 0) < 0) return -1;
    usleep(10000);
  }
  return -1;
}

pid_t StartLogged(const std::vector<std::string>& argv, const std::string& log) {
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = Spawn(argv, in, out, out);
  close(in);
  close(out);
  return pid;
}

int WaitExit(pid_t pid) {
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  return ShellCode(wstatus);
}

ChildResult RunInChild(const std::function<std::string()>& fn) {
  ChildResult r;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    r.out = "error: pipe2 failed";
    return r;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    int code = 0;
    std::string text;
    try {
      text = fn();
    } catch (const std::exception& e) {
      text = std::string("error: ") + e.what();
      code = 1;
    }
    for (size_t done = 0; done < text.size();) {
      ssize_t n = write(p[1], text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    _exit(code);
  }
  close(p[1]);
  char buf[4096];
  for (;;) {
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.out.append(buf, static_cast<size_t>(n));
  }
  close(p[0]);
  r.code = WaitExit(pid);
  return r;
}

}  // namespace nslab::testutil
