// Tests for common/doctor: each check against fake /proc and /sys trees
// (tests/data/doctor/, written by make_trees.sh) for host layouts this machine
// cannot show, and 00_doctor end to end.
#include "common/doctor.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/ns.h"
#include "tests/testutil.h"

namespace nslab::doctor {
namespace {

namespace fs = std::filesystem;

// A private, writable copy of a fake tree (runfiles are symlinks, possibly on a
// read-only mount; the cgroup checks ask whether directories are writable).
std::string CopyTree(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  fs::path dst = fs::path(tmp ? tmp : "/tmp") / ("doctor_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dst);
  fs::copy(testutil::Runfile("tests/data/doctor/" + name), dst, fs::copy_options::recursive);
  return dst.string();
}

// A host made of a fake tree, as root, with every library and the image present.
Host FakeHost(const std::string& name, uid_t euid = 0) {
  std::string root = CopyTree(name);
  Host h;
  h.proc = root + "/proc";
  h.sys = root + "/sys";
  h.modules = root + "/lib/modules";
  h.run = root + "/run";  // only systemd_v2 has run/systemd/system
  h.euid = euid;
  h.has_library = [](const std::string&) { return true; };
  static const std::string tar = std::string(257, '\0') + "ustar" + std::string(250, '\0');
  h.busybox_image = [] { return std::string_view(tar); };  // a tar header stands in
  return h;
}

const Finding& Find(const std::vector<Finding>& all, const std::string& check) {
  auto it = std::find_if(all.begin(), all.end(),
                         [&](const Finding& f) { return f.check == check; });
  if (it == all.end()) {
    static Finding none{"<missing>", Verdict::kOk, "", "", {}};
    ADD_FAILURE() << "no finding named " << check;
    return none;
  }
  return *it;
}

std::vector<int> Blocked(const std::vector<Finding>& all) {
  std::vector<int> labs;
  for (const auto& [lab, checks] : BlockedLabs(all)) labs.push_back(lab);
  return labs;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(DoctorTest, DetectsEachCgroupLayout) {
  EXPECT_EQ(DetectCgroupLayout(FakeHost("v2")), CgroupLayout::kV2);
  EXPECT_EQ(DetectCgroupLayout(FakeHost("v1")), CgroupLayout::kV1);
  EXPECT_EQ(DetectCgroupLayout(FakeHost("hybrid")), CgroupLayout::kHybrid);
  EXPECT_EQ(DetectCgroupLayout(FakeHost("no_cgroup")), CgroupLayout::kNone);
}

TEST(DoctorTest, PureV2HostWithDelegationRunsEveryLab) {
  auto all = RunAll(FakeHost("v2"));
  EXPECT_EQ(Blocked(all), std::vector<int>{});
  const Finding& mem = Find(all, "cgroup memory");
  EXPECT_EQ(mem.verdict, Verdict::kOk);
  EXPECT_TRUE(Has(mem.detail, "v2")) << mem.detail;
  EXPECT_TRUE(Has(mem.detail, "delegated")) << mem.detail;
  EXPECT_EQ(Find(all, "kernel").detail, "6.1.0-13-amd64");
}

TEST(DoctorTest, SharedRootIsAWarningThatNamesPivotRootEinval) {
  Finding f = CheckRootPropagation(FakeHost("v2"));
  EXPECT_EQ(f.verdict, Verdict::kWarn);
  EXPECT_TRUE(Has(f.detail, "shared:1")) << f.detail;
  EXPECT_TRUE(Has(f.detail, "EINVAL")) << f.detail;
  EXPECT_TRUE(Has(f.fix, "make-rprivate")) << f.fix;
  EXPECT_TRUE(f.labs.empty());  // the labs make / private themselves
  EXPECT_EQ(CheckRootPropagation(FakeHost("v1")).verdict, Verdict::kOk);
  EXPECT_EQ(CheckRootPropagation(FakeHost("v1")).detail, "private");
}

TEST(DoctorTest, PureV1FindsCoMountedCpuController) {
  auto all = CheckCgroups(FakeHost("v1"));
  for (const char* c : {"cgroup memory", "cgroup pids", "cgroup cpu"}) {
    EXPECT_EQ(Find(all, c).verdict, Verdict::kOk) << c << ": " << Find(all, c).detail;
    EXPECT_TRUE(Has(Find(all, c).detail, "v1")) << Find(all, c).detail;
  }
  EXPECT_TRUE(Has(Find(all, "cgroup cpu").detail, "/sys/fs/cgroup/cpu,cpuacct"));
  EXPECT_TRUE(Has(Find(all, "cgroup memory").detail, "/sys/fs/cgroup/memory/user.slice"));
}

TEST(DoctorTest, HybridUsesV1WhenTheUnifiedHierarchyLacksTheController) {
  auto all = CheckCgroups(FakeHost("hybrid"));
  EXPECT_TRUE(Has(Find(all, "cgroup layout").detail, "hybrid"));
  EXPECT_TRUE(Has(Find(all, "cgroup memory").detail, "v1, /sys/fs/cgroup/memory/lab"))
      << Find(all, "cgroup memory").detail;
  EXPECT_EQ(Blocked(all), std::vector<int>{});
}

TEST(DoctorTest, NoCgroupMountBlocksLab10Only) {
  auto all = RunAll(FakeHost("no_cgroup"));
  EXPECT_EQ(Find(all, "cgroup layout").verdict, Verdict::kFail);
  EXPECT_EQ(Blocked(all), std::vector<int>{10});
}

TEST(DoctorTest, MaxUserNamespacesZeroBlocksUserLabsEvenForRoot) {
  auto all = RunAll(FakeHost("userns_off", 0));
  const Finding& user = Find(all, "namespace user");
  EXPECT_EQ(user.verdict, Verdict::kFail);
  EXPECT_TRUE(Has(user.fix, "user.max_user_namespaces")) << user.fix;
  EXPECT_EQ(Blocked(all), (std::vector<int>{9, 10}));  // 11 needs it only with --user
  // The sysctls that only restrict unprivileged users are warnings for root.
  EXPECT_EQ(Find(all, "unprivileged userns").verdict, Verdict::kWarn);
  EXPECT_EQ(Find(all, "apparmor userns").verdict, Verdict::kWarn);
}

TEST(DoctorTest, UnprivilegedUserMeetsSysctlAndAppArmorRestrictions) {
  auto all = CheckUserNamespaces(FakeHost("userns_off", 1000));
  const Finding& clone = Find(all, "unprivileged userns");
  EXPECT_EQ(clone.verdict, Verdict::kFail);
  EXPECT_EQ(clone.labs, (std::vector<int>{9, 10}));
  EXPECT_TRUE(Has(clone.fix, "kernel.unprivileged_userns_clone=1")) << clone.fix;
  const Finding& aa = Find(all, "apparmor userns");
  EXPECT_EQ(aa.verdict, Verdict::kFail);
  EXPECT_TRUE(Has(aa.fix, "apparmor_restrict_unprivileged_userns=0")) << aa.fix;
  // Without either sysctl nothing restricts them.
  auto v1 = CheckUserNamespaces(FakeHost("v1", 1000));
  ASSERT_EQ(v1.size(), 1u);
  EXPECT_EQ(v1[0].verdict, Verdict::kOk);
}

TEST(DoctorTest, NotRootBlocksTheLabsThatNeedRoot) {
  Finding f = CheckRoot(FakeHost("v2", 1000));
  EXPECT_EQ(f.verdict, Verdict::kFail);
  EXPECT_EQ(f.labs, (std::vector<int>{4, 5, 6, 7, 8, 11}));  // 09 and 10 run rootless
  EXPECT_EQ(CheckRoot(FakeHost("v2", 0)).verdict, Verdict::kOk);
}

TEST(DoctorTest, OldKernelLacksTimeNamespaceOverlayAndPids) {
  auto all = RunAll(FakeHost("old_kernel"));
  EXPECT_EQ(Find(all, "kernel").verdict, Verdict::kWarn);
  EXPECT_EQ(Find(all, "namespace time").verdict, Verdict::kWarn);  // no lab needs it
  EXPECT_EQ(Find(all, "namespace uts").verdict, Verdict::kOk);
  EXPECT_EQ(Find(all, "overlayfs").verdict, Verdict::kFail);
  EXPECT_EQ(Find(all, "cgroup pids").verdict, Verdict::kFail);
  // memory is there but the cgroup holds processes: enabling it for children
  // would fail with EBUSY. Root uses a cgroup at the top instead; a user cannot.
  const Finding& mem = Find(all, "cgroup memory");
  EXPECT_EQ(mem.verdict, Verdict::kOk) << mem.detail;
  EXPECT_TRUE(Has(mem.detail, "EBUSY")) << mem.detail;
  EXPECT_TRUE(Has(mem.detail, "a cgroup at the top, /sys/fs/cgroup/nslab/")) << mem.detail;
  EXPECT_EQ(Blocked(all), (std::vector<int>{10, 11}));
  const auto as_user = CheckCgroups(FakeHost("old_kernel", 1000));
  const Finding& user_mem = Find(as_user, "cgroup memory");
  EXPECT_EQ(user_mem.verdict, Verdict::kWarn);
  EXPECT_TRUE(Has(user_mem.detail, "EBUSY")) << user_mem.detail;
}

// Issue 12: a student's Debian 12 — systemd, pure v2, a root shell in a getty's
// populated service cgroup, cpu offered by the kernel but not enabled below. The
// labs ask systemd for a scope: the doctor says so, and fails nothing for it.
TEST(DoctorTest, SystemdV2HostUsesTheSystemdManagerAndFailsNothing) {
  auto all = CheckCgroups(FakeHost("systemd_v2"));
  const Finding& m = Find(all, "cgroup manager");
  EXPECT_EQ(m.verdict, Verdict::kOk) << m.detail;
  EXPECT_TRUE(Has(m.detail, "systemd (a transient scope nslab-doctor.scope in nslab.slice, "
                            "system bus)"))
      << m.detail;
  EXPECT_TRUE(Has(m.detail, "systemd is PID 1")) << m.detail;
  for (const char* c : {"cgroup memory", "cgroup pids", "cgroup cpu"}) {
    EXPECT_EQ(Find(all, c).verdict, Verdict::kOk) << c << ": " << Find(all, c).detail;
    EXPECT_TRUE(Has(Find(all, c).detail, "systemd enables it")) << Find(all, c).detail;
  }
  EXPECT_EQ(Blocked(RunAll(FakeHost("systemd_v2"))), std::vector<int>{});
  // A user asks their own systemd instance, on the user bus.
  const auto as_user = CheckCgroups(FakeHost("systemd_v2", 1000));
  const Finding& user = Find(as_user, "cgroup manager");
  EXPECT_TRUE(Has(user.detail, "user bus")) << user.detail;
}

// Without systemd the labs make their own cgroups: the doctor names cgroupfs and why.
TEST(DoctorTest, WithoutSystemdTheManagerIsCgroupfs) {
  for (const char* tree : {"v2", "v1", "hybrid"}) {
    const auto all = CheckCgroups(FakeHost(tree));
    const Finding& m = Find(all, "cgroup manager");
    EXPECT_EQ(m.verdict, Verdict::kOk) << tree << ": " << m.detail;
    EXPECT_TRUE(Has(m.detail, "cgroupfs: no systemd here")) << tree << ": " << m.detail;
  }
}

// The same Debian 12 host without systemd's help (--cgroup-manager cgroupfs, or no
// systemd): as root, cpu is enabled on the way down, the populated cgroup is left
// for one at the top — no fail either.
TEST(DoctorTest, PopulatedV2CgroupAsRootIsHandledByTheTopLevelCgroup) {
  Host h = FakeHost("systemd_v2");
  fs::remove_all(h.run + "/systemd");
  auto all = CheckCgroups(h);
  EXPECT_TRUE(Has(Find(all, "cgroup manager").detail, "cgroupfs")) << Find(all, "cgroup manager").detail;
  for (const char* c : {"cgroup memory", "cgroup pids", "cgroup cpu"}) {
    EXPECT_EQ(Find(all, c).verdict, Verdict::kOk) << c << ": " << Find(all, c).detail;
    EXPECT_TRUE(Has(Find(all, c).detail, "/sys/fs/cgroup/nslab/")) << Find(all, c).detail;
  }
  EXPECT_TRUE(Has(Find(all, "cgroup cpu").detail, "enable it on the way down"))
      << Find(all, "cgroup cpu").detail;
}

TEST(DoctorTest, OverlayModuleOnDiskIsOnlyAWarning) {
  Host h = FakeHost("old_kernel");
  fs::create_directories(h.modules + "/5.4.0-150-generic/kernel/fs/overlayfs");
  Finding f = CheckOverlay(h);
  EXPECT_EQ(f.verdict, Verdict::kWarn);
  EXPECT_TRUE(Has(f.fix, "modprobe overlay"));
}

TEST(DoctorTest, MissingNamespaceKindBlocksItsLabAndLaterOnes) {
  Host h = FakeHost("v2");
  fs::remove(h.proc + "/self/ns/ipc");
  auto all = CheckNamespaces(h);
  const Finding& ipc = Find(all, "namespace ipc");
  EXPECT_EQ(ipc.verdict, Verdict::kFail);
  EXPECT_EQ(ipc.labs, (std::vector<int>{7, 8, 9, 10, 11}));
  EXPECT_TRUE(Has(ipc.fix, "CONFIG_IPC_NS")) << ipc.fix;
}

TEST(DoctorTest, MissingLibrariesAndImageNameTheirLabs) {
  Host h = FakeHost("v2");
  h.has_library = [](const std::string& so) { return so != "libseccomp.so.2"; };
  h.busybox_image = [] { return std::string_view(); };
  auto all = RunAll(h);
  EXPECT_EQ(Find(all, "libseccomp").verdict, Verdict::kFail);
  EXPECT_TRUE(Has(Find(all, "libseccomp").fix, "libseccomp2"));
  EXPECT_EQ(Find(all, "busybox image").verdict, Verdict::kFail);
  EXPECT_EQ(Blocked(all), (std::vector<int>{6, 7, 8, 9, 10, 11}));
  std::string table = Render(all);
  EXPECT_TRUE(Has(table, "labs that cannot run here:")) << table;
  EXPECT_TRUE(Has(table, "  11_container: busybox image, libseccomp")) << table;
}

TEST(DoctorTest, ReadsTheNamespacesOfThisProcessOnTheRealHost) {
  Host h;  // the real /proc of this machine
  auto all = CheckNamespaces(h);
  ns::Identity self = ns::Read(getpid());
  const Finding& uts = Find(all, "namespace uts");
  EXPECT_TRUE(Has(uts.detail, "uts:[" + std::to_string(self["uts"]) + "]")) << uts.detail;
  EXPECT_FALSE(CheckKernel(h).at(0).detail.empty());
  // /proc/self/status of any Linux since 3.8 has a Seccomp: line.
  EXPECT_EQ(CheckSeccomp(h).verdict, Verdict::kOk);
}

TEST(DoctorTest, RealLibraryLookupFindsLibcAndRejectsNonsense) {
  Host h;
  EXPECT_TRUE(h.has_library("libc.so.6"));
  EXPECT_FALSE(h.has_library("libnslab-does-not-exist.so.7"));
}

// 00_doctor end to end: the table, the exit status, --lab, and `--` ignored.
TEST(DoctorLabTest, ExitStatusNamesTheLabsThatCannotRun) {
  std::string root = CopyTree("no_cgroup");
  std::vector<std::string> args = {"--proc", root + "/proc", "--sys", root + "/sys"};
  auto r = testutil::RunLab("00_doctor", args);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(Has(r.out, "cgroup layout")) << r.out;
  EXPECT_TRUE(Has(r.out, "10_cgroup: cgroup layout")) << r.out;

  auto only9 = args;
  only9.insert(only9.end(), {"--lab", "9"});
  auto r9 = testutil::RunLab("00_doctor", only9);
  EXPECT_EQ(r9.exit_code, 0);
  EXPECT_TRUE(Has(r9.out, "\n09_user can run here\n")) << r9.out;
  auto only10 = args;
  only10.insert(only10.end(), {"--lab", "10"});
  auto r10 = testutil::RunLab("00_doctor", only10);
  EXPECT_EQ(r10.exit_code, 1);
  EXPECT_TRUE(Has(r10.out, "\n10_cgroup cannot run here: cgroup layout")) << r10.out;

  auto cmd = only9;
  cmd.insert(cmd.end(), {"--", "false"});
  auto c = testutil::RunLab("00_doctor", cmd);
  EXPECT_EQ(c.exit_code, 0) << c.err;  // `false` was not run
  EXPECT_TRUE(Has(c.err, "ignoring the command")) << c.err;
}

// The image is inside the binary, as in the labs: a copy far from bazel-bin (no
// runfiles beside it) still finds it; the check once looked for images/busybox.tar.
TEST(DoctorLabTest, ACopiedBinaryFindsTheBuiltInImage) {
  const std::string dir = testutil::MakeTempDir("doctor_copy");
  const std::string copy = dir + "/00_doctor";
  fs::copy_file(testutil::LabPath("00_doctor"), copy);
  auto r = testutil::Run({copy, "--lab", "6"});
  bool ok_row = false;
  for (const std::string& l : testutil::Lines(r.out))
    if (l.find("busybox image") != std::string::npos)
      ok_row = l.find(" ok ") != std::string::npos && l.find("built into") != std::string::npos;
  EXPECT_TRUE(ok_row) << r.out << r.err;
  EXPECT_FALSE(Has(r.out, "busybox image fail")) << r.out;
  EXPECT_TRUE(Has(r.out, "06_mount can")) << r.out;  // a verdict for the lab asked about
}

TEST(DoctorLabTest, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("00_doctor", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--proc", "--sys", "--lab", "--verbose", "not run"})
    EXPECT_TRUE(Has(r.out, flag)) << flag << " missing from:\n" << r.out;
}

}  // namespace
}  // namespace nslab::doctor
