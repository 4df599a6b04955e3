// lab_test — what every lab main shares: flags, exit codes, paths under `bazel run`.
#include "common/lab.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::lab {
namespace {

// Runs lab::Main with argv = {"lab_test", args...}; stderr goes to *err.
int RunMain(const std::vector<std::string>& args, const std::function<int()>& body,
            std::string* err = nullptr, Options* out_opt = nullptr) {
  std::vector<std::string> storage = {"lab_test"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  Options opt;
  CLI::App app{"lab_test"};
  AddCommonFlags(app, opt);
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  int code = Main("lab_test", app, static_cast<int>(storage.size()), argv.data(), opt, body);
  std::string out = testing::internal::GetCapturedStdout();
  std::string e = testing::internal::GetCapturedStderr();
  if (err) *err = e;
  if (out_opt) *out_opt = opt;
  narrate::Configure(true, false);
  return code;
}

TEST(ResolvePathTest, RelativePathsUseBuildWorkingDirectory) {
  setenv("BUILD_WORKING_DIRECTORY", "/home/student/nslab", 1);
  EXPECT_EQ(ResolvePath("rootfs"), "/home/student/nslab/rootfs");
  EXPECT_EQ(ResolvePath("./img/busybox.tar"), "/home/student/nslab/./img/busybox.tar");
  EXPECT_EQ(ResolvePath("/abs/rootfs"), "/abs/rootfs");
  EXPECT_EQ(ResolvePath(""), "");
  unsetenv("BUILD_WORKING_DIRECTORY");
}

TEST(ResolvePathTest, WithoutBazelRunPathsStayAsGiven) {
  unsetenv("BUILD_WORKING_DIRECTORY");
  EXPECT_EQ(ResolvePath("rootfs"), "rootfs");
  setenv("BUILD_WORKING_DIRECTORY", "", 1);
  EXPECT_EQ(ResolvePath("rootfs"), "rootfs");
  unsetenv("BUILD_WORKING_DIRECTORY");
}

TEST(RunNameTest, PrefixAndPid) {
  EXPECT_EQ(RunName("nsl"), "nsl" + std::to_string(getpid()));
}

TEST(MainTest, ReturnsWhatTheBodyReturns) {
  Options opt;
  EXPECT_EQ(RunMain({}, [] { return 0; }, nullptr, &opt), 0);
  EXPECT_TRUE(opt.Demo());
  EXPECT_EQ(RunMain({"--", "sh", "-c", "exit 3"}, [] { return 7; }, nullptr, &opt), 7);
  EXPECT_EQ(opt.command, (std::vector<std::string>{"sh", "-c", "exit 3"}));
  EXPECT_FALSE(opt.Demo());
}

TEST(MainTest, ALeadingDoubleDashIsDroppedAsBazelRunDoes) {
  // `bazel-bin/labs/04_uts -- -v echo hi` is `bazel run //labs:04_uts -- -v echo hi`.
  Options opt;
  EXPECT_EQ(RunMain({"--", "-v", "echo", "hi"}, [] { return 0; }, nullptr, &opt), 0);
  EXPECT_TRUE(opt.verbose);
  EXPECT_EQ(opt.command, (std::vector<std::string>{"echo", "hi"}));
  // A later `--` still ends our flags: `-v -- -v` runs the command `-v`.
  EXPECT_EQ(RunMain({"-v", "--", "-v"}, [] { return 0; }, nullptr, &opt), 0);
  EXPECT_EQ(opt.command, (std::vector<std::string>{"-v"}));
}

TEST(MainTest, TheFirstWordThatIsNoFlagStartsTheCommand) {
  // `bazel run //labs:01_process -- sh -c 'exit 3'`: bazel takes the `--`.
  Options opt;
  EXPECT_EQ(RunMain({"sh", "-c", "exit 3"}, [] { return 0; }, nullptr, &opt), 0);
  EXPECT_EQ(opt.command, (std::vector<std::string>{"sh", "-c", "exit 3"}));
  EXPECT_FALSE(opt.verbose);
  // Flags after the command are the command's, even ones we also have.
  RunMain({"-v", "ls", "-v", "--help", "--", "x"}, [] { return 0; }, nullptr, &opt);
  EXPECT_TRUE(opt.verbose);
  EXPECT_EQ(opt.command, (std::vector<std::string>{"ls", "-v", "--help", "--", "x"}));
}

TEST(MainTest, VerboseFlagAndCommandModeConfigureNarration) {
  bool enabled = true, verbose = false;
  RunMain({"--", "true"}, [&] {
    enabled = narrate::Enabled();
    return 0;
  });
  EXPECT_FALSE(enabled) << "command mode is quiet without -v";
  RunMain({"-v", "--", "true"}, [&] {
    verbose = narrate::Verbose();
    return 0;
  });
  EXPECT_TRUE(verbose);
}

TEST(MainTest, BadFlagIs125) {
  std::string err;
  bool ran = false;
  EXPECT_EQ(RunMain({"--no-such-flag"}, [&] {
              ran = true;
              return 0;
            }, &err), 125);
  EXPECT_FALSE(ran);
  EXPECT_EQ(err.rfind("lab_test: ", 0), 0u) << err;
  EXPECT_NE(err.find("--help"), std::string::npos) << err;
}

TEST(MainTest, HelpIsZero) {
  EXPECT_EQ(RunMain({"--help"}, [] { return 9; }), 0);
}

TEST(MainTest, ExitCodeErrorKeepsItsCode) {
  std::string err;
  EXPECT_EQ(RunMain({}, []() -> int {
              throw ExitCodeError(127, "execvp \"nope\": No such file or directory");
            }, &err), 127);
  EXPECT_EQ(err, "lab_test: execvp \"nope\": No such file or directory\n");
}

TEST(MainTest, SysErrorIs125AndPrintedOnce) {
  std::string err;
  EXPECT_EQ(RunMain({}, []() -> int { throw SysError(EPERM, "mount", "proc"); }, &err),
            process::kSetupFailed);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("mount \"proc\""), std::string::npos) << err;
}

TEST(MainTest, UsageErrorIs125LikeEverySetupError) {
  EXPECT_EQ(RunMain({}, []() -> int { throw UsageError("--memory: bad size"); }), 125);
}

TEST(RequireRootTest, RootPassesOthersGetOneLineHint) {
  if (geteuid() == 0) {
    EXPECT_NO_THROW(RequireRoot("creating a UTS namespace"));
  } else {
    try {
      RequireRoot("creating a UTS namespace");
      FAIL();
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("sudo"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace nslab::lab
