// Unit tests for common/timens: offsets parsed and validated; after
// unshare(CLONE_NEWTIME) the caller keeps its clocks while a child sees them
// shifted by exactly the offsets written; once the child exists, the offsets are
// fixed (EACCES). Every case that unshares runs in a forked child (testutil::RunInChild):
// the test process keeps the host's time namespace.
#include "common/timens.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/process.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

TEST(TimensTest, ParsesTheKernelsFormat) {
  timens::Offsets off =
      timens::ParseOffsets("monotonic           5         0\nboottime       864000         0\n");
  EXPECT_EQ(off.monotonic, 5);
  EXPECT_EQ(off.boottime, 864000);
  off = timens::ParseOffsets("1 -7 0\n7 12 0\n");  // numeric clock ids
  EXPECT_EQ(off.monotonic, -7);
  EXPECT_EQ(off.boottime, 12);
}

TEST(TimensTest, HostOffsetsAreZero) {
  // The initial time namespace's offsets (unless the test already runs in another).
  timens::Offsets off = timens::ReadOffsets();
  char a[64] = {}, b[64] = {};
  (void)!readlink("/proc/self/ns/time", a, sizeof a - 1);
  (void)!readlink("/proc/1/ns/time", b, sizeof b - 1);
  if (std::string(a) != b || std::string(a).empty()) GTEST_SKIP() << "not the host's time namespace";
  EXPECT_EQ(off.monotonic, 0);
  EXPECT_EQ(off.boottime, 0);
}

TEST(TimensTest, ValidateRefusesNegativeAndHugeClocks) {
  EXPECT_NO_THROW(timens::Validate({0, 0}));
  EXPECT_NO_THROW(timens::Validate({3600, 10 * 86400}));
  const long long up = static_cast<long long>(timens::Now(CLOCK_BOOTTIME));
  try {
    timens::Validate({0, -(up + 100)});
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--boottime"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("negative"), std::string::npos) << e.what();
  }
  EXPECT_THROW(timens::Validate({-(up + 100), 0}), UsageError);
  EXPECT_THROW(timens::Validate({0, 1LL << 62}), UsageError);
}

// The lesson of lab 04b: we stay, the child moves, by exactly the offsets.
TEST(TimensTest, ChildSeesShiftedClocksParentDoesNot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  testutil::ChildResult r = testutil::RunInChild([]() -> std::string {
    char before[64] = {}, after[64] = {};
    (void)!readlink("/proc/self/ns/time", before, sizeof before - 1);
    timens::UnshareForChildren();
    (void)!readlink("/proc/self/ns/time", after, sizeof after - 1);
    if (std::string(before) != after) return "the caller moved";
    const timens::Offsets off{3600, 864000};
    timens::WriteOffsets(off);
    const double boot_before = timens::Now(CLOCK_BOOTTIME);
    const double mono_before = timens::Now(CLOCK_MONOTONIC);
    Pipe out = MakePipe();
    process::Child child = process::Clone({0}, [&] {
      char buf[96];
      snprintf(buf, sizeof buf, "%.9f %.9f %.9f", timens::Now(CLOCK_BOOTTIME),
               timens::Now(CLOCK_MONOTONIC), timens::Uptime());
      WriteAll(out.write.Get(), buf);
      return 0;
    });
    child.Go();
    child.Wait();
    const double boot_after = timens::Now(CLOCK_BOOTTIME);
    const double mono_after = timens::Now(CLOCK_MONOTONIC);
    out.write.Reset();
    double boot = 0, mono = 0, up = 0;
    if (sscanf(ReadAll(out.read.Get()).c_str(), "%lf %lf %lf", &boot, &mono, &up) != 3)
      return "no clocks from the child";
    // Read between our two readings, shifted by the offset (uptime has 10 ms steps).
    if (boot - off.boottime < boot_before || boot - off.boottime > boot_after)
      return "boottime " + std::to_string(boot);
    if (mono - off.monotonic < mono_before || mono - off.monotonic > mono_after)
      return "monotonic " + std::to_string(mono);
    if (up - off.boottime < boot_before - 0.02 || up - off.boottime > boot_after)
      return "uptime " + std::to_string(up);
    return "ok";
  });
  EXPECT_EQ(r.out, "ok");
}

TEST(TimensTest, OffsetsAreFixedOnceAChildIsIn) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  testutil::ChildResult r = testutil::RunInChild([]() -> std::string {
    timens::UnshareForChildren();
    timens::WriteOffsets({0, 100});
    timens::WriteOffsets({0, 200});  // nobody is in it yet: may be written again
    process::Child child = process::Clone({0}, [] { return 0; });
    child.Go();
    child.Wait();
    try {
      timens::WriteOffsets({0, 300});
      return "second write after a child succeeded";
    } catch (const SysError& e) {
      if (e.err() != EACCES) return std::string("errno ") + e.what();
      if (std::string(e.what()).find("before the first child") == std::string::npos)
        return std::string("no hint: ") + e.what();
    }
    return timens::ReadOffsets().boottime == 200 ? "ok" : "offsets changed";
  });
  EXPECT_EQ(r.out, "ok");
}

TEST(TimensTest, CloneRefusesTheTimeFlag) {
  // clone(2) has no room for CLONE_NEWTIME: process::Clone says so instead of EINVAL.
  EXPECT_THROW(process::Clone({CLONE_NEWTIME}, [] { return 0; }), UsageError);
}

}  // namespace
}  // namespace nslab
