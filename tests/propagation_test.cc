// Unit tests for common/propagation: modes by name, and what each mode of a bind of
// a shared volume does with mounts made later on either side — in a forked child
// with a private mount namespace of its own (peers in one namespace propagate just
// as across namespaces).
#include "common/propagation.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/mount.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using propagation::Mode;

TEST(PropagationTest, ModesByName) {
  for (const auto& name : propagation::Names())
    EXPECT_EQ(propagation::Name(propagation::ParseMode(name)), name);
  EXPECT_EQ(propagation::FlagOf(Mode::kSlave), static_cast<unsigned long>(MS_SLAVE));
  EXPECT_EQ(propagation::FlagOf(Mode::kShared), static_cast<unsigned long>(MS_SHARED));
  EXPECT_THROW(propagation::ParseMode("rshared"), UsageError);
}

TEST(PropagationTest, WhichWayEventsGo) {
  EXPECT_TRUE(propagation::HostMountsReachInside(Mode::kShared));
  EXPECT_TRUE(propagation::InsideMountsReachHost(Mode::kShared));
  EXPECT_TRUE(propagation::HostMountsReachInside(Mode::kSlave));
  EXPECT_FALSE(propagation::InsideMountsReachHost(Mode::kSlave));
  EXPECT_FALSE(propagation::HostMountsReachInside(Mode::kPrivate));
  EXPECT_FALSE(propagation::InsideMountsReachHost(Mode::kUnbindable));
}

TEST(PropagationTest, VolumeIsANewPeerGroup) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string d = testutil::MakeTempDir("propvol");
  testutil::ChildResult r = testutil::RunInChild([&]() -> std::string {
    Check(unshare(CLONE_NEWNS), "unshare", "CLONE_NEWNS");
    Check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount", "/");
    propagation::MakeVolumeFromParent(d + "/vol", "");
    return mount::Propagation(d + "/vol");
  });
  EXPECT_EQ(r.out.rfind("shared:", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find("master:"), std::string::npos) << r.out;
}

// For each mode: a shared volume, its bind with that mode, a mount under each.
TEST(PropagationTest, BindOfASharedVolumeFollowsItsMode) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  for (const auto& name : propagation::Names()) {
    const Mode mode = propagation::ParseMode(name);
    const std::string d = testutil::MakeTempDir("prop" + name);
    testutil::ChildResult r = testutil::RunInChild([&]() -> std::string {
      Check(unshare(CLONE_NEWNS), "unshare", "CLONE_NEWNS");
      Check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount", "/");
      propagation::MakeVolumeFromParent(d + "/vol", "");
      if (mount::Propagation(d + "/vol").rfind("shared:", 0) != 0) return "volume not shared";
      propagation::BindVolumeInChild(d + "/vol", d + "/bind", mode);
      Check(mkdir((d + "/vol/h").c_str(), 0755), "mkdir", "h");
      mount::Mount("tmpfs", d + "/vol/h", "tmpfs", 0, "size=1m");
      Check(mkdir((d + "/bind/i").c_str(), 0755), "mkdir", "i");
      mount::Mount("tmpfs", d + "/bind/i", "tmpfs", 0, "size=1m");
      const bool in = propagation::HasMountAt(d + "/bind/h");
      const bool out = propagation::HasMountAt(d + "/vol/i");
      return std::string(in ? "in" : "-") + "," + (out ? "out" : "-") + "," +
             mount::Propagation(d + "/bind");
    });
    const std::string want = std::string(propagation::HostMountsReachInside(mode) ? "in" : "-") +
                             "," + (propagation::InsideMountsReachHost(mode) ? "out" : "-") + ",";
    EXPECT_EQ(r.out.substr(0, want.size()), want) << name << ": " << r.out;
    const std::string fields = r.out.substr(std::min(r.out.size(), want.size()));
    if (mode == Mode::kShared) {
      EXPECT_EQ(fields.rfind("shared:", 0), 0u) << fields;
    } else if (mode == Mode::kSlave) {
      EXPECT_EQ(fields.rfind("master:", 0), 0u) << fields;
    } else {
      EXPECT_EQ(fields, name);  // "private", "unbindable"
    }
  }
}

}  // namespace
}  // namespace nslab
