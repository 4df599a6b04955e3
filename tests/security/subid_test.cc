// subid_test — issue 13: `--user` gave every container's root the host's shared
// nobody (65534). With an nslab line in /etc/subuid and /etc/subgid (here a file of
// the test's, through NSLAB_SUBUID/NSLAB_SUBGID: the host's files are never edited),
// each container gets a block of 65536 host ids of its own, seen from outside in
// /proc/<init>/uid_map and gid_map; blocks never overlap, run out with a one-line
// error, and come back when a container is removed. Parsing is checked on its own.
#include "common/subid.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;

TEST(SubidTest, ParsesTheFirstMatchingLine) {
  const std::string text = "alice:100000:65536\nnslab:300000:131072\nroot:500000:65536\n";
  auto r = subid::Parse(text, {"nslab", "root"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->start, 300000u);
  EXPECT_EQ(r->count, 131072u);
  r = subid::Parse(text, {"root"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->start, 500000u);
  EXPECT_FALSE(subid::Parse(text, {"bob"}).has_value());
  EXPECT_FALSE(subid::Parse("nslabx:1:65536\nnslab:x:1\nnslab:1:0\n", {"nslab"}).has_value());
}

std::string Map(pid_t pid, const char* file) {
  std::string m = testutil::ReadText("/proc/" + std::to_string(pid) + "/" + file);
  std::string out;
  bool space = false;
  for (char c : m) {
    if (c == ' ' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

TEST(SubidTest, EachUserContainerGetsItsOwnBlockOfHostIds) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  harness::Init();
  // Two blocks' worth, at ids no other test uses (with the pid in them).
  const uint32_t base = 1000000000u + static_cast<uint32_t>(getpid() % 1000) * 262144u;
  const std::string sub = testutil::TmpDir() + "/subid-" + std::to_string(getpid());
  std::ofstream(sub) << "someone:100000:65536\nnslab:" << base << ":131072\n";
  setenv("NSLAB_SUBUID", sub.c_str(), 1);
  setenv("NSLAB_SUBGID", sub.c_str(), 1);
  std::set<std::string> maps;
  {
    harness::Container a = harness::RunDetached({"--user", "busybox", "sleep", "1000"});
    harness::Container b = harness::RunDetached({"--user", "busybox", "sleep", "1000"});
    ASSERT_TRUE(a.ok() && b.ok());
    for (const harness::Container* c : {&a, &b}) {
      const std::string uid_map = Map(c->InitPid(), "uid_map");
      EXPECT_EQ(uid_map, Map(c->InitPid(), "gid_map"));
      EXPECT_EQ(uid_map.find("65534"), std::string::npos) << uid_map;
      maps.insert(uid_map);
    }
    EXPECT_EQ(maps, (std::set<std::string>{"0 " + std::to_string(base) + " 65536",
                                           "0 " + std::to_string(base + 65536) + " 65536"}));
    // Root inside works as root of its own files.
    auto r = Cli({"exec", a.id(), "sh", "-c", "touch /x && stat -c %u /x && id -u"});
    EXPECT_EQ(r.out, "0\n0\n") << r.err;
    // A setuid file it makes lands in upper/ as setuid to its host uid; a host user
    // (nobody) cannot reach it: the state directory is searchable by its gid only.
    r = Cli({"exec", a.id(), "sh", "-c", "cp /bin/busybox /suid && chmod 4755 /suid"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string upper = harness::StateDir() + "/" + a.id() + "/upper/suid";
    struct stat st;
    ASSERT_EQ(stat(upper.c_str(), &st), 0);
    EXPECT_TRUE(st.st_mode & S_ISUID);
    auto as_nobody = testutil::Run({"setpriv", "--reuid", "65534", "--regid", "65534",
                                    "--clear-groups", upper, "id", "-u"});
    EXPECT_NE(as_nobody.exit_code, 0) << as_nobody.out;
    // A third finds no free block: one line, 125, nothing left.
    auto full = Cli({"run", "--rm", "--net", "none", "--user", "busybox", "true"});
    EXPECT_EQ(full.exit_code, 125) << full.out;
    EXPECT_EQ(harness::NonEmptyLines(full.err).size(), 1u) << full.err;
    EXPECT_NE(full.err.find("in use"), std::string::npos) << full.err;
    // Removed, b's block is free for the next one.
    b.Remove();
    auto again = Cli({"run", "--rm", "--net", "none", "--user", "busybox", "true"});
    EXPECT_EQ(again.exit_code, 0) << again.err;
  }
  // Every reservation of ours is gone.
  for (const auto& e : testutil::Entries(subid::StateDir())) {
    const std::string n = e;
    EXPECT_FALSE(n == std::to_string(base) || n == std::to_string(base + 65536)) << n;
  }
  unsetenv("NSLAB_SUBUID");
  unsetenv("NSLAB_SUBGID");
}

}  // namespace
}  // namespace nslab
