// Tests for common/image/ (layered images): digests, the image config and docker's
// command rules, layers unpacked with whiteouts turned into overlayfs markers, the
// store loading archives made by real tools — Debian's umoci (an OCI layout from
// busybox-static's binary) and skopeo (the same image as a docker-archive) — sharing
// layers on disk, an overlay of the lowerdirs mounted in a private mount namespace
// and checked with findmnt, rmi's reference counting, and hostile archives crafted
// here (a lying digest, whiteouts and manifests escaping the root, symlink tricks):
// refused in one line, nothing left in the store.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/image/archive.h"
#include "common/image/digest.h"
#include "common/image/layer.h"
#include "common/image/store.h"
#include "common/store.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using nlohmann::json;
using testutil::MakeTempDir;

struct Entry {
  Entry(std::string n, mode_t t = AE_IFREG, std::string d = "", std::string l = "")
      : name(std::move(n)), type(t), data(std::move(d)), link(std::move(l)) {}
  std::string name;
  mode_t type;
  std::string data;
  std::string link;
};

la_ssize_t AppendTo(archive*, void* p, const void* buf, size_t n) {
  static_cast<std::string*>(p)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

// A tar archive of the entries, in order, in memory (gzip'd when asked).
std::string TarBytes(const std::vector<Entry>& entries, bool gzip = false) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_open(a, &out, nullptr, AppendTo, nullptr);
  for (const Entry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, e.type == AE_IFDIR ? 0755 : 0644);
    if (!e.link.empty()) archive_entry_set_symlink(entry, e.link.c_str());
    archive_entry_set_size(entry, e.type == AE_IFREG ? e.data.size() : 0);
    archive_write_header(a, entry);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

void WriteBytes(const std::string& path, const std::string& data) {
  UniqueFd fd = Open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  WriteAll(fd.Get(), data, path);
}

std::string Hex(const std::string& d) { return d.substr(7); }

bool IsWhiteout(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

std::string Xattr(const std::string& path, const char* name) {
  char buf[64];
  ssize_t n = lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// A hand-made OCI image layout archive (the hostile ones start as a valid one).
struct Oci {
  std::vector<std::string> layers;  // layer blobs as stored
  std::vector<std::string> diff_ids;
  std::string ref = "hostile";
  std::function<void(json*)> edit_manifest, edit_config;
  std::vector<Entry> extra;         // entries added to the outer archive
  std::string lie_layer_name;       // store layer 0 under this hex instead
};
std::string WriteOci(const std::string& path, Oci o) {
  std::vector<Entry> out = {{"oci-layout", AE_IFREG, R"({"imageLayoutVersion":"1.0.0"})"},
                            {"blobs/", AE_IFDIR},
                            {"blobs/sha256/", AE_IFDIR}};
  json layers = json::array();
  for (size_t i = 0; i < o.layers.size(); ++i) {
    std::string d = digest::Of(o.layers[i]);
    if (o.diff_ids.size() <= i) o.diff_ids.push_back(d);
    layers.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                      {"digest", d},
                      {"size", o.layers[i].size()}});
    std::string name = (i == 0 && !o.lie_layer_name.empty()) ? o.lie_layer_name : Hex(d);
    out.push_back({"blobs/sha256/" + name, AE_IFREG, o.layers[i]});
  }
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", {{"Env", {"PATH=/bin"}}, {"Cmd", {"sh"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", o.diff_ids}}}};
  if (o.edit_config) o.edit_config(&config);
  std::string config_bytes = config.dump();
  out.push_back({"blobs/sha256/" + Hex(digest::Of(config_bytes)), AE_IFREG, config_bytes});
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", digest::Of(config_bytes)},
                     {"size", config_bytes.size()}}},
                   {"layers", layers}};
  if (o.edit_manifest) o.edit_manifest(&manifest);
  std::string manifest_bytes = manifest.dump();
  out.push_back({"blobs/sha256/" + Hex(digest::Of(manifest_bytes)), AE_IFREG, manifest_bytes});
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"digest", digest::Of(manifest_bytes)},
                   {"size", manifest_bytes.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", o.ref}}}}}}};
  out.push_back({"index.json", AE_IFREG, index.dump()});
  out.insert(out.end(), o.extra.begin(), o.extra.end());
  WriteBytes(path, TarBytes(out));
  return path;
}

