// store_test — the CVE-2021-41091 class: no host user reaches a setuid file or a
// device node inside the image store or a container's state directory. Attacked as
// host user nobody (setpriv --reuid 65534): exec an imported setuid-root file, open
// an imported 0666 device node, exec a setuid-root file a container wrote into its
// upper layer. Each target is first shown to exist, with its setuid bit or device
// type, by root: the only thing in the way must be the directory modes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;

testutil::RunResult AsNobody(const std::vector<std::string>& cmd) {
  std::vector<std::string> argv = {"setpriv", "--reuid", "65534", "--regid", "65534",
                                   "--clear-groups"};
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  return testutil::Run(argv);
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
    harness::Init();
    // Under /tmp (0755 and 1777 all the way), not TEST_TMPDIR (beneath /root, 0700):
    // only the store's own modes may stand between nobody and the files.
    char tmpl[] = "/tmp/nslab-security-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    top_ = tmpl;
    chmod(top_.c_str(), 0755);
    store_ = top_ + "/store";
    setenv("NSLAB_IMAGE_DIR", store_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("NSLAB_IMAGE_DIR");
    if (!top_.empty()) testutil::Run({"rm", "-rf", "--one-file-system", top_});
  }
  std::string top_, store_;
};

TEST_F(StoreTest, NobodyReachesNoSetuidFileOrDeviceOfAnImportedImage) {
  // A hostile image: a setuid-root shell and a world-writable device node.
  const std::string stage = top_ + "/stage";
  ASSERT_EQ(testutil::Run({"tar", "-xf", harness::BusyboxTar(), "-C",
                           (mkdir(stage.c_str(), 0755), stage)}).exit_code, 0);
  ASSERT_EQ(testutil::Run({"cp", stage + "/bin/busybox", stage + "/suid-sh"}).exit_code, 0);
  ASSERT_EQ(chmod((stage + "/suid-sh").c_str(), 04755), 0);
  ASSERT_EQ(mknod((stage + "/kmsg").c_str(), S_IFCHR | 0666, makedev(1, 11)), 0);
  const std::string tar = top_ + "/hostile.tar";
  ASSERT_EQ(testutil::Run({"tar", "--numeric-owner", "--owner=0", "--group=0", "-cf", tar, "-C",
                           stage, "."}).exit_code, 0);
  const std::string name = "hostile" + std::to_string(getpid());
  auto imp = Cli({"import", tar, name});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;

  const std::string rootfs = store_ + "/images/" + name + "/rootfs";
  struct stat st;
  ASSERT_EQ(stat((rootfs + "/suid-sh").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_ISUID) << "the image keeps its setuid bits (as Docker)";
  ASSERT_EQ(lstat((rootfs + "/kmsg").c_str(), &st), 0);
  // As a host user: the setuid file does not run, the node does not open, nothing lists.
  auto ex = AsNobody({rootfs + "/suid-sh", "id", "-u"});
  EXPECT_NE(ex.exit_code, 0) << ex.out;
  EXPECT_EQ(ex.out.find("0"), std::string::npos) << "euid 0 for nobody: " << ex.out;
  EXPECT_NE(AsNobody({"head", "-c", "1", rootfs + "/kmsg"}).exit_code, 0);
  EXPECT_NE(AsNobody({"ls", store_ + "/images"}).exit_code, 0);
  for (const std::string& d : {store_, store_ + "/images", store_ + "/images/" + name}) {
    ASSERT_EQ(stat(d.c_str(), &st), 0) << d;
    EXPECT_EQ(st.st_mode & 0077, 0u) << d << " is reachable: mode " << std::oct << st.st_mode;
  }
  // And the image still runs: mounting it needs no host user's access.
  auto run = Cli({"run", "--rm", "--net", "none", name, "true"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST_F(StoreTest, AnOlderStoreIsTightenedOnFirstUse) {
  ASSERT_EQ(testutil::Run({"mkdir", "-p", "-m", "0755", store_ + "/images"}).exit_code, 0);
  chmod(store_.c_str(), 0755);
  auto r = Cli({"images"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(stat(store_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat((store_ + "/images").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(StoreTest, NobodyCannotRunASetuidFileAContainerWroteToItsUpperLayer) {
  // Root inside a default container is root outside: a setuid copy of its shell
  // lands in the state directory's upper/ as a setuid-root file of the host.
  harness::Container c = harness::RunDetached(
      {"busybox", "sh", "-c", "cp /bin/busybox /suid-sh && chmod 4755 /suid-sh && sleep 1000"});
  ASSERT_TRUE(c.ok());
  const std::string upper = harness::StateDir() + "/" + c.id() + "/upper/suid-sh";
  ASSERT_TRUE(harness::WaitFor([&] {
    struct stat st;
    return stat(upper.c_str(), &st) == 0 && (st.st_mode & S_ISUID);
  })) << upper;
  auto ex = AsNobody({upper, "id", "-u"});
  EXPECT_NE(ex.exit_code, 0) << ex.out;
  EXPECT_EQ(ex.out.find("0"), std::string::npos) << "euid 0 for nobody: " << ex.out;
}

}  // namespace
}  // namespace nslab
