// ipc_test — System V objects: creation, listing from /proc/sysvipc, RAII removal, a
// key being free again in a new IPC namespace; POSIX queues through a fresh mqueue
// mount. Each case runs in IPC namespaces of its own (unshare/clone), so parallel
// tests and the host never see its objects.
#include "common/ipc.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/error.h"
#include "common/process.h"

namespace nslab::ipc {
namespace {

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

// Moves the test process into a fresh IPC namespace (root only).
class IpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_EQ(unshare(CLONE_NEWIPC), 0) << "unshare(CLONE_NEWIPC)";
  }
};

TEST(IpcParseTest, ParsesEachKindOfProcFile) {
  const std::string msg =
      "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  "
      "cgid      stime      rtime      ctime\n"
      "1314062337          3   600           0          0     0     0     0     0     0     "
      "0          0          0 1700000000\n";
  auto m = ParseSysV(SysVKind::kMsg, msg);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].key, 0x4e530001);
  EXPECT_EQ(m[0].id, 3);
  EXPECT_EQ(m[0].perms, 0600u);
  EXPECT_EQ(m[0].uid, 0u);
  const std::string sem =
      "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n"
      "         0          7   644          1  1000  1000  1000  1000          0 1700000000\n";
  auto s = ParseSysV(SysVKind::kSem, sem);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].id, 7);
  EXPECT_EQ(s[0].uid, 1000u);
  EXPECT_TRUE(ParseSysV(SysVKind::kShm, "header only\n").empty());
}

TEST(IpcParseTest, KeysRenderLikeIpcs) {
  EXPECT_EQ(KeyToString(0x4e530001), "0x4e530001");
  EXPECT_EQ(DemoKey(0x12345) & 0xffff0000, 0x4e530000);
  EXPECT_EQ(DemoKey(0x12345) & 0xffff, 0x2345);
}

TEST_F(IpcTest, CreatedObjectsAreListedThenRemovedOnScopeExit) {
  const key_t key = DemoKey(getpid());
  {
    ScopedSysV q = CreateSysVQueue(key);
    ScopedSysV m = CreateSysVShm(key);
    ScopedSysV s = CreateSysVSem(key, 2);
    auto all = ListSysV();
    EXPECT_TRUE(Contains(all, SysVKind::kMsg, key));
    EXPECT_TRUE(Contains(all, SysVKind::kShm, key));
    EXPECT_TRUE(Contains(all, SysVKind::kSem, key));
    EXPECT_EQ(all.size(), 3u) << "a fresh IPC namespace holds only what we made";
  }
  EXPECT_TRUE(ListSysV().empty());
}

TEST_F(IpcTest, SameKeyTwiceInOneNamespaceIsEexist) {
  ScopedSysV q = CreateSysVQueue(DemoKey(getpid()));
  try {
    CreateSysVQueue(DemoKey(getpid()));
    FAIL() << "second msgget with IPC_EXCL succeeded";
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), EEXIST);
    EXPECT_NE(std::string(e.what()).find("msgget \"0x4e53"), std::string::npos) << e.what();
  }
}

TEST_F(IpcTest, KeyIsFreeAgainInANewIpcNamespace) {
  const key_t key = DemoKey(getpid());
  ScopedSysV ours = CreateSysVQueue(key);
  process::Child child = process::Clone({CLONE_NEWIPC}, [&] {
    if (Contains(ListSysV(), SysVKind::kMsg, key)) return 10;  // sees ours: not isolated
    ScopedSysV theirs = CreateSysVQueue(key);                 // EEXIST would be code 125
    return ListSysV().size() == 1 ? 0 : 11;
  });
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
  // Our namespace still holds only our own queue, with our id.
  auto all = ListSysV();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, ours.id());
}

TEST_F(IpcTest, ReleaseKeepsTheObject) {
  int id;
  {
    ScopedSysV q = CreateSysVQueue(DemoKey(getpid()));
    id = q.Release();
  }
  auto all = ListSysV();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, id);
  ScopedSysV(SysVKind::kMsg, DemoKey(getpid()), id).Remove();
  EXPECT_TRUE(ListSysV().empty());
}

TEST(IpcMqueueTest, RejectsNamesWithoutOneLeadingSlash) {
  EXPECT_THROW(CreatePosixQueue("nslab"), UsageError);
  EXPECT_THROW(CreatePosixQueue("/a/b"), UsageError);
  EXPECT_THROW(CreatePosixQueue("/"), UsageError);
}

TEST_F(IpcTest, FreshMqueueMountShowsOnlyTheNewNamespacesQueues) {
  const std::string dir = TmpPath("mq");
  process::Child child = process::Clone({CLONE_NEWIPC | CLONE_NEWNS}, [&] {
    if (mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) return 20;
    MountMqueueInChild(dir);
    if (!ListPosixQueues(dir).empty()) return 21;
    {
      ScopedMqueue q = CreatePosixQueue("/nslabtest");
      auto names = ListPosixQueues(dir);
      if (names.size() != 1 || names[0] != "/nslabtest") return 22;
    }
    return ListPosixQueues(dir).empty() ? 0 : 23;  // mq_unlink'ed on scope exit
  });
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
}

TEST_F(IpcTest, DemoKeepsEachSidesObjectsApartAndTheSandboxsDieWithIt) {
  key_t host_key, sandbox_key;
  {
    Demo demo(getpid());
    host_key = demo.host_key();
    sandbox_key = demo.sandbox_key();
    EXPECT_NE(host_key, sandbox_key);
    demo.MakeHostObjects();
    ASSERT_TRUE(Contains(ListSysV(), SysVKind::kMsg, host_key));
    process::Child child = process::Clone({CLONE_NEWIPC | CLONE_NEWNS}, [&] {
      // ShowInChild mounts an mqueue filesystem on /dev/mqueue: private first, and a
      // /dev of our own to make it in (the test sandbox's /dev is read-only).
      if (mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) return 20;
      if (mount("tmpfs", "/dev", "tmpfs", 0, nullptr) < 0) return 23;
      if (Contains(ListSysV(), SysVKind::kMsg, host_key)) return 21;
      demo.ShowInChild();  // returns once the observer has looked
      return Contains(ListSysV(), SysVKind::kSem, sandbox_key) ? 0 : 22;
    });
    demo.StartHostObserver();
    child.Go();
    EXPECT_EQ(child.Wait().ShellCode(), 0);
    demo.FinishFromParent();
    const auto after = ListSysV();
    EXPECT_TRUE(Contains(after, SysVKind::kShm, host_key));
    EXPECT_FALSE(Contains(after, SysVKind::kMsg, sandbox_key));  // died with its namespace
  }
  EXPECT_FALSE(Contains(ListSysV(), SysVKind::kMsg, host_key));  // removed with the Demo
}

}  // namespace
}  // namespace nslab::ipc