// A hand-made docker-save archive: manifest.json names the config and layers.
std::string WriteDocker(const std::string& path, const std::string& layer,
                        const std::string& layer_path, const std::vector<Entry>& extra,
                        const std::string& config_path = "") {
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", {{"Cmd", {"sh"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {digest::Of(layer)}}}}};
  std::string cb = config.dump();
  std::string cname = Hex(digest::Of(cb)) + ".json";
  json manifest = json::array({{{"Config", config_path.empty() ? cname : config_path},
                                {"RepoTags", {"hostile:latest"}},
                                {"Layers", {layer_path}}}});
  std::vector<Entry> out = {{cname, AE_IFREG, cb}, {"manifest.json", AE_IFREG, manifest.dump()}};
  out.insert(out.end(), extra.begin(), extra.end());
  WriteBytes(path, TarBytes(out));
  return path;
}

std::string kBase = "busybox:latest";

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root (owners, whiteouts, trusted xattrs)";
    dir_ = MakeTempDir("images-store");
    setenv("NSLAB_IMAGE_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("NSLAB_IMAGE_DIR");
    unsetenv("NSLAB_STATE_DIR");
  }

  // What the store holds besides its skeleton (the two dirs and the lock file).
  std::vector<std::string> StoreContents() {
    std::vector<std::string> out;
    for (const auto& n : testutil::Entries(dir_ + "/layers"))
      if (n != ".lock") out.push_back("layers/" + n);
    for (const auto& n : testutil::Entries(dir_ + "/images")) out.push_back("images/" + n);
    return out;
  }

  // Load must fail with one line containing `want`, and leave the store empty.
  void ExpectRefused(const std::string& file, const std::string& want) {
    try {
      image::Load(file);
      ADD_FAILURE() << file << " was loaded";
    } catch (const UsageError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(want), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    EXPECT_EQ(StoreContents(), std::vector<std::string>{}) << file;
  }

  std::string dir_;
};

// --- digest, config, the command rules ---

TEST(DigestTest, Sha256OfKnownVectors) {
  EXPECT_EQ(digest::Of("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest::Of(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  digest::Sha256 h;  // in pieces, as a stream arrives
  h.Update("a", 1);
  h.Update("bc", 2);
  EXPECT_EQ(h.Digest(), digest::Of("abc"));
}

TEST(DigestTest, OnlyWellFormedSha256IsValid) {
  const std::string good = digest::Of("abc");
  EXPECT_TRUE(digest::Valid(good));
  EXPECT_FALSE(digest::Valid("sha256:../../../../etc/passwd"));
  EXPECT_FALSE(digest::Valid("sha512:" + Hex(good)));
  EXPECT_FALSE(digest::Valid("sha256:" + Hex(good).substr(1)));
  std::string upper = good;
  upper[10] = 'A';
  EXPECT_FALSE(digest::Valid(upper));
  EXPECT_THROW(digest::Hex("sha256:../x"), UsageError);
  EXPECT_EQ(digest::Short(good), "ba7816bf8f01");
}

TEST(ConfigTest, ParsesTheFieldsARunUses) {
  std::vector<std::string> diff_ids;
  const std::string d = digest::Of("x");
  image::Config c = image::ParseConfig(
      R"({"config":{"Env":["PATH=/bin","A=1"],"Entrypoint":["/init"],"Cmd":["-v"],)"
      R"("WorkingDir":"/srv","User":"1000:1000"},"rootfs":{"type":"layers","diff_ids":[")" +
          d + R"("]}})",
      &diff_ids);
  EXPECT_EQ(c.env, (std::vector<std::string>{"PATH=/bin", "A=1"}));
  EXPECT_EQ(c.entrypoint, std::vector<std::string>{"/init"});
  EXPECT_EQ(c.cmd, std::vector<std::string>{"-v"});
  EXPECT_EQ(c.working_dir, "/srv");
  EXPECT_EQ(c.user, "1000:1000");
  EXPECT_EQ(diff_ids, std::vector<std::string>{d});
  EXPECT_THROW(image::ParseConfig("{not json", &diff_ids), UsageError);
  EXPECT_THROW(image::ParseConfig(R"({"rootfs":{"type":"layers","diff_ids":["sha256:.."]}})",
                                  &diff_ids),
               UsageError);
}

