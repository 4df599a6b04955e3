// log_test — issue 13's log flood: 400 MB on a container's stdout gave a 400 MB
// container.log. Now the shim rotates at --log-size-max and keeps 3 files; `logs`
// reads across the rotation, oldest first; and the shim's memory stays bounded while
// the container floods (VmRSS of the shim read from /proc while it copies).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
    harness::Init();
  }
};

// Bytes in container.log and its rotated parts.
uint64_t LogBytes(const std::string& id, int* files) {
  uint64_t total = 0;
  *files = 0;
  const std::string base = harness::StateDir() + "/" + id + "/container.log";
  for (int k = 0; k < 10; ++k) {
    struct stat st;
    if (stat((k == 0 ? base : base + "." + std::to_string(k)).c_str(), &st) != 0) continue;
    total += static_cast<uint64_t>(st.st_size);
    ++*files;
  }
  return total;
}

int64_t VmRssKb(pid_t pid) {
  std::string v = harness::ProcStatus(pid, "VmRSS");
  return v.empty() ? -1 : std::atoll(v.c_str());
}

TEST_F(LogTest, FloodOf400MbStaysWithinTheCapAndTheShimStaysSmall) {
  constexpr uint64_t kCap = 1 << 20;  // 1 MiB x 3 files
  harness::Container c = harness::RunDetached(
      {"--log-size-max", "1M", "busybox", "sh", "-c",
       "dd if=/dev/zero bs=65536 count=6400 2>/dev/null; echo END-OF-FLOOD"});
  ASSERT_TRUE(c.ok());
  const pid_t shim = static_cast<pid_t>(
      std::atoi(harness::Fact(harness::ReadState(c.id()), "shim_pid").c_str()));
  ASSERT_GT(shim, 0);
  int64_t max_rss = 0, samples = 0;
  harness::WaitFor([&] {
    int64_t rss = VmRssKb(shim);
    if (rss > 0) {
      ++samples;
      if (rss > max_rss) max_rss = rss;
    }
    int files;
    EXPECT_LE(LogBytes(c.id(), &files), 3 * kCap) << "over the cap while flooding";
    return harness::Fact(harness::ReadState(c.id()), "exited") == "1";
  }, 120);
  ASSERT_EQ(harness::Fact(harness::ReadState(c.id()), "exited"), "1") << "the flood never ended";
  int files = 0;
  const uint64_t bytes = LogBytes(c.id(), &files);
  EXPECT_LE(bytes, 3 * kCap);
  EXPECT_GT(bytes, 2 * kCap) << "rotation keeps the newest 2-3 MiB";
  EXPECT_EQ(files, 3);
  EXPECT_GT(samples, 0);
  // A static shim with one 16 KiB buffer: a few MiB at most, never the flood's size.
  EXPECT_LT(max_rss, 16 * 1024) << "shim VmRSS peaked at " << max_rss << " kB";
  auto logs = Cli({"logs", c.id()});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(logs.out.size(), bytes) << "logs reads every part";
  EXPECT_EQ(logs.out.substr(logs.out.size() - 13), "END-OF-FLOOD\n");
}

TEST_F(LogTest, LogsReadsAcrossTheRotationOldestFirst) {
  // 400000 numbered lines (2.7 MB) through a 64 KiB x 3 log: what is kept is the
  // newest stretch, and read back in order it counts up without a gap to 400000.
  harness::Container c =
      harness::RunDetached({"--log-size-max", "64k", "busybox", "seq", "1", "400000"});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(harness::WaitFor(
      [&] { return harness::Fact(harness::ReadState(c.id()), "exited") == "1"; }, 60));
  auto logs = Cli({"logs", c.id()});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  std::vector<std::string> lines = testutil::Lines(logs.out);
  ASSERT_GT(lines.size(), 1000u);
  EXPECT_LE(logs.out.size(), 3u * 65536);
  // The first line may be cut by the rotation; every following one is the next number.
  long prev = std::atol(lines[1].c_str());
  for (size_t i = 2; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    long v = std::atol(lines[i].c_str());
    ASSERT_EQ(v, prev + 1) << "line " << i;
    prev = v;
  }
  EXPECT_EQ(prev, 400000);
}

TEST_F(LogTest, DefaultCapIsTenMegabytesTimesThree) {
  harness::Container c = harness::RunDetached({"busybox", "sleep", "1000"});
  ASSERT_TRUE(c.ok());
  const std::string shim = harness::Fact(harness::ReadState(c.id()), "shim_pid");
  std::string cmdline = testutil::ReadText("/proc/" + shim + "/cmdline");
  for (char& ch : cmdline)
    if (ch == '\0') ch = ' ';
  EXPECT_NE(cmdline.find(" 10485760:3"), std::string::npos) << cmdline;
}

TEST_F(LogTest, BadLogSizeIsRefusedBeforeAnythingExists) {
  for (const char* bad : {"", "0", "-1", "banana", "10X", "100", "99999999999999G"}) {
    auto r = Cli({"run", "--rm", "--net", "none", "--log-size-max", bad, "busybox", "true"});
    EXPECT_EQ(r.exit_code, 125) << bad;
    EXPECT_NE(r.err.find("--log-size-max"), std::string::npos) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace nslab
