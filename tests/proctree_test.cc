// proctree_test — /proc/PID/stat parsing, the snapshot, and the pstree-like rendering.
#include "common/proctree.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/process.h"

namespace nslab::proctree {
namespace {

TEST(ParseStatTest, PlainLine) {
  Proc p;
  ASSERT_TRUE(ParseStat("4242 (sh) S 4241 4242 4242 0 -1 4194560 ...", &p));
  EXPECT_EQ(p.pid, 4242);
  EXPECT_EQ(p.comm, "sh");
  EXPECT_EQ(p.state, 'S');
  EXPECT_EQ(p.ppid, 4241);
}

TEST(ParseStatTest, CommWithSpacesAndParentheses) {
  // A program may name itself anything (prctl PR_SET_NAME): only the last ')' ends it.
  Proc p;
  ASSERT_TRUE(ParseStat("77 (my (odd) prog) x) Z 1 77 77 0 -1", &p));
  EXPECT_EQ(p.pid, 77);
  EXPECT_EQ(p.comm, "my (odd) prog) x");
  EXPECT_EQ(p.state, 'Z');
  EXPECT_EQ(p.ppid, 1);
}

TEST(ParseStatTest, RejectsMalformed) {
  Proc p;
  EXPECT_FALSE(ParseStat("", &p));
  EXPECT_FALSE(ParseStat("12 sh S 1", &p));
  EXPECT_FALSE(ParseStat("12 (sh)", &p));
  EXPECT_FALSE(ParseStat("(sh) S 1 2 3", &p));  // no pid
}

TEST(SnapshotTest, HasUsWithOurParent) {
  auto procs = Snapshot();
  ASSERT_TRUE(procs.count(getpid()));
  const Proc& me = procs.at(getpid());
  EXPECT_EQ(me.ppid, getppid());
  EXPECT_EQ(me.state, 'R');  // we are running while we read our own stat
  ASSERT_TRUE(procs.count(getppid()));
  const auto& siblings = procs.at(getppid()).children;
  EXPECT_NE(std::find(siblings.begin(), siblings.end(), getpid()), siblings.end());
}

// A forked child that waits until the returned pipe end is closed.
pid_t ForkWaiting(Pipe* hold) {
  *hold = MakePipe();
  pid_t pid = Check(fork(), "fork");
  if (pid == 0) {
    hold->write.Reset();
    char c;
    (void)!read(hold->read.Get(), &c, 1);
    _exit(0);
  }
  hold->read.Reset();
  return pid;
}

TEST(RenderTest, ShowsAForkedChildUnderUs) {
  Pipe hold;
  pid_t child = ForkWaiting(&hold);
  auto procs = Snapshot();
  std::string tree = Render(procs, getpid());
  hold.write.Reset();
  waitpid(child, nullptr, 0);

  const std::string comm = procs.at(getpid()).comm;
  EXPECT_EQ(tree.rfind(comm + "(" + std::to_string(getpid()) + ")\n", 0), 0u) << tree;
  EXPECT_NE(tree.find("└─" + comm + "(" + std::to_string(child) + ")\n"), std::string::npos)
      << tree;
  EXPECT_EQ(tree.find('['), std::string::npos) << "no namespace differs:\n" << tree;
}

TEST(RenderTest, TwoChildrenAndAZombie) {
  Pipe hold;
  pid_t first = ForkWaiting(&hold);
  pid_t second = Check(fork(), "fork");
  if (second == 0) _exit(0);
  // Until the second child is a zombie (we have not reaped it yet).
  siginfo_t info = {};
  Check(waitid(P_PID, second, &info, WEXITED | WNOWAIT), "waitid");
  std::string tree = Render(Snapshot(), getpid());
  hold.write.Reset();
  waitpid(first, nullptr, 0);
  waitpid(second, nullptr, 0);

  const std::string a = "(" + std::to_string(first) + ")";
  const std::string b = "(" + std::to_string(second) + ") <zombie>\n";  // no ns marks
  EXPECT_NE(tree.find("├─"), std::string::npos) << tree;
  EXPECT_NE(tree.find(a), std::string::npos) << tree;
  EXPECT_NE(tree.find(b), std::string::npos) << tree;
}

TEST(RenderTest, MarksAChildInANewUtsNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  process::CloneOptions opts;
  opts.flags = CLONE_NEWUTS;
  process::Child child = process::Clone(opts, [] { return 0; });  // waits for Go()
  std::string tree = Render(Snapshot(), getpid());
  EXPECT_NE(tree.find("(" + std::to_string(child.pid()) + ") [uts]\n"), std::string::npos)
      << tree;
}

TEST(RenderTest, GoneRootSaysSo) {
  std::map<pid_t, Proc> none;
  EXPECT_EQ(Render(none, 12345), "(process 12345 is gone)\n");
}

TEST(AncestorsTest, FromInitDownToUs) {
  auto procs = Snapshot();
  auto chain = Ancestors(procs, getpid());
  ASSERT_GE(chain.size(), 2u);
  EXPECT_EQ(chain.back(), getpid());
  EXPECT_EQ(chain[chain.size() - 2], getppid());
  EXPECT_EQ(chain.front(), 1);
}

TEST(AncestorsTest, HandMadeTree) {
  std::map<pid_t, Proc> procs;
  procs[1] = Proc{1, 0, "init", 'S', {}};
  procs[10] = Proc{10, 1, "shim", 'S', {}};
  procs[11] = Proc{11, 10, "sh", 'S', {}};
  EXPECT_EQ(Ancestors(procs, 11), (std::vector<pid_t>{1, 10, 11}));
}

}  // namespace
}  // namespace nslab::proctree
