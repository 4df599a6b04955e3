// lab_01 — end-to-end: 01_process forks, execs and waits; the demo shows the child
// under the lab in the tree and no namespace differs; with `-- CMD` the lab is
// invisible: CMD's output and exit status only.
#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::Lines;
using testutil::RunLab;

std::string OwnLink(const std::string& kind) {
  char buf[64] = {};
  ssize_t n = readlink(("/proc/self/ns/" + kind).c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST(Lab01Test, DemoShowsTheChildUnderTheLabAndNoMarkedNamespace) {
  auto bg = testutil::Start({testutil::LabPath("01_process")});
  const pid_t lab = bg.pid;
  auto r = bg.Finish();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");

  // "[host P] fork() returned child pid C", spoken by the lab we started.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\[host (\d+)\] fork\(\) returned child pid (\d+))")))
      << r.out;
  EXPECT_EQ(std::stoi(m[1]), lab);
  const std::string child = m[2];
  EXPECT_NE(std::stoi(child), lab);
  // The child introduced itself with the same numbers.
  EXPECT_NE(r.out.find("I am the child: pid " + child + ", parent " + std::to_string(lab)),
            std::string::npos)
      << r.out;

  // The tree: the lab at the root, the child one level below it (its comm is `cat`
  // once it has exec'd, or still the lab's name if the snapshot came first).
  auto lines = Lines(r.out);
  int root_line = -1, child_line = -1;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == "    01_process(" + std::to_string(lab) + ")") root_line = static_cast<int>(i);
    if (std::regex_match(lines[i], std::regex("    └─(cat|01_process)\\(" + child + "\\)")))
      child_line = static_cast<int>(i);
  }
  ASSERT_GE(root_line, 0) << r.out;
  EXPECT_EQ(child_line, root_line + 1) << r.out;

  // The table: every kind present, none marked.
  int rows = 0;
  for (const auto& l : lines) {
    EXPECT_FALSE(std::regex_search(l, std::regex(R"(^\s*\* )"))) << "marked row: " << l;
    if (std::regex_match(l, std::regex(R"(\s+(cgroup|ipc|mnt|net|pid|pid_for_children|time|time_for_children|user|uts)\s+\d+\s+\d+)")))
      ++rows;
  }
  EXPECT_EQ(rows, 10) << r.out;
  EXPECT_NE(r.out.find("child " + child + " exited with status 0"), std::string::npos);
}

TEST(Lab01Test, CommandExitStatusIsTheLabs) {
  auto r = RunLab("01_process", {"--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST(Lab01Test, CommandWithoutDoubleDashAsUnderBazelRun) {
  // `bazel run //labs:01_process -- sh -c 'exit 3'` passes no `--` to the lab.
  auto r = RunLab("01_process", {"/bin/sh", "-c", "echo -v; exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "-v\n");
  EXPECT_EQ(r.err, "");
}

TEST(Lab01Test, CommandKilledBySignalIs128PlusN) {
  auto r = RunLab("01_process", {"--", "/bin/sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.exit_code, 128 + 15);
}

TEST(Lab01Test, CommandStdoutIsExactlyItsOutput) {
  auto r = RunLab("01_process", {"--", "/bin/echo", "hello from the child"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello from the child\n");
  EXPECT_EQ(r.err, "");
}

TEST(Lab01Test, CommandGetsOurStdin) {
  auto r = RunLab("01_process", {"--", "cat"}, "typed input\n");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "typed input\n");
}

TEST(Lab01Test, CommandIsAChildOfTheLabInOurNamespaces) {
  auto bg = testutil::Start(
      {testutil::LabPath("01_process"), "--", "/bin/sh", "-c",
       "echo $PPID; readlink /proc/self/ns/uts /proc/self/ns/pid /proc/self/ns/mnt"});
  const pid_t lab = bg.pid;
  auto r = bg.Finish();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0], std::to_string(lab));
  EXPECT_EQ(lines[1], OwnLink("uts"));
  EXPECT_EQ(lines[2], OwnLink("pid"));
  EXPECT_EQ(lines[3], OwnLink("mnt"));
}

TEST(Lab01Test, MissingCommandIs127WithOneLineNamingIt) {
  auto r = RunLab("01_process", {"--", "/nonexistent"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.out, "");
  auto lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("01_process: ", 0), 0u) << r.err;
  EXPECT_NE(lines[0].find("\"/nonexistent\""), std::string::npos) << r.err;
}

TEST(Lab01Test, NotExecutableIs126) {
  auto r = RunLab("01_process", {"--", "/etc/passwd"});
  EXPECT_EQ(r.exit_code, 126);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("/etc/passwd"), std::string::npos) << r.err;
}

TEST(Lab01Test, HelpDocumentsTheFlags) {
  auto r = RunLab("01_process", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--verbose"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("127"), std::string::npos) << "exit codes documented:\n" << r.out;
}

TEST(Lab01Test, BadFlagIsUsageError) {
  auto r = RunLab("01_process", {"--bogus"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
}

TEST(Lab01Test, VerboseCommandModeNarratesOnStderrOnly) {
  auto r = RunLab("01_process", {"-v", "--", "/bin/echo", "hi"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_NE(r.err.find("> fork()"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("> execvp(/bin/echo)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nslab
