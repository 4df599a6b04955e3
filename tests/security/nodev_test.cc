// nodev_test — issue 13's device attack: root in the container holds CAP_MKNOD (one of
// Docker's 14), makes `c 1 11` (the host's kernel log) wherever it can write, and
// opens it. Every place must refuse the open: /dev, the root (overlay of an image,
// or a --rootfs bind), /tmp, /dev/shm — default and --privileged. Checked from
// outside too: every writable mount in /proc/<init>/mountinfo is nodev, except the
// bind mounts of the allowed nodes themselves (which still work) and devpts.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;

// Each place: mknod, then try to read one byte. Prints "PLACE:made:opened".
constexpr char kAttack[] =
    "for p in /dev/k /k /tmp/k /dev/shm/k; do "
    "  m=no; o=no; mknod $p c 1 11 2>/dev/null && m=yes; "
    "  head -c 1 $p >/dev/null 2>&1 && o=yes; echo $p:$m:$o; rm -f $p; "
    "done; echo x > /dev/null && echo null:ok";

class NodevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
    harness::Init();
  }
};

void ExpectNoNodeOpens(const std::vector<std::string>& flags, const std::string& how) {
  std::vector<std::string> args = {"run", "--rm", "--net", "none"};
  args.insert(args.end(), flags.begin(), flags.end());
  args.insert(args.end(), {"sh", "-c", kAttack});
  auto r = Cli(args);
  ASSERT_EQ(r.exit_code, 0) << how << ": " << r.err;
  for (const char* place : {"/dev/k", "/k", "/tmp/k", "/dev/shm/k"}) {
    // mknod itself succeeds (CAP_MKNOD): the attack is real, only the open fails.
    EXPECT_NE(r.out.find(std::string(place) + ":yes:no"), std::string::npos)
        << how << ": " << place << " in\n" << r.out;
  }
  EXPECT_NE(r.out.find("null:ok"), std::string::npos) << how << ": /dev/null broke\n" << r.out;
}

TEST_F(NodevTest, MknodNodeOpensNowhereInAnImageContainer) {
  ExpectNoNodeOpens({"busybox"}, "image");
  ExpectNoNodeOpens({"--privileged", "busybox"}, "image --privileged");
}

TEST_F(NodevTest, MknodNodeOpensNowhereInARootfsContainer) {
  const std::string root = harness::MakeRootfs("nodev");
  ExpectNoNodeOpens({"--rootfs", root}, "--rootfs");
  ExpectNoNodeOpens({"--privileged", "--rootfs", root}, "--rootfs --privileged");
}

TEST_F(NodevTest, EveryWritableMountIsNodevSeenFromOutside) {
  const std::string root = harness::MakeRootfs("nodevmi");
  for (const auto& flags : std::vector<std::vector<std::string>>{
           {"busybox", "sleep", "1000"}, {"--rootfs", root, "sleep", "1000"}}) {
    harness::Container c = harness::RunDetached(flags);
    ASSERT_TRUE(c.ok());
    std::istringstream mi(testutil::ReadText("/proc/" + std::to_string(c.InitPid()) + "/mountinfo"));
    std::string line;
    int checked = 0;
    while (std::getline(mi, line)) {
      std::istringstream f(line);
      std::string id, parent, dev, fsroot, point, options, x, fstype;
      f >> id >> parent >> dev >> fsroot >> point >> options;
      while (f >> x && x != "-") {
      }
      f >> fstype;
      const bool rw = ("," + options + ",").find(",rw,") != std::string::npos;
      const bool nodev = ("," + options + ",").find(",nodev,") != std::string::npos;
      // The allowed nodes are binds of single files of the host's /dev (root != "/")
      // and keep its flags; devpts holds only the container's own ptys.
      const bool node_bind = fstype == "devtmpfs" && fsroot != "/";
      if (!rw || node_bind || fstype == "devpts") continue;
      ++checked;
      EXPECT_TRUE(nodev) << "writable without nodev: " << line;
    }
    EXPECT_GE(checked, 3) << "the root, /dev and /dev/shm at least";
  }
}

}  // namespace
}  // namespace nslab
