// Unit tests for common/image: the busybox image built into the binary unpacks
// with its modes and symlinks; from a file or from memory, hostile tarballs (built here with libarchive) are
// refused, naming the entry, and write nothing outside the destination.
#include "common/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using testutil::MakeTempDir;

struct Entry {
  Entry(std::string n, mode_t t = AE_IFREG, mode_t p = 0644, std::string d = "",
        std::string l = "", std::string h = "")
      : name(std::move(n)), type(t), perm(p), data(std::move(d)), link(std::move(l)),
        hardlink(std::move(h)) {}
  std::string name;
  mode_t type;
  mode_t perm;
  std::string data;      // file content
  std::string link;      // symlink target
  std::string hardlink;  // hardlink target
};

// Writes a ustar archive holding the entries, in order.
std::string WriteTar(const std::string& dir, const std::vector<Entry>& entries) {
  std::string path = dir + ".tar";
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  EXPECT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const Entry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, e.perm);
    if (!e.link.empty()) archive_entry_set_symlink(entry, e.link.c_str());
    if (!e.hardlink.empty()) archive_entry_set_hardlink(entry, e.hardlink.c_str());
    archive_entry_set_size(entry, e.data.size());
    archive_write_header(a, entry);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return path;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// Unpacks and returns the error message ("" if it succeeded) — from the file, and
// from the same bytes in memory named like the file: both variants share one
// extraction loop, so they must refuse alike, with the same message.
std::string UnpackError(const std::string& tar, const std::string& dest) {
  std::string from_file, from_memory;
  try {
    image::Unpack(tar, dest);
  } catch (const UsageError& e) {
    from_file = e.what();
  }
  const std::string bytes = ReadFile(tar);
  try {
    image::Unpack(std::string_view(bytes), tar, dest);
  } catch (const UsageError& e) {
    from_memory = e.what();
  }
  EXPECT_EQ(from_file, from_memory);
  return from_file;
}

