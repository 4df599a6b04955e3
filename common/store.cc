#include "common/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/error.h"
#include "common/fd.h"
#include "common/image.h"
#include "common/narrate.h"

namespace nslab::store {
namespace {

// mkdir -p: the parents of a base given in the environment may not exist yet.
void MakeDir(const std::string& path, mode_t mode) {
  for (size_t pos = 1;; ++pos) {
    pos = path.find('/', pos);
    std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), pos == std::string::npos ? mode : 0755) < 0 && errno != EEXIST)
      Check(-1, "mkdir", part);
    if (pos == std::string::npos) break;
  }
}

int RemoveOne(const char* path, const struct stat*, int type, struct FTW*) {
  (type == FTW_DP) ? rmdir(path) : unlink(path);
  return 0;
}
void RemoveTree(const std::string& path) {
  nftw(path.c_str(), RemoveOne, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

uint64_t g_size = 0, g_files = 0;
int AddSize(const char*, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_F || type == FTW_SL) g_size += static_cast<uint64_t>(st->st_size);
  ++g_files;
  return 0;
}

std::string InfoPath(const std::string& name) { return ImageDir(name) + "/info"; }

Image ReadInfo(const std::string& name) {
  Image img;
  img.name = name;
  for (const auto& [k, v] : KeyValueLines(ReadFile(InfoPath(name)))) {
    if (k == "source") img.source = v;
    if (k == "created") img.created = std::strtoll(v.c_str(), nullptr, 10);
    if (k == "size") img.size = std::strtoull(v.c_str(), nullptr, 10);
    if (k == "files") img.files = std::strtoull(v.c_str(), nullptr, 10);
  }
  return img;
}

// Unpacks tar_path (empty: the built-in image, from the binary's own bytes) into a
// fresh temporary directory beside the final one, writes its info file, then renames
// it into place. Returns false when another CLI got there first (rename fails with
// EEXIST/ENOTEMPTY: their copy is as good as ours).
bool UnpackAtomically(const std::string& tar_path, const std::string& name,
                      const std::string& source, Image* out) {
  const std::string images = Base() + "/images";
  LockDown();
  // mkdtemp makes it 0700: the image's directory stays so (SECURITY, issue 13).
  std::string tmp = images + "/.tmp-" + name + "-XXXXXX";
  CheckPtr(mkdtemp(tmp.data()), "mkdtemp", tmp);
  try {
    const std::string rootfs = tmp + "/rootfs";
    Check(mkdir(rootfs.c_str(), 0755), "mkdir", rootfs);
    if (tar_path.empty()) {
      narrate::Step(std::string("unpacking the built-in ") + image::kBuiltinBusyboxName +
                    " into the image store (once per image)");
      image::Unpack(image::BuiltinBusybox(), image::kBuiltinBusyboxName, rootfs);
    } else {
      narrate::Step("unpacking " + tar_path + " into the image store (once per image)");
      image::Unpack(tar_path, rootfs);
    }
    g_size = g_files = 0;
    nftw(rootfs.c_str(), AddSize, 16, FTW_PHYS);
    Image img{name, source, static_cast<int64_t>(time(nullptr)), g_size, g_files};
    UniqueFd info = Open(tmp + "/info", O_WRONLY | O_CREAT | O_EXCL, 0644);
    WriteAll(info.Get(),
             "source=" + source + "\ncreated=" + std::to_string(img.created) + "\nsize=" +
                 std::to_string(img.size) + "\nfiles=" + std::to_string(img.files) + "\n",
             tmp + "/info");
    info.Reset();
    // The atomic step: before it, nobody sees the image; after it, all of it.
    narrate::Syscall("rename", Quote(tmp) + ", \"" + ImageDir(name) + "\"");
    if (rename(tmp.c_str(), ImageDir(name).c_str()) < 0) {
      if (errno != EEXIST && errno != ENOTEMPTY) Check(-1, "rename", ImageDir(name));
      RemoveTree(tmp);
      return false;
    }
    if (out) *out = img;
    return true;
  } catch (...) {
    RemoveTree(tmp);
    throw;
  }
}

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Makes (or tightens) `path` a directory of mode 0700.
void Private(const std::string& path) {
  MakeDir(path, 0700);
  struct stat st;
  Check(stat(path.c_str(), &st), "stat", path);
  if ((st.st_mode & 07777) != 0700) Check(chmod(path.c_str(), 0700), "chmod", path);
}

}  // namespace

