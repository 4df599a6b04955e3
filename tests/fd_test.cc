// fd_test — UniqueFd ownership, close-on-exec pipes, whole-file helpers.
#include "common/fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace nslab {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

bool IsClosedEbadf(int fd) {
  errno = 0;
  return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

int OpenDevNull() { return Check(open("/dev/null", O_RDONLY | O_CLOEXEC), "open", "/dev/null"); }

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

TEST(UniqueFdTest, ClosesOnScopeExit) {
  int raw;
  {
    UniqueFd fd(OpenDevNull());
    raw = fd.Get();
    EXPECT_TRUE(fd.Valid());
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_TRUE(IsClosedEbadf(raw));
}

TEST(UniqueFdTest, DefaultIsInvalid) {
  UniqueFd fd;
  EXPECT_FALSE(fd.Valid());
  EXPECT_FALSE(static_cast<bool>(fd));
  EXPECT_EQ(fd.Get(), -1);
}

TEST(UniqueFdTest, ReleaseHandsOffWithoutClosing) {
  int raw;
  {
    UniqueFd fd(OpenDevNull());
    raw = fd.Release();
    EXPECT_FALSE(fd.Valid());
  }
  EXPECT_TRUE(IsOpen(raw));
  close(raw);
}

TEST(UniqueFdTest, ResetClosesTheOldFd) {
  UniqueFd fd(OpenDevNull());
  int first = fd.Get();
  int second = OpenDevNull();
  fd.Reset(second);
  EXPECT_TRUE(IsClosedEbadf(first));
  EXPECT_EQ(fd.Get(), second);
  fd.Reset();
  EXPECT_TRUE(IsClosedEbadf(second));
  EXPECT_FALSE(fd.Valid());
}

TEST(UniqueFdTest, ResetKeepsErrno) {
  UniqueFd fd(OpenDevNull());
  errno = ENOSPC;
  fd.Reset();
  EXPECT_EQ(errno, ENOSPC);
}

TEST(UniqueFdTest, MoveTransfersOwnership) {
  UniqueFd a(OpenDevNull());
  int raw = a.Get();
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.Valid());
  EXPECT_EQ(b.Get(), raw);

  UniqueFd c(OpenDevNull());
  int c_raw = c.Get();
  c = std::move(b);  // closes c's old fd, takes b's
  EXPECT_TRUE(IsClosedEbadf(c_raw));
  EXPECT_EQ(c.Get(), raw);
  EXPECT_FALSE(b.Valid());
  EXPECT_TRUE(IsOpen(raw));
}

TEST(MakePipeTest, BothEndsAreCloseOnExecAndConnected) {
  Pipe p = MakePipe();
  ASSERT_TRUE(p.read.Valid());
  ASSERT_TRUE(p.write.Valid());
  EXPECT_TRUE(fcntl(p.read.Get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(fcntl(p.write.Get(), F_GETFD) & FD_CLOEXEC);
  WriteAll(p.write.Get(), "hello");
  p.write.Reset();
  EXPECT_EQ(ReadAll(p.read.Get()), "hello");
}

TEST(OpenTest, AddsCloseOnExecAndNamesThePathOnError) {
  UniqueFd fd = Open("/dev/null", O_RDONLY);
  EXPECT_TRUE(fcntl(fd.Get(), F_GETFD) & FD_CLOEXEC);
  try {
    Open("/nonexistent-nslab", O_RDONLY);
    FAIL();
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("\"/nonexistent-nslab\""), std::string::npos);
  }
}

TEST(FileTest, WriteThenReadRoundTrip) {
  const std::string path = TmpPath("fd_test_roundtrip");
  UniqueFd create = Open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  create.Reset();
  WriteFile(path, "0 1000 1\n");
  EXPECT_EQ(ReadFile(path), "0 1000 1\n");
  WriteFile(path, "x");  // O_TRUNC: the old content goes
  EXPECT_EQ(ReadFile(path), "x");
  unlink(path.c_str());
}

TEST(FileTest, ReadsProcFilesLongerThanOneBuffer) {
  // /proc/self/maps of a test binary is usually several KiB: more than one read(2).
  std::string maps = ReadFile("/proc/self/maps");
  EXPECT_FALSE(maps.empty());
  EXPECT_EQ(maps.back(), '\n');
}

TEST(FileTest, WriteFileNeedsAnExistingFile) {
  EXPECT_THROW(WriteFile(TmpPath("does/not/exist"), "x"), SysError);
}

TEST(ReadAllTest, StopsAtTheLimit) {
  Pipe p = MakePipe();
  WriteAll(p.write.Get(), std::string(10000, 'a'));
  p.write.Reset();
  EXPECT_EQ(ReadAll(p.read.Get(), 100), std::string(100, 'a'));
  EXPECT_EQ(ReadAll(p.read.Get(), 5000), std::string(5000, 'a'));
}

TEST(TextTest, KeyValueLinesSplitAtTheFirstSeparatorAndSkipOtherLines) {
  auto kv = KeyValueLines("pid=42\nnoise\ncmd=sh -c a=b\n\nlast=", '=');
  ASSERT_EQ(kv.size(), 3u);
  EXPECT_EQ(kv[0], std::make_pair(std::string("pid"), std::string("42")));
  EXPECT_EQ(kv[1], std::make_pair(std::string("cmd"), std::string("sh -c a=b")));
  EXPECT_EQ(kv[2], std::make_pair(std::string("last"), std::string("")));
  EXPECT_EQ(KeyValueLines("max 3\n", ' ').at(0).second, "3");
}

TEST(TextTest, TrimNewlinesDropsOnlyTrailingNewlines) {
  EXPECT_EQ(TrimNewlines("sh\n"), "sh");
  EXPECT_EQ(TrimNewlines("a\nb\n\n"), "a\nb");
  EXPECT_EQ(TrimNewlines(" x \t"), " x \t");
  EXPECT_EQ(TrimNewlines("\n"), "");
}

TEST(ListDirTest, NamesAreSortedWithoutDotEntries) {
  std::string dir = TmpPath("listdir");
  mkdir(dir.c_str(), 0755);
  for (const char* name : {"b", "a", "c"}) Open(dir + "/" + name, O_WRONLY | O_CREAT, 0600);
  EXPECT_EQ(ListDir(dir), (std::vector<std::string>{"a", "b", "c"}));
  for (const char* name : {"a", "b", "c"}) unlink((dir + "/" + name).c_str());
  EXPECT_TRUE(ListDir(dir).empty());
  rmdir(dir.c_str());
  EXPECT_THROW(ListDir(dir), SysError);
}

}  // namespace
}  // namespace nslab
