// lab_03 — end-to-end: 03_clone starts its child with clone(2), holds it on the sync
// pipe until the parent has said go, and passes a command's status through.
#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <string>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::Lines;
using testutil::RunLab;

TEST(Lab03Test, DemoChildSpeaksOnlyAfterTheGoByte) {
  auto bg = testutil::Start({testutil::LabPath("03_clone")});
  const pid_t lab = bg.pid;
  auto r = bg.Finish();
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.out, m, std::regex(R"(\[host (\d+)\] clone\(SIGCHLD\) gave child (\d+))")))
      << r.out;
  EXPECT_EQ(std::stoi(m[1]), lab);
  const std::string child = m[2];

  const size_t go = r.out.find("now writing the go byte");
  const size_t child_line = r.out.find("[child " + child + "] parent said go");
  ASSERT_NE(go, std::string::npos) << r.out;
  ASSERT_NE(child_line, std::string::npos) << r.out;
  EXPECT_LT(go, child_line) << r.out;
  // ...and before the parent reports its end.
  EXPECT_LT(child_line, r.out.find("child exited with status 0")) << r.out;

  // No new namespace yet: no marked row.
  for (const auto& l : Lines(r.out))
    EXPECT_FALSE(std::regex_search(l, std::regex(R"(^\s*\* )"))) << "marked row: " << l;
}

TEST(Lab03Test, CommandExitStatusIsTheLabs) {
  auto r = RunLab("03_clone", {"--", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST(Lab03Test, CommandIsTheClonedChildOfTheLab) {
  auto bg = testutil::Start({testutil::LabPath("03_clone"), "--", "/bin/sh", "-c", "echo $PPID"});
  const pid_t lab = bg.pid;
  auto r = bg.Finish();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(lab) + "\n");
}

TEST(Lab03Test, MissingCommandIs127) {
  auto r = RunLab("03_clone", {"--", "nslab-no-such-command"});
  EXPECT_EQ(r.exit_code, 127);
  auto lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("03_clone: ", 0), 0u) << r.err;
  EXPECT_NE(lines[0].find("nslab-no-such-command"), std::string::npos) << r.err;
}

TEST(Lab03Test, NotExecutableIs126) {
  auto r = RunLab("03_clone", {"--", "/etc/passwd"});
  EXPECT_EQ(r.exit_code, 126);
}

TEST(Lab03Test, VerboseLogsTheCloneOnStderr) {
  auto r = RunLab("03_clone", {"-v", "--", "/bin/echo", "hi"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(\[host \d+\] > clone\(SIGCHLD\))")))
      << r.err;
  // The go byte is written before the child execs.
  const size_t go = r.err.find("> write(sync pipe: go)");
  const size_t exec = r.err.find("> execvp(/bin/echo)");
  ASSERT_NE(go, std::string::npos) << r.err;
  ASSERT_NE(exec, std::string::npos) << r.err;
  EXPECT_LT(go, exec);
}

TEST(Lab03Test, HelpDocumentsTheFlags) {
  auto r = RunLab("03_clone", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--verbose"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace nslab
