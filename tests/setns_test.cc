// Unit tests for common/setns: a namespace kept by a bind mount outlives its last
// process and can be joined through the file; namespace files are recognised by the
// kernel's NS_GET_NSTYPE; an nsenter's targets are opened in join order.
// Every case that mounts runs in a forked child with a private mount namespace of
// its own, so a failing test leaves no mount behind.
#include "common/setns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/process.h"
#include "common/uts.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

unsigned long InodeOfLink(pid_t pid, const std::string& kind) {
  struct stat st;
  std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(SetnsTest, FlagOfKnowsTheKinds) {
  EXPECT_EQ(setns::FlagOf("uts"), CLONE_NEWUTS);
  EXPECT_EQ(setns::FlagOf("mnt"), CLONE_NEWNS);
  EXPECT_EQ(setns::FlagOf("time"), CLONE_NEWTIME);
  EXPECT_THROW(setns::FlagOf("pid_for_children"), UsageError);
  EXPECT_THROW(setns::FlagOf("nope"), UsageError);
}

TEST(SetnsTest, JoinOrderPutsUserFirstAndMntLast) {
  const auto& order = setns::JoinOrder();
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.front(), "user");
  EXPECT_EQ(order.back(), "mnt");
}

TEST(SetnsTest, OpenFileAsksTheKernelForTheKind) {
  setns::NsFile f = setns::OpenFile("/proc/self/ns/net");
  EXPECT_EQ(f.kind, "net");
  EXPECT_EQ(f.inode, InodeOfLink(getpid(), "net"));
  EXPECT_TRUE(f.fd.Valid());
}

TEST(SetnsTest, OpenFileRefusesOrdinaryFiles) {
  try {
    setns::OpenFile("/proc/self/status");
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a namespace file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(setns::OpenFile("/nonexistent-setns-test"), SysError);
}

TEST(SetnsTest, OpenTargetsSkipsNamespacesWeShare) {
  // Ourselves: every namespace is shared, nothing to join.
  EXPECT_TRUE(setns::OpenTargets(getpid(), {}).empty());
  EXPECT_THROW(setns::OpenTargets(getpid(), {"bogus"}), UsageError);
  EXPECT_THROW(setns::OpenTargets(1 << 22, {}), UsageError);  // above pid_max
}

TEST(SetnsTest, OpenTargetsFindsWhatDiffers) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  // A child in a new UTS namespace, sleeping: only uts differs.
  process::Child child = process::Clone(
      {CLONE_NEWUTS}, [] { return process::Exec({"sleep", "1000"}); });
  child.Go();  // returns once it has exec'd
  std::vector<setns::NsFile> files = setns::OpenTargets(child.pid(), {});
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].kind, "uts");
  EXPECT_EQ(files[0].inode, InodeOfLink(child.pid(), "uts"));
  EXPECT_TRUE(setns::OpenTargets(child.pid(), {"net"}).empty());  // shared with us
  kill(child.pid(), SIGKILL);
  EXPECT_EQ(child.Wait().ShellCode(), 128 + SIGKILL);
}

// The lesson of lab 04a in one test: unshare, keep, exit; nobody is in the
// namespace, yet a later process joins it through the file and finds its name.
TEST(SetnsTest, BindMountKeepsNamespaceWithoutProcesses) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string dir = testutil::MakeTempDir("setns");
  const std::string keep = dir + "/uts";
  testutil::ChildResult r = testutil::RunInChild([&]() -> std::string {
    // A private mount namespace of this child's own: the keeping mount dies with it.
    setns::Unshare(CLONE_NEWNS);
    Check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount", "/");
    process::Child maker = process::Clone({0}, [&] {
      setns::Unshare(CLONE_NEWUTS);
      uts::SetHostnameInChild("setns-kept");
      setns::BindKeep("/proc/self/ns/uts", keep);
      return 0;
    });
    maker.Go();
    if (maker.Wait().ShellCode() != 0) return "maker failed";
    const unsigned long inode = setns::InodeOf(keep);
    if (inode == InodeOfLink(getpid(), "uts")) return "kept our own namespace";
    if (!setns::ProcessesIn("uts", inode).empty()) return "a process is still in it";
    setns::NsFile f = setns::OpenFile(keep);
    if (f.kind != "uts") return "kind " + f.kind;
    Pipe out = MakePipe();
    process::Child joiner = process::Clone({0}, [&] {
      setns::JoinInChild(f);
      WriteAll(out.write.Get(), uts::Hostname() + " " +
                                    std::to_string(InodeOfLink(getpid(), "uts")));
      return 0;
    });
    joiner.Go();
    joiner.Wait();
    out.write.Reset();
    std::string seen = ReadAll(out.read.Get());
    setns::Release(keep);
    if (access(keep.c_str(), F_OK) == 0) return "file left behind";
    return seen == "setns-kept " + std::to_string(inode) ? "ok" : "joiner saw " + seen;
  });
  EXPECT_EQ(r.out, "ok");
  EXPECT_FALSE(testutil::PathExists(keep));
}

TEST(SetnsTest, BindKeepLeavesNothingWhenTheMountFails) {
  const std::string dir = testutil::MakeTempDir("setnsbad");
  // Not a namespace file but a directory: a bind of a directory onto a file is
  // ENOTDIR; the file BindKeep created is removed again.
  EXPECT_THROW(setns::BindKeep(dir, dir + "/keep"), SysError);
  EXPECT_FALSE(testutil::PathExists(dir + "/keep"));
}

TEST(SetnsTest, RunJoinedForksForPidNamespaces) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  // A PID namespace's init that waits: the joiner's *child* is in it, as its pid 2
  // (the joiner itself keeps its pid: setns(CLONE_NEWPID) moves only children).
  process::Child init = process::Clone(
      {CLONE_NEWPID}, [] { return process::Exec({"sleep", "1000"}); });
  init.Go();
  std::vector<setns::NsFile> files = setns::OpenTargets(init.pid(), {"pid"});
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(setns::NeedsFork(files));
  // The command's exit status comes back through both generations.
  EXPECT_EQ(setns::RunJoined(files, {"sh", "-c", "test $$ = 2 && exit 7"}).ShellCode(), 7);
  kill(init.pid(), SIGKILL);
  EXPECT_EQ(init.Wait().ShellCode(), 128 + SIGKILL);
}

}  // namespace
}  // namespace nslab
