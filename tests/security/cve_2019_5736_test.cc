// cve_2019_5736_test — the attack of CVE-2019-5736, as the issue ran it, through every
// path into a container: `run` and `exec`, with and without -t, default and
// --privileged. The container's command is a script whose first line is
// "#!/proc/self/exe"; a probe inside scans every /proc/PID/exe, keeps an O_PATH fd
// on anything that is not a file of the container and reopens it for writing once
// its process has exited. Checked from outside: the sha256 of the host's 11_container
// and nslab-shim before and after, and the probe told the (dev, inode) of both so
// that any fd it gets on them is reported as an escape.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;
using harness::Container;
using harness::RunDetached;

constexpr char kRefusal[] = "refusing to run as a script's interpreter";

class Cve20195736Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testutil::IsRoot()) return;
    harness::Init();
    root_ = new std::string(harness::MakeRootfs("cve5736"));
    // The hostile payload: the kernel opens the interpreter of a script in the
    // exec'ing process, so /proc/self/exe is whatever *that* process runs.
    std::ofstream(*root_ + "/evil") << "#!/proc/self/exe\n";
    chmod((*root_ + "/evil").c_str(), 0755);
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
    lab_hash_ = harness::Sha256(harness::LabBinary());
    shim_hash_ = harness::Sha256(harness::ShimBinary());
    ASSERT_FALSE(lab_hash_.empty());
    ASSERT_FALSE(shim_hash_.empty());
  }
  void TearDown() override {
    EXPECT_EQ(harness::Sha256(harness::LabBinary()), lab_hash_) << "11_container changed";
    EXPECT_EQ(harness::Sha256(harness::ShimBinary()), shim_hash_) << "nslab-shim changed";
  }
  // "DEV:INO,DEV:INO" of the host's binaries, for the probe.
  static std::string HostFiles() {
    std::string out;
    for (const auto& p : {harness::LabBinary(), harness::ShimBinary()}) {
      struct stat st;
      if (stat(p.c_str(), &st) != 0) continue;
      out += (out.empty() ? "" : ",") + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    }
    return out;
  }
  static std::string* root_;
  std::string lab_hash_, shim_hash_;
};
std::string* Cve20195736Test::root_ = nullptr;

void ExpectRefused(const testutil::RunResult& r, const std::string& how) {
  // 126: the trampoline ran in place of the host binary and refused.
  EXPECT_EQ(r.exit_code, 126) << how << ": " << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(kRefusal), std::string::npos) << how << ": " << r.out << r.err;
  // Never the CLI's own voice (its usage text or its demo).
  EXPECT_EQ((r.out + r.err).find("11_container"), std::string::npos) << how << ": " << r.out;
}

TEST_F(Cve20195736Test, HostileScriptAsTheInitThroughRun) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{}, {"-t"}, {"--privileged"}, {"-t", "--privileged"}}) {
    std::vector<std::string> args = {"run", "--rm", "--net", "none"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--rootfs", *root_, "/evil"});
    std::string how = "run";
    for (const auto& f : flags) how += " " + f;
    ExpectRefused(Cli(args), how);
  }
}

TEST_F(Cve20195736Test, HostileScriptThroughExec) {
  for (bool privileged : {false, true}) {
    Container c = RunDetached(privileged ? std::vector<std::string>{"--privileged", "--rootfs",
                                                                    *root_, "sleep", "1000"}
                                         : std::vector<std::string>{"--rootfs", *root_, "sleep",
                                                                    "1000"});
    ASSERT_TRUE(c.ok());
    for (bool tty : {false, true}) {
      std::vector<std::string> args = {"exec"};
      if (tty) args.push_back("-t");
      args.insert(args.end(), {c.id(), "/evil"});
      ExpectRefused(Cli(args), std::string("exec") + (tty ? " -t" : "") +
                                   (privileged ? " (privileged)" : ""));
    }
  }
}

// A container whose init is the probe, watching for 4 seconds while we attack it
// through exec with the hostile script and with ordinary commands.
void AttackWhileWatched(const std::string& root, const std::string& host_files, bool privileged) {
  std::vector<std::string> args = {"--rootfs", root, "probe", "exe", "4", host_files};
  if (privileged) args.insert(args.begin(), "--privileged");
  Container c = RunDetached(args);
  ASSERT_TRUE(c.ok());
  int ran = 0;
  for (int i = 0; i < 8; ++i) {
    Cli({"exec", c.id(), "/evil"});
    Cli({"exec", "-t", c.id(), "/evil"});
    if (Cli({"exec", c.id(), "true"}).exit_code == 0) ++ran;
  }
  EXPECT_GT(ran, 0) << "no exec ran while the probe watched";
  ASSERT_TRUE(harness::WaitFor([&] {
    return harness::Fact(harness::ReadState(c.id()), "exited") == "1";
  }));
  testutil::RunResult logs = Cli({"logs", c.id()});
  EXPECT_EQ(logs.out.find("ESCAPED"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("BLOCKED exe:"), std::string::npos) << logs.out << logs.err;
}

TEST_F(Cve20195736Test, NoFdOnTheHostBinariesWhileExecAttacks) {
  AttackWhileWatched(*root_, HostFiles(), false);
}

TEST_F(Cve20195736Test, NoFdOnTheHostBinariesWhileExecAttacksPrivileged) {
  // --privileged holds CAP_SYS_PTRACE: the joining exec itself is reachable, and must
  // be a sealed copy too (security::ReexecFromSealedCopy).
  AttackWhileWatched(*root_, HostFiles(), true);
}

TEST_F(Cve20195736Test, AnOrdinaryScriptStillRuns) {
  // The trampoline refuses only when it is itself the interpreter: a #!/bin/sh
  // script, and one without any #! line (execvp(3) runs /bin/sh for it), still run.
  std::ofstream(*root_ + "/good") << "#!/bin/sh\necho good \"$@\"\n";
  chmod((*root_ + "/good").c_str(), 0755);
  std::ofstream(*root_ + "/plain") << "echo plain \"$@\"\n";
  chmod((*root_ + "/plain").c_str(), 0755);
  auto r = Cli({"run", "--rm", "--net", "none", "--rootfs", *root_, "/good", "a"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "good a\n");
  r = Cli({"run", "--rm", "--net", "none", "--rootfs", *root_, "/plain", "b"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "plain b\n");
}

}  // namespace
}  // namespace nslab
