// narrate_test — the labs' voice: who speaks, where it goes (stdout in the demo,
// stderr with -v in command mode, nowhere otherwise), and the aligned tables.
#include "common/narrate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace nslab::narrate {
namespace {

using testing::internal::CaptureStderr;
using testing::internal::CaptureStdout;
using testing::internal::GetCapturedStderr;
using testing::internal::GetCapturedStdout;

class NarrateTest : public testing::Test {
 protected:
  void SetUp() override { setenv("NO_COLOR", "1", 1); }
  void TearDown() override {
    Configure(true, false);
    SetRole(Role::kHost);
  }
  // Runs fn with stdout and stderr captured.
  template <typename F>
  void Capture(F fn, std::string* out, std::string* err) {
    CaptureStdout();
    CaptureStderr();
    fn();
    *err = GetCapturedStderr();
    *out = GetCapturedStdout();
  }
  std::string Me() { return std::to_string(getpid()); }
};

TEST(RenderTableTest, AlignsColumnsAndMarksRows) {
  std::string t = RenderTable({"ns", "host", "child"},
                              {{{"ipc", "4026531839", "4026531839"}, false},
                               {{"uts", "4026531838", "4026532300"}, true}});
  EXPECT_EQ(t,
            "  ns   host        child\n"
            "  ipc  4026531839  4026531839\n"
            "* uts  4026531838  4026532300\n");
}

TEST(RenderTableTest, WidestCellSetsTheColumnAndNoTrailingSpaces) {
  std::string t = RenderTable({"a", "b"}, {{{"long-name", "1"}, false}, {{"x", ""}, true}});
  EXPECT_EQ(t,
            "  a          b\n"
            "  long-name  1\n"
            "* x\n");
}

TEST_F(NarrateTest, DemoNarratesOnStdout) {
  Configure(/*demo=*/true, /*verbose=*/false);
  std::string out, err;
  Capture(
      [] {
        Title("Step 1");
        Step("fork() returned 42");
        Syscall("clone", "SIGCHLD");  // -v only
        Block("line one\nline two");
        Table({"ns", "a"}, {{{"uts", "1"}, true}});
      },
      &out, &err);
  EXPECT_EQ(err, "");
  EXPECT_EQ(out,
            "\n== Step 1 ==\n"
            "[host " + Me() + "] fork() returned 42\n"
            "    line one\n"
            "    line two\n"
            "      ns   a\n"
            "    * uts  1\n");
}

TEST_F(NarrateTest, VerboseShowsSyscalls) {
  Configure(true, true);
  std::string out, err;
  Capture([] { Syscall("clone", "CLONE_NEWUTS|SIGCHLD"); }, &out, &err);
  EXPECT_EQ(out, "[host " + Me() + "] > clone(CLONE_NEWUTS|SIGCHLD)\n");
  EXPECT_EQ(err, "");
}

TEST_F(NarrateTest, CommandModeKeepsStdoutAndStderrClean) {
  Configure(/*demo=*/false, /*verbose=*/false);
  EXPECT_FALSE(Enabled());
  std::string out, err;
  Capture(
      [] {
        Title("t");
        Step("s");
        Syscall("clone", "SIGCHLD");
        Block("b");
        Table({"ns"}, {{{"uts"}, true}});
      },
      &out, &err);
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "");
}

TEST_F(NarrateTest, CommandModeWithVerboseGoesToStderr) {
  Configure(false, true);
  EXPECT_TRUE(Enabled());
  EXPECT_TRUE(Verbose());
  std::string out, err;
  Capture(
      [] {
        Step("s");
        Syscall("execvp", "sh");
      },
      &out, &err);
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "[host " + Me() + "] s\n[host " + Me() + "] > execvp(sh)\n");
}

TEST_F(NarrateTest, ChildRoleSaysChild) {
  Configure(true, false);
  SetRole(Role::kChild);
  std::string out, err;
  Capture([] { Step("hello"); }, &out, &err);
  EXPECT_EQ(out, "[child " + Me() + "] hello\n");
}

}  // namespace
}  // namespace nslab::narrate