TEST(ConfigTest, CommandFollowsDockerRunRules) {
  image::Config c;
  c.entrypoint = {"/init"};
  c.cmd = {"--serve"};
  using V = std::vector<std::string>;
  EXPECT_EQ(image::Command(c, {}), (V{"/init", "--serve"}));
  EXPECT_EQ(image::Command(c, {"--once"}), (V{"/init", "--once"}));
  // --entrypoint replaces the image's and drops its Cmd.
  EXPECT_EQ(image::Command(c, {}, true, {"sh"}), (V{"sh"}));
  EXPECT_EQ(image::Command(c, {"-c", "id"}, true, {"sh"}), (V{"sh", "-c", "id"}));
  image::Config e;
  e.env = {"PATH=/bin", "A=1"};
  EXPECT_EQ(image::Environment(e, {"A=2", "B=3", "C"}),
            (V{"PATH=/bin", "A=2", "B=3"}));
}

// --- one layer ---

TEST(LayerTest, WhiteoutsBecomeOverlayMarkersAndDigestsCoverTheStream) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root (trusted.overlay.opaque)";
  const std::string tar = TarBytes({{"etc/", AE_IFDIR},
                                    {"etc/.wh.old", AE_IFREG},
                                    {"etc/new", AE_IFREG, "new\n"},
                                    {"opt/", AE_IFDIR},
                                    {"opt/.wh..wh..opq", AE_IFREG},
                                    {"opt/only", AE_IFREG, "only\n"},
                                    {"var/lib/.wh.gone", AE_IFREG}});  // parents not listed
  const std::string gz = TarBytes({{"etc/", AE_IFDIR}, {"etc/.wh.old", AE_IFREG}}, true);
  const std::string dir = MakeTempDir("layer");
  WriteBytes(dir + ".tar", tar);
  image::LayerStats s = image::UnpackLayerFile(dir + ".tar", dir);
  EXPECT_EQ(s.diff_id, digest::Of(tar));
  EXPECT_EQ(s.blob_digest, digest::Of(tar));  // uncompressed: the same bytes
  EXPECT_EQ(s.whiteouts, 2u);
  EXPECT_EQ(s.opaques, 1u);
  EXPECT_TRUE(IsWhiteout(dir + "/etc/old"));
  EXPECT_TRUE(IsWhiteout(dir + "/var/lib/gone"));
  EXPECT_EQ(Xattr(dir + "/opt", "trusted.overlay.opaque"), "y");
  EXPECT_EQ(Xattr(dir + "/etc", "trusted.overlay.opaque"), "");
  EXPECT_EQ(testutil::ReadText(dir + "/etc/new"), "new\n");
  EXPECT_FALSE(testutil::PathExists(dir + "/etc/.wh.old"));
  EXPECT_FALSE(testutil::PathExists(dir + "/opt/.wh..wh..opq"));

  // gzip: the blob digest is of the compressed bytes, the diff_id of the tar inside.
  const std::string dir2 = MakeTempDir("layer-gz");
  WriteBytes(dir2 + ".tar.gz", gz);
  s = image::UnpackLayerFile(dir2 + ".tar.gz", dir2);
  EXPECT_EQ(s.blob_digest, digest::Of(gz));
  EXPECT_NE(s.diff_id, s.blob_digest);
  EXPECT_TRUE(IsWhiteout(dir2 + "/etc/old"));
}

TEST(LayerTest, RefusesWhiteoutsThatEscapeTheLayer) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  struct Case {
    std::vector<Entry> entries;
    std::string want;
  } cases[] = {
      {{{"../.wh.victim", AE_IFREG}}, "\"..\" component"},
      {{{"/.wh.victim", AE_IFREG}}, "absolute path"},
      {{{"a/../../.wh.victim", AE_IFREG}}, "\"..\" component"},
      // A symlink to the outside, then a whiteout "through" it.
      {{{"up", AE_IFLNK, "", ".."}, {"up/.wh.victim", AE_IFREG}}, "not a directory"},
      {{{"up", AE_IFLNK, "", ".."}, {"up/.wh..wh..opq", AE_IFREG}}, "not a directory"},
  };
  for (const auto& c : cases) {
    const std::string parent = MakeTempDir("escape");
    const std::string dir = parent + "/layer";
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    WriteBytes(parent + "/victim", "still here\n");
    WriteBytes(parent + ".tar", TarBytes(c.entries));
    try {
      image::UnpackLayerFile(parent + ".tar", dir);
      ADD_FAILURE() << c.entries.back().name << " was unpacked";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(c.want), std::string::npos) << e.what();
    }
    EXPECT_EQ(testutil::ReadText(parent + "/victim"), "still here\n") << c.entries.back().name;
    EXPECT_EQ(Xattr(parent, "trusted.overlay.opaque"), "") << c.entries.back().name;
  }
}

