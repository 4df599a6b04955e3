// faults_test — 11_container under faults: the CLI interrupted (SIGINT, SIGTERM,
// SIGKILL) at several moments of `run`, the shim killed, the container's init
// crashing, the state directory's disk full, and many containers started and removed
// in a loop and at once. Afterwards `ps` must tell the truth (a container is
// "running" exactly when its init is alive) and `rm -f` must leave the host as it was:
// no mount, link, cgroup, state entry, shim or zombie more than before.
// Exclusive: the host snapshot compares the whole link and cgroup lists.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;
using harness::Container;
using harness::RunDetached;
using testutil::ProcessAlive;
using testutil::ReadText;
using testutil::StartLogged;
using testutil::WaitExit;

// Is any process still running the lab binary with `needle` in its arguments? (The
// CLI's forks — before one becomes the shim — share its command line.)
bool CliForksRemain(const std::string& needle) {
  DIR* proc = opendir("/proc");
  if (!proc) return false;
  bool found = false;
  while (dirent* e = readdir(proc)) {
    const std::string dir = e->d_name;
    if (dir.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = ReadText("/proc/" + dir + "/cmdline");
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find("11_container") != std::string::npos && cmd.find(needle) != std::string::npos &&
        ProcessAlive(std::atoi(dir.c_str())))
      found = true;
  }
  closedir(proc);
  return found;
}

// The `ps` row of a container by name: {status word, detail} or {"", ""} if absent.
std::string PsStatus(const std::string& name) {
  auto r = Cli({"ps"});
  for (const auto& line : testutil::Lines(r.out)) {
    std::istringstream f(line);
    std::string id, n, pid, status;
    f >> id >> n >> pid >> status;
    if (n == name) return status;
  }
  return "";
}

// The id of a container by name, from `ps` ("" if absent).
std::string IdOf(const std::string& name) {
  auto r = Cli({"ps"});
  for (const auto& line : testutil::Lines(r.out)) {
    std::istringstream f(line);
    std::string id, n;
    f >> id >> n;
    if (n == name) return id;
  }
  return "";
}

class FaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testutil::IsRoot()) return;
    harness::Init();
    root_ = new std::string(harness::MakeRootfs("faults"));
    // Warm-up: the first bridged container creates the bridge nslab0, which stays
    // (as docker0 does); the baseline is taken after it.
    Container c = RunDetached({"--net", "bridge", "--rootfs", *root_, "true"});
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
    baseline_ = harness::TakeSnapshot();
  }
  void TearDown() override {
    if (!testutil::IsRoot()) return;
    // Containers a failed assertion left: removed before the comparison.
    for (const auto& n : names_)
      if (!IdOf(n).empty()) Cli({"rm", "-f", n});
    // Whatever happened, the host must be back where it was.
    EXPECT_EQ(harness::Diff(baseline_, harness::TakeSnapshot()), std::vector<std::string>{});
  }

  // `ps` tells the truth about `name`: "running" exactly when its init is alive.
  void ExpectPsTruthful(const std::string& name) {
    const std::string id = IdOf(name);
    if (id.empty()) return;  // never created: nothing to be truthful about
    const std::string status = PsStatus(name);
    pid_t init = static_cast<pid_t>(std::atoi(harness::Fact(harness::ReadState(id), "pid").c_str()));
    EXPECT_EQ(status == "running", ProcessAlive(init))
        << name << ": ps says " << status << ", init " << init
        << (ProcessAlive(init) ? " alive" : " gone");
  }

  // rm -f by name when it exists; afterwards nothing of it remains.
  void RemoveAndExpectClean(const std::string& name) {
    const std::string id = IdOf(name);
    if (id.empty()) return;
    harness::Footprint fp = harness::FootprintOf(id);
    auto r = Cli({"rm", "-f", name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(harness::Leftovers(fp), std::vector<std::string>{});
    EXPECT_EQ(IdOf(name), "");
  }

  // A unique name, remembered for TearDown's cleanup.
  std::string NewName(const std::string& prefix) {
    names_.push_back(testutil::UniqueName(prefix));
    return names_.back();
  }

  static std::string* root_;
  harness::Snapshot baseline_;
  std::vector<std::string> names_;
};
std::string* FaultsTest::root_ = nullptr;

struct Interrupt {
  int sig;
  int delay_us;  // after starting the CLI; -1 = once the container runs
};

TEST_F(FaultsTest, CliInterruptedDuringRun) {
  const std::vector<Interrupt> cases = {
      {SIGINT, 0},     {SIGINT, 3000},   {SIGINT, 20000},   {SIGINT, -1},
      {SIGTERM, 0},    {SIGTERM, 3000},  {SIGTERM, 20000},  {SIGTERM, -1},
      {SIGKILL, 0},    {SIGKILL, 3000},  {SIGKILL, 20000},  {SIGKILL, -1},
  };
  for (const Interrupt& c : cases) {
    SCOPED_TRACE(std::string(strsignal(c.sig)) + " after " +
                 (c.delay_us < 0 ? "start" : std::to_string(c.delay_us) + "us"));
    const std::string name = NewName("int");
    const std::string log = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                                                  : "/tmp") + "/" + name + ".log";
    pid_t cli = StartLogged({harness::LabBinary(), "run", "--name", name, "--net", "none",
                             "--rootfs", *root_, "sleep", "1000"},
                            log);
    if (c.delay_us > 0) usleep(c.delay_us);
    if (c.delay_us < 0) {
      EXPECT_TRUE(harness::WaitFor([&] { return PsStatus(name) == "running"; }));
    }
    kill(cli, c.sig);
    const int code = WaitExit(cli);
    // Interrupted: 128+signal, or the container's status when the signal was passed on.
    EXPECT_NE(code, 0) << name;
    // The CLI's forks finish what they started (or fail) on their own; wait for them.
    EXPECT_TRUE(harness::WaitFor([&] { return !CliForksRemain(name); }));
    ExpectPsTruthful(name);
    RemoveAndExpectClean(name);
  }
}