void LockDown() {
  // SECURITY (issue 13, the CVE-2021-41091 class): an image keeps its setuid files and
  // device nodes (su and ping need theirs, as in Docker), so no host user may reach
  // them by path: the store and images/ are 0700, and every image directory is
  // created 0700 by mkdtemp. Only an image's rootfs/ keeps the image's own mode, for
  // a --user container's overlay, which reaches it as its cwd (container.cc), never
  // by walking these directories.
  Private(Base());
  Private(Base() + "/images");
}


std::string Base() {
  const char* env = std::getenv("NSLAB_IMAGE_DIR");
  if (env != nullptr && *env != '\0') return env;
  if (geteuid() == 0) return "/var/lib/nslab";
  // Rootless: a store of the user's own ($XDG_DATA_HOME, ~/.local/share, as podman).
  const char* data = std::getenv("XDG_DATA_HOME");
  if (data != nullptr && *data != '\0') return std::string(data) + "/nslab";
  const char* home = std::getenv("HOME");
  struct stat st;
  if (home != nullptr && *home != '\0' && stat(home, &st) == 0 && st.st_uid == geteuid())
    return std::string(home) + "/.local/share/nslab";
  return "/tmp/nslab-images-" + std::to_string(geteuid());
}

std::string ImageDir(const std::string& name) { return Base() + "/images/" + name; }

std::string NormalizeName(const std::string& raw) {
  std::string name = raw;
  size_t colon = name.find(':');
  if (colon != std::string::npos) name.erase(colon);
  auto ok_first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !name.empty() && name.size() <= 63 && ok_first(name[0]) &&
            std::all_of(name.begin(), name.end(),
                        [&](char c) { return ok_first(c) || c == '_' || c == '.' || c == '-'; });
  if (!ok)
    throw UsageError("invalid image name \"" + raw +
                     "\": use 1-63 of [a-z0-9_.-], starting with a letter or digit");
  return name;
}

std::string Rootfs(const std::string& raw) {
  const std::string name = NormalizeName(raw);
  const std::string rootfs = ImageDir(name) + "/rootfs";
  LockDown();  // a store made by an older nslab was 0755
  if (IsDir(rootfs)) return rootfs;
  if (name != kBuiltin)
    throw ExitCodeError(125, "no such image: " + name +
                                 " (import one with `11_container import FILE.tar " + name + "`)");
  UnpackAtomically("", name, "builtin", nullptr);  // from the bytes built into the binary
  return rootfs;
}

Image Import(const std::string& tar_path, const std::string& raw) {
  const std::string name = NormalizeName(raw);
  if (IsDir(ImageDir(name))) throw UsageError("image " + Quote(name) + " exists already");
  struct stat st;
  if (stat(tar_path.c_str(), &st) < 0)
    throw UsageError("import " + Quote(tar_path) + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw UsageError("import " + Quote(tar_path) + ": not a file");
  Image img;
  if (!UnpackAtomically(tar_path, name, tar_path, &img))
    throw UsageError("image " + Quote(name) + " exists already");
  return img;
}

std::vector<Image> List() {
  std::vector<Image> out;
  DIR* d = opendir((Base() + "/images").c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    try {
      out.push_back(ReadInfo(e->d_name));
    } catch (const std::exception&) {
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const Image& a, const Image& b) { return a.name < b.name; });
  return out;
}

void Remove(const std::string& raw) {
  const std::string name = NormalizeName(raw);
  if (!IsDir(ImageDir(name))) throw ExitCodeError(125, "no such image: " + name);
  RemoveTree(ImageDir(name));
}

std::string HumanSize(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.3g%s", v, units[u]);
  return buf;
}

}  // namespace nslab::store
