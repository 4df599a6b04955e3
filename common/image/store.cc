#include "common/image/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/fd.h"
#include "common/image/digest.h"
#include "common/narrate.h"
#include "common/state.h"
#include "common/store.h"

namespace nslab::image {
namespace {

using nlohmann::json;

void MakeDir(const std::string& path) {
  for (size_t pos = 1;; ++pos) {
    pos = path.find('/', pos);
    std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), 0755) < 0 && errno != EEXIST) Check(-1, "mkdir", part);
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

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string ImagesDir() { return store::Base() + "/images"; }
std::string RecordPath(const std::string& name) { return store::ImageDir(name) + "/image.json"; }

void WriteNew(const std::string& path, const std::string& data) {
  UniqueFd fd = Open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  WriteAll(fd.Get(), data, path);
}

// The store's one lock: loads and removals take it exclusively, so a layer that
// one load is adding is never removed by a concurrent rmi, and a rollback removes
// only what this process created. Anything .tmp-* found while holding it was left
// by a process that died (SIGKILL, Ctrl-C) in the middle: remove it.
UniqueFd LockStore() {
  MakeDir(LayersDir());
  MakeDir(ImagesDir());
  UniqueFd lock = Open(LayersDir() + "/.lock", O_RDWR | O_CREAT, 0600);
  narrate::Syscall("flock", "\"" + LayersDir() + "/.lock\", LOCK_EX");
  Check(flock(lock.Get(), LOCK_EX), "flock", LayersDir() + "/.lock");
  for (const auto& n : ListDir(LayersDir()))
    if (n.rfind(".tmp-", 0) == 0) RemoveTree(LayersDir() + "/" + n);
  for (const auto& n : ListDir(ImagesDir()))  // not store.cc's .tmp-NAME-: not under our lock
    if (n.rfind(".tmp-load-", 0) == 0 || n.rfind(".tmp-rmi-", 0) == 0)
      RemoveTree(ImagesDir() + "/" + n);
  return lock;
}

std::string MakeTemp(const std::string& pattern) {
  std::string tmp = pattern + "-XXXXXX";
  CheckPtr(mkdtemp(tmp.data()), "mkdtemp", tmp);
  Check(chmod(tmp.c_str(), 0755), "chmod", tmp);
  return tmp;
}

Layer ReadLayer(const std::string& diff_id) {
  Layer l;
  l.diff_id = diff_id;
  try {
    json j = json::parse(ReadFile(LayerDir(diff_id) + "/layer.json"));
    l.size = j.value("size", uint64_t{0});
    l.entries = j.value("entries", uint64_t{0});
  } catch (const std::exception&) {
    // A layer without its record (removed by hand): listed with size 0.
  }
  return l;
}

StoredImage ReadImage(const std::string& name) {
  const std::string path = RecordPath(name);
  json j;
  try {
    j = json::parse(ReadFile(path));
  } catch (const json::exception& e) {
    throw UsageError(path + ": " + e.what());
  }
  StoredImage img;
  img.name = name;
  img.id = j.value("id", "");
  img.ref = j.value("ref", "");
  img.source = j.value("source", "");
  img.format = j.value("format", "");
  img.created = j.value("created", int64_t{0});
  for (const auto& d : j.at("layers")) {
    const std::string diff_id = d.get<std::string>();
    digest::Hex(diff_id, path + ": layer");
    img.layers.push_back(ReadLayer(diff_id));
    img.size += img.layers.back().size;
  }
  img.config = ParseConfig(ReadFile(store::ImageDir(name) + "/config.json"), nullptr,
                           store::ImageDir(name) + "/config.json");
  return img;
}

// The names of the layered images (directories holding an image.json).
std::vector<std::string> ImageNames() {
  std::vector<std::string> out;
  if (!IsDir(ImagesDir())) return out;
  for (const auto& n : ListDir(ImagesDir())) {
    struct stat st;
    if (n[0] != '.' && stat(RecordPath(n).c_str(), &st) == 0) out.push_back(n);
  }
  return out;
}

// "busybox:latest", "docker.io/library/busybox:1.36", "t" -> a store name.
std::string NameFromRef(const std::string& ref) {
  std::string r = ref;
  size_t slash = r.rfind('/');
  if (slash != std::string::npos) r = r.substr(slash + 1);
  size_t at = r.find('@');
  if (at != std::string::npos) r.erase(at);
  return store::NormalizeName(r);
}

std::string Json(const json& j) { return j.dump(2) + "\n"; }

// Ctrl-C (or SIGTERM, SIGHUP) during a load becomes an error at the next chunk read,
// so the normal error path removes what this load made: an interrupted load leaves
// nothing, without waiting for the next one to clean up. (SIGKILL cannot be caught:
// for it, LockStore's sweep of .tmp-* is the cleanup.)
volatile sig_atomic_t g_signal = 0;
void OnSignal(int sig) { g_signal = sig; }

class InterruptGuard {
 public:
  InterruptGuard() {
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~InterruptGuard() {
    for (size_t i = 0; i < 3; ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  static void ThrowIfInterrupted(const std::string& file) {
    if (g_signal != 0)
      throw ExitCodeError(128 + g_signal, "load \"" + file + "\": interrupted by SIG" +
                                              sigabbrev_np(g_signal) + ": nothing was stored");
  }

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3];
};

}  // namespace

std::string LayersDir() { return store::Base() + "/layers"; }

std::string LayerDir(const std::string& diff_id) {
  return LayersDir() + "/" + digest::Hex(diff_id, "layer");
}

std::vector<StoredImage> Load(const std::string& file, const std::string& name) {
  struct stat st;
  if (stat(file.c_str(), &st) < 0) Check(-1, "load", file);
  if (!S_ISREG(st.st_mode)) throw UsageError("load \"" + file + "\": not a file");

  // 1. The documents: index/manifests/configs, each checked against its digest.
  narrate::Step("reading the index of " + file);
  std::vector<ArchiveImage> all = ReadArchive(file);
  std::vector<ArchiveImage> chosen;
  std::vector<std::string> names;
  if (!name.empty()) {
    const std::string want = store::NormalizeName(name);
    for (const auto& img : all)
      if (all.size() == 1 || img.ref == name || (!img.ref.empty() && NameFromRef(img.ref) == want))
        chosen.push_back(img);
    if (chosen.empty())
      throw UsageError("load \"" + file + "\": no image named " + name + " among its " +
                       std::to_string(all.size()));
    chosen.resize(1);
    names.push_back(want);
  } else {
    chosen = all;
    for (size_t i = 0; i < chosen.size(); ++i) {
      if (chosen[i].ref.empty())
        throw UsageError("load \"" + file + "\": image " + std::to_string(i + 1) +
                         " has no name in the archive: give one (load FILE NAME)");
      names.push_back(NameFromRef(chosen[i].ref));
    }
    for (size_t i = 0; i < names.size(); ++i)
      for (size_t k = 0; k < i; ++k)
        if (names[i] == names[k])
          throw UsageError("load \"" + file + "\": two images would be named " + names[i] +
                           ": load them one at a time (load FILE REF)");
  }

  UniqueFd lock = LockStore();
  InterruptGuard interrupt;
  for (const auto& n : names)
    if (IsDir(store::ImageDir(n)))
      throw UsageError("image \"" + n + "\" exists already (rmi " + n + " first)");

  // 2. The layers: each blob streamed once, by diff_id, unpacked only if the store
  //    lacks it (else only hashed: a lying archive is refused all the same).
  std::map<std::string, LayerRef> by_path;      // blob path -> the layer it must be
  std::map<std::string, std::string> path_of;   // diff_id -> blob path
  for (const auto& img : chosen)
    for (const auto& l : img.layers) {
      if (path_of.count(l.diff_id) > 0) continue;
      auto [it, fresh] = by_path.emplace(l.path, l);
      if (!fresh && it->second.diff_id != l.diff_id)
        throw UsageError("load \"" + file + "\": blob \"" + l.path +
                         "\" is claimed by two layers with different diff_ids");
      path_of[l.diff_id] = l.path;
    }
  std::set<std::string> paths;
  for (const auto& [p, l] : by_path) paths.insert(p);

  std::vector<std::string> created;  // layer dirs this load made: removed on failure
  std::string tmp;
  try {
    StreamBlobs(file, paths, [&](const std::string& path, const ByteSource& source) {
      const LayerRef& want = by_path.at(path);
      const std::string final_dir = LayerDir(want.diff_id);
      const bool have = IsDir(final_dir + "/diff");
      std::string dest;
      if (!have) {
        tmp = MakeTemp(LayersDir() + "/.tmp-" + digest::Short(want.diff_id));
        dest = tmp + "/diff";
        Check(mkdir(dest.c_str(), 0755), "mkdir", dest);
        narrate::Step("unpacking layer " + want.diff_id + " from " + path);
      } else {
        narrate::Step("layer " + want.diff_id + " is in the store already: only checking " +
                      path);
      }
      ByteSource checked = [&](const void** buf, std::string* error) -> ssize_t {
        if (g_signal != 0) {
          *error = std::string("interrupted by SIG") + sigabbrev_np(g_signal);
          return -1;
        }
        return source(buf, error);
      };
      LayerStats s = UnpackLayer(checked, path, dest);
      auto lies = [&](const std::string& what, const std::string& named, const std::string& got) {
        throw UsageError("load \"" + file + "\": layer \"" + path + "\": " + what +
                         " mismatch: the image names " + named + ", its bytes hash to " + got);
      };
      if (!want.blob_digest.empty() && s.blob_digest != want.blob_digest)
        lies("digest", want.blob_digest, s.blob_digest);
      if (s.diff_id != want.diff_id) lies("diff_id", want.diff_id, s.diff_id);
      if (want.blob_size >= 0 && s.blob_size != static_cast<uint64_t>(want.blob_size))
        throw UsageError("load \"" + file + "\": layer \"" + path + "\" has " +
                         std::to_string(s.blob_size) + " bytes, its descriptor says " +
                         std::to_string(want.blob_size));
      if (have) return;
      WriteNew(tmp + "/layer.json", Json({{"diff_id", s.diff_id},
                                          {"size", s.size},
                                          {"entries", s.entries},
                                          {"whiteouts", s.whiteouts},
                                          {"opaques", s.opaques}}));
      // The atomic step: the layer appears whole under its digest, or not at all.
      narrate::Syscall("rename", "\"" + tmp + "\", \"" + final_dir + "\"");
      Check(rename(tmp.c_str(), final_dir.c_str()), "rename", final_dir);
      created.push_back(final_dir);
      tmp.clear();
    });

    // 3. The image records, each renamed into place whole.
    InterruptGuard::ThrowIfInterrupted(file);
    std::vector<StoredImage> out;
    std::vector<std::string> made;
    try {
      for (size_t i = 0; i < chosen.size(); ++i) {
        const ArchiveImage& img = chosen[i];
        json layers = json::array();
        for (const auto& l : img.layers) layers.push_back(l.diff_id);
        tmp = MakeTemp(ImagesDir() + "/.tmp-load-" + names[i]);
        WriteNew(tmp + "/config.json", img.config_json);
        WriteNew(tmp + "/image.json", Json({{"name", names[i]},
                                            {"id", img.config_digest},
                                            {"ref", img.ref},
                                            {"source", file},
                                            {"format", img.format},
                                            {"created", static_cast<int64_t>(time(nullptr))},
                                            {"layers", layers}}));
        narrate::Syscall("rename", "\"" + tmp + "\", \"" + store::ImageDir(names[i]) + "\"");
        if (rename(tmp.c_str(), store::ImageDir(names[i]).c_str()) < 0) {
          if (errno == EEXIST || errno == ENOTEMPTY)  // an `import` of the same name won
            throw UsageError("image \"" + names[i] + "\" exists already");
          Check(-1, "rename", store::ImageDir(names[i]));
        }
        made.push_back(store::ImageDir(names[i]));
        tmp.clear();
        out.push_back(ReadImage(names[i]));
      }
    } catch (...) {
      for (const auto& d : made) RemoveTree(d);
      throw;
    }
    return out;
  } catch (...) {
    if (!tmp.empty()) RemoveTree(tmp);
    for (const auto& d : created) RemoveTree(d);
    InterruptGuard::ThrowIfInterrupted(file);  // the signal's code (130), not "error"
    throw;
  }
}

std::vector<StoredImage> List() {
  std::vector<StoredImage> out;
  for (const auto& n : ImageNames()) {
    try {
      out.push_back(ReadImage(n));
    } catch (const std::exception&) {
      // Half-written by hand or damaged: not an image we can describe.
    }
  }
  std::map<std::string, int> uses;
  for (const auto& img : out)
    for (const auto& l : img.layers) ++uses[l.diff_id];
  for (auto& img : out)
    for (auto& l : img.layers) l.used_by = uses[l.diff_id];
  return out;
}

bool Exists(const std::string& name) {
  struct stat st;
  return stat(RecordPath(store::NormalizeName(name)).c_str(), &st) == 0;
}

Resolved Resolve(const std::string& raw) {
  const std::string name = store::NormalizeName(raw);
  if (!Exists(name)) throw ExitCodeError(125, "no such image: " + name);
  StoredImage img = ReadImage(name);
  Resolved r;
  r.name = name;
  r.id = img.id;
  r.config = img.config;
  // overlayfs: "lowerdir=top:...:bottom" — the first directory hides the next.
  for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it) {
    const std::string dir = LayerDir(it->diff_id) + "/diff";
    if (!IsDir(dir))
      throw ExitCodeError(125, "image " + name + ": layer " + it->diff_id +
                                   " is missing from the store (rmi and load it again)");
    if (dir.find_first_of(":,") != std::string::npos)
      throw UsageError("image store path \"" + dir + "\" holds ':' or ',' (overlay separators)");
    r.layer_dirs.push_back(dir);
    r.lowerdir += (r.lowerdir.empty() ? "" : ":") + dir;
  }
  // mount(2) takes its options in one page; containers-storage shortens the paths
  // with symlinks (l/ABC...) for this reason.
  if (r.lowerdir.size() > 3500)
    throw UsageError("image " + name + ": " + std::to_string(img.layers.size()) +
                     " layers do not fit in one mount option page");
  return r;
}

std::vector<std::string> Remove(const std::string& raw, bool force) {
  const std::string name = store::NormalizeName(raw);
  UniqueFd lock = LockStore();
  if (!Exists(name)) throw ExitCodeError(125, "no such image: " + name);
  if (!force)
    for (const auto& r : state::List())
      if (r.image == name)
        throw UsageError("image " + name + " is used by container " + r.id +
                         ": rm it first (or rmi -f)");
  StoredImage img = ReadImage(name);
  // Out of sight in one step, then removed at leisure.
  const std::string gone = ImagesDir() + "/.tmp-rmi-" + name + "-" + std::to_string(getpid());
  narrate::Syscall("rename", "\"" + store::ImageDir(name) + "\", \"" + gone + "\"");
  Check(rename(store::ImageDir(name).c_str(), gone.c_str()), "rename", store::ImageDir(name));
  RemoveTree(gone);
  // The reference count: the layers the remaining image records still name.
  std::set<std::string> in_use;
  for (const auto& n : ImageNames()) {
    try {
      for (const auto& l : ReadImage(n).layers) in_use.insert(l.diff_id);
    } catch (const std::exception& e) {
      // A record we cannot read might name any layer: keep them all.
      throw UsageError("rmi " + name + ": removed the image, kept its layers: " + e.what());
    }
  }
  std::vector<std::string> removed;
  for (const auto& l : img.layers) {
    if (in_use.count(l.diff_id) > 0 || !IsDir(LayerDir(l.diff_id))) continue;
    const std::string tmp = LayersDir() + "/.tmp-rmi-" + digest::Short(l.diff_id);
    Check(rename(LayerDir(l.diff_id).c_str(), tmp.c_str()), "rename", LayerDir(l.diff_id));
    RemoveTree(tmp);
    removed.push_back(l.diff_id);
  }
  return removed;
}

std::string RenderList(const std::vector<StoredImage>& images) {
  char line[256];
  std::snprintf(line, sizeof line, "%-20s %-12s %-6s %-9s %s\n", "IMAGE", "ID", "LAYERS", "SIZE",
                "CREATED");
  std::string out = line;
  for (const auto& img : images) {
    std::snprintf(line, sizeof line, "%-20s %-12s %-6zu %-9s %s\n", img.name.c_str(),
                  digest::Short(img.id).c_str(), img.layers.size(),
                  store::HumanSize(img.size).c_str(), state::Ago(img.created).c_str());
    out += line;
    for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it) {
      std::string shared = it->used_by > 1
                               ? "shared by " + std::to_string(it->used_by) + " images"
                               : "";
      std::snprintf(line, sizeof line, "  layer %-14s %-9s %s\n", digest::Short(it->diff_id).c_str(),
                    store::HumanSize(it->size).c_str(), shared.c_str());
      out += line;
    }
  }
  return out;
}

}  // namespace nslab::image
