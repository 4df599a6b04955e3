// trampoline_test — the sealed memfd the engine execs commands through
// (common/trampoline.h), checked without a container: its seals, that nobody can
// write it, that it runs a command and refuses to be a script's interpreter.
#include "common/trampoline.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "common/error.h"
#include "common/process.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

TEST(TrampolineTest, IsSmallAndSealedForGood) {
  EXPECT_GT(trampoline::Size(), 100u);
  EXPECT_LT(trampoline::Size(), 64u * 1024) << "no longer cheap to copy at every start";
  UniqueFd t = trampoline::Prepare();
  int seals = fcntl(t.Get(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
            F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  // Reopened for writing through /proc (what a process that reaches its
  // /proc/PID/exe would do): the open may succeed, no write does.
  int w = open(("/proc/self/fd/" + std::to_string(t.Get())).c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(w, 0);
  EXPECT_EQ(write(w, "x", 1), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(ftruncate(w, 0), -1);
  EXPECT_EQ(fcntl(w, F_ADD_SEALS, 0), -1) << "F_SEAL_SEAL: no seal can change";
  close(w);
}

// Forks a child that execs argv through the trampoline; its exit status.
int RunThrough(const std::vector<std::string>& argv) {
  UniqueFd t = trampoline::Prepare();
  pid_t pid = fork();
  if (pid == 0) {
    process::RunInChild([&] { return trampoline::ExecInChild(t.Get(), argv, -1); });
  }
  return process::WaitPid(pid).ShellCode();
}

TEST(TrampolineTest, RunsTheCommandWithItsArguments) {
  EXPECT_EQ(RunThrough({"sh", "-c", "exit 7"}), 7);
  EXPECT_EQ(RunThrough({"true"}), 0);
}

TEST(TrampolineTest, RefusesToBeAScriptsInterpreter) {
  // The CVE-2019-5736 payload: the kernel runs /proc/self/exe of the exec'ing
  // process — the trampoline — with argv[0] "/proc/self/exe", not its marker.
  const std::string script = testutil::TmpDir() + "/evil-" + std::to_string(getpid());
  std::ofstream(script) << "#!/proc/self/exe\n";
  chmod(script.c_str(), 0755);
  EXPECT_EQ(RunThrough({script}), 126);
  unlink(script.c_str());
}

TEST(TrampolineTest, NotFoundAndNotExecutableGiveDockersCodes) {
  try {
    trampoline::ResolveInChild("no-such-command-nslab");
    ADD_FAILURE() << "resolved";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 127);
  }
  const std::string plain = testutil::TmpDir() + "/plain-" + std::to_string(getpid());
  std::ofstream(plain) << "data\n";
  chmod(plain.c_str(), 0644);
  try {
    trampoline::ResolveInChild(plain);
    ADD_FAILURE() << "resolved";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 126);
  }
  EXPECT_EQ(trampoline::ResolveInChild("/bin/sh"), "/bin/sh");
}

}  // namespace
}  // namespace nslab