TEST(LayerTest, DropsTrustedXattrsTheLayerCarries) {
  if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax(a);
  archive_write_open(a, &out, nullptr, AppendTo, nullptr);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "d");
  archive_entry_set_filetype(e, AE_IFDIR);
  archive_entry_set_perm(e, 0755);
  archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
  archive_entry_xattr_add_entry(e, "user.kept", "1", 1);
  archive_write_header(a, e);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  const std::string dir = MakeTempDir("xattr");
  WriteBytes(dir + ".tar", out);
  image::UnpackLayerFile(dir + ".tar", dir);
  EXPECT_EQ(Xattr(dir + "/d", "trusted.overlay.opaque"), "");
  EXPECT_EQ(Xattr(dir + "/d", "user.kept"), "1");
}

// --- the store, with archives made by umoci and skopeo ---

// Builds, with umoci, an OCI layout of two tags sharing a base layer:
//   base: bin/busybox (Debian's busybox-static), etc/motd, etc/old
//   app:  base + a layer deleting etc/old (a whiteout) and adding etc/app,
//         with Env/Cmd/WorkingDir/User set;
// then tars the layout (an OCI archive) and converts app with skopeo to a
// docker-archive. Returns "" and fails the test when a tool is missing.
struct ToolImages {
  std::string oci_tar, docker_tar;
};
ToolImages MakeWithTools(const std::string& dir) {
  const std::string script = R"(set -e
cd ")" + dir + R"("
umoci init --layout L
umoci new --image L:base
umoci unpack --image L:base b >/dev/null
mkdir -p b/rootfs/bin b/rootfs/etc
cp /bin/busybox b/rootfs/bin/busybox
echo hi > b/rootfs/etc/motd
echo old > b/rootfs/etc/old
umoci repack --image L:base b
umoci config --image L:base --tag app --config.env FOO=bar --config.cmd /bin/busybox \
  --config.cmd sh --config.workingdir /etc --config.user 1000:1000
umoci unpack --image L:app c >/dev/null
rm c/rootfs/etc/old
echo app > c/rootfs/etc/app
umoci repack --image L:app c
tar -C L -cf oci.tar .
skopeo copy -q oci:L:app docker-archive:docker.tar:dapp:latest
)";
  testutil::RunResult r = testutil::Run({"sh", "-c", script}, "", 120);
  EXPECT_EQ(r.exit_code, 0) << "umoci/skopeo (scripts/setup installs them): " << r.err;
  if (r.exit_code != 0) return {};
  return {dir + "/oci.tar", dir + "/docker.tar"};
}

