// Tests for common/nethelper: the engine's way to nslab-net, run for real inside a
// private network namespace of the test's own (nftables is per namespace): the
// table appears with nat-up, a published rule with publish, all of it goes with
// nat-down; a bad -p comes back as one line, exit code 125.
#include "common/nethelper.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/nat.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

TEST(NethelperTest, DrivesNslabNetInThisNetworkNamespace) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  setenv("NSLAB_NET", testutil::Runfile("labs/nslab-net").c_str(), 1);
  UniqueFd host = Open("/proc/thread-self/ns/net", O_RDONLY);
  const std::string host_tables = nat::RunNft("list tables\n");
  ASSERT_EQ(unshare(CLONE_NEWNET), 0);
  nethelper::Options o;
  o.bridge = testutil::UniqueName("nslnh");
  o.state_dir = testutil::MakeTempDir("nethelper");
  ASSERT_EQ(std::system(("ip link add " + o.bridge + " type bridge").c_str()), 0);
  nat::Network n;
  n.bridge = o.bridge;

  nethelper::NatUp(o, "c1");
  EXPECT_TRUE(nat::TableExists(n));
  nethelper::Publish(o, "c1", "10.88.0.2/16", {"8080:80", "127.0.0.1:5353:53/udp"});
  const std::string table = nat::RunNft("list table ip nslab\n");
  EXPECT_NE(table.find("tcp dport 8080 dnat to 10.88.0.2:80 comment \"nslab:c1\""),
            std::string::npos)
      << table;
  try {
    nethelper::Publish(o, "c1", "10.88.0.2", {"8080"});
    ADD_FAILURE() << "a bad -p was accepted";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 125);
    EXPECT_STREQ(e.what(),
                 "nslab-net publish: -p \"8080\": use [IP:]HOSTPORT:CONTAINERPORT[/udp]");
  }
  nethelper::NatDown(o, "c1");
  EXPECT_FALSE(nat::TableExists(n));
  nat::RemoveTable(n);  // every test removes it, whatever happened above
  ASSERT_EQ(setns(host.Get(), CLONE_NEWNET), 0);
  EXPECT_EQ(nat::RunNft("list tables\n"), host_tables);  // the host's: untouched
  unsetenv("NSLAB_NET");
}

TEST(NethelperTest, MissingBinaryIsOneLine) {
  setenv("NSLAB_NET", "/nonexistent/nslab-net", 1);
  try {
    std::string p = nethelper::FindBinary();
    // Found next to the test or in its runfiles is fine too; then it must be executable.
    EXPECT_EQ(access(p.c_str(), X_OK), 0);
  } catch (const ExitCodeError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/nslab-net"), std::string::npos);
  }
  unsetenv("NSLAB_NET");
}

}  // namespace
}  // namespace nslab
