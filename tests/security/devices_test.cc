// devices_test — a device node made with mknod(2) must not open: on a nodev mount
// (mount::MakeNodevInChild), in a cgroup v1 devices cgroup (devices::ApplyV1) and in
// a cgroup2 cgroup with the BPF program attached (devices::BuildProgram,
// LoadProgram, AttachProgram). Each case first shows that the node opens without the
// protection (the test can fail), then that it does not with it, while an allowed
// node (null, 1:3) still opens. Cgroups are made beneath our own, named with the pid.
#include "common/devices.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "common/error.h"
#include "common/mount.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

// Forks; the child runs fn and exits with what it returns.
template <typename Fn>
int InChild(Fn fn) {
  pid_t pid = fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    _exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// errno of open(path, O_RDONLY), 0 when it opened.
int OpenErrno(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

// The nodes of the tests: kmsg (1:11, readable and harmless to open) is on no
// allowlist; null (1:3) is on every one.
struct Nodes {
  std::string dir, kmsg, null;
};
Nodes MakeNodes(const std::string& dir) {
  Nodes n{dir, dir + "/kmsg", dir + "/null"};
  mkdir(dir.c_str(), 0755);
  EXPECT_EQ(mknod(n.kmsg.c_str(), S_IFCHR | 0600, makedev(1, 11)), 0) << strerror(errno);
  EXPECT_EQ(mknod(n.null.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << strerror(errno);
  return n;
}

TEST(DevicesTest, RulesFormatAsDevicesAllowLines) {
  EXPECT_EQ(devices::Format({'c', 1, 3, "rwm"}), "c 1:3 rwm");
  EXPECT_EQ(devices::Format({'b', -1, -1, "m"}), "b *:* m");
  EXPECT_EQ(devices::Format({'c', 136, -1, "rwm"}), "c 136:* rwm");
  EXPECT_THROW(devices::Format({'x', 1, 1, "rwm"}), UsageError);
  EXPECT_THROW(devices::Format({'c', 1, 1, "rwz"}), UsageError);
}

TEST(DevicesTest, ProgramHasOneBlockPerRuleAndDeniesByDefault) {
  std::vector<bpf_insn> p = devices::BuildProgram(devices::DefaultAllowList());
  ASSERT_GE(p.size(), 8u);
  // Ends with r0 = 0; exit: what no rule allows is denied.
  EXPECT_EQ(p[p.size() - 2].code, BPF_ALU64 | BPF_MOV | BPF_K);
  EXPECT_EQ(p[p.size() - 2].imm, 0);
  EXPECT_EQ(p.back().code, BPF_JMP | BPF_EXIT);
  // One "r0 = 1; exit" per rule.
  size_t allows = 0;
  for (size_t i = 0; i + 1 < p.size(); ++i)
    if (p[i].code == (BPF_ALU64 | BPF_MOV | BPF_K) && p[i].imm == 1 &&
        p[i + 1].code == (BPF_JMP | BPF_EXIT))
      ++allows;
  EXPECT_EQ(allows, devices::DefaultAllowList().size());
  // Every jump lands inside the program.
  for (size_t i = 0; i < p.size(); ++i) {
    if (BPF_CLASS(p[i].code) == BPF_JMP && BPF_OP(p[i].code) == BPF_JNE) {
      EXPECT_LT(i + 1 + static_cast<size_t>(p[i].off), p.size()) << i;
    }
  }
}

TEST(DevicesTest, NodevMountRefusesAMknodNode) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string dir = testutil::TmpDir() + "/nodev-" + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);
  int code = InChild([&] {
    Check(unshare(CLONE_NEWNS), "unshare", "CLONE_NEWNS");
    mount::MakePrivateInChild();
    // A tmpfs without nodev, as the container's /dev was: the node opens.
    mount::Mount("tmpfs", dir, "tmpfs", 0, "mode=755");
    Nodes n = MakeNodes(dir + "/d");
    if (OpenErrno(n.kmsg) != 0) return 10;  // the protection's absence must show
    mount::MakeNodevInChild(dir);
    if (OpenErrno(n.kmsg) != EACCES) return 11;
    if (OpenErrno(n.null) != EACCES) return 12;  // nodev refuses every node on it
    return 0;
  });
  EXPECT_EQ(code, 0);
  rmdir(dir.c_str());
}

// Our own cgroup directory in a hierarchy: the v1 controller's ("devices"), or the
// cgroup2 one (""). Empty when there is none.
std::string OwnCgroupDir(const std::string& controller) {
  std::istringstream cg(testutil::ReadText("/proc/self/cgroup"));
  std::string line, path;
  bool found = false;
  while (std::getline(cg, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    std::string ctrls = line.substr(a + 1, b - a - 1);
    if ((controller.empty() && line.compare(0, 3, "0::") == 0) ||
        (!controller.empty() && ("," + ctrls + ",").find("," + controller + ",") !=
                                    std::string::npos)) {
      path = line.substr(b + 1);
      found = true;
    }
  }
  if (!found) return "";
  for (const auto& m : mount::ReadMountInfo()) {
    if (controller.empty() ? m.fstype == "cgroup2"
                           : (m.fstype == "cgroup" &&
                              ("," + m.super_options + ",").find("," + controller + ",") !=
                                  std::string::npos))
      return m.mount_point + (path == "/" ? "" : path);
  }
  return "";
}

// In a fresh cgroup beneath ours, protected by `protect`: a child there opens null,
// may mknod, and opens neither kmsg nor the node it made.
void ExpectCgroupProtects(const std::string& parent, const std::function<void(const std::string&)>& protect) {
  const std::string cg = parent + "/nslab-security-devices-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(cg.c_str(), 0755), 0) << cg << ": " << strerror(errno);
  const std::string dir = testutil::TmpDir() + "/devcg-" + std::to_string(getpid());
  Nodes n = MakeNodes(dir);
  ASSERT_EQ(OpenErrno(n.kmsg), 0) << "the node must open without the cgroup";
  try {
    protect(cg);
  } catch (const std::exception& e) {
    rmdir(cg.c_str());
    FAIL() << e.what();
  }
  int code = InChild([&] {
    std::ofstream(cg + "/cgroup.procs") << getpid() << std::flush;
    if (OpenErrno(n.null) != 0) return 20;
    if (OpenErrno(n.kmsg) != EPERM) return 21;
    if (mknod((dir + "/made").c_str(), S_IFCHR | 0600, makedev(1, 1)) != 0) return 22;  // "m" allowed
    if (OpenErrno(dir + "/made") != EPERM) return 23;
    return 0;
  });
  EXPECT_EQ(code, 0) << "20 null refused, 21 kmsg opened, 22 mknod refused, 23 mem opened";
  testutil::Run({"rm", "-rf", dir});
  EXPECT_EQ(rmdir(cg.c_str()), 0) << strerror(errno);
}

TEST(DevicesTest, CgroupV1DevicesListRefusesAMknodNode) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string parent = OwnCgroupDir("devices");
  if (parent.empty()) GTEST_SKIP() << "no cgroup v1 devices hierarchy on this host";
  ExpectCgroupProtects(parent, [](const std::string& cg) {
    devices::ApplyV1(cg, devices::DefaultAllowList());
  });
}

TEST(DevicesTest, CgroupV2BpfProgramRefusesAMknodNode) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string parent = OwnCgroupDir("");
  if (parent.empty()) GTEST_SKIP() << "no cgroup2 hierarchy on this host";
  ExpectCgroupProtects(parent, [](const std::string& cg) {
    UniqueFd prog = devices::LoadProgram(devices::BuildProgram(devices::DefaultAllowList()));
    devices::AttachProgram(cg, prog.Get());
  });
}

}  // namespace
}  // namespace nslab
