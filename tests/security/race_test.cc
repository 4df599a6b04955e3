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

#include <cstdio>
#include <string>
#include <vector>

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
      // Mostly the real directory, so that starts both win and lose the race.
      usleep(200 + (i % 9) * 250);
    }
  }
}

// Puts root/sys and root/proc back, wherever the (stopped) racer was.
void Restore(const std::string& root) {
  for (const char* name : {"sys", "proc"}) {
    const std::string p = root + "/" + name;
    struct stat st;
    if (lstat((p + ".away").c_str(), &st) == 0) {
      unlink(p.c_str());
      rename((p + ".away").c_str(), p.c_str());
    }
  }
}

// The filesystem type mounted at `point` in pid's mount namespace ("" when none).
std::string FsAt(pid_t pid, const std::string& point) {
  std::string type;
  for (const auto& line : testutil::Lines(testutil::ReadText("/proc/" + std::to_string(pid) +
                                                             "/mountinfo"))) {
    std::vector<std::string> f;
    size_t pos = 0;
    while (pos < line.size()) {
      size_t sp = line.find(' ', pos);
      f.push_back(line.substr(pos, sp == std::string::npos ? sp : sp - pos));
      if (sp == std::string::npos) break;
      pos = sp + 1;
    }
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() > 4 && dash + 1 < f.size() && f[4] == point) type = f[dash + 1];  // the top one
  }
  return type;
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
    // The writer races the start only; then it is stopped, the rootfs put back as
    // it was, and the running container inspected from outside. (While it runs, a
    // --rootfs is the host user's to change: that is no start-up race.)
    kill(racer, SIGCONT);
    testutil::RunResult r;
    harness::Container c = [&] {
      std::vector<std::string> args = {"run", "-d", "--net", "none", "--rootfs", root, "sleep",
                                        "1000"};
      r = Cli(args);
      std::string id = r.out.substr(0, r.out.find('\n'));
      return r.exit_code == 0 ? harness::Container(id) : harness::Container();
    }();
    kill(racer, SIGSTOP);
    int status;
    waitpid(racer, &status, WUNTRACED);
    Restore(root);
    if (c.ok()) {
      ++ran;
      const pid_t init = c.InitPid();
      EXPECT_EQ(FsAt(init, "/proc"), "proc") << "ran without its /proc";
      EXPECT_EQ(FsAt(init, "/sys"), "sysfs") << "ran without its /sys";
      EXPECT_EQ(FsAt(init, "/sys/firmware"), "tmpfs") << "ran without the /sys/firmware mask";
      EXPECT_EQ(FsAt(init, "/proc/keys"), "devtmpfs") << "ran without the /proc/keys mask";
    } else {
      if (refused++ == 0) std::printf("first refusal: %s", r.err.c_str());
      EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
      EXPECT_EQ(harness::NonEmptyLines(r.err).size(), 1u) << r.err;
    }
  }
  kill(racer, SIGKILL);
  waitpid(racer, nullptr, 0);
  Restore(root);
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
