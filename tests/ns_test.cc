// ns_test — namespace identity read from /proc/PID/ns and the side-by-side table.
#include "common/ns.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "common/process.h"

namespace nslab::ns {
namespace {

TEST(ParseLinkTest, TakesTheInodeBetweenBrackets) {
  EXPECT_EQ(ParseLink("uts:[4026531838]"), 4026531838ul);
  EXPECT_EQ(ParseLink("pid_for_children:[4026532201]"), 4026532201ul);
}

TEST(ParseLinkTest, MalformedIsZero) {
  EXPECT_EQ(ParseLink("uts:"), 0ul);
  EXPECT_EQ(ParseLink("uts:[12x]"), 0ul);
  EXPECT_EQ(ParseLink("uts:[]"), 0ul);
  EXPECT_EQ(ParseLink("uts:[123"), 0ul);
  EXPECT_EQ(ParseLink(""), 0ul);
}

TEST(KindsTest, AllTenKindsAndTheirFlags) {
  EXPECT_EQ(Kinds().size(), 10u);
  EXPECT_EQ(KindForFlag(CLONE_NEWUTS), "uts");
  EXPECT_EQ(KindForFlag(CLONE_NEWNS), "mnt");
  EXPECT_EQ(KindForFlag(CLONE_NEWPID), "pid");
  EXPECT_EQ(KindForFlag(CLONE_NEWUSER), "user");
  EXPECT_EQ(KindForFlag(0), "");
  EXPECT_EQ(KindForFlag(CLONE_VM), "");
}

TEST(ReadTest, OwnIdentityHasEveryKind) {
  Identity me = Read(getpid());
  for (const auto& k : Kinds()) {
    ASSERT_TRUE(me.count(k.name)) << k.name;
    EXPECT_NE(me[k.name], 0ul) << k.name << " missing on this kernel";
  }
  // The same namespace as /proc/self sees: compare one link by hand.
  char buf[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/uts", buf, sizeof buf - 1), 0);
  EXPECT_EQ(me["uts"], ParseLink(buf));
}

TEST(ReadTest, ForkedChildSharesEveryNamespace) {
  Pipe hold = MakePipe();
  pid_t pid = Check(fork(), "fork");
  if (pid == 0) {
    hold.write.Reset();
    char c;
    (void)!read(hold.read.Get(), &c, 1);  // until the parent closes its end
    _exit(0);
  }
  hold.read.Reset();
  Identity child = Read(pid);
  hold.write.Reset();
  waitpid(pid, nullptr, 0);
  EXPECT_EQ(child, Read(getpid()));
  EXPECT_TRUE(Differences(child, Read(getpid())).empty());
}

TEST(ReadTest, NonexistentPidNamesProcPid) {
  // Above pid_max: no such process can exist.
  const pid_t pid = std::stoi(ReadFile("/proc/sys/kernel/pid_max")) + 1;
  try {
    Read(pid);
    FAIL() << "no exception";
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("/proc/" + std::to_string(pid)), std::string::npos)
        << e.what();
  }
}

TEST(ReadTest, ZombieThrowsInsteadOfLookingIsolated) {
  // An exited, unreaped child still has /proc/PID but most ns links are gone.
  pid_t pid = Check(fork(), "fork");
  if (pid == 0) _exit(0);
  siginfo_t info = {};
  Check(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), "waitid");
  try {
    Identity id = Read(pid);
    ADD_FAILURE() << "read a zombie: uts=" << id["uts"];
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), ESRCH);
    EXPECT_NE(std::string(e.what()).find("/proc/" + std::to_string(pid)), std::string::npos);
  }
  waitpid(pid, nullptr, 0);
}

TEST(TableTest, MarksDifferingRowsOnly) {
  Identity a = {{"uts", 10}, {"ipc", 20}, {"mnt", 30}};
  Identity b = {{"uts", 11}, {"ipc", 20}, {"mnt", 30}};
  Identity c = {{"uts", 10}, {"ipc", 20}, {"mnt", 31}};
  auto rows = TableRows({a, b, c});
  // Kinds() order: cgroup ipc mnt net pid ... uts; kinds all-zero are left out.
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].cells, (std::vector<std::string>{"ipc", "20", "20", "20"}));
  EXPECT_FALSE(rows[0].marked);
  EXPECT_EQ(rows[1].cells, (std::vector<std::string>{"mnt", "30", "30", "31"}));
  EXPECT_TRUE(rows[1].marked);
  EXPECT_EQ(rows[2].cells, (std::vector<std::string>{"uts", "10", "11", "10"}));
  EXPECT_TRUE(rows[2].marked);
}

TEST(TableTest, MissingKindShowsDashAndDiffers) {
  Identity a = {{"time", 7}};
  Identity b = {{"time", 0}};
  auto rows = TableRows({a, b});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].cells, (std::vector<std::string>{"time", "7", "-"}));
  EXPECT_TRUE(rows[0].marked);
  EXPECT_EQ(TableHeader({"host", "child"}), (std::vector<std::string>{"ns", "host", "child"}));
}

TEST(DifferencesTest, ListsKindsInOrder) {
  Identity a = {{"uts", 1}, {"pid", 2}, {"net", 3}};
  Identity b = {{"uts", 9}, {"pid", 2}, {"net", 4}};
  EXPECT_EQ(Differences(a, b), (std::vector<std::string>{"net", "uts"}));
}

TEST(ReadTest, ChildInNewUtsNamespaceDiffersInUtsOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  process::CloneOptions opts;
  opts.flags = CLONE_NEWUTS;
  // The child blocks on the sync pipe until Go(): read it while it waits; the
  // Child's destructor kills and reaps it.
  process::Child child = process::Clone(opts, [] { return 0; });
  Identity mine = Read(getpid()), its = Read(child.pid());
  EXPECT_EQ(Differences(mine, its), (std::vector<std::string>{"uts"}));
  auto rows = TableRows({mine, its});
  for (const auto& r : rows) EXPECT_EQ(r.marked, r.cells[0] == "uts") << r.cells[0];
}

TEST(ReadTest, ChildInNewPidNamespaceDiffersInPidAndPidForChildren) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  process::CloneOptions opts;
  opts.flags = CLONE_NEWPID;
  process::Child child = process::Clone(opts, [] { return 0; });
  EXPECT_EQ(Differences(Read(getpid()), Read(child.pid())),
            (std::vector<std::string>{"pid", "pid_for_children"}));
}

TEST(ReadTest, UnsharePidChangesOnlyPidForChildren) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  // unshare(CLONE_NEWPID) cannot move the caller: only its future children go into
  // the new namespace, which pid_for_children shows at once.
  Pipe ready = MakePipe(), hold = MakePipe();
  pid_t pid = Check(fork(), "fork");
  if (pid == 0) {
    ready.read.Reset();
    hold.write.Reset();
    char c = unshare(CLONE_NEWPID) == 0 ? 'y' : 'n';
    (void)!write(ready.write.Get(), &c, 1);
    (void)!read(hold.read.Get(), &c, 1);
    _exit(0);
  }
  ready.write.Reset();
  hold.read.Reset();
  char c = 0;
  ASSERT_EQ(read(ready.read.Get(), &c, 1), 1);
  Identity its = Read(pid);
  hold.write.Reset();
  waitpid(pid, nullptr, 0);
  ASSERT_EQ(c, 'y') << "unshare(CLONE_NEWPID) failed";
  EXPECT_EQ(Differences(Read(getpid()), its), (std::vector<std::string>{"pid_for_children"}));
}

}  // namespace
}  // namespace nslab::ns
