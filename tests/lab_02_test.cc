// lab_02 — end-to-end: 02_proc_ns prints /proc/PID/ns/* side by side; the numbers
// are the ones any other reader of /proc sees, and differing rows are marked.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <string>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::Lines;
using testutil::RunLab;

std::string InodeOf(pid_t pid, const std::string& kind) {
  char buf[64] = {};
  std::string link = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
  std::string target(buf, n > 0 ? static_cast<size_t>(n) : 0);
  size_t open = target.find('['), close = target.find(']');
  return open == std::string::npos ? "" : target.substr(open + 1, close - open - 1);
}

// The table line for `kind`, or "" (rows are "    [* ]kind  inode  inode...").
std::string RowFor(const std::string& out, const std::string& kind) {
  for (const auto& l : Lines(out))
    if (std::regex_match(l, std::regex("    [* ] " + kind + " +[0-9- ]+"))) return l;
  return "";
}

TEST(Lab02Test, DemoPrintsATableWithItselfFirst) {
  auto bg = testutil::Start({testutil::LabPath("02_proc_ns")});
  const pid_t lab = bg.pid;
  auto r = bg.Finish();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("self " + std::to_string(lab)), std::string::npos) << r.out;
  for (const char* kind : {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"})
    EXPECT_NE(RowFor(r.out, kind), "") << kind << " row missing:\n" << r.out;
}

TEST(Lab02Test, PrintsTheInodesOtherReadersSee) {
  auto r = RunLab("02_proc_ns", {"-p", std::to_string(getpid())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* kind : {"ipc", "mnt", "net", "pid", "uts"}) {
    std::string row = RowFor(r.out, kind);
    ASSERT_NE(row, "") << kind << ":\n" << r.out;
    EXPECT_EQ(row, "      " + std::string(kind) +
                       std::string(row.size() - 6 - std::string(kind).size() -
                                       InodeOf(getpid(), kind).size(),
                                   ' ') +
                       InodeOf(getpid(), kind))
        << row;
  }
}

TEST(Lab02Test, NonexistentPidFailsWithOneLineNamingProcPid) {
  // pid_max is at most 4194304: 999999 > 32768 is unused wherever pid_max is the default;
  // use a pid from a child we reaped ourselves, which is gone for sure.
  pid_t gone = fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  auto r = RunLab("02_proc_ns", {"-p", std::to_string(gone)});
  EXPECT_NE(r.exit_code, 0);
  auto lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("02_proc_ns: ", 0), 0u) << r.err;
  EXPECT_NE(lines[0].find("/proc/" + std::to_string(gone)), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("cgroup"), std::string::npos) << "no table for a bad pid:\n" << r.out;
}

TEST(Lab02Test, BadPidValueIsUsageError) {
  EXPECT_EQ(RunLab("02_proc_ns", {"-p", "0"}).exit_code, 125);
  EXPECT_EQ(RunLab("02_proc_ns", {"-p", "abc"}).exit_code, 125);
}

TEST(Lab02Test, ProcessesInDifferentUtsNamespacesMarkTheUtsRow) {
  if (getuid() != 0) GTEST_SKIP() << "needs root";
  // `unshare --uts` runs `cat` in a new UTS namespace; cat lives until we close its
  // stdin. It says "ready" once it is in the namespace, so we read it only then.
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execlp("unshare", "unshare", "--uts", "sh", "-c", "echo ready; exec cat", nullptr);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  char buf[6] = {};
  ASSERT_EQ(read(out[0], buf, 6), 6);
  ASSERT_EQ(std::string(buf, 6), "ready\n");

  auto r = RunLab("02_proc_ns", {"-p", std::to_string(getpid()), "-p", std::to_string(pid)});
  const std::string theirs = InodeOf(pid, "uts");
  close(in[1]);  // cat sees EOF and exits
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(status, 0);

  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string uts = RowFor(r.out, "uts");
  ASSERT_EQ(uts.rfind("    * uts", 0), 0u) << r.out;
  EXPECT_NE(uts.find(InodeOf(getpid(), "uts")), std::string::npos) << uts;
  EXPECT_NE(uts.find(theirs), std::string::npos) << uts;
  EXPECT_NE(InodeOf(getpid(), "uts"), theirs);
  for (const char* kind : {"cgroup", "ipc", "mnt", "net", "pid", "user"})
    EXPECT_EQ(RowFor(r.out, kind).rfind("      ", 0), 0u) << kind << " marked:\n" << r.out;
}

TEST(Lab02Test, CommandRunsWithItsStatus) {
  auto r = RunLab("02_proc_ns", {"--", "/bin/sh", "-c", "exit 4"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace nslab
