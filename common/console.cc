#include "common/console.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "common/error.h"
#include "common/narrate.h"

namespace nslab::console {

Pty OpenPty() {
  Pty pty;
  // O_NOCTTY: opening a terminal must not make it *our* controlling terminal.
  narrate::Syscall("posix_openpt", "O_RDWR|O_NOCTTY|O_CLOEXEC");
  pty.master.Reset(Check(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), "posix_openpt", "/dev/ptmx"));
  Check(grantpt(pty.master.Get()), "grantpt", "/dev/ptmx");
  Check(unlockpt(pty.master.Get()), "unlockpt", "/dev/ptmx");
  char name[64];
  CheckErrno(ptsname_r(pty.master.Get(), name, sizeof name), "ptsname_r", "/dev/ptmx");
  pty.slave_path = name;
  pty.slave = Open(pty.slave_path, O_RDWR | O_NOCTTY);
  return pty;
}

RawMode::RawMode(int fd) {
  struct termios t;
  if (tcgetattr(fd, &t) < 0) return;  // not a terminal: nothing to do
  saved_ = t;
  // cfmakeraw: no echo, no line editing, no signal characters (Ctrl-C is a byte),
  // no output processing — the container's pty does all of that itself.
  cfmakeraw(&t);
  if (tcsetattr(fd, TCSANOW, &t) < 0) return;
  fd_ = fd;
}

RawMode::RawMode(RawMode&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), saved_(other.saved_) {}

RawMode& RawMode::operator=(RawMode&& other) noexcept {
  if (this != &other) {
    Restore();
    fd_ = std::exchange(other.fd_, -1);
    saved_ = other.saved_;
  }
  return *this;
}

void RawMode::Restore() {
  if (fd_ < 0) return;
  int saved = errno;
  tcsetattr(fd_, TCSANOW, &saved_);
  errno = saved;
  fd_ = -1;
}

// One byte of data with room for one SCM_RIGHTS fd: the message both ends of the
// console socket use (a unix socket carries an fd only alongside some data).
struct FdMessage {
  char byte = 'f';
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;  // msg points into this object
  FdMessage& operator=(const FdMessage&) = delete;
};

void SendFd(int sock, int fd) {
  FdMessage m;
  struct msghdr& msg = m.msg;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  narrate::Syscall("sendmsg", "SCM_RIGHTS fd " + std::to_string(fd));
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  Check(n, "sendmsg", "SCM_RIGHTS");
}

UniqueFd ReceiveFd(int sock) {
  FdMessage m;
  struct msghdr& msg = m.msg;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return UniqueFd();
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == nullptr || cmsg->cmsg_type != SCM_RIGHTS) return UniqueFd();
  int fd;
  std::memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
  return UniqueFd(fd);
}

Pipe MakeFdSocket() {
  int sv[2];
  Check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair", "AF_UNIX");
  Pipe p;
  p.read.Reset(sv[0]);
  p.write.Reset(sv[1]);
  return p;
}

bool CopyWindowSize(int from, int to) {
  struct winsize ws;
  if (ioctl(from, TIOCGWINSZ, &ws) < 0) return false;
  // Setting the size on the master makes the kernel send SIGWINCH to the
  // foreground process group of the pty (the container's shell).
  return ioctl(to, TIOCSWINSZ, &ws) == 0;
}

void AttachInChild(int slave_fd) {
  // A new session has no controlling terminal; TIOCSCTTY then gives it the pty,
  // so that the shell gets job control and Ctrl-C becomes SIGINT for it.
  if (getsid(0) != getpid()) Check(setsid(), "setsid");
  Check(ioctl(slave_fd, TIOCSCTTY, 0), "ioctl", "TIOCSCTTY");
  for (int fd = 0; fd < 3; ++fd) Check(dup2(slave_fd, fd), "dup2", "pty slave");
  if (slave_fd > 2) close(slave_fd);
}

bool WriteFully(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, -1);
        continue;
      }
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

namespace {
volatile sig_atomic_t g_winch = 0;
void OnWinch(int) { g_winch = 1; }
}  // namespace

void Relay(int in_fd, int to_fd, int from_fd, int out_fd, int log_fd, bool close_to_on_eof) {
  char buf[8192];
  bool in_open = in_fd >= 0;
  // A resized window interrupts poll (no SA_RESTART); the new size goes to the pty.
  const bool winch = in_fd >= 0 && isatty(in_fd) && isatty(to_fd);
  struct sigaction sa = {}, old = {};
  if (winch) {
    sa.sa_handler = OnWinch;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, &old);
  }
  struct Restore {
    bool on;
    struct sigaction* old;
    ~Restore() {
      if (on) sigaction(SIGWINCH, old, nullptr);
    }
  } restore{winch, &old};
  for (;;) {
    if (g_winch) {
      g_winch = 0;
      CopyWindowSize(in_fd, to_fd);
    }
    struct pollfd fds[2] = {{from_fd, POLLIN, 0}, {in_open ? in_fd : -1, POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(from_fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      // EIO: a pty master whose slave side has been closed by everyone.
      if (r <= 0) return;
      if (log_fd >= 0) WriteFully(log_fd, buf, static_cast<size_t>(r));
      if (out_fd >= 0) WriteFully(out_fd, buf, static_cast<size_t>(r));
    }
    if (in_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(in_fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        in_open = false;
        if (close_to_on_eof) close(to_fd);
        continue;
      }
      if (!WriteFully(to_fd, buf, static_cast<size_t>(r))) in_open = false;
    }
  }
}

}  // namespace nslab::console