TEST_F(FaultsTest, ShimKilled) {
  for (int sig : {SIGKILL, SIGTERM}) {
    SCOPED_TRACE(strsignal(sig));
    const std::string name = NewName("shim");
    Container c = RunDetached({"--name", name, "--rootfs", *root_, "sleep", "1000"});
    ASSERT_TRUE(c.ok());
    pid_t shim = static_cast<pid_t>(
        std::atoi(harness::Fact(harness::ReadState(c.id()), "shim_pid").c_str()));
    ASSERT_GT(shim, 0);
    ASSERT_EQ(kill(shim, sig), 0);
    EXPECT_TRUE(harness::WaitFor([&] { return !ProcessAlive(shim); }));
    ExpectPsTruthful(name);
    RemoveAndExpectClean(name);
    c = Container();  // already removed
  }
}

TEST_F(FaultsTest, InitCrashesDetached) {
  const std::string name = NewName("segv");
  // (Not `sh -c 'kill -SEGV $$'`: as PID 1 of its namespace, sh ignores signals it
  // has no handler for — the container would exit 0.)
  Container c = RunDetached({"--name", name, "--rootfs", *root_, "probe", "crash"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(harness::WaitFor([&] { return PsStatus(name) == "exited"; }));
  ExpectPsTruthful(name);
  EXPECT_EQ(harness::Fact(harness::ReadState(c.id()), "exit_code"), "139");
  // A stopped container is removed without -f.
  harness::Footprint fp = harness::FootprintOf(c.id());
  auto r = Cli({"rm", name});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(harness::Leftovers(fp), std::vector<std::string>{});
  c = Container();
}

TEST_F(FaultsTest, InitCrashesAttached) {
  auto r = Cli({"run", "--rm", "--net", "none", "--rootfs", *root_, "probe", "crash"});
  EXPECT_EQ(r.exit_code, 139) << r.err;
}

TEST_F(FaultsTest, StateDiskFull) {
  // The state directory on a full tmpfs: the first record cannot be written.
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/full-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0711), 0);
  ASSERT_EQ(mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,nr_inodes=64"), 0);
  testutil::Run({"dd", "if=/dev/zero", "of=" + dir + "/fill", "bs=4k"});
  const std::string saved = harness::StateDir();
  setenv("NSLAB_STATE_DIR", dir.c_str(), 1);
  auto r = Cli({"run", "--net", "bridge", "--rootfs", *root_, "true"});
  auto ps = Cli({"ps"});
  setenv("NSLAB_STATE_DIR", saved.c_str(), 1);
  std::vector<std::string> entries =
      testutil::Lines(testutil::Run({"ls", "-A", dir}).out);
  umount2(dir.c_str(), MNT_DETACH);
  rmdir(dir.c_str());
  EXPECT_EQ(r.exit_code, 125) << r.err;
  auto lines = harness::NonEmptyLines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("No space left on device"), std::string::npos) << lines[0];
  EXPECT_EQ(entries, std::vector<std::string>{"fill"});
  EXPECT_EQ(harness::NonEmptyLines(ps.out).size(), 1u) << ps.out;  // the header only
}

TEST_F(FaultsTest, FiftyStartedAndRemovedInALoop) {
  for (int i = 0; i < 50; ++i) {
    // Every fifth on the bridge: a veth, an address, a cgroup each time.
    std::vector<std::string> args = {"--net", i % 5 == 0 ? "bridge" : "none", "--rootfs",
                                     *root_, "sleep", "1000"};
    Container c = RunDetached(args);
    ASSERT_TRUE(c.ok()) << "container " << i;
    harness::Footprint fp = harness::FootprintOf(c.id());
    auto r = c.Remove();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(harness::Leftovers(fp), std::vector<std::string>{}) << "container " << i;
  }
}

TEST_F(FaultsTest, TenAtOnce) {
  std::vector<testutil::Background> runs;
  for (int i = 0; i < 10; ++i)
    runs.push_back(testutil::Start({harness::LabBinary(), "run", "-d", "--net", "bridge",
                                    "--rootfs", *root_, "sleep", "1000"}));
  std::vector<std::string> ids;
  for (auto& b : runs) {
    testutil::RunResult r = b.Finish();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string id = r.out.substr(0, r.out.find('\n'));
    if (!id.empty()) ids.push_back(id);
  }
  EXPECT_EQ(ids.size(), 10u);
  std::set<std::string> unique_ids(ids.begin(), ids.end());
  std::set<std::string> addresses;
  std::vector<harness::Footprint> fps;
  for (const auto& id : ids) {
    harness::Facts f = harness::ReadState(id);
    addresses.insert(harness::Fact(f, "address"));
    fps.push_back(harness::FootprintOf(id));
    EXPECT_TRUE(ProcessAlive(static_cast<pid_t>(std::atoi(harness::Fact(f, "pid").c_str())))) << id;
  }
  EXPECT_EQ(unique_ids.size(), ids.size());
  EXPECT_EQ(addresses.size(), ids.size()) << "two containers share an address";
  // And removed at once.
  std::vector<testutil::Background> rms;
  for (const auto& id : ids) rms.push_back(testutil::Start({harness::LabBinary(), "rm", "-f", id}));
  for (auto& b : rms) {
    testutil::RunResult r = b.Finish();
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  for (const auto& fp : fps) EXPECT_EQ(harness::Leftovers(fp), std::vector<std::string>{}) << fp.id;
}

}  // namespace
}  // namespace nslab
