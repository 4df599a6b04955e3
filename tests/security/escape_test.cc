// escape_test — the escape attempts of issue 7, each run inside an 11_container
// container by the static probe (probe.cc), each required to fail; a host sentinel
// file must stay unreachable and unchanged, and the runtime's binaries must hash the
// same afterwards.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;
using harness::Container;
using harness::RunDetached;

class EscapeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testutil::IsRoot()) return;
    harness::Init();
    root_ = new std::string(harness::MakeRootfs("escape"));
    sentinel_ = new harness::Sentinel(harness::MakeSentinel());
  }
  static void TearDownTestSuite() {
    delete root_;
    delete sentinel_;
    root_ = nullptr;
    sentinel_ = nullptr;
  }
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  }
  void TearDown() override {
    if (sentinel_) {
      EXPECT_TRUE(harness::SentinelIntact(*sentinel_)) << "sentinel changed";
    }
  }
  // `run --rm --net none [flags] --rootfs R probe ARGS...`, attached.
  testutil::RunResult Probe(const std::vector<std::string>& probe_args,
                            const std::vector<std::string>& flags = {}) {
    std::vector<std::string> args = {"run", "--rm", "--net", "none"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("--rootfs");
    args.push_back(*root_);
    args.push_back("probe");
    args.insert(args.end(), probe_args.begin(), probe_args.end());
    return Cli(args);
  }
  static std::string* root_;
  static harness::Sentinel* sentinel_;
};
std::string* EscapeTest::root_ = nullptr;
harness::Sentinel* EscapeTest::sentinel_ = nullptr;

// The probe held: exit 0, a BLOCKED line for `name`, no ESCAPED line.
void ExpectBlocked(const testutil::RunResult& r, const std::string& name) {
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("ESCAPED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BLOCKED " + name + ":"), std::string::npos) << r.out << r.err;
}

TEST_F(EscapeTest, ChrootEscapeReachesOnlyTheContainersRoot) {
  // mkdir x; chroot x; cd .. (x64); chroot . — CAP_SYS_CHROOT is one of Docker's 14,
  // so the calls succeed; pivot_root leaves no host directory above the root.
  auto r = Probe({"chroot", sentinel_->path});
  ExpectBlocked(r, "chroot");
  EXPECT_NE(r.out.find("the container's own root"), std::string::npos) << r.out;
}

TEST_F(EscapeTest, ChrootEscapeAlsoHeldWhenPrivileged) {
  // The root is a pivot_root, not a capability matter: --privileged changes nothing.
  ExpectBlocked(Probe({"chroot", sentinel_->path}, {"--privileged"}), "chroot");
}

TEST_F(EscapeTest, NoLeakedDirectoryFdInInit) {
  // CVE-2024-21626: cwd /proc/self/fd/N for a host directory fd leaked by the runtime.
  ExpectBlocked(Probe({"fdcwd", sentinel_->path}), "fdcwd");
}

TEST_F(EscapeTest, NoLeakedDirectoryFdInExec) {
  Container c = RunDetached({"--rootfs", *root_, "sleep", "1000"});
  ASSERT_TRUE(c.ok());
  ExpectBlocked(Cli({"exec", c.id(), "probe", "fdcwd", sentinel_->path}), "fdcwd");
}

TEST_F(EscapeTest, ProcExeOfRuntimeProcessesIsNotWritable) {
  // CVE-2019-5736: a process in the container opens /proc/<pid>/exe of a runtime
  // process joining it (`exec`) and writes through it to the host binary. The probe
  // scans every visible /proc/*/exe for 3 seconds while we exec into it repeatedly.
  const std::string lab_hash = harness::Sha256(harness::LabBinary());
  const std::string shim_hash = harness::Sha256(harness::ShimBinary());
  ASSERT_FALSE(lab_hash.empty());
  ASSERT_FALSE(shim_hash.empty());
  const std::string name = testutil::UniqueName("exe");
  testutil::Background probe = testutil::Start(
      {harness::LabBinary(), "run", "--name", name, "--net", "none", "--rootfs", *root_,
       "probe", "exe", "3"});
  // Running once an exec into it succeeds (125 before: "not running").
  const bool running = harness::WaitFor([&] { return Cli({"exec", name, "true"}).exit_code == 0; });
  if (!running) {
    Cli({"rm", "-f", name});
    probe.Finish();
    FAIL() << "the probe container never ran";
  }
  int execs = 0;
  for (int i = 0; i < 40; ++i)
    if (Cli({"exec", name, "true"}).exit_code == 0) ++execs;
  testutil::RunResult r = probe.Finish();
  Cli({"rm", "-f", name});
  EXPECT_GT(execs, 0) << "no exec ran while the probe watched";
  ExpectBlocked(r, "exe");
  EXPECT_EQ(harness::Sha256(harness::LabBinary()), lab_hash);
  EXPECT_EQ(harness::Sha256(harness::ShimBinary()), shim_hash);
}

