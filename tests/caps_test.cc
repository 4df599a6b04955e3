// caps_test — capability names, Docker's default set, Resolve's add/drop rules, and
// ApplyInChild seen through /proc/self/status. Every mechanism that changes the
// process runs in a forked child: capabilities dropped in the test process itself
// would be gone for every later test.
#include "common/caps.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildResult;
using testutil::RunInChild;

bool CanSetPcap() {
  return caps::Has(caps::ReadFromProc().effective, CAP_SETPCAP);
}

TEST(CapsTest, DockerDefaultIsTheFourteen) {
  EXPECT_EQ(caps::DockerDefault(), 0x00000000a80425fbULL);
  EXPECT_EQ(caps::Hex(caps::DockerDefault()), "00000000a80425fb");
  auto names = caps::Names(caps::DockerDefault());
  ASSERT_EQ(names.size(), 14u);
  EXPECT_EQ(names.front(), "CAP_CHOWN");
  EXPECT_EQ(names.back(), "CAP_SETFCAP");
}

TEST(CapsTest, ParseAcceptsDockerSpellings) {
  EXPECT_EQ(caps::Parse("NET_ADMIN"), CAP_NET_ADMIN);
  EXPECT_EQ(caps::Parse("CAP_NET_ADMIN"), CAP_NET_ADMIN);
  EXPECT_EQ(caps::Parse("net_admin"), CAP_NET_ADMIN);
  EXPECT_EQ(caps::Parse("Cap_Sys_Admin"), CAP_SYS_ADMIN);
  EXPECT_EQ(caps::Parse("chown"), CAP_CHOWN);
}

TEST(CapsTest, ParseRefusesUnknownNames) {
  for (const char* bad : {"FOO", "", "CAP_", "12", "ALL", "NET ADMIN", "cap_chown=ep"}) {
    EXPECT_THROW(caps::Parse(bad), UsageError) << bad;
  }
  try {
    caps::Parse("CAP_BANANA");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown capability \"CAP_BANANA\""),
              std::string::npos)
        << e.what();
  }
}

TEST(CapsTest, ResolveFollowsDockerRules) {
  const caps::CapSet def = caps::DockerDefault();
  EXPECT_EQ(caps::Resolve({}, {}), def);
  EXPECT_EQ(caps::Resolve({"NET_ADMIN"}, {}), def | (1ULL << CAP_NET_ADMIN));
  EXPECT_EQ(caps::Resolve({}, {"MKNOD", "cap_net_raw"}),
            def & ~(1ULL << CAP_MKNOD) & ~(1ULL << CAP_NET_RAW));
  // drop ALL: only what is added.
  EXPECT_EQ(caps::Resolve({"CHOWN"}, {"ALL"}), 1ULL << CAP_CHOWN);
  EXPECT_EQ(caps::Resolve({}, {"all"}), 0u);
  // add ALL: everything but the drops.
  EXPECT_EQ(caps::Resolve({"ALL"}, {"MKNOD"}), caps::All() & ~(1ULL << CAP_MKNOD));
  EXPECT_THROW(caps::Resolve({"NET_ADMIN", "NOPE"}, {}), UsageError);
  EXPECT_THROW(caps::Resolve({}, {"NOPE"}), UsageError);
}

TEST(CapsTest, AllCoversTheKernelsCapabilities) {
  const std::string last = ReadFile("/proc/sys/kernel/cap_last_cap");
  const int n = std::stoi(last) + 1;
  EXPECT_EQ(__builtin_popcountll(caps::All()), n);
}

TEST(CapsTest, ReadFromProcSeesOwnBoundingSet) {
  caps::ProcCaps c = caps::ReadFromProc();
  EXPECT_NE(c.bounding, 0u);
  EXPECT_EQ(c.effective & ~c.permitted, 0u);  // effective is always within permitted
}

TEST(CapsTest, ApplyInChildReducesAllSets) {
  if (!CanSetPcap()) GTEST_SKIP() << "needs root (CAP_SETPCAP)";
  ChildResult f = RunInChild([] {
    caps::ApplyInChild(caps::DockerDefault());
    caps::ProcCaps c = caps::ReadFromProc();
    return caps::Hex(c.bounding) + " " + caps::Hex(c.permitted) + " " +
           caps::Hex(c.effective) + " " + caps::Hex(c.inheritable) + " " +
           caps::Hex(c.ambient);
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out,
            "00000000a80425fb 00000000a80425fb 00000000a80425fb 0000000000000000 "
            "0000000000000000");
}

TEST(CapsTest, DroppedCapabilityIsRefusedByTheKernel) {
  if (!CanSetPcap()) GTEST_SKIP() << "needs root (CAP_SETPCAP)";
  // Without CAP_SYS_ADMIN, sethostname fails with EPERM even in a new UTS namespace
  // we create first (while we still have the capability).
  ChildResult f = RunInChild([] {
    Check(unshare(CLONE_NEWUTS), "unshare", "CLONE_NEWUTS");
    caps::ApplyInChild(caps::DockerDefault());
    int rc = sethostname("x", 1);
    return std::to_string(rc) + " " + std::to_string(rc == -1 ? errno : 0);
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "-1 " + std::to_string(EPERM));
}

TEST(CapsTest, ApplyInChildCannotRaiseBeyondBounding) {
  if (!CanSetPcap()) GTEST_SKIP() << "needs root (CAP_SETPCAP)";
  // After dropping to CHOWN only, asking for the default 14 keeps CHOWN only: the
  // bounding set and permitted set never grow back.
  ChildResult f = RunInChild([] {
    caps::ApplyInChild(1ULL << CAP_CHOWN);
    caps::ApplyInChild(caps::DockerDefault());
    caps::ProcCaps c = caps::ReadFromProc();
    return caps::Hex(c.bounding) + " " + caps::Hex(c.effective);
  });
  EXPECT_EQ(f.code, 0) << f.out;
  EXPECT_EQ(f.out, "0000000000000001 0000000000000001");
}

}  // namespace
}  // namespace nslab