TEST(ImageTest, UnpacksModesAndSymlinks) {
  std::string base = MakeTempDir("good");
  std::string dest = base + "/root";
  mkdir(dest.c_str(), 0755);
  std::string tar = WriteTar(base, {{"bin", AE_IFDIR, 0755},
                                    {"bin/tool", AE_IFREG, 04755, "#!/bin/sh\n"},
                                    {"bin/alias", AE_IFLNK, 0777, "", "/bin/tool"},
                                    {"tmp", AE_IFDIR, 01777}});
  image::UnpackStats s = image::Unpack(tar, dest);
  EXPECT_EQ(s.entries, 4u);
  EXPECT_EQ(s.symlinks, 1u);
  struct stat st;
  ASSERT_EQ(stat((dest + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755);
  ASSERT_EQ(stat((dest + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777);
  char target[64] = {};
  ASSERT_GT(readlink((dest + "/bin/alias").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "/bin/tool");
}

TEST(ImageTest, RefusesDotDot) {
  std::string base = MakeTempDir("dotdot");
  std::string dest = base + "/root";
  mkdir(dest.c_str(), 0755);
  std::string tar = WriteTar(base, {{"ok", AE_IFREG, 0644, "fine"},
                                    {"../evil", AE_IFREG, 0644, "pwned"}});
  std::string err = UnpackError(tar, dest);
  EXPECT_NE(err.find("\"../evil\""), std::string::npos) << err;
  EXPECT_FALSE(Exists(base + "/evil"));
}

TEST(ImageTest, RefusesAbsolutePath) {
  std::string base = MakeTempDir("abs");
  std::string dest = base + "/root";
  mkdir(dest.c_str(), 0755);
  std::string outside = base + "/abs_evil";
  std::string tar = WriteTar(base, {{outside, AE_IFREG, 0644, "pwned"}});
  std::string err = UnpackError(tar, dest);
  EXPECT_NE(err.find("absolute path"), std::string::npos) << err;
  EXPECT_FALSE(Exists(outside));
}

TEST(ImageTest, RefusesWritingThroughSymlink) {
  std::string base = MakeTempDir("symesc");
  std::string dest = base + "/root";
  std::string outside = base + "/outside";
  mkdir(dest.c_str(), 0755);
  mkdir(outside.c_str(), 0755);
  std::string tar = WriteTar(base, {{"link", AE_IFLNK, 0777, "", outside},
                                    {"link/evil", AE_IFREG, 0644, "pwned"}});
  std::string err = UnpackError(tar, dest);
  EXPECT_NE(err.find("\"link/evil\""), std::string::npos) << err;
  EXPECT_FALSE(Exists(outside + "/evil"));
}

TEST(ImageTest, RefusesHardlinkOutside) {
  std::string base = MakeTempDir("hard");
  std::string dest = base + "/root";
  mkdir(dest.c_str(), 0755);
  std::string tar = WriteTar(base, {{"h", AE_IFREG, 0644, "", "", "../../etc/passwd"}});
  std::string err = UnpackError(tar, dest);
  EXPECT_NE(err.find("hardlink"), std::string::npos) << err;
  EXPECT_FALSE(Exists(dest + "/h"));
}

TEST(ImageTest, RestoresWorkingDirectory) {
  char before[4096];
  ASSERT_NE(getcwd(before, sizeof before), nullptr);
  std::string base = MakeTempDir("cwd");
  std::string dest = base + "/root";
  mkdir(dest.c_str(), 0755);
  image::Unpack(WriteTar(base, {{"f", AE_IFREG, 0644, "x"}}), dest);
  char after[4096];
  ASSERT_NE(getcwd(after, sizeof after), nullptr);
  EXPECT_STREQ(before, after);
}

TEST(ImageTest, UnpacksFromMemory) {
  std::string base = MakeTempDir("mem");
  std::string dest = base + "/root";
  mkdir(dest.c_str(), 0755);
  const std::string bytes =
      ReadFile(WriteTar(base, {{"etc", AE_IFDIR, 0755}, {"etc/motd", AE_IFREG, 0600, "hi\n"}}));
  image::UnpackStats s = image::Unpack(std::string_view(bytes), "motd.tar", dest);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.files, 1u);
  EXPECT_EQ(ReadFile(dest + "/etc/motd"), "hi\n");
  struct stat st;
  ASSERT_EQ(stat((dest + "/etc/motd").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600);
}

TEST(ImageTest, GarbageInMemoryIsRefusedByName) {
  std::string dest = MakeTempDir("garbage");
  try {
    image::Unpack(std::string_view("this is not a tarball, not even close", 37), "junk.tar",
                  dest);
    FAIL() << "garbage was unpacked";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("\"junk.tar\""), std::string::npos) << e.what();
  }
}

TEST(ImageTest, BuiltinBusyboxIsATarball) {
  std::string_view tar = image::BuiltinBusybox();
  EXPECT_GT(tar.size(), 1u << 20) << "a static busybox is over a MiB";
  EXPECT_EQ(tar.size() % 512, 0u) << "tar is made of 512-byte blocks";
  ASSERT_GT(tar.size(), 262u);
  EXPECT_EQ(tar.substr(257, 5), "ustar");  // the magic of the first header (tar(5))
}

TEST(ImageTest, BuiltinBusyboxImage) {
  std::string dest = MakeTempDir("busybox");
  image::UnpackStats s =
      image::Unpack(image::BuiltinBusybox(), image::kBuiltinBusyboxName, dest);
  EXPECT_GT(s.symlinks, 100u);
  EXPECT_EQ(access((dest + "/bin/busybox").c_str(), X_OK), 0);
  for (const char* applet : {"bin/sh", "bin/ls", "bin/ps", "bin/cat", "bin/hostname",
                             "sbin/ip", "bin/ping", "usr/bin/id"}) {
    char target[64] = {};
    EXPECT_GT(readlink((dest + "/" + applet).c_str(), target, sizeof target - 1), 0) << applet;
    EXPECT_STREQ(target, "/bin/busybox") << applet;
  }
  EXPECT_NE(ReadFile(dest + "/etc/passwd").find("root:x:0:0:"), std::string::npos);
  EXPECT_NE(ReadFile(dest + "/etc/passwd").find("nobody:x:65534:"), std::string::npos);
  EXPECT_NE(ReadFile(dest + "/etc/group").find("root:x:0:"), std::string::npos);
  EXPECT_EQ(ReadFile(dest + "/etc/hostname"), "busybox\n");
  struct stat st;
  ASSERT_EQ(stat((dest + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777);
  for (const char* dir : {"proc", "sys", "dev", "root", "var", "usr/sbin"}) {
    EXPECT_EQ(stat((dest + "/" + dir).c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
  }
}

}  // namespace
}  // namespace nslab
