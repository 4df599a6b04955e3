// store — names are checked, the built-in image is unpacked once and atomically,
// imports work and refuse duplicates, unknown images are Docker's 125.
#include "common/store.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/error.h"
#include "common/image.h"

namespace nslab {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base_ = std::string(tmp ? tmp : "/tmp") + "/store-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    setenv("NSLAB_IMAGE_DIR", base_.c_str(), 1);
  }
  void TearDown() override {
    for (const auto& i : store::List()) store::Remove(i.name);
    rmdir((base_ + "/images").c_str());
    rmdir(base_.c_str());
    unsetenv("NSLAB_IMAGE_DIR");
  }
  std::string base_;
};

bool NoTemporaries(const std::string& images) {
  DIR* d = opendir(images.c_str());
  if (d == nullptr) return true;
  bool clean = true;
  while (dirent* e = readdir(d))
    if (std::string(e->d_name).rfind(".tmp-", 0) == 0) clean = false;
  closedir(d);
  return clean;
}

TEST_F(StoreTest, NamesAreNormalisedOrRefused) {
  EXPECT_EQ(store::NormalizeName("busybox"), "busybox");
  EXPECT_EQ(store::NormalizeName("busybox:latest"), "busybox");
  EXPECT_EQ(store::NormalizeName("my-image_1.0"), "my-image_1.0");
  for (const char* bad : {"", "..", ".x", "a/b", "A", "a b", "../../etc"})
    EXPECT_THROW(store::NormalizeName(bad), UsageError) << bad;
}

TEST_F(StoreTest, BuiltinIsUnpackedOnceOnFirstUse) {
  std::string rootfs = store::Rootfs("busybox");
  EXPECT_EQ(rootfs, base_ + "/images/busybox/rootfs");
  struct stat st;
  ASSERT_EQ(lstat((rootfs + "/bin/busybox").c_str(), &st), 0);
  ASSERT_EQ(lstat((rootfs + "/bin/sh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // A second call finds it: the same inode, not a new copy.
  struct stat again;
  ASSERT_EQ(stat(rootfs.c_str(), &st), 0);
  store::Rootfs("busybox:latest");
  ASSERT_EQ(stat(rootfs.c_str(), &again), 0);
  EXPECT_EQ(st.st_ino, again.st_ino);
  EXPECT_TRUE(NoTemporaries(base_ + "/images"));
  auto list = store::List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "busybox");
  EXPECT_EQ(list[0].source, "builtin");
  EXPECT_GT(list[0].size, 500000u);  // the static busybox binary alone is > 1 MB
  EXPECT_GT(list[0].files, 100u);
}

TEST_F(StoreTest, UnknownImageIs125) {
  try {
    store::Rootfs("nosuch");
    FAIL();
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 125);
    EXPECT_NE(std::string(e.what()).find("no such image: nosuch"), std::string::npos);
  }
}

TEST_F(StoreTest, ImportUnpacksAndRefusesDuplicates) {
  // A tarball file to import: the built-in image's bytes, written out.
  const std::string tar = base_ + "-busybox.tar";
  {
    std::ofstream out(tar, std::ios::binary);
    out << image::BuiltinBusybox();
  }
  store::Image img = store::Import(tar, "copy");
  EXPECT_EQ(img.name, "copy");
  EXPECT_GT(img.size, 0u);
  EXPECT_EQ(access((store::Rootfs("copy") + "/bin/busybox").c_str(), X_OK), 0);
  EXPECT_THROW(store::Import(tar, "copy"), UsageError);
  EXPECT_THROW(store::Import(base_ + "/missing.tar", "other"), UsageError);
  EXPECT_THROW(store::Import(base_, "dir"), UsageError);  // a directory is not a tarball
  EXPECT_TRUE(NoTemporaries(base_ + "/images"));
  unlink(tar.c_str());
}

TEST_F(StoreTest, CorruptTarballLeavesNothing) {
  std::string bad = base_ + "-bad.tar";
  {
    FILE* f = std::fopen(bad.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a tarball at all\n", f);
    std::fclose(f);
  }
  EXPECT_ANY_THROW(store::Import(bad, "broken"));
  EXPECT_EQ(access(store::ImageDir("broken").c_str(), F_OK), -1);
  EXPECT_TRUE(NoTemporaries(base_ + "/images"));
  unlink(bad.c_str());
}

TEST(StoreSizeTest, HumanSizes) {
  EXPECT_EQ(store::HumanSize(0), "0B");
  EXPECT_EQ(store::HumanSize(999), "999B");
  EXPECT_EQ(store::HumanSize(1990000), "1.99MB");
  EXPECT_EQ(store::HumanSize(4300000000ULL), "4.3GB");
}

}  // namespace
}  // namespace nslab
