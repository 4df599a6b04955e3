// Tests for common/nat: the -p grammar, the table's commands, and — inside private
// network namespaces this test creates, never the host's — masquerade as seen by a
// server "outside", published ports reaching a listener in a "container" namespace,
// 127.0.0.1 publishing through route_localnet, and the table going with the last
// container. Topology (all made here; unshare(CLONE_NEWNET) for each):
//
//   C (container)            H (plays the host)                   O (the outside)
//   eth0c 10.88.0.2/16 ─── hc ∈ bridge BR 10.88.0.1/16
//                                ho 192.0.2.1/24 ───────────── eo 192.0.2.2/24
//
// O routes 10.88.0.0/16 back via H, so without NAT it sees 10.88.0.2: the source
// it sees tells whether masquerade happened. nftables is per network namespace:
// every nft call runs in H, and the host's tables are compared before and after.
#include "common/nat.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/net.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

TEST(ParsePublishTest, DockersGrammar) {
  nat::PortMapping p = nat::ParsePublish("8080:80");
  EXPECT_EQ(p.host_ip, "");
  EXPECT_EQ(p.host_port, 8080);
  EXPECT_EQ(p.container_port, 80);
  EXPECT_EQ(p.proto, "tcp");
  p = nat::ParsePublish("127.0.0.1:5353:53/udp");
  EXPECT_EQ(p.host_ip, "127.0.0.1");
  EXPECT_EQ(p.host_port, 5353);
  EXPECT_EQ(p.container_port, 53);
  EXPECT_EQ(p.proto, "udp");
  EXPECT_EQ(p.ToString(), "127.0.0.1:5353:53/udp");
  for (const char* bad : {"80", "a:80", "0:80", "70000:80", "8080:", "1.2.3:80:80", "8080:80/sctp",
                          "::1:80:80", "1:2:3:4", "-1:80", " 80:80"}) {
    try {
      nat::ParsePublish(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos)
          << e.what();
    }
  }
}

TEST(TableCommandsTest, OneTableOfOurOwnAndNoInjection) {
  nat::Network n;
  std::string c = nat::TableCommands(n);
  EXPECT_EQ(c.rfind("add table ip nslab\n", 0), 0u) << c;
  EXPECT_NE(c.find("ip saddr 10.88.0.0/16 oifname != \"nslab0\" masquerade"), std::string::npos);
  EXPECT_NE(c.find("ip saddr 127.0.0.0/8 oifname \"nslab0\" masquerade"), std::string::npos);
  // Every command names our table, none another.
  for (const auto& line : testutil::Lines(c))
    EXPECT_NE((line + " ").find(" ip nslab "), std::string::npos) << line;
  EXPECT_EQ(nat::PublishCommand(n, "abc", nat::ParsePublish("1.2.3.4:8080:80/udp"), "10.88.0.2"),
            "add rule ip nslab publish ip daddr 1.2.3.4 udp dport 8080 dnat to 10.88.0.2:80 "
            "comment \"nslab:abc\"\n");
  n.bridge = "x\"; flush";
  EXPECT_THROW(nat::TableCommands(n), UsageError);
  n = nat::Network{};
  n.table = "nslab; flush ruleset";
  EXPECT_THROW(nat::TableCommands(n), UsageError);
  EXPECT_THROW(nat::PublishCommand(nat::Network{}, "a\"b", nat::ParsePublish("1:2"), "10.88.0.2"),
               UsageError);
}

ino_t NetnsInode() {
  struct stat st;
  stat("/proc/thread-self/ns/net", &st);
  return st.st_ino;
}

UniqueFd CurrentNetns() { return Open("/proc/thread-self/ns/net", O_RDONLY); }

