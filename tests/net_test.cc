// net_test — subnets and per-run names, then real rtnetlink work: each case moves the
// test process into a network namespace of its own first (unshare), so the veths,
// bridges and addresses it makes never touch the host's namespace and run in
// parallel with anything.
#include "common/net.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "common/process.h"

namespace nslab::net {
namespace {

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name + "-" + std::to_string(getpid());
}

const LinkInfo* Find(const std::vector<LinkInfo>& links, const std::string& name) {
  auto it = std::find_if(links.begin(), links.end(),
                         [&](const LinkInfo& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

class NetNsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET)";
  }
};

TEST(NetAddrTest, ParsesSubnetsAndRejectsNonsense) {
  Subnet s = Subnet::Parse("10.77.0.0/16");
  EXPECT_EQ(s.prefix, 16);
  EXPECT_EQ(s.ToString(), "10.77.0.0/16");
  EXPECT_THROW(Subnet::Parse("10.77.0.0"), UsageError);
  EXPECT_THROW(Subnet::Parse("10.77.0.1/16"), UsageError);  // host bits set
  EXPECT_THROW(Subnet::Parse("10.77.0.0/31"), UsageError);  // no room for a /30
  EXPECT_THROW(Subnet::Parse("10.777.0.0/16"), UsageError);
  EXPECT_THROW(Subnet::Parse("10.77.0.0/x"), UsageError);
}

TEST(NetAddrTest, PointToPointIsAPidDerivedSlash30) {
  Subnet s = Subnet::Parse("10.77.0.0/16");
  PointToPoint p = PointToPointFor(s, 0);
  EXPECT_EQ(p.host_cidr, "10.77.0.1/30");
  EXPECT_EQ(p.child_cidr, "10.77.0.2/30");
  EXPECT_EQ(p.host_addr, "10.77.0.1");
  p = PointToPointFor(s, 65);  // the 66th /30
  EXPECT_EQ(p.child_addr, "10.77.1.6");
  // 16384 /30s in a /16: pid 16384 wraps to the first one again.
  EXPECT_EQ(PointToPointFor(s, 16384).host_addr, "10.77.0.1");
  EXPECT_EQ(PointToPointFor(Subnet::Parse("192.168.5.0/30"), 4242).host_addr, "192.168.5.1");
}

TEST(NetAddrTest, ReservationsNeverShareASlash30AndEndWithTheirOwner) {
  const std::string dir = TmpPath("p2p");
  Subnet s = Subnet::Parse("10.213.9.0/29");  // two /30s
  std::set<std::string> seen;
  {
    P2pReservation a = ReservePointToPoint(s, getpid(), dir);
    P2pReservation b = ReservePointToPoint(s, getpid(), dir);
    seen = {a.p2p().host_addr, b.p2p().host_addr};
    EXPECT_EQ(seen, (std::set<std::string>{"10.213.9.1", "10.213.9.5"}));
    try {
      ReservePointToPoint(s, getpid(), dir);
      ADD_FAILURE() << "a third /30 was handed out of a /29";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("exhausted"), std::string::npos) << e.what();
    }
  }
  // Both released: the directory is gone, and the subnet is free again.
  EXPECT_NE(access(dir.c_str(), F_OK), 0);
  P2pReservation again = ReservePointToPoint(s, getpid(), dir);
  EXPECT_EQ(seen.count(again.p2p().host_addr), 1u);
}

TEST(NetAddrTest, ReservationOfAKilledRunIsTakenOver) {
  const std::string dir = TmpPath("p2p-stale");
  Subnet s = Subnet::Parse("10.213.10.0/30");  // one /30
  // A run that no longer exists holds it: a reaped child's pid.
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  ASSERT_GT(gone, 0);
  waitpid(gone, nullptr, 0);
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  {
    UniqueFd fd = Open(dir + "/10.213.10.0", O_WRONLY | O_CREAT | O_EXCL);
    WriteAll(fd.Get(), std::to_string(gone) + "\n");
  }
  // And one of a /30 outside this subnet's range, also left by a killed run.
  {
    UniqueFd fd = Open(dir + "/10.213.99.0", O_WRONLY | O_CREAT | O_EXCL);
    WriteAll(fd.Get(), std::to_string(gone) + "\n");
  }
  P2pReservation r = ReservePointToPoint(s, getpid(), dir);
  EXPECT_EQ(r.p2p().child_addr, "10.213.10.2");
  EXPECT_EQ(std::atoi(ReadFile(dir + "/10.213.10.0").c_str()), getpid());
  EXPECT_NE(access((dir + "/10.213.99.0").c_str(), F_OK), 0) << "a stale reservation stayed";
}