TEST_F(EscapeTest, UnshareUserMountCgroupAndReleaseAgentRefused) {
  // CVE-2022-0492: unshare -UrmC, mount cgroup v1, write release_agent.
  auto r = Probe({"release-agent"});
  ExpectBlocked(r, "release-agent");
  EXPECT_NE(r.out.find("EPERM"), std::string::npos) << r.out;
  // The same with busybox's unshare(1) (which has no -C).
  std::vector<std::string> args = {"run", "--rm", "--net", "none", "--rootfs", *root_,
                                   "unshare", "-Urm", "true"};
  auto u = Cli(args);
  EXPECT_NE(u.exit_code, 0) << u.out;
  EXPECT_NE((u.out + u.err).find("Operation not permitted"), std::string::npos) << u.err;
}

TEST_F(EscapeTest, TiocstiRefused) {
  // CVE-2017-5226: TIOCSTI would type into the terminal the container shares. The
  // filter answers EPERM before the driver even looks at the fd (ENOTTY without).
  auto r = Probe({"tiocsti"});
  ExpectBlocked(r, "tiocsti");
  EXPECT_NE(r.out.find("fd0=EPERM/EPERM"), std::string::npos) << r.out;
}

TEST_F(EscapeTest, KernelInterfacesRefusedBySeccomp) {
  auto r = Probe({"syscalls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* call : {"keyctl", "add_key", "mount", "bpf", "perf_event_open",
                           "open_by_handle_at", "pivot_root", "sethostname", "unshare_ns",
                           "unshare_user"})
    EXPECT_NE(r.out.find(std::string(call) + "=EPERM"), std::string::npos) << call << ": " << r.out;
  EXPECT_NE(r.out.find("clone3=ENOSYS"), std::string::npos) << r.out;
}

// A copy of the rootfs where `entry` (relative) is replaced by a symlink to `target`.
std::string RootfsWithSymlink(const std::string& name, const std::string& entry,
                              const std::string& target) {
  std::string root = harness::MakeRootfs(name);
  testutil::Run({"rm", "-rf", root + "/" + entry});
  EXPECT_EQ(symlink(target.c_str(), (root + "/" + entry).c_str()), 0) << entry;
  return root;
}

void ExpectRefusedCleanly(const std::string& root, const std::string& what) {
  harness::Snapshot before = harness::TakeSnapshot();
  auto r = Cli({"run", "--rm", "--net", "none", "--rootfs", root, "true"});
  EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
  auto lines = harness::NonEmptyLines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find(what), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("symlink"), std::string::npos) << lines[0];
  EXPECT_EQ(harness::Diff(before, harness::TakeSnapshot()), std::vector<std::string>{});
}

TEST_F(EscapeTest, RootfsWithProcSymlinkRefused) {
  // CVE-2019-16884: /proc in the image is a symlink; procfs would land elsewhere.
  ExpectRefusedCleanly(RootfsWithSymlink("procsym", "proc", "/"), "proc");
}

TEST_F(EscapeTest, RootfsWithSysSymlinkRefused) {
  // CVE-2021-30465 class: a mount destination through a symlink to /.
  ExpectRefusedCleanly(RootfsWithSymlink("syssym", "sys", "/"), "sys");
}

TEST_F(EscapeTest, RootfsWithDevSymlinkRefused) {
  ExpectRefusedCleanly(RootfsWithSymlink("devsym", "dev", "/"), "dev");
}

TEST_F(EscapeTest, RootfsDevNullSymlinkIsHiddenByTheRuntimesDev) {
  // CVE-2025-31133: the image's /dev/null is a symlink to a procfs file. The
  // runtime's own tmpfs /dev hides it; masking uses the real null device.
  std::string root = harness::MakeRootfs("nullsym");
  mkdir((root + "/dev").c_str(), 0755);
  unlink((root + "/dev/null").c_str());
  ASSERT_EQ(symlink("/proc/sys/kernel/core_pattern", (root + "/dev/null").c_str()), 0);
  auto r = Cli({"run", "--rm", "--net", "none", "--rootfs", root, "probe", "masked"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("/proc/keys=devnull"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/proc/sys/kernel/core_pattern=w:EROFS"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace nslab
