// console — pseudo-terminals for containers: a pty pair, raw mode on the user's
// terminal, the window size passed on, and the byte relay between them.
//
// Teaches: `docker run -it` gives the container a terminal of its own. A pty is a
// pair: the *slave* (/dev/pts/N) looks like a real terminal to the program, which
// gets it as stdin/stdout/stderr and as its controlling terminal (setsid(2), then
// TIOCSCTTY); the *master* is held by the monitor, which copies bytes between it
// and the user's terminal. The user's terminal goes into raw mode, so Ctrl-C
// travels as the byte 0x03 to the pty, whose line discipline turns it into SIGINT
// for the container's foreground process group — not for the CLI. When the user's
// window changes size, the new size is set on the master with TIOCSWINSZ and the
// kernel sends SIGWINCH to the container's foreground group.
// Read: pty(7), pts(4), termios(3) (cfmakeraw), ioctl_tty(2) (TIOCSCTTY,
// TIOCGWINSZ, TIOCSWINSZ), setsid(2), credentials(7) (sessions).
//
//   console::Pty pty = console::OpenPty();              // master + slave, CLOEXEC
//   console::RawMode raw(STDIN_FILENO);                 // restored on scope exit
//   console::CopyWindowSize(STDIN_FILENO, pty.master.Get());
//   // in the child: console::AttachInChild(pty.slave.Get());  then exec
#ifndef NSLAB_COMMON_CONSOLE_H_
#define NSLAB_COMMON_CONSOLE_H_

#include <termios.h>

#include <string>

#include "common/fd.h"

namespace nslab::console {

struct Pty {
  UniqueFd master;
  UniqueFd slave;
  std::string slave_path;  // "/dev/pts/3"
};
// posix_openpt(O_RDWR|O_NOCTTY), grantpt, unlockpt, then the slave opened
// O_NOCTTY: neither end becomes *our* controlling terminal. Both CLOEXEC.
Pty OpenPty();

// Puts a terminal into raw mode (cfmakeraw) and restores the saved settings when it
// goes out of scope. Does nothing when fd is not a terminal. Move-only.
class RawMode {
 public:
  RawMode() = default;
  explicit RawMode(int fd);
  RawMode(RawMode&& other) noexcept;
  RawMode& operator=(RawMode&& other) noexcept;
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;
  ~RawMode() { Restore(); }
  bool Active() const { return fd_ >= 0; }
  void Restore();

 private:
  int fd_ = -1;
  struct termios saved_ {};
};

// The OCI "console socket" pattern: the pty is opened by the container's own
// process, in the container's devpts instance (so `tty` inside prints /dev/pts/0,
// and the host's devpts is never visible), and its master is passed to the monitor
// over a unix socket as SCM_RIGHTS ancillary data (unix(7), cmsg(3)).
void SendFd(int sock, int fd);
// Blocks for one fd sent with SendFd; an invalid UniqueFd when the peer closed the
// socket without sending one (it failed before).
UniqueFd ReceiveFd(int sock);
// socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC): [0] for the receiver, [1] the sender.
Pipe MakeFdSocket();

// TIOCGWINSZ on from (a terminal), TIOCSWINSZ on to (a pty master). Returns false
// when from is not a terminal.
bool CopyWindowSize(int from, int to);

// Runs in the child before exec: a new session (setsid), the pty slave as its
// controlling terminal (TIOCSCTTY), and as stdin, stdout and stderr.
void AttachInChild(int slave_fd);

// Copies bytes between the user's side and the container's side until the
// container's side ends (EOF, or EIO from a master whose slave is closed):
//   in_fd  -> to_fd        (user's keystrokes; -1: none)
//   from_fd -> out_fd      (container's output; also appended to log_fd when >= 0)
// Returns when from_fd ends. in_fd reaching EOF stops reading it (and, when
// close_to_on_eof, closes to_fd so the container sees EOF on a pipe). Used by
// `exec -t` in the CLI; the shim has its own loop with more sources.
void Relay(int in_fd, int to_fd, int from_fd, int out_fd, int log_fd = -1,
           bool close_to_on_eof = false);

// write(2) everything, retrying EINTR and partial writes; false when the reader is
// gone (EPIPE, EIO...). Never throws: relays must survive a vanished peer.
bool WriteFully(int fd, const char* data, size_t size);

}  // namespace nslab::console

#endif  // NSLAB_COMMON_CONSOLE_H_