TEST(NetNameTest, PerRunNamesFitIfnamsiz) {
  EXPECT_EQ(HostIfName(4194304), "nsl4194304h");  // the largest pid_max
  EXPECT_LE(ChildIfName(4194304).size(), 15u);
  EXPECT_NO_THROW(CheckIfName("nsl4194304c"));
  EXPECT_THROW(CheckIfName("a-very-long-ifname"), UsageError);
  EXPECT_THROW(CheckIfName(""), UsageError);
  EXPECT_THROW(CheckIfName("a/b"), UsageError);
}

TEST_F(NetNsTest, NewNamespaceHasOnlyLoAndItIsDown) {
  auto links = ListLinks();
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].name, "lo");
  EXPECT_FALSE(links[0].Up());
  SetUpLoopbackInChild();
  links = ListLinks();
  EXPECT_TRUE(links[0].Up());
  EXPECT_NE(links[0].FlagsText().find("LOOPBACK"), std::string::npos);
  EXPECT_NE(links[0].FlagsText().find("UP"), std::string::npos);
}

TEST_F(NetNsTest, VethEndLandsInTheChildAndIsConfiguredThere) {
  const std::string host = "nslth", peer = "nsltc";
  process::Child child = process::Clone({CLONE_NEWNET}, [&] {
    auto before = ListLinks();
    if (before.size() != 2 || !Find(before, peer)) return 50;  // lo + our end
    ConfigureInChild(peer, "10.77.0.2/30", "10.77.0.1");
    auto after = ListLinks();
    const LinkInfo* l = Find(after, peer);
    if (!l || !l->Up()) return 51;
    if (l->addresses != std::vector<std::string>{"10.77.0.2/30"}) return 52;
    if (!Find(after, "lo")->Up()) return 53;
    return 0;
  });
  {
    ScopedLink link = CreateVethFromParent(child.pid(), host, peer);
    EXPECT_TRUE(LinkExists(host));
    EXPECT_FALSE(LinkExists(peer)) << "the peer was created in the child's namespace";
    AddAddress(host, "10.77.0.1/30");
    net::SetUp(host);
    auto links = ListLinks();
    const LinkInfo* l = Find(links, host);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->addresses, std::vector<std::string>{"10.77.0.1/30"});
    child.Go();
    EXPECT_EQ(child.Wait().ShellCode(), 0);
  }
  EXPECT_FALSE(LinkExists(host)) << "ScopedLink deletes the pair on scope exit";
}

TEST_F(NetNsTest, HostEndVanishesWhenTheChildsNamespaceDies) {
  const std::string host = "nslkh", peer = "nslkc";
  process::Child child = process::Clone({CLONE_NEWNET}, [] { return 0; });
  ScopedLink link = CreateVethFromParent(child.pid(), host, peer);
  link.Release();  // as if the lab had been SIGKILLed: nobody deletes it
  ASSERT_TRUE(LinkExists(host));
  kill(child.pid(), SIGKILL);  // still waiting on the sync pipe
  child.Wait();
  // The namespace is torn down by a kernel worker after its last process is gone;
  // wait for that (bounded), asserting the outcome, not the time it took.
  for (int i = 0; i < 500 && LinkExists(host); ++i) usleep(20000);
  EXPECT_FALSE(LinkExists(host));
}

TEST_F(NetNsTest, ErrorsNameOperationInterfaceAndLibnlReason) {
  try {
    net::SetUp("nsl-missing");
    FAIL() << "SetUp of a missing interface succeeded";
  } catch (const NetlinkError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("\"nsl-missing\""), std::string::npos) << what;
    EXPECT_NE(what.find("(libnl)"), std::string::npos) << what;
  }
  EXPECT_THROW(AddAddress("lo", "10.77.0.300/30"), UsageError);
  ScopedLink a = CreateVethFromParent(getpid(), "nsldup", "nsldup2");
  try {
    CreateVethFromParent(getpid(), "nsldup", "nsldup3");
    FAIL() << "a second veth of the same name was created";
  } catch (const NetlinkError& e) {
    EXPECT_NE(std::string(e.what()).find("rtnl_link_add veth \"nsldup\""), std::string::npos)
        << e.what();
  }
}