std::string Sockaddr(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

sockaddr_in Addr(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// A guard against a broken NAT hanging the test (not a timing: a correct run
// never waits for it).
void Guard(int fd) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

class NatNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root (network namespaces, nftables)";
    host_ = CurrentNetns();
    host_inode_ = NetnsInode();
    host_tables_ = nat::RunNft("list tables\n");  // read only: compared in TearDown
    // H: the test's own "host". From here on every nft call and sysctl is H's.
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    ASSERT_NE(NetnsInode(), host_inode_);
    h_ = CurrentNetns();
    net::SetUpLoopbackInChild();
    WriteFile("/proc/sys/net/ipv4/ip_forward", "1");  // H's, not the host's
    c_ = NewNetns();
    o_ = NewNetns();
    n_.bridge = testutil::UniqueName("nslimg");
    n_.state_dir = testutil::MakeTempDir("nat-state");
    net::EnsureBridge(n_.bridge, "10.88.0.1/16");
    Sh("ip link add hc type veth peer name eth0c && ip link set eth0c netns " + Fd(c_));
    net::AttachToBridge("hc", n_.bridge);
    Sh("ip link add ho type veth peer name eo && ip link set eo netns " + Fd(o_) +
       " && ip addr add 192.0.2.1/24 dev ho && ip link set ho up");
    In(c_, [&] {
      Sh("ip link set lo up && ip link set eth0c up && ip addr add 10.88.0.2/16 dev eth0c && "
         "ip route add default via 10.88.0.1");
    });
    In(o_, [&] {
      Sh("ip link set lo up && ip link set eo up && ip addr add 192.0.2.2/24 dev eo && "
         "ip route add 10.88.0.0/16 via 192.0.2.1");
    });
  }

  void TearDown() override {
    if (!h_) return;
    // The table is removed in every test (also when an assertion failed midway).
    In(h_, [&] { nat::RemoveTable(n_); });
    EXPECT_FALSE(nat::TableExists(n_));
    ASSERT_EQ(setns(host_.Get(), CLONE_NEWNET), 0);
    ASSERT_EQ(NetnsInode(), host_inode_);
    // The host's nftables: exactly as before, and no table of ours.
    EXPECT_EQ(nat::RunNft("list tables\n"), host_tables_);
    // Closing the last fds destroys C, O and H (and their veths and bridge).
  }

  UniqueFd NewNetns() {
    EXPECT_EQ(unshare(CLONE_NEWNET), 0);
    UniqueFd fd = CurrentNetns();
    EXPECT_EQ(setns(h_.Get(), CLONE_NEWNET), 0);
    return fd;
  }
  std::string Fd(const UniqueFd& fd) {
    return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd.Get());
  }
  // Runs fn with this thread in namespace ns (a socket made there stays there).
  void In(const UniqueFd& ns, const std::function<void()>& fn) {
    ASSERT_EQ(setns(ns.Get(), CLONE_NEWNET), 0);
    fn();
    ASSERT_EQ(setns(h_.Get(), CLONE_NEWNET), 0);
  }
  void Sh(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

  UniqueFd Listener(const UniqueFd& ns, int type, int port) {
    UniqueFd fd;
    In(ns, [&] {
      fd.Reset(socket(AF_INET, type | SOCK_CLOEXEC, 0));
      int one = 1;
      setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in a = Addr("0.0.0.0", port);
      ASSERT_EQ(bind(fd.Get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
      if (type == SOCK_STREAM) {
        ASSERT_EQ(listen(fd.Get(), 8), 0);
      }
      Guard(fd.Get());
    });
    return fd;
  }

  // Connects from namespace `from` to ip:port; "" on success (then *client is the
  // connected socket), else strerror.
  std::string Connect(const UniqueFd& from, const std::string& ip, int port, UniqueFd* client) {
    In(from, [&] { client->Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); });
    Guard(client->Get());
    sockaddr_in a = Addr(ip, port);
    if (connect(client->Get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
      return std::strerror(errno);
    return "";
  }

  // Accepts one connection; returns "peer -> local" as the server sees them, after
  // one message each way.
  std::string AcceptOne(int listener, int client) {
    sockaddr_in peer{}, local{};
    socklen_t len = sizeof peer;
    UniqueFd conn(accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
    if (!conn) return std::string("accept: ") + std::strerror(errno);
    len = sizeof local;
    getsockname(conn.Get(), reinterpret_cast<sockaddr*>(&local), &len);
    WriteAll(client, "ping");
    char buf[8] = {};
    EXPECT_EQ(read(conn.Get(), buf, 4), 4);
    EXPECT_STREQ(buf, "ping");
    WriteAll(conn.Get(), "pong");
    char back[8] = {};
    EXPECT_EQ(read(client, back, 4), 4);
    EXPECT_STREQ(back, "pong");
    std::string p = Sockaddr(peer);
    return p.substr(0, p.find(':')) + " -> " + Sockaddr(local);
  }

  // The source address the outside's server sees for a connection from C.
  std::string SourceSeenOutside() {
    UniqueFd server = Listener(o_, SOCK_STREAM, 7000), client;
    std::string err = Connect(c_, "192.0.2.2", 7000, &client);
    if (!err.empty()) return "connect: " + err;
    std::string seen = AcceptOne(server.Get(), client.Get());
    return seen.substr(0, seen.find(' '));
  }

  UniqueFd host_, h_, c_, o_;
  ino_t host_inode_ = 0;
  std::string host_tables_;
  nat::Network n_;
};

TEST_F(NatNetnsTest, MasqueradeWhileAContainerHoldsTheTable) {
  EXPECT_EQ(SourceSeenOutside(), "10.88.0.2");  // no NAT: the container's own address
  nat::Acquire(n_, "c1");
  EXPECT_TRUE(nat::TableExists(n_));
  EXPECT_EQ(SourceSeenOutside(), "192.0.2.1");  // masqueraded: H's outgoing address
  nat::Acquire(n_, "c2");
  nat::Release(n_, "c1");
  EXPECT_TRUE(nat::TableExists(n_)) << "c2 still needs it";
  EXPECT_EQ(nat::Owners(n_), std::vector<std::string>{"c2"});
  EXPECT_EQ(SourceSeenOutside(), "192.0.2.1");
  nat::Release(n_, "c2");
  EXPECT_FALSE(nat::TableExists(n_));  // with the last container
  EXPECT_EQ(nat::Owners(n_), std::vector<std::string>{});
  EXPECT_EQ(SourceSeenOutside(), "10.88.0.2");
  nat::Release(n_, "c2");  // idempotent, as rm -f needs
}

TEST_F(NatNetnsTest, PublishedPortsReachTheContainerAndGoWithIt) {
  nat::Acquire(n_, "c1");
  nat::Acquire(n_, "c2");
  nat::Publish(n_, "c1",
               {nat::ParsePublish("8080:80"), nat::ParsePublish("127.0.0.1:8082:80"),
                nat::ParsePublish("5353:53/udp")},
               "10.88.0.2");
  nat::Publish(n_, "c2", {nat::ParsePublish("9090:80")}, "10.88.0.2");
  EXPECT_EQ(TrimNewlines(ReadFile("/proc/sys/net/ipv4/conf/" + n_.bridge + "/route_localnet")),
            "1");
  UniqueFd web = Listener(c_, SOCK_STREAM, 80), dns = Listener(c_, SOCK_DGRAM, 53), client;

  // From the outside to H's address: DNAT to the container, the client's address kept.
  ASSERT_EQ(Connect(o_, "192.0.2.1", 8080, &client), "");
  EXPECT_EQ(AcceptOne(web.Get(), client.Get()), "192.0.2.2 -> 10.88.0.2:80");
  // From H itself to 127.0.0.1: route_localnet + masquerade to the bridge's address.
  ASSERT_EQ(Connect(h_, "127.0.0.1", 8080, &client), "");
  EXPECT_EQ(AcceptOne(web.Get(), client.Get()), "10.88.0.1 -> 10.88.0.2:80");
  // Published on 127.0.0.1 only: refused from outside, reached from H.
  EXPECT_EQ(Connect(o_, "192.0.2.1", 8082, &client), std::strerror(ECONNREFUSED));
  ASSERT_EQ(Connect(h_, "127.0.0.1", 8082, &client), "");
  EXPECT_EQ(AcceptOne(web.Get(), client.Get()), "10.88.0.1 -> 10.88.0.2:80");
  // UDP.
  UniqueFd udp;
  In(o_, [&] { udp.Reset(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); });
  sockaddr_in to = Addr("192.0.2.1", 5353), from{};
  ASSERT_EQ(sendto(udp.Get(), "hello", 5, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 5);
  char buf[16] = {};
  socklen_t len = sizeof from;
  ASSERT_EQ(recvfrom(dns.Get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len), 5);
  EXPECT_STREQ(buf, "hello");
  EXPECT_EQ(Sockaddr(from).substr(0, 10), "192.0.2.2:");

  // Gone with the container: c1's three rules, not c2's.
  nat::Release(n_, "c1");
  EXPECT_EQ(Connect(o_, "192.0.2.1", 8080, &client), std::strerror(ECONNREFUSED));
  ASSERT_EQ(Connect(o_, "192.0.2.1", 9090, &client), "");
  EXPECT_EQ(AcceptOne(web.Get(), client.Get()), "192.0.2.2 -> 10.88.0.2:80");
  EXPECT_EQ(nat::Unpublish(n_, "c2"), 1);
  EXPECT_EQ(Connect(o_, "192.0.2.1", 9090, &client), std::strerror(ECONNREFUSED));
  nat::Release(n_, "c2");
  EXPECT_FALSE(nat::TableExists(n_));
}

TEST_F(NatNetnsTest, PublishWithoutTheTableFailsInOneLine) {
  try {
    nat::Publish(n_, "c1", {nat::ParsePublish("8081:80")}, "10.88.0.2");
    ADD_FAILURE() << "published without a table";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("nft \"add rule ip nslab publish tcp dport 8081", 0), 0u) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_FALSE(nat::TableExists(n_));
  EXPECT_EQ(nat::Unpublish(n_, "c1"), 0);
}

}  // namespace
}  // namespace nslab
