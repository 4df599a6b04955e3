// Unit tests for common/idmap: parsing and checking multi-range maps, /etc/subuid
// lines and what they cover, -u; as root, a child in a user namespace gets a map of
// three ranges in one write and becomes a non-root user with no capabilities.
#include "common/idmap.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/process.h"
#include "common/user.h"

namespace nslab {
namespace {

TEST(IdmapTest, ParsesRangesAndRendersMapLines) {
  idmap::Map m = idmap::ParseMap({"0:100000:1000", "1000:65534:1"}, "--uid-map");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1].outside, 65534u);
  EXPECT_EQ(idmap::Render(m), user::MapLine(0, 100000, 1000) + user::MapLine(1000, 65534, 1));
  EXPECT_EQ(idmap::Outside(m, 999), 100999);
  EXPECT_EQ(idmap::Outside(m, 1000), 65534);
  EXPECT_EQ(idmap::Outside(m, 1001), -1);
}

TEST(IdmapTest, RefusesWhatTheKernelWould) {
  for (const auto& items : std::vector<std::vector<std::string>>{
           {"0:100000"},                       // two fields
           {"0:x:1"},                          // not a number
           {"0:100000:0"},                     // empty range
           {"0:100000:10", "5:200000:10"},     // inside ids overlap
           {"0:100000:10", "20:100005:10"},    // outside ids overlap
           {"0:4294967290:10"}}) {             // past the last id
    try {
      idmap::ParseMap(items, "--uid-map");
      FAIL() << items[0];
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--uid-map", 0), 0u) << e.what();
    }
  }
  EXPECT_THROW(idmap::ParseMap(std::vector<std::string>(341, "0:1:1"), "--uid-map"), UsageError);
}

TEST(IdmapTest, SubuidLinesAndCoverage) {
  const std::string text = "alice:100000:65536\n1001:300000:10\nbob:200000:65536\n";
  idmap::Map alice = idmap::SubidRanges(text, "alice", 1000);
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_EQ(alice[0].outside, 100000u);
  EXPECT_EQ(idmap::SubidRanges(text, "carol", 1001).size(), 1u);  // by uid
  EXPECT_TRUE(idmap::SubidRanges("", "alice", 1000).empty());
  const idmap::Map want = idmap::ParseMap({"0:1000:1", "1:100000:65536"}, "m");
  EXPECT_TRUE(idmap::Covered(want, alice, 1000));   // own id + the granted range
  EXPECT_FALSE(idmap::Covered(want, alice, 1234));  // 1000 is not alice's own
  EXPECT_FALSE(idmap::Covered(idmap::ParseMap({"0:100000:65537"}, "m"), alice, 1000));
}

TEST(IdmapTest, UserAndCoverageChecks) {
  EXPECT_EQ(idmap::ParseUser("1000").gid, 1000u);
  EXPECT_EQ(idmap::ParseUser("1000:50").gid, 50u);
  EXPECT_THROW(idmap::ParseUser("nobody"), UsageError);
  EXPECT_THROW(idmap::ParseUser("1000:"), UsageError);
  const idmap::Map m = idmap::ParseMap({"0:100000:1000"}, "m");
  EXPECT_NO_THROW(idmap::CheckCovers(m, m, {999, 999}));
  EXPECT_THROW(idmap::CheckCovers(m, m, {1000, 0}), UsageError);
  const idmap::Map no_root = idmap::ParseMap({"1:100000:1000"}, "m");
  EXPECT_THROW(idmap::CheckCovers(no_root, no_root, {1, 1}), UsageError);
}

// As root: three ranges in one write each; the child becomes 1000:1000, which the
// host sees as uid 65534, with no capabilities.
TEST(IdmapTest, ChildGetsTheRangesAndBecomesTheUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const idmap::Map m =
      idmap::ParseMap({"0:100000:1000", "1000:65534:1", "1001:101001:64535"}, "m");
  Pipe hold = MakePipe();
  process::Child child = process::Clone({CLONE_NEWUSER}, [&] {
    user::SetupInChild();
    idmap::BecomeUserInChild({1000, 1000});
    return process::Exec({"sleep", "1000"});
  });
  idmap::WriteFromParent(child.pid(), m, m);
  child.Go();
  // The kernel pads its columns: compare the numbers.
  std::istringstream in(ReadFile("/proc/" + std::to_string(child.pid()) + "/uid_map"));
  std::string map, word;
  while (in >> word) map += word + " ";
  EXPECT_EQ(map, "0 100000 1000 1000 65534 1 1001 101001 64535 ");
  EXPECT_EQ(idmap::HostIds(child.pid()),
            "Uid: 65534 65534 65534 65534, Gid: 65534 65534 65534 65534");
  const std::string status = ReadFile("/proc/" + std::to_string(child.pid()) + "/status");
  EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
  kill(child.pid(), SIGKILL);
  child.Wait();
}

}  // namespace
}  // namespace nslab
