// Tests for common/nsview: sets and tree from fake process tables, the terminal
// rendering exactly, the SVG's boxes, legend and escaping, a real child in a new UTS
// namespace, and the nsview binary end to end.
#include "common/nsview.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "tests/testutil.h"

namespace nslab::nsview {
namespace {

proctree::Proc P(pid_t pid, pid_t ppid, const std::string& comm, char state = 'S') {
  proctree::Proc p;
  p.pid = pid;
  p.ppid = ppid;
  p.comm = comm;
  p.state = state;
  return p;
}

// 10 lab ── 11 sh (new uts, pid) ── 12 sleep;  10 ── 13 cat (unreadable)
std::map<pid_t, proctree::Proc> FakeTree() {
  std::map<pid_t, proctree::Proc> t = {
      {10, P(10, 1, "lab")}, {11, P(11, 10, "sh")}, {12, P(12, 11, "sleep")},
      {13, P(13, 10, "cat")}};
  t[10].children = {13, 11};  // unsorted on purpose
  t[11].children = {12};
  return t;
}

ns::Identity Id(unsigned long base, unsigned long uts, unsigned long pid) {
  ns::Identity id;
  for (const auto& k : SetKinds()) id[k] = base++;
  id["uts"] = uts;
  id["pid"] = pid;
  id["pid_for_children"] = pid + 1000;  // must not split a set
  return id;
}

ns::Identity FakeRead(pid_t pid) {
  if (pid == 13) throw SysError(EACCES, "readlink", "/proc/13/ns/uts");
  if (pid == 10) return Id(100, 200, 300);
  return Id(100, 201, 301);
}

TEST(NsviewTest, GroupsProcessesIntoNamespaceSets) {
  View v = Build(FakeTree(), 10, FakeRead);
  ASSERT_EQ(v.nodes.size(), 4u);
  EXPECT_EQ(v.nodes[0].pid, 10);
  EXPECT_EQ(v.nodes[1].pid, 11);  // children sorted by pid, depth first
  EXPECT_EQ(v.nodes[2].pid, 12);
  EXPECT_EQ(v.nodes[3].pid, 13);
  EXPECT_EQ(v.sets.size(), 2u);
  EXPECT_EQ(v.nodes[0].set, 0);
  EXPECT_EQ(v.nodes[1].set, 1);
  EXPECT_EQ(v.nodes[2].set, 1);
  EXPECT_EQ(v.nodes[3].set, -1);
  EXPECT_EQ(v.nodes[1].differs, (std::vector<std::string>{"pid", "uts"}));
  EXPECT_TRUE(v.nodes[2].differs.empty());
  EXPECT_EQ(v.sets[0].count("pid_for_children"), 0u);
}

TEST(NsviewTest, TerminalTreeTagsEachProcessWithItsSet) {
  std::string out = RenderTerminal(Build(FakeTree(), 10, FakeRead), false);
  const std::string tree =
      "lab(10) A\n"
      "├─sh(11) B [pid uts]\n"
      "│ └─sleep(12) B\n"
      "└─cat(13) ?\n";
  EXPECT_EQ(out.substr(0, tree.size()), tree) << out;
  EXPECT_NE(out.find("namespace sets (A is the set of pid 10)"), std::string::npos);
  // The legend marks set B, which differs from A.
  EXPECT_TRUE(testutil::HasLine(out,
                                "* B    100     101  102  103  301  105   106   201"))
      << out;
  EXPECT_NE(out.find("? namespaces not readable"), std::string::npos) << out;
  EXPECT_EQ(out.find("\033["), std::string::npos) << "no colour asked for";
  EXPECT_NE(RenderTerminal(Build(FakeTree(), 10, FakeRead), true).find("\033[33m"),
            std::string::npos);
}

TEST(NsviewTest, SvgHasABoxPerProcessAndALegendPerSet) {
  auto tree = FakeTree();
  tree[12].comm = "<a&b>";
  std::string svg = RenderSvg(Build(tree, 10, FakeRead), "05_pid");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  auto count = [&](const std::string& s) {
    size_t n = 0;
    for (size_t p = svg.find(s); p != std::string::npos; p = svg.find(s, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("height=\"28\""), 4u);   // one box per process
  EXPECT_EQ(count("height=\"18\""), 2u);   // one swatch per set
  EXPECT_EQ(count("<path "), 3u);          // one connector per child
  EXPECT_NE(svg.find("&lt;a&amp;b&gt;(12)"), std::string::npos) << "comm is escaped";
  EXPECT_EQ(svg.find("<a&b>"), std::string::npos);
  EXPECT_NE(svg.find(">new: pid uts<"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos) << "unreadable box";
  EXPECT_NE(svg.find("class=\"b\">201<"), std::string::npos) << "B's uts in bold";
  EXPECT_NE(svg.find(">05_pid<"), std::string::npos);
}

TEST(NsviewTest, UnreadableRootLeavesSetAToTheFirstReadableProcess) {
  // As with pid 1 on a host whose init holds capabilities we lack.
  View v = Build(FakeTree(), 10, [](pid_t pid) -> ns::Identity {
    if (pid == 10) throw SysError(EACCES, "readlink", "/proc/10/ns/uts");
    return FakeRead(pid);
  });
  EXPECT_EQ(v.nodes[0].set, -1);
  EXPECT_EQ(v.nodes[1].set, 0);
  EXPECT_TRUE(v.nodes[1].differs.empty());  // nothing to compare with
  EXPECT_NE(RenderTerminal(v, false).find("A is the set of pid 11"), std::string::npos);
}

TEST(NsviewTest, UnknownRootIsAUsageError) {
  EXPECT_THROW(Build(FakeTree(), 99, FakeRead), UsageError);
}

// A real child that unshares its UTS namespace shows up in its own set.
TEST(NsviewTest, RealChildInNewUtsNamespaceGetsItsOwnSet) {
  int ready[2], hold[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(hold, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(hold[1]);  // or our own copy would keep the pipe from ever reaching EOF
    char c = unshare(CLONE_NEWUTS) == 0 ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    (void)!read(hold[0], &c, 1);  // until the parent closes its end
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  View v;
  if (c == 'y') v = Build(proctree::Snapshot(), getpid());
  close(hold[1]);
  waitpid(pid, nullptr, 0);
  close(ready[0]);
  if (c != 'y') GTEST_SKIP() << "unshare(CLONE_NEWUTS) needs root";
  ASSERT_GE(v.nodes.size(), 2u);
  const Node* child = nullptr;
  for (const auto& n : v.nodes)
    if (n.pid == pid) child = &n;
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->differs, std::vector<std::string>{"uts"});
  EXPECT_NE(child->set, v.nodes[0].set);
}

TEST(NsviewBinaryTest, WritesAnSvgAndPrintsATree) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string file = std::string(tmp ? tmp : "/tmp") + "/view.svg";
  auto r = testutil::Run({testutil::LabPath("nsview"), "--pid", std::to_string(getpid()),
                          "--svg", file, "--title", "self"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("nsview: wrote " + file), std::string::npos) << r.out;
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str().rfind("<svg", 0), 0u);

  auto t = testutil::Run({testutil::LabPath("nsview"), "--pid", std::to_string(getpid())});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.out.rfind("nsview_test(" + std::to_string(getpid()) + ") A\n", 0), 0u) << t.out;
  EXPECT_NE(t.out.find("└─nsview("), std::string::npos) << t.out;

  auto bad = testutil::Run({testutil::LabPath("nsview"), "--pid", "999999999"});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_NE(bad.err.find("nsview: no process 999999999"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace nslab::nsview
