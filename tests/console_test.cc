// console — pty pairs work, raw mode is set and restored, window sizes travel, fds
// pass over a unix socket, Relay copies and logs.
#include "common/console.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "common/fd.h"

namespace nslab {
namespace {

std::string ReadSome(int fd) {
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

TEST(ConsoleTest, PtyCarriesBytesBothWays) {
  console::Pty pty = console::OpenPty();
  ASSERT_TRUE(pty.master.Valid());
  ASSERT_TRUE(pty.slave.Valid());
  EXPECT_EQ(pty.slave_path.rfind("/dev/pts/", 0), 0u) << pty.slave_path;
  EXPECT_TRUE(isatty(pty.slave.Get()));
  EXPECT_NE(fcntl(pty.master.Get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(fcntl(pty.slave.Get(), F_GETFD) & FD_CLOEXEC, 0);

  console::RawMode raw(pty.slave.Get());  // no echo, no \n -> \r\n
  ASSERT_TRUE(raw.Active());
  ASSERT_EQ(write(pty.slave.Get(), "out\n", 4), 4);
  EXPECT_EQ(ReadSome(pty.master.Get()), "out\n");
  ASSERT_EQ(write(pty.master.Get(), "in", 2), 2);
  EXPECT_EQ(ReadSome(pty.slave.Get()), "in");
}

TEST(ConsoleTest, RawModeIsRestored) {
  console::Pty pty = console::OpenPty();
  struct termios before, during, after;
  ASSERT_EQ(tcgetattr(pty.slave.Get(), &before), 0);
  ASSERT_NE(before.c_lflag & ICANON, 0u);
  {
    console::RawMode raw(pty.slave.Get());
    ASSERT_EQ(tcgetattr(pty.slave.Get(), &during), 0);
    EXPECT_EQ(during.c_lflag & (ICANON | ECHO | ISIG), 0u);  // Ctrl-C is just a byte
    console::RawMode moved = std::move(raw);
    EXPECT_FALSE(raw.Active());
    EXPECT_TRUE(moved.Active());
  }
  ASSERT_EQ(tcgetattr(pty.slave.Get(), &after), 0);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
}

TEST(ConsoleTest, RawModeOnANonTerminalDoesNothing) {
  Pipe p = MakePipe();
  console::RawMode raw(p.read.Get());
  EXPECT_FALSE(raw.Active());
}

TEST(ConsoleTest, WindowSizeIsCopied) {
  console::Pty from = console::OpenPty();
  console::Pty to = console::OpenPty();
  struct winsize ws = {};
  ws.ws_row = 33;
  ws.ws_col = 111;
  ASSERT_EQ(ioctl(from.master.Get(), TIOCSWINSZ, &ws), 0);
  EXPECT_TRUE(console::CopyWindowSize(from.slave.Get(), to.master.Get()));
  struct winsize got = {};
  ASSERT_EQ(ioctl(to.slave.Get(), TIOCGWINSZ, &got), 0);
  EXPECT_EQ(got.ws_row, 33);
  EXPECT_EQ(got.ws_col, 111);
  Pipe p = MakePipe();
  EXPECT_FALSE(console::CopyWindowSize(p.read.Get(), to.master.Get()));
}

TEST(ConsoleTest, FdTravelsOverTheSocket) {
  Pipe sock = console::MakeFdSocket();
  Pipe data = MakePipe();
  console::SendFd(sock.write.Get(), data.write.Get());
  UniqueFd got = console::ReceiveFd(sock.read.Get());
  ASSERT_TRUE(got.Valid());
  EXPECT_NE(got.Get(), data.write.Get());  // a new descriptor for the same pipe
  EXPECT_NE(fcntl(got.Get(), F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_EQ(write(got.Get(), "x", 1), 1);
  EXPECT_EQ(ReadSome(data.read.Get()), "x");
}

TEST(ConsoleTest, ReceiveFdReturnsNothingWhenThePeerCloses) {
  Pipe sock = console::MakeFdSocket();
  sock.write.Reset();
  EXPECT_FALSE(console::ReceiveFd(sock.read.Get()).Valid());
}

TEST(ConsoleTest, RelayCopiesLogsAndEndsAtEof) {
  Pipe in = MakePipe(), to = MakePipe(), from = MakePipe(), out = MakePipe(), log = MakePipe();
  ASSERT_EQ(write(in.write.Get(), "keys", 4), 4);
  in.write.Reset();
  ASSERT_EQ(write(from.write.Get(), "output", 6), 6);
  from.write.Reset();
  console::Relay(in.read.Get(), to.write.Get(), from.read.Get(), out.write.Get(), log.write.Get());
  out.write.Reset();
  log.write.Reset();
  EXPECT_EQ(ReadAll(out.read.Get()), "output");
  EXPECT_EQ(ReadAll(log.read.Get()), "output");
}

TEST(ConsoleTest, WriteFullyReportsAVanishedReader) {
  Pipe p = MakePipe();
  p.read.Reset();
  signal(SIGPIPE, SIG_IGN);
  EXPECT_FALSE(console::WriteFully(p.write.Get(), "x", 1));
  EXPECT_TRUE(console::WriteFully(-1, "", 0));
}

}  // namespace
}  // namespace nslab
