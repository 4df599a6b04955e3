// Tests for common/etcfiles: /etc/hosts with the container's own name and its peers,
// resolv.conf without the host's loopback name servers, files rewritten in place
// (a bind mount sees the change), and bind mounts whose targets are resolved inside
// the root even when the image's /etc/hosts is an absolute symlink to a host path
// (checked in a mount namespace of the test's own, against /proc/self/mountinfo).
#include "common/etcfiles.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

TEST(HostsTest, OwnNameThenPeers) {
  std::string h = etcfiles::Hosts("abc123", "web", "10.88.0.2/16",
                                  {{"10.88.0.3/16", {"db", "db-host"}},
                                   {"10.88.0.2", {"self-again"}},
                                   {"", {"no-address"}}});
  EXPECT_EQ(h.rfind("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0), 0u);
  EXPECT_TRUE(testutil::HasLine(h, "10.88.0.2\tabc123 web"));
  EXPECT_TRUE(testutil::HasLine(h, "10.88.0.3\tdb db-host"));
  EXPECT_EQ(h.find("self-again"), std::string::npos);
  EXPECT_EQ(h.find("no-address"), std::string::npos);
  // Name equal to the hostname: written once.
  EXPECT_TRUE(testutil::HasLine(etcfiles::Hosts("web", "web", "10.88.0.2", {}), "10.88.0.2\tweb"));
  EXPECT_EQ(etcfiles::Hostname("web"), "web\n");
}

TEST(ResolvConfTest, DropsLoopbackNameServers) {
  std::string r = etcfiles::ResolvConf("nameserver 127.0.0.53\noptions edns0\nsearch lan\n");
  EXPECT_FALSE(testutil::HasLine(r, "nameserver 127.0.0.53"));
  EXPECT_TRUE(testutil::HasLine(r, "options edns0"));
  EXPECT_TRUE(testutil::HasLine(r, "search lan"));
  EXPECT_TRUE(testutil::HasLine(r, "nameserver 8.8.8.8"));  // nothing left: the fallback
  EXPECT_NE(r.find("dropped the host's loopback name servers (127.0.0.53)"), std::string::npos);
  r = etcfiles::ResolvConf("nameserver 10.0.0.1\nnameserver ::1\nnameserver 127.1.2.3\n");
  EXPECT_EQ(r, "# nslab: dropped the host's loopback name servers (::1 127.1.2.3): unreachable "
               "from the container's network namespace\nnameserver 10.0.0.1\n");
  EXPECT_EQ(etcfiles::ResolvConf("nameserver 10.0.0.1\n"), "nameserver 10.0.0.1\n");
}

TEST(WriteTest, RewritesInPlace) {
  const std::string dir = testutil::MakeTempDir("etcfiles");
  etcfiles::Write(dir, etcfiles::For("h", "n", "10.88.0.2/16", {}, "nameserver 1.1.1.1\n"));
  struct stat before, after;
  ASSERT_EQ(stat((dir + "/hosts").c_str(), &before), 0);
  etcfiles::WriteInPlace(dir + "/hosts", "short\n");
  ASSERT_EQ(stat((dir + "/hosts").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(testutil::ReadText(dir + "/hosts"), "short\n");
  EXPECT_EQ(testutil::ReadText(dir + "/hostname"), "h\n");
  EXPECT_EQ(testutil::ReadText(dir + "/resolv.conf"), "nameserver 1.1.1.1\n");
}

TEST(RefreshHostsTest, EachLearnsTheOthersInPlace) {
  const std::string a = testutil::MakeTempDir("etc-a"), b = testutil::MakeTempDir("etc-b");
  etcfiles::WriteInPlace(a + "/hosts", "old\n");
  struct stat before, after;
  ASSERT_EQ(stat((a + "/hosts").c_str(), &before), 0);
  etcfiles::RefreshHosts({{a, "c1", "web", "10.88.0.2/16"}, {b, "c2", "c2", "10.88.0.3/16"}});
  ASSERT_EQ(stat((a + "/hosts").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  const std::string ha = testutil::ReadText(a + "/hosts"), hb = testutil::ReadText(b + "/hosts");
  EXPECT_TRUE(testutil::HasLine(ha, "10.88.0.2\tc1 web"));
  EXPECT_TRUE(testutil::HasLine(ha, "10.88.0.3\tc2"));
  EXPECT_TRUE(testutil::HasLine(hb, "10.88.0.3\tc2"));
  EXPECT_TRUE(testutil::HasLine(hb, "10.88.0.2\tc1 web"));
  EXPECT_EQ(ha.find("old"), std::string::npos);
}

bool Mounted(const std::string& path) {
  for (const auto& mp : testutil::MountPoints())
    if (mp == path) return true;
  return false;
}

TEST(BindInChildTest, TargetsResolveInsideTheRoot) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root (mount namespace)";
  const std::string files = testutil::MakeTempDir("etcfiles-src");
  etcfiles::Write(files, etcfiles::For("c1", "web", "10.88.0.2/16", {{"10.88.0.3", {"db"}}},
                                       "nameserver 10.0.0.1\n"));
  // A host file, and an image whose /etc/hosts is an absolute symlink to its path.
  const std::string host_file = testutil::MakeTempDir("etcfiles-victim") + "/hosts";
  etcfiles::WriteInPlace(host_file, "host\n");
  const std::string root = testutil::MakeTempDir("etcfiles-root");
  ASSERT_EQ(mkdir((root + "/etc").c_str(), 0755), 0);
  ASSERT_EQ(symlink(host_file.c_str(), (root + "/etc/hosts").c_str()), 0);
  ASSERT_EQ(std::system(("mkdir -p " + root + host_file.substr(0, host_file.rfind('/'))).c_str()),
            0);
  etcfiles::WriteInPlace(root + host_file, "image\n");

  UniqueFd original = Open("/proc/self/ns/mnt", O_RDONLY);
  ASSERT_EQ(unshare(CLONE_NEWNS), 0);
  ASSERT_EQ(std::system("mount --make-rprivate /"), 0);
  try {
    etcfiles::BindInChild(files, root);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  // The symlink was followed inside the root: the image's copy is covered...
  EXPECT_TRUE(Mounted(root + host_file));
  EXPECT_TRUE(testutil::HasLine(testutil::ReadText(root + host_file), "10.88.0.2\tc1 web"));
  // ...and the host's file is neither covered nor written.
  EXPECT_FALSE(Mounted(host_file));
  EXPECT_EQ(testutil::ReadText(host_file), "host\n");
  // Absent targets were created and covered.
  EXPECT_TRUE(Mounted(root + "/etc/hostname"));
  EXPECT_EQ(testutil::ReadText(root + "/etc/hostname"), "c1\n");
  EXPECT_EQ(testutil::ReadText(root + "/etc/resolv.conf"), "nameserver 10.0.0.1\n");
  // An update in place shows through the bind mount.
  etcfiles::WriteInPlace(files + "/hosts", "updated\n");
  EXPECT_EQ(testutil::ReadText(root + host_file), "updated\n");

  // A dangling symlink target is refused, not created through.
  const std::string root2 = testutil::MakeTempDir("etcfiles-root2");
  ASSERT_EQ(mkdir((root2 + "/etc").c_str(), 0755), 0);
  ASSERT_EQ(symlink("/nonexistent-nslab", (root2 + "/etc/hosts").c_str()), 0);
  EXPECT_ANY_THROW(etcfiles::BindInChild(files, root2));
  EXPECT_FALSE(testutil::PathExists("/nonexistent-nslab"));
  EXPECT_FALSE(testutil::PathExists(root2 + "/nonexistent-nslab"));

  ASSERT_EQ(setns(original.Get(), CLONE_NEWNS), 0);
  EXPECT_FALSE(Mounted(root + host_file));  // all of it stayed in that namespace
  EXPECT_FALSE(Mounted(root + "/etc/hostname"));
}

}  // namespace
}  // namespace nslab
