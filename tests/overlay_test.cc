// Unit tests for common/overlay: the mount options, the layers prepared in a run
// directory, and copy-on-write itself — in a forked child with a private mount
// namespace, a write copies a lower file up, a delete leaves a whiteout (char 0,0),
// a directory made again is opaque, a new file is upper's only; the lowers never
// change; ScanUpper names each.
#include "common/overlay.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

void Put(const std::string& path, const std::string& text) {
  UniqueFd f = Open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  WriteAll(f.Get(), text, path);
}

TEST(OverlayTest, MountOptionsListLowersTopFirst) {
  overlay::Layers l{{"/r/top", "/r/image"}, "/r/upper", "/r/work"};
  EXPECT_EQ(overlay::MountOptions(l), "lowerdir=/r/top:/r/image,upperdir=/r/upper,workdir=/r/work");
}

TEST(OverlayTest, MountOptionsRefuseSeparatorsInPaths) {
  EXPECT_THROW(overlay::MountOptions({{"/a:b"}, "/u", "/w"}), UsageError);
  EXPECT_THROW(overlay::MountOptions({{"/a"}, "/u,x", "/w"}), UsageError);
}

TEST(OverlayTest, PrepareMakesTheLayers) {
  const std::string dir = testutil::MakeTempDir("ovlprep");
  rootfs::RunDir run(dir);
  const std::string extra = testutil::MakeTempDir("ovlextra");
  overlay::Layers l = overlay::PrepareFromParent(run, rootfs::Source{}, {extra});
  ASSERT_EQ(l.lowers.size(), 3u);
  EXPECT_EQ(l.lowers[0], extra);  // --lower on top
  EXPECT_EQ(l.lowers[1], dir + "/layer");
  EXPECT_EQ(l.lowers[2], dir + "/lower");
  EXPECT_TRUE(testutil::PathExists(dir + "/lower/bin/busybox"));
  EXPECT_TRUE(testutil::PathExists(dir + "/layer/etc/motd"));
  EXPECT_TRUE(testutil::Entries(l.upper).empty());
  EXPECT_TRUE(testutil::Entries(l.work).empty());
  EXPECT_THROW(overlay::PrepareFromParent(rootfs::RunDir(testutil::MakeTempDir("ovlbad")),
                                          rootfs::Source{}, {"/nonexistent-ovl"}),
               UsageError);
}

TEST(OverlayTest, CopyOnWriteLeavesTheLowersAlone) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string d = testutil::MakeTempDir("ovlcow");
  overlay::Layers l{{d + "/lower"}, d + "/upper", d + "/work"};
  for (const char* sub : {"/lower", "/lower/etc", "/lower/gone", "/upper", "/work", "/merged"})
    ASSERT_EQ(mkdir((d + sub).c_str(), 0755), 0) << sub;
  Put(d + "/lower/etc/conf", "lower\n");
  Put(d + "/lower/etc/old", "old\n");
  Put(d + "/lower/gone/inside", "hidden later\n");
  testutil::ChildResult r = testutil::RunInChild([&]() -> std::string {
    Check(unshare(CLONE_NEWNS), "unshare", "CLONE_NEWNS");
    Check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount", "/");
    overlay::MountInChild(l, d + "/merged");
    const std::string m = d + "/merged";
    {
      UniqueFd f = Open(m + "/etc/conf", O_WRONLY | O_APPEND);
      WriteAll(f.Get(), "changed\n", "conf");
    }
    Check(unlink((m + "/etc/old").c_str()), "unlink", "old");
    Check(unlink((m + "/gone/inside").c_str()), "unlink", "inside");
    Check(rmdir((m + "/gone").c_str()), "rmdir", "gone");
    Check(mkdir((m + "/gone").c_str(), 0755), "mkdir", "gone");
    Put(m + "/new", "new\n");
    // Seen through the overlay: the changes, not the lower.
    if (ReadFile(m + "/etc/conf") != "lower\nchanged\n") return "conf reads wrong";
    if (access((m + "/etc/old").c_str(), F_OK) == 0) return "old still there";
    if (!ListDir(m + "/gone").empty()) return "the lower's gone/ shines through";
    return "ok";
  });
  ASSERT_EQ(r.out, "ok");
  // The lower is untouched.
  EXPECT_EQ(testutil::ReadText(d + "/lower/etc/conf"), "lower\n");
  EXPECT_TRUE(testutil::PathExists(d + "/lower/etc/old"));
  EXPECT_TRUE(testutil::PathExists(d + "/lower/gone/inside"));
  // Upper holds the diff.
  EXPECT_EQ(testutil::ReadText(d + "/upper/etc/conf"), "lower\nchanged\n");
  struct stat st;
  ASSERT_EQ(lstat((d + "/upper/etc/old").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  std::map<std::string, overlay::UpperEntry::Kind> kinds;
  for (const auto& e : overlay::ScanUpper(l)) kinds[e.path] = e.kind;
  EXPECT_EQ(kinds["etc"], overlay::UpperEntry::kDir);
  EXPECT_EQ(kinds["etc/conf"], overlay::UpperEntry::kCopiedUp);
  EXPECT_EQ(kinds["etc/old"], overlay::UpperEntry::kWhiteout);
  EXPECT_EQ(kinds["gone"], overlay::UpperEntry::kOpaqueDir);
  EXPECT_EQ(kinds["new"], overlay::UpperEntry::kNew);
  EXPECT_EQ(kinds.count("gone/inside"), 0u);
}

}  // namespace
}  // namespace nslab