TEST_F(NetNsTest, EnsureBridgeIsIdempotentAndTakesVethEnds) {
  EnsureBridge("nslbr0", "10.88.0.1/16");
  EnsureBridge("nslbr0", "10.88.0.1/16");
  auto links = ListLinks();
  const LinkInfo* br = Find(links, "nslbr0");
  ASSERT_NE(br, nullptr);
  EXPECT_TRUE(br->Up());
  EXPECT_EQ(br->addresses, std::vector<std::string>{"10.88.0.1/16"});
  ScopedLink v = CreateVethFromParent(getpid(), "nslbv", "nslbv2");
  AttachToBridge("nslbv", "nslbr0");
  links = ListLinks();
  ASSERT_NE(Find(links, "nslbv"), nullptr);
  EXPECT_EQ(Find(links, "nslbv")->master_index, Find(links, "nslbr0")->index);
  EXPECT_TRUE(Find(links, "nslbv")->Up());
  EXPECT_THROW(EnsureBridge("nslbv", "10.88.0.1/16"), UsageError) << "a veth is no bridge";
  ScopedLink(std::string("nslbr0")).Delete();
}

TEST(NetAllocTest, AddressesAreUniqueSkipTheGatewayAndAreReused) {
  const std::string dir = TmpPath("alloc") + "/net";
  std::string a = AllocateAddress(dir, "10.88.0.0/16", "one");
  std::string b = AllocateAddress(dir, "10.88.0.0/16", "two");
  EXPECT_EQ(a, "10.88.0.2/16");
  EXPECT_EQ(b, "10.88.0.3/16");
  EXPECT_EQ(ReadFile(dir + "/10.88.0.2"), "one\n");
  ReleaseAddress(dir, a);
  EXPECT_EQ(AllocateAddress(dir, "10.88.0.0/16", "three"), "10.88.0.2/16");
}

TEST(NetAllocTest, ConcurrentAllocationsNeverCollide) {
  const std::string dir = TmpPath("race");
  Pipe p = MakePipe();
  std::vector<pid_t> kids;
  for (int i = 0; i < 8; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      process::RunInChild([&] {
        for (int j = 0; j < 5; ++j)
          WriteAll(p.write.Get(), AllocateAddress(dir, "10.88.0.0/24", "k") + "\n");
        return 0;
      });
    }
    kids.push_back(pid);
  }
  p.write.Reset();
  std::string all = ReadAll(p.read.Get());
  for (pid_t k : kids) EXPECT_EQ(process::WaitPid(k).code, 0);
  std::set<std::string> seen;
  size_t n = 0;
  for (size_t pos = 0, nl; (nl = all.find('\n', pos)) != std::string::npos; pos = nl + 1, ++n)
    seen.insert(all.substr(pos, nl - pos));
  EXPECT_EQ(n, 40u);
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_EQ(seen.count("10.88.0.1/24"), 0u) << "the gateway is never handed out";
}

TEST(NetAllocTest, FullSubnetIsAClearError) {
  const std::string dir = TmpPath("full");
  AllocateAddress(dir, "10.88.0.0/30", "only");  // .2 is the one address there is
  EXPECT_THROW(AllocateAddress(dir, "10.88.0.0/30", "none"), UsageError);
}

TEST_F(NetNsTest, PingFromChildReportsWhetherAnAnswerCame) {
  if (access("/usr/bin/ping", X_OK) != 0 && access("/bin/ping", X_OK) != 0)
    GTEST_SKIP() << "no ping(8) on this host";
  SetUpLoopbackInChild();
  ShowLinksInChild("with lo up");  // silent here: narration is off in tests
  EXPECT_EQ(PingFromChild("127.0.0.1"), 0);
  EXPECT_NE(PingFromChild("10.77.255.254"), 0);  // no route: only lo exists
}

}  // namespace
}  // namespace nslab::net