TEST_F(StoreTest, LoadsUmociAndSkopeoArchivesSharingLayersAndRmiCounts) {
  ToolImages t = MakeWithTools(MakeTempDir("tools"));
  if (t.oci_tar.empty()) return;

  // The OCI archive holds both tags: two images, two layers (the base shared).
  std::vector<image::StoredImage> loaded = image::Load(t.oci_tar);
  ASSERT_EQ(loaded.size(), 2u);
  image::Resolved app = image::Resolve("app"), base = image::Resolve("base");
  ASSERT_EQ(app.layer_dirs.size(), 2u);
  ASSERT_EQ(base.layer_dirs.size(), 1u);
  EXPECT_EQ(app.layer_dirs[1], base.layer_dirs[0]);  // one directory on disk for both
  EXPECT_EQ(app.lowerdir, app.layer_dirs[0] + ":" + app.layer_dirs[1]);  // top first
  auto layer_dirs = [&] {
    std::vector<std::string> out;
    for (const auto& n : testutil::Entries(dir_ + "/layers"))
      if (n[0] != '.') out.push_back(n);
    return out;
  };
  EXPECT_EQ(layer_dirs().size(), 2u);

  // Checked on disk: the layers, the whiteout as a 0/0 char device, the config.
  EXPECT_TRUE(testutil::PathExists(base.layer_dirs[0] + "/bin/busybox"));
  EXPECT_EQ(testutil::ReadText(base.layer_dirs[0] + "/etc/old"), "old\n");
  EXPECT_TRUE(IsWhiteout(app.layer_dirs[0] + "/etc/old"));
  EXPECT_EQ(testutil::ReadText(app.layer_dirs[0] + "/etc/app"), "app\n");
  EXPECT_FALSE(testutil::PathExists(app.layer_dirs[0] + "/bin/busybox"));
  EXPECT_EQ(app.config.env, std::vector<std::string>{"FOO=bar"});
  EXPECT_EQ(app.config.cmd, (std::vector<std::string>{"/bin/busybox", "sh"}));
  EXPECT_EQ(app.config.working_dir, "/etc");
  EXPECT_EQ(app.config.user, "1000:1000");
  // The image id is the config's digest: the record holds its bytes.
  EXPECT_EQ(digest::Of(testutil::ReadText(store::ImageDir("app") + "/config.json")), app.id);

  // skopeo's docker-archive of app: the same diff_ids, so not one layer more.
  loaded = image::Load(t.docker_tar);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].name, "dapp");
  EXPECT_EQ(loaded[0].format, "docker-archive");
  EXPECT_EQ(image::Resolve("dapp").lowerdir, app.lowerdir);
  EXPECT_EQ(layer_dirs().size(), 2u);
  EXPECT_THROW(image::Load(t.docker_tar), UsageError);  // dapp exists already

  // The overlay of those lowerdirs, mounted in a private mount namespace: findmnt
  // shows the lowerdirs, the top layer's file is there, the whiteout hides etc/old.
  const std::string m = MakeTempDir("merged");
  const std::string script = "set -e; mkdir " + m + "/u " + m + "/w " + m + "/root\n" +
                             "mount -t overlay overlay -o lowerdir=" + app.lowerdir +
                             ",upperdir=" + m + "/u,workdir=" + m + "/w " + m + "/root\n" +
                             "findmnt -n -o FSTYPE,OPTIONS " + m + "/root\n" +
                             "cat " + m + "/root/etc/app " + m + "/root/etc/motd\n" +
                             "test ! -e " + m + "/root/etc/old && echo old-hidden\n" +
                             m + "/root/bin/busybox echo busybox-runs\n";
  testutil::RunResult r =
      testutil::Run({"unshare", "--mount", "--propagation", "private", "sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = testutil::Lines(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_EQ(lines[0].rfind("overlay ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("lowerdir=" + app.lowerdir), std::string::npos) << lines[0];
  EXPECT_EQ(lines[1], "app");
  EXPECT_EQ(lines[2], "hi");
  EXPECT_EQ(lines[3], "old-hidden");
  EXPECT_EQ(lines[4], "busybox-runs");
  EXPECT_FALSE(testutil::HasLine(testutil::ReadText("/proc/self/mountinfo"), m + "/root"));
  for (const auto& mp : testutil::MountPoints()) EXPECT_NE(mp, m + "/root");  // not ours

  // images: three images naming the base layer.
  std::vector<image::StoredImage> all = image::List();
  ASSERT_EQ(all.size(), 3u);
  for (const auto& img : all) EXPECT_EQ(img.layers[0].used_by, 3) << img.name;
  EXPECT_GT(all[0].size, 1000000u);  // busybox
  EXPECT_NE(image::RenderList(all).find("shared by 3 images"), std::string::npos);

  // rmi: a layer goes with the last image that names it.
  EXPECT_EQ(image::Remove("base"), std::vector<std::string>{});
  EXPECT_EQ(image::Remove("app"), std::vector<std::string>{});
  EXPECT_EQ(layer_dirs().size(), 2u);
  EXPECT_EQ(image::Remove("dapp").size(), 2u);
  EXPECT_EQ(layer_dirs().size(), 0u);
  EXPECT_EQ(StoreContents(), std::vector<std::string>{});
  EXPECT_THROW(image::Remove("dapp"), ExitCodeError);
  EXPECT_THROW(image::Resolve("app"), ExitCodeError);
}

