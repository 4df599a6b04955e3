// End-to-end test of labs/06b_propagation: with a volume at /data, a mount made on
// the host side under the volume reaches the sandbox when the volume is shared or
// slave, and one made inside reaches the host side only when it is shared; the
// peer group (shared:N) and the master (master:N) are checked in /proc/PID/mountinfo
// of the lab and of the sandbox; the real host's mount table never has any of it.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::ChildRunning;

const bool kRunDir = testutil::RunDirInTestTmpdir();

std::string RunDirOf(pid_t lab) {
  const char* base = std::getenv("NSLAB_RUN_DIR");
  return std::string(base != nullptr ? base : "/run/nslab") + "/06b_propagation-" +
         std::to_string(lab);
}

// The optional fields ("shared:3 master:1", "" when private) of the mount at point
// in pid's table; "none" when there is no mount there.
std::string Optional(pid_t pid, const std::string& point) {
  std::istringstream in(testutil::ReadText("/proc/" + std::to_string(pid) + "/mountinfo"));
  std::string line, result = "none";
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mp, opts, word, fields;
    f >> id >> parent >> dev >> root >> mp >> opts;
    if (mp != point) continue;
    while (f >> word && word != "-") fields += (fields.empty() ? "" : " ") + word;
    result = fields;
  }
  return result;
}

TEST(Lab06bTest, DemoEachModeSaysWhatCrosses) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  struct Want {
    const char* mode;
    bool in, out;
  };
  for (const Want& w : {Want{"shared", true, true}, Want{"slave", true, false},
                        Want{"private", false, false}, Want{"unbindable", false, false}}) {
    auto r = testutil::RunLab("06b_propagation", {"--propagation", w.mode});
    EXPECT_EQ(r.exit_code, 0) << w.mode << ": " << r.err;
    EXPECT_EQ(r.out.find("the host's mount is HERE too") != std::string::npos, w.in)
        << w.mode << "\n" << r.out;
    EXPECT_EQ(r.out.find("/from-inside is HERE too") != std::string::npos, w.out)
        << w.mode << "\n" << r.out;
    EXPECT_NE(r.out.find("my mount table is exactly what it was"), std::string::npos) << r.out;
  }
}

// Shared: the sandbox's /data is in the volume's peer group, and its mount under
// /data is in the lab's (the "host's") table; never in the real host's.
TEST(Lab06bTest, SharedVolumeIsAPeerSeenFromOutside) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("06b_propagation"), "--propagation", "shared",
                             "--", "sh", "-c",
                             "mkdir /data/in && mount -t tmpfs t /data/in && exec sleep 1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  const std::string vol = RunDirOf(bg.pid) + "/vol";
  const std::string group = Optional(bg.pid, vol);
  ASSERT_EQ(group.rfind("shared:", 0), 0u) << group;
  EXPECT_EQ(Optional(child, "/data"), group);             // the same peer group
  EXPECT_NE(Optional(bg.pid, vol + "/in"), "none");       // propagated to the lab
  EXPECT_EQ(Optional(getpid(), vol), "none");             // not in the real host's
  EXPECT_EQ(Optional(getpid(), vol + "/in"), "none");
  kill(child, SIGKILL);
  EXPECT_EQ(bg.Finish().exit_code, 128 + SIGKILL);
  EXPECT_FALSE(testutil::PathExists(RunDirOf(bg.pid)));
}

// Slave: /data's master is the volume's peer group; the mount inside stays inside.
TEST(Lab06bTest, SlaveVolumeHasTheVolumeAsMaster) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("06b_propagation"), "--propagation", "slave",
                             "--", "sh", "-c",
                             "mkdir /data/in && mount -t tmpfs t /data/in && exec sleep 1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  const std::string vol = RunDirOf(bg.pid) + "/vol";
  const std::string group = Optional(bg.pid, vol);
  ASSERT_EQ(group.rfind("shared:", 0), 0u) << group;
  EXPECT_EQ(Optional(child, "/data"), "master:" + group.substr(7));
  EXPECT_NE(Optional(child, "/data/in"), "none");
  EXPECT_EQ(Optional(bg.pid, vol + "/in"), "none");
  kill(child, SIGKILL);
  bg.Finish();
}

TEST(Lab06bTest, VolumeIsTheHostDirectoryItself) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  const std::string dir = testutil::MakeTempDir("vol");
  FILE* f = fopen((dir + "/given").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("from the host\n", f);
  fclose(f);
  auto r = testutil::RunLab("06b_propagation", {"--volume", dir, "--", "sh", "-c",
                                                "cat /data/given && echo back > /data/made"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from the host\n");
  EXPECT_EQ(testutil::ReadText(dir + "/made"), "back\n");  // a bind, not a copy
}

TEST(Lab06bTest, SigkillLeavesNoMountBehind) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  auto bg = testutil::Start({testutil::LabPath("06b_propagation"), "--", "sleep", "1000"});
  pid_t child = ChildRunning(bg.pid, "sleep");
  ASSERT_GT(child, 0);
  kill(bg.pid, SIGKILL);
  bg.Finish();
  EXPECT_TRUE(testutil::Eventually([&] { return !testutil::ProcessAlive(child); }));
  const std::string run = RunDirOf(bg.pid);
  for (const auto& m : testutil::MountPoints()) EXPECT_EQ(m.find(run), std::string::npos) << m;
  EXPECT_EQ(testutil::RunLab("06b_propagation", {"--", "true"}).exit_code, 0);
  EXPECT_FALSE(testutil::PathExists(run));
}

TEST(Lab06bTest, RefusesBadInput) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--propagation", "rshared", "--", "true"},
           {"--volume", "/nonexistent-06b", "--", "true"},
           {"--hostname", "a b", "--", "true"}}) {
    auto r = testutil::RunLab("06b_propagation", args);
    EXPECT_EQ(r.exit_code, 125) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(args[0]), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(Lab06bTest, HelpDocumentsTheFlags) {
  auto r = testutil::RunLab("06b_propagation", {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--propagation", "--volume", "--rootfs", "-v,--verbose"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
}

TEST(Lab06bTest, PropagatesExitStatus) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  EXPECT_EQ(testutil::RunLab("06b_propagation", {"--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(testutil::RunLab("06b_propagation", {"--", "no-such-command-6b"}).exit_code, 127);
}

}  // namespace
}  // namespace nslab
