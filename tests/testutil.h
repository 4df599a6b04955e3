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

#include <unistd.h>

#include <functional>
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

// --- Files and directories ---

// TEST_TMPDIR (Bazel removes it after the test), or /tmp when run by hand.
std::string TmpDir();
// A fresh directory TmpDir()/<name><pid>_<n> (mode 0755); n counts calls.
std::string MakeTempDir(const std::string& name);
// The whole content of a file; "" when it cannot be read.
std::string ReadText(const std::string& path);
// The names in a directory, without "." and "..", sorted; empty when unreadable.
std::vector<std::string> Entries(const std::string& dir);
// Does the path exist (lstat: a dangling symlink counts)?
bool PathExists(const std::string& path);
// Is the path a directory (stat: a symlink to one counts)?
bool IsDir(const std::string& path);
// Points the labs' per-run directories (NSLAB_RUN_DIR) at TEST_TMPDIR, which Bazel
// removes: a lab killed with SIGKILL cannot remove its own. Call it from a namespace-
// scope initializer: `const bool kRunDir = testutil::RunDirInTestTmpdir();`.
bool RunDirInTestTmpdir();

// --- Processes, seen from /proc ---

// Field `key` of /proc/<pid>/status ("CapEff" -> "00000000a80425fb"), white space
// around the value trimmed; pid 0 reads /proc/self. "" when absent or unreadable.
std::string StatusField(const std::string& key, pid_t pid = 0);
// Is the process alive, and not a zombie (state 'Z' in /proc/PID/stat)?
bool ProcessAlive(pid_t pid);
// The first child of `pid` (from /proc/PID/task/PID/children), 0 when it has none.
pid_t ChildOf(pid_t pid);
// The child of `lab` once it runs `comm`: polls /proc, because the child appears after
// clone and renames itself on exec. -1 if `lab` ended first or after about 30 s.
pid_t ChildRunning(pid_t lab, const std::string& comm);
// Waits (bounded: about 10 s) until cond() holds; returns whether it did. The outcome
// is what a test asserts, never the time it took.
template <typename F>
bool Eventually(F cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    usleep(10000);
  }
  return cond();
}

// --- Processes started by the test ---

// Starts argv in a process group of its own (as Start does), with stdin
// /dev/null and stdout+stderr appended to the file `log` — a file, not a pipe: a
// process that outlives it (a shim, a sandbox that should have died) would hold a
// pipe open and a reader waiting for EOF would wait with it. Returns the pid.
pid_t StartLogged(const std::vector<std::string>& argv, const std::string& log);
// Reaps pid (retrying on EINTR); its exit code, or 128 + signal.
int WaitExit(pid_t pid);

// What a function run by RunInChild returned.
struct ChildResult {
  int code = -1;    // 0; 1 when fn threw; 128 + signal when the child was killed
  std::string out;  // fn's return value, or "error: <what>" when it threw
};
// Runs fn in a forked child and brings its return value back through a pipe — for
// changes a process cannot undo (a seccomp filter, dropped capabilities, no_new_privs,
// a mount namespace): they happen to the child only, never to the test process.
ChildResult RunInChild(const std::function<std::string()>& fn);

}  // namespace nslab::testutil

#endif  // NSLAB_TESTS_TESTUTIL_H_