// A crafted two-layer image whose top layer makes opt/ opaque and deletes etc/x:
// mounted, only the top layer's opt/ shows, and etc/x is gone (the kernel read our
// markers as its own).
TEST_F(StoreTest, OverlayHonoursOpaqueDirsAndWhiteouts) {
  Oci o;
  o.ref = "opaque";
  o.layers = {TarBytes({{"opt/", AE_IFDIR},
                        {"opt/a", AE_IFREG, "a"},
                        {"opt/b", AE_IFREG, "b"},
                        {"etc/", AE_IFDIR},
                        {"etc/x", AE_IFREG, "x"},
                        {"etc/y", AE_IFREG, "y"}}),
              TarBytes({{"opt/", AE_IFDIR},
                        {"opt/.wh..wh..opq", AE_IFREG},
                        {"opt/c", AE_IFREG, "c"},
                        {"etc/.wh.x", AE_IFREG}},
                       /*gzip=*/true)};
  o.diff_ids = {digest::Of(o.layers[0]), ""};
  {  // the diff_id of a gzip'd layer is the digest of the tar inside
    const std::string d = MakeTempDir("gz");
    WriteBytes(d + ".tgz", o.layers[1]);
    o.diff_ids[1] = image::UnpackLayerFile(d + ".tgz", "").diff_id;
  }
  const std::string d = MakeTempDir("opaque");
  image::Load(WriteOci(d + "/opaque.tar", o));
  image::Resolved r = image::Resolve("opaque");
  const std::string m = MakeTempDir("merged");
  testutil::RunResult run = testutil::Run(
      {"unshare", "--mount", "--propagation", "private", "sh", "-c",
       "mkdir " + m + "/u " + m + "/w " + m + "/root && mount -t overlay overlay -o lowerdir=" +
           r.lowerdir + ",upperdir=" + m + "/u,workdir=" + m + "/w " + m + "/root && ls " + m +
           "/root/opt " + m + "/root/etc"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, m + "/root/etc:\ny\n\n" + m + "/root/opt:\nc\n");
  image::Remove("opaque");
}

// --- hostile archives ---

TEST_F(StoreTest, RefusesALayerWhoseDigestLies) {
  const std::string layer = TarBytes({{"etc/", AE_IFDIR}, {"etc/x", AE_IFREG, "x\n"}});
  const std::string d = MakeTempDir("hostile");
  // The blob is stored under (and named by) the digest of other bytes.
  Oci o;
  o.layers = {layer};
  o.lie_layer_name = Hex(digest::Of("other"));
  o.edit_manifest = [&](json* m) { (*m)["layers"][0]["digest"] = digest::Of("other"); };
  ExpectRefused(WriteOci(d + "/lie.tar", o), "digest mismatch");
  // The config's diff_id lies (the blob digest is right).
  Oci o2;
  o2.layers = {layer};
  o2.diff_ids = {digest::Of("other")};
  ExpectRefused(WriteOci(d + "/diffid.tar", o2), "diff_id mismatch");
  // The size lies.
  Oci o3;
  o3.layers = {layer};
  o3.edit_manifest = [](json* m) { (*m)["layers"][0]["size"] = 5; };
  ExpectRefused(WriteOci(d + "/size.tar", o3), "descriptor says 5");
  // A second, good layer unpacked before the lying one is removed again.
  Oci o4;
  o4.layers = {TarBytes({{"ok", AE_IFREG, "ok"}}), layer};
  o4.diff_ids = {digest::Of(o4.layers[0]), digest::Of("other")};
  ExpectRefused(WriteOci(d + "/second.tar", o4), "diff_id mismatch");
}

TEST_F(StoreTest, RefusesWhiteoutsEscapingTheRoot) {
  const std::string d = MakeTempDir("hostile");
  Oci o;
  o.layers = {TarBytes({{"../.wh.images", AE_IFREG}})};
  ExpectRefused(WriteOci(d + "/dotdot.tar", o), "\"..\" component");
  Oci o2;
  o2.layers = {TarBytes({{"/.wh.etc", AE_IFREG}})};
  ExpectRefused(WriteOci(d + "/abs.tar", o2), "absolute path");
  Oci o3;
  o3.layers = {TarBytes({{"l", AE_IFLNK, "", "/"}, {"l/.wh.etc", AE_IFREG}})};
  ExpectRefused(WriteOci(d + "/link.tar", o3), "not a directory");
  EXPECT_TRUE(testutil::IsDir("/etc"));
}

TEST_F(StoreTest, RefusesManifestsPointingOutsideTheArchive) {
  const std::string d = MakeTempDir("hostile");
  const std::string layer = TarBytes({{"x", AE_IFREG, "x"}});
  ExpectRefused(WriteDocker(d + "/dotdot.tar", layer, "../../../../etc/passwd", {}),
                "outside the archive");
  ExpectRefused(WriteDocker(d + "/abs.tar", layer, "/etc/passwd", {}), "outside the archive");
  ExpectRefused(WriteDocker(d + "/absent.tar", layer, "nothere/layer.tar", {}),
                "not in the archive");
  ExpectRefused(WriteDocker(d + "/cfg.tar", layer, "l.tar", {{"l.tar", AE_IFREG, layer}},
                            "../etc/passwd"),
                "outside the archive");
  // An OCI descriptor whose "digest" is a path.
  Oci o;
  o.layers = {layer};
  o.edit_manifest = [](json* m) { (*m)["layers"][0]["digest"] = "sha256:../../../etc/passwd"; };
  ExpectRefused(WriteOci(d + "/digestpath.tar", o), "not a sha256 digest");
  // An archive entry that is itself "../x".
  Oci o2;
  o2.layers = {layer};
  o2.extra = {{"../escape", AE_IFREG, "x"}};
  ExpectRefused(WriteOci(d + "/entry.tar", o2), "outside the archive");
}

TEST_F(StoreTest, RefusesSymlinkLayerTricks) {
  const std::string d = MakeTempDir("hostile");
  const std::string layer = TarBytes({{"x", AE_IFREG, "x"}});
  // docker save links a repeated layer to its first copy; these links leave.
  ExpectRefused(WriteDocker(d + "/abs.tar", layer, "a/layer.tar",
                            {{"a/", AE_IFDIR}, {"a/layer.tar", AE_IFLNK, "", "/etc/passwd"}}),
                "leaves the archive");
  ExpectRefused(
      WriteDocker(d + "/up.tar", layer, "a/layer.tar",
                  {{"a/", AE_IFDIR}, {"a/layer.tar", AE_IFLNK, "", "../../etc/passwd"}}),
      "leaves the archive");
  ExpectRefused(WriteDocker(d + "/loop.tar", layer, "a",
                            {{"a", AE_IFLNK, "", "b"}, {"b", AE_IFLNK, "", "a"}}),
                "too many levels of symlinks");
  // Two entries of one name: which would a reader see?
  ExpectRefused(WriteDocker(d + "/twice.tar", layer, "l.tar",
                            {{"l.tar", AE_IFREG, layer}, {"l.tar", AE_IFREG, "other"}}),
                "appears twice");
  // ...while a link that stays inside is followed (docker save's own layout).
  const std::string ok = WriteDocker(d + "/ok.tar", layer, "a/layer.tar",
                                     {{"blob.tar", AE_IFREG, layer},
                                      {"a/", AE_IFDIR},
                                      {"a/layer.tar", AE_IFLNK, "", "../blob.tar"}});
  std::vector<image::StoredImage> loaded = image::Load(ok);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].name, "hostile");
  EXPECT_EQ(testutil::ReadText(image::Resolve("hostile").layer_dirs[0] + "/x"), "x");
  image::Remove("hostile");
  EXPECT_EQ(StoreContents(), std::vector<std::string>{});
}

