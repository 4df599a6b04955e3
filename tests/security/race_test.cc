// race_test — issue 13's symlink race on mount targets (CVE-2021-30465 style): while
// containers start from a --rootfs, a writer on the host keeps swapping its `sys`
// and `proc` for symlinks to / (and back). Before, 2 of 20 starts ran with no /sys
// (its /sys/firmware mask silently skipped). Now every start either runs with sysfs
// on /sys, procfs on /proc and the mask in place, or fails with one line; and
// nothing the engine makes lands on the host's root.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;

// Swaps root/name for a symlink to "/" and back, forever (until killed).
[[noreturn]] void Racer(const std::string& root) {
  for (unsigned i = 0;; ++i) {
    for (const char* name : {"sys", "proc"}) {
      const std::string p = root + "/" + name, away = p + ".away";
      if (rename(p.c_str(), away.c_str()) != 0) continue;
      symlink("/", p.c_str());
      if (i % 2) usleep(50);
      unlink(p.c_str());
      rename(away.c_str(), p.c_str());
    }
  }
}

TEST(RaceTest, SwappedMountTargetsNeverYieldAContainerWithoutSysOrMasks) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  harness::Init();
  const std::string root = harness::MakeRootfs("race");
  struct stat st;
  const bool had_null = lstat("/null", &st) == 0, had_pts = lstat("/pts", &st) == 0;
  pid_t racer = fork();
  if (racer == 0) Racer(root);
  int ran = 0, refused = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = Cli({"run", "--rm", "--net", "none", "--rootfs", root, "/bin/sh", "-c",
                  "stat -f -c %T /sys /proc /sys/firmware"});
    if (r.exit_code == 0) {
      ++ran;
      EXPECT_EQ(r.out, "sysfs\nproc\ntmpfs\n") << "ran without its /sys, /proc or mask";
    } else {
      ++refused;
      EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
      EXPECT_EQ(harness::NonEmptyLines(r.err).size(), 1u) << r.err;
    }
  }
  kill(racer, SIGKILL);
  waitpid(racer, nullptr, 0);
  // Put the rootfs back as it was, whatever the racer was in the middle of.
  for (const char* name : {"sys", "proc"}) {
    const std::string p = root + "/" + name;
    if (lstat((p + ".away").c_str(), &st) == 0) {
      unlink(p.c_str());
      rename((p + ".away").c_str(), p.c_str());
    }
  }
  EXPECT_EQ(ran + refused, 30);
  EXPECT_EQ(lstat("/null", &st) == 0, had_null) << "a node landed on the host's root";
  EXPECT_EQ(lstat("/pts", &st) == 0, had_pts) << "a directory landed on the host's root";
  std::printf("starts: %d ran with /sys and masks, %d refused with one line\n", ran, refused);
  // With nobody racing, the same rootfs runs.
  auto r = Cli({"run", "--rm", "--net", "none", "--rootfs", root, "/bin/sh", "-c",
                "stat -f -c %T /sys /proc /sys/firmware"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "sysfs\nproc\ntmpfs\n");
}

}  // namespace
}  // namespace nslab
