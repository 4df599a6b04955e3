// testutil — running built lab binaries from a test and reading what they did.
//
// End-to-end tests are black-box (crun's tests/init.c probe, tini's exit-code loop):
// they run the real binary, a data dependency of the test, and check its output,
// exit status and facts read from /proc.
//
//   auto r = testutil::RunLab("04_uts", {"--", "hostname"});
//   EXPECT_EQ(r.exit_code, 0);
//   EXPECT_EQ(r.out, "nslab\n");
#ifndef NSLAB_TESTS_TESTUTIL_H_
#define NSLAB_TESTS_TESTUTIL_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace nslab::testutil {

struct RunResult {
  int exit_code = -1;  // the shell's $?: code, or 128 + signal
  std::string out;
  std::string err;
};

// Path of a binary built by Bazel, from the test's runfiles: "labs/04_uts".
std::string Runfile(const std::string& workspace_relative);
// Runfile("labs/" + name).
std::string LabPath(const std::string& name);

// Runs argv (no shell), feeding `input` on stdin, collecting stdout and stderr.
// Kills the process group after `timeout_seconds` (then exit_code is 128+9).
RunResult Run(const std::vector<std::string>& argv, const std::string& input = "",
              int timeout_seconds = 60);
RunResult RunLab(const std::string& name, const std::vector<std::string>& args,
                 const std::string& input = "", int timeout_seconds = 60);

// A process started in the background with its stdout/stderr going to pipes;
// Finish() waits for it and collects the output.
struct Background {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
  RunResult Finish();
};
Background Start(const std::vector<std::string>& argv);

bool IsRoot();
// A name no parallel test uses: prefix + pid + counter (at most 15 chars for links).
std::string UniqueName(const std::string& prefix);
// Mount points of this mount namespace (field 5 of /proc/self/mountinfo), sorted.
std::vector<std::string> MountPoints();
// Does the text contain the line exactly?
bool HasLine(const std::string& text, const std::string& line);
std::vector<std::string> Lines(const std::string& text);

}  // namespace nslab::testutil

#endif  // NSLAB_TESTS_TESTUTIL_H_