TEST_F(StoreTest, LeftoversOfAKilledLoadAreRemovedByTheNext) {
  ASSERT_EQ(mkdir((dir_ + "/layers").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir_ + "/images").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir_ + "/layers/.tmp-abc-123456").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir_ + "/images/.tmp-load-x-123456").c_str(), 0755), 0);
  Oci o;
  o.layers = {TarBytes({{"x", AE_IFREG, "x"}})};
  const std::string d = MakeTempDir("ok");
  image::Load(WriteOci(d + "/ok.tar", o));
  EXPECT_EQ(StoreContents(),
            (std::vector<std::string>{"layers/" + Hex(digest::Of(o.layers[0])), "images/hostile"}));
}

// The CLI's hooks: exit 125 and one line for a hostile archive; load, images, rmi.
TEST_F(StoreTest, CliLoadImagesRmi) {
  const std::string d = MakeTempDir("cli");
  Oci lie;
  lie.layers = {TarBytes({{"x", AE_IFREG, "x"}})};
  lie.diff_ids = {digest::Of("other")};
  testutil::RunResult r = testutil::RunLab("11_container", {"load", WriteOci(d + "/lie.tar", lie)});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(testutil::Lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("11_container: load \"", 0), 0u) << r.err;
  EXPECT_EQ(StoreContents(), std::vector<std::string>{});

  Oci good;
  good.layers = {TarBytes({{"x", AE_IFREG, "x"}})};
  good.ref = "good";
  r = testutil::RunLab("11_container", {"load", WriteOci(d + "/good.tar", good)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Loaded image: good (1 layer, 1B)\n");
  r = testutil::RunLab("11_container", {"images"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\ngood "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  layer " + digest::Short(digest::Of(good.layers[0]))), std::string::npos)
      << r.out;
  r = testutil::RunLab("11_container", {"rmi", "good"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Untagged: good\nDeleted: " + digest::Of(good.layers[0]) + "\n");
  r = testutil::RunLab("11_container", {"rmi", "good"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err, "11_container: no such image: good\n");
  // The built-in busybox was unpacked by `images`; no layered leftovers.
  for (const auto& n : StoreContents()) EXPECT_EQ(n, "images/busybox");
}

// Ctrl-C in the middle of unpacking a layer: exit 130, one line, nothing left. The
// signal is sent when inotify reports the layer's temporary directory (no sleep): a
// 32 MiB file (gzip'd to ~32 KiB) then still has most of its bytes to write.
TEST_F(StoreTest, CliLoadInterruptedCleansUp) {
  Oci o;
  o.ref = "big";
  const std::vector<Entry> zeros = {{"zeros", AE_IFREG, std::string(32 << 20, '\0')}};
  o.diff_ids = {digest::Of(TarBytes(zeros))};
  o.layers = {TarBytes(zeros, true)};
  const std::string file = WriteOci(MakeTempDir("big") + "/big.tar", o);
  ASSERT_EQ(mkdir((dir_ + "/layers").c_str(), 0755), 0);
  UniqueFd in(inotify_init1(IN_CLOEXEC));
  ASSERT_GE(inotify_add_watch(in.Get(), (dir_ + "/layers").c_str(), IN_CREATE), 0);
  testutil::Background bg = testutil::Start({testutil::LabPath("11_container"), "load", file});
  for (bool seen = false; !seen;) {
    alignas(inotify_event) char buf[4096];
    ssize_t n = read(in.Get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      if (ev->len > 0 && std::string(ev->name).rfind(".tmp-", 0) == 0) seen = true;
      p += sizeof(inotify_event) + ev->len;
    }
  }
  ASSERT_EQ(kill(bg.pid, SIGINT), 0);
  testutil::RunResult r = bg.Finish();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_EQ(testutil::Lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("interrupted by SIGINT: nothing was stored"), std::string::npos) << r.err;
  EXPECT_EQ(StoreContents(), std::vector<std::string>{});
}

// `run` of a loaded image (the hook in container::Prepare): the root is an overlay of
// the image's layers, checked in the container's own /proc/PID/mountinfo; the
// whiteout hides etc/old inside; rmi refuses while a container names the image.
TEST_F(StoreTest, RunsALoadedImageFromItsLayers) {
  ToolImages t = MakeWithTools(MakeTempDir("tools"));
  if (t.oci_tar.empty()) return;
  const std::string state = MakeTempDir("run-state");
  setenv("NSLAB_STATE_DIR", state.c_str(), 1);
  auto ctr = [](const std::vector<std::string>& args) {
    return testutil::RunLab("11_container", args, "", 90);
  };
  ASSERT_EQ(ctr({"load", t.oci_tar}).exit_code, 0);
  image::Resolved app = image::Resolve("app");

  testutil::RunResult r =
      ctr({"run", "--rm", "--net", "none", "app", "/bin/busybox", "cat", "/etc/app", "/etc/motd"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "app\nhi\n");
  r = ctr({"run", "--rm", "--net", "none", "app", "/bin/busybox", "test", "-e", "/etc/old"});
  EXPECT_EQ(r.exit_code, 1) << "the whiteout must hide etc/old: " << r.err;
  // No command: the image's Cmd (/bin/busybox sh) runs, reading stdin.
  r = testutil::Run({testutil::LabPath("11_container"), "run", "--rm", "-i", "--net", "none", "app"},
                    "echo from-cmd\n", 90);
  EXPECT_EQ(r.out, "from-cmd\n") << r.err;

  r = ctr({"run", "-d", "--net", "none", "app", "/bin/busybox", "sleep", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = TrimNewlines(r.out);
  struct RemoveOnExit {  // an assertion failing below must not leave it running
    std::string id;
    ~RemoveOnExit() { testutil::RunLab("11_container", {"rm", "-f", id}); }
  } remove_on_exit{id};
  std::string pid;
  for (const auto& line : testutil::Lines(ctr({"inspect", id}).out))
    if (line.rfind("init pid: ", 0) == 0) pid = line.substr(10);
  ASSERT_FALSE(pid.empty());
  std::string root_line;
  for (const auto& line : testutil::Lines(testutil::ReadText("/proc/" + pid + "/mountinfo")))
    if (line.find(" / / ") != std::string::npos) root_line = line;
  EXPECT_NE(root_line.find(" - overlay overlay "), std::string::npos) << root_line;
  EXPECT_NE(root_line.find("lowerdir=" + app.lowerdir + ","), std::string::npos) << root_line;
  r = ctr({"rmi", "app"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("is used by container " + id), std::string::npos) << r.err;
  EXPECT_EQ(ctr({"rm", "-f", id}).exit_code, 0);
  EXPECT_EQ(ctr({"rmi", "app", "base"}).exit_code, 0);
  EXPECT_EQ(StoreContents(), std::vector<std::string>{});
}

}  // namespace
}  // namespace nslab
