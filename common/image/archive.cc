#include "common/image/archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/image/digest.h"
#include "common/narrate.h"

namespace nslab::image {
namespace {

using nlohmann::json;

// Documents (index, manifests, configs) are small; a bigger one is refused rather
// than held in memory.
constexpr int64_t kMaxDocument = 4 << 20;
constexpr int kMaxSymlinks = 8;

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using Reader = std::unique_ptr<archive, ReadFree>;

Reader OpenArchive(const std::string& file) {
  Reader in(archive_read_new());
  // Only tar (possibly compressed: `docker save | gzip`); see image.cc on mtree.
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  archive_read_support_filter_all(in.get());
  narrate::Syscall("archive_read_open_filename", "\"" + file + "\"");
  if (archive_read_open_filename(in.get(), file.c_str(), 1 << 16) != ARCHIVE_OK)
    throw UsageError("load \"" + file + "\": " + archive_error_string(in.get()));
  return in;
}

// "./blobs//sha256/x/" -> "blobs/sha256/x". Callers refused ".." and "/" first.
std::string Normalize(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string c = name.substr(start, end - start);
    if (!c.empty() && c != ".") out += (out.empty() ? "" : "/") + c;
    start = end + 1;
  }
  return out;
}

struct Entry {
  enum Type { kFile, kDir, kSymlink } type;
  int64_t size = 0;
  std::string link;  // symlink target
  std::string data;  // the content, for documents up to kMaxDocument
  bool kept = false;
};

class Index {
 public:
  explicit Index(std::string file) : file_(std::move(file)) {}

  void Read() {
    Reader in = OpenArchive(file_);
    archive_entry* e;
    int r;
    while ((r = archive_read_next_header(in.get(), &e)) != ARCHIVE_EOF) {
      if (r < ARCHIVE_WARN)
        throw UsageError("load \"" + file_ + "\": " + archive_error_string(in.get()));
      std::string raw = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
      if (std::string why = UnsafeEntryName(raw); !why.empty())
        throw UsageError("load \"" + file_ + "\": refusing entry \"" + raw + "\" (" + why +
                         ": outside the archive)");
      std::string name = Normalize(raw);
      if (name.empty()) continue;  // "./"
      Entry entry;
      switch (archive_entry_filetype(e)) {
        case AE_IFREG: entry.type = Entry::kFile; break;
        case AE_IFDIR: entry.type = Entry::kDir; break;
        case AE_IFLNK:
          entry.type = Entry::kSymlink;
          entry.link = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
          break;
        default:
          throw UsageError("load \"" + file_ + "\": refusing entry \"" + raw +
                           "\" (an image archive holds only files, directories and symlinks)");
      }
      if (archive_entry_hardlink(e) != nullptr)
        throw UsageError("load \"" + file_ + "\": refusing hardlink \"" + raw + "\"");
      if (entries_.count(name) > 0 && entries_[name].type != Entry::kDir)
        // Two entries with one name: which one a reader sees would depend on the order.
        throw UsageError("load \"" + file_ + "\": entry \"" + name + "\" appears twice");
      entry.size = archive_entry_size(e);
      if (entry.type == Entry::kFile && entry.size <= kMaxDocument) {
        entry.data.resize(static_cast<size_t>(entry.size));
        la_ssize_t n = entry.size > 0 ? archive_read_data(in.get(), entry.data.data(),
                                                          entry.data.size())
                                      : 0;
        if (n != entry.size)
          throw UsageError("load \"" + file_ + "\": reading \"" + name + "\": " +
                           (n < 0 ? archive_error_string(in.get()) : "short read"));
        entry.kept = true;
      }
      entries_[name] = std::move(entry);
    }
  }

  bool Has(const std::string& name) const { return entries_.count(name) > 0; }

  // The regular file a name given by a document stands for, following symlinks
  // lexically inside the archive: refused when it or a link leaves the archive.
  std::string Resolve(const std::string& given, const std::string& what) const {
    if (std::string why = UnsafeEntryName(given); !why.empty())
      throw UsageError("load \"" + file_ + "\": " + what + " names \"" + given + "\" (" + why +
                       ": outside the archive)");
    std::string path = Normalize(given);
    for (int hops = 0; hops <= kMaxSymlinks; ++hops) {
      auto it = entries_.find(path);
      if (it == entries_.end())
        throw UsageError("load \"" + file_ + "\": " + what + " names \"" + given +
                         "\", which is not in the archive");
      if (it->second.type == Entry::kFile) return path;
      if (it->second.type == Entry::kDir)
        throw UsageError("load \"" + file_ + "\": " + what + " names \"" + given +
                         "\", a directory");
      const std::string& link = it->second.link;
      if (link.empty() || link[0] == '/')
        throw UsageError("load \"" + file_ + "\": symlink \"" + path + "\" -> \"" + link +
                         "\" leaves the archive");
      // Lexically: dirname(path)/link, with ".." popping a component.
      std::vector<std::string> parts;
      std::string joined = path.substr(0, path.rfind('/') == std::string::npos
                                              ? 0
                                              : path.rfind('/') + 1) +
                           link;
      size_t start = 0;
      while (start <= joined.size()) {
        size_t end = joined.find('/', start);
        if (end == std::string::npos) end = joined.size();
        std::string c = joined.substr(start, end - start);
        start = end + 1;
        if (c.empty() || c == ".") continue;
        if (c == "..") {
          if (parts.empty())
            throw UsageError("load \"" + file_ + "\": symlink \"" + path + "\" -> \"" + link +
                             "\" leaves the archive");
          parts.pop_back();
          continue;
        }
        parts.push_back(c);
      }
      path.clear();
      for (const auto& p : parts) path += (path.empty() ? "" : "/") + p;
    }
    throw UsageError("load \"" + file_ + "\": " + what + " \"" + given +
                     "\": too many levels of symlinks");
  }

  // A document's bytes; `want` (when not empty) is the digest they must have.
  const std::string& Document(const std::string& path, const std::string& what,
                              const std::string& want = "", int64_t size = -1) const {
    const Entry& e = entries_.at(path);
    if (!e.kept)
      throw UsageError("load \"" + file_ + "\": " + what + " \"" + path + "\" is larger than " +
                       std::to_string(kMaxDocument >> 20) + " MiB");
    if (size >= 0 && e.size != size)
      throw UsageError("load \"" + file_ + "\": " + what + " \"" + path + "\" has " +
                       std::to_string(e.size) + " bytes, its descriptor says " +
                       std::to_string(size));
    if (!want.empty()) {
      std::string got = digest::Of(e.data);
      if (got != want)
        throw UsageError("load \"" + file_ + "\": " + what + " \"" + path +
                         "\": digest mismatch: the archive names " + want + ", its bytes hash to " +
                         got);
    }
    return e.data;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::map<std::string, Entry> entries_;
};

json Parse(const std::string& text, const std::string& file, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw UsageError("load \"" + file + "\": " + what + ": " + e.what());
  }
}

std::vector<std::string> Strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || j.at(key).is_null()) return out;
  for (const auto& s : j.at(key)) out.push_back(s.get<std::string>());
  return out;
}

// The blob path of a descriptor's digest: blobs/sha256/<hex>.
std::string BlobPath(const json& desc, const std::string& what) {
  return "blobs/sha256/" + digest::Hex(desc.at("digest").get<std::string>(), what + " digest");
}

void AddConfig(const Index& idx, const std::string& path, const std::string& want,
               int64_t size, ArchiveImage* img) {
  img->config_json = idx.Document(path, "config", want, size);
  img->config_digest = digest::Of(img->config_json);
  std::vector<std::string> diff_ids;
  img->config = ParseConfig(img->config_json, &diff_ids, "load \"" + idx.file() + "\": config");
  if (diff_ids.size() != img->layers.size())
    throw UsageError("load \"" + idx.file() + "\": the manifest lists " +
                     std::to_string(img->layers.size()) + " layers, the config's diff_ids " +
                     std::to_string(diff_ids.size()));
  for (size_t i = 0; i < diff_ids.size(); ++i) img->layers[i].diff_id = diff_ids[i];
}

bool IsIndex(const std::string& media_type) {
  return media_type == "application/vnd.oci.image.index.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

// One OCI manifest (already verified against its descriptor) into an image.
ArchiveImage FromManifest(const Index& idx, const json& manifest, const std::string& ref) {
  ArchiveImage img;
  img.ref = ref;
  img.format = "oci";
  for (const auto& desc : manifest.at("layers")) {
    std::string media = desc.value("mediaType", "");
    if (media.find("nondistributable") != std::string::npos ||
        media.find("foreign") != std::string::npos)
      throw UsageError("load \"" + idx.file() + "\": layer of media type " + media +
                       " is not in the archive (foreign layers are not supported)");
    LayerRef l;
    l.blob_digest = desc.at("digest").get<std::string>();
    l.path = idx.Resolve(BlobPath(desc, "layer"), "the manifest");
    l.blob_size = desc.value("size", static_cast<int64_t>(-1));
    img.layers.push_back(l);
  }
  const json& cd = manifest.at("config");
  AddConfig(idx, idx.Resolve(BlobPath(cd, "config"), "the manifest"),
            cd.at("digest").get<std::string>(), cd.value("size", static_cast<int64_t>(-1)), &img);
  return img;
}

std::string RefOf(const json& desc) {
  if (!desc.contains("annotations")) return "";
  const json& a = desc.at("annotations");
  // Docker's own OCI export names the full reference here; ref.name is often the tag.
  for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"})
    if (a.contains(key)) return a.at(key).get<std::string>();
  return "";
}

void ReadOciIndex(const Index& idx, const json& index, const std::string& ref, int depth,
                  std::vector<ArchiveImage>* out) {
  for (const auto& desc : index.at("manifests")) {
    const std::string media = desc.value("mediaType", "");
    const std::string what = IsIndex(media) ? "index" : "manifest";
    const std::string path = idx.Resolve(BlobPath(desc, what), "index.json");
    const std::string& doc = idx.Document(path, what, desc.at("digest").get<std::string>(),
                                          desc.value("size", static_cast<int64_t>(-1)));
    json j = Parse(doc, idx.file(), what + " " + path);
    std::string name = RefOf(desc).empty() ? ref : RefOf(desc);
    if (IsIndex(media) || j.contains("manifests")) {
      // A multi-platform image: only linux/amd64 (or no platform) runs here.
      if (depth > 0)
        throw UsageError("load \"" + idx.file() + "\": an index nested in an index nested in "
                         "index.json");
      json picked = json::object({{"manifests", json::array()}});
      for (const auto& m : j.at("manifests")) {
        const json platform = m.value("platform", json::object());
        if (platform.value("os", "linux") == "linux" &&
            platform.value("architecture", "amd64") == "amd64")
          picked["manifests"].push_back(m);
      }
      if (picked["manifests"].empty())
        throw UsageError("load \"" + idx.file() + "\": no linux/amd64 image in " + path);
      picked["manifests"].erase(picked["manifests"].begin() + 1, picked["manifests"].end());
      ReadOciIndex(idx, picked, name, depth + 1, out);
      continue;
    }
    out->push_back(FromManifest(idx, j, name));
  }
}

void ReadDockerManifest(const Index& idx, std::vector<ArchiveImage>* out) {
  json manifest = Parse(idx.Document("manifest.json", "manifest.json"), idx.file(),
                        "manifest.json");
  for (const auto& m : manifest) {
    ArchiveImage img;
    img.format = "docker-archive";
    std::vector<std::string> tags = Strings(m, "RepoTags");
    if (!tags.empty()) img.ref = tags[0];
    for (const auto& layer : m.at("Layers")) {
      LayerRef l;
      l.path = idx.Resolve(layer.get<std::string>(), "manifest.json");
      // Newer docker save writes blobs/sha256/<hex>: then the name is a digest too.
      const std::string prefix = "blobs/sha256/";
      if (l.path.rfind(prefix, 0) == 0 && digest::Valid("sha256:" + l.path.substr(prefix.size())))
        l.blob_digest = "sha256:" + l.path.substr(prefix.size());
      img.layers.push_back(l);
    }
    const std::string config = idx.Resolve(m.at("Config").get<std::string>(), "manifest.json");
    // The config's file name is its digest ("<hex>.json", or blobs/sha256/<hex>).
    std::string hex = config.substr(config.rfind('/') + 1);
    if (hex.size() == 69 && hex.compare(64, 5, ".json") == 0) hex.resize(64);
    AddConfig(idx, config, digest::Valid("sha256:" + hex) ? "sha256:" + hex : "", -1, &img);
    out->push_back(std::move(img));
  }
}

}  // namespace

Config ParseConfig(const std::string& text, std::vector<std::string>* diff_ids,
                   const std::string& what) {
  Config c;
  try {
    json j = json::parse(text);
    if (j.contains("config") && j.at("config").is_object()) {
      const json& cfg = j.at("config");
      c.env = Strings(cfg, "Env");
      c.entrypoint = Strings(cfg, "Entrypoint");
      c.cmd = Strings(cfg, "Cmd");
      if (cfg.contains("WorkingDir") && !cfg.at("WorkingDir").is_null())
        c.working_dir = cfg.at("WorkingDir").get<std::string>();
      if (cfg.contains("User") && !cfg.at("User").is_null())
        c.user = cfg.at("User").get<std::string>();
    }
    if (diff_ids != nullptr) {
      diff_ids->clear();
      const json& rootfs = j.at("rootfs");
      if (rootfs.value("type", "") != "layers")
        throw UsageError(what + ": rootfs.type is not \"layers\"");
      for (const auto& d : rootfs.at("diff_ids")) {
        std::string id = d.get<std::string>();
        digest::Hex(id, what + ": diff_id");
        diff_ids->push_back(id);
      }
    }
  } catch (const json::exception& e) {
    throw UsageError(what + ": " + e.what());
  }
  return c;
}

std::vector<std::string> Command(const Config& config, const std::vector<std::string>& args,
                                 bool entrypoint_set,
                                 const std::vector<std::string>& entrypoint) {
  std::vector<std::string> out = entrypoint_set ? entrypoint : config.entrypoint;
  // docker run: --entrypoint resets the image's Cmd (only args given are kept).
  const std::vector<std::string>& cmd = !args.empty() ? args
                                        : entrypoint_set ? std::vector<std::string>{}
                                                         : config.cmd;
  out.insert(out.end(), cmd.begin(), cmd.end());
  return out;
}

std::vector<std::string> Environment(const Config& config,
                                     const std::vector<std::string>& overrides) {
  std::vector<std::string> out = config.env;
  for (const auto& o : overrides) {
    size_t eq = o.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = o.substr(0, eq + 1);
    bool replaced = false;
    for (auto& e : out)
      if (e.compare(0, key.size(), key) == 0) {
        e = o;
        replaced = true;
      }
    if (!replaced) out.push_back(o);
  }
  return out;
}

std::vector<ArchiveImage> ReadArchive(const std::string& file) {
  Index idx(file);
  idx.Read();
  std::vector<ArchiveImage> out;
  try {
    if (idx.Has("oci-layout") && idx.Has("index.json")) {
      json layout = Parse(idx.Document(idx.Resolve("oci-layout", "the layout"), "oci-layout"),
                          file, "oci-layout");
      if (!layout.contains("imageLayoutVersion"))
        throw UsageError("load \"" + file + "\": oci-layout has no imageLayoutVersion");
      json index = Parse(idx.Document(idx.Resolve("index.json", "the layout"), "index.json"), file,
                         "index.json");
      ReadOciIndex(idx, index, "", 0, &out);
    } else if (idx.Has("manifest.json")) {
      ReadDockerManifest(idx, &out);
    } else {
      throw UsageError("load \"" + file +
                       "\": not an image archive (no oci-layout + index.json, no manifest.json): "
                       "for a plain root filesystem tarball use import");
    }
  } catch (const json::exception& e) {
    throw UsageError("load \"" + file + "\": " + e.what());
  }
  if (out.empty()) throw UsageError("load \"" + file + "\": the archive lists no image");
  return out;
}

void StreamBlobs(const std::string& file, const std::set<std::string>& paths,
                 const std::function<void(const std::string&, const ByteSource&)>& fn) {
  Reader in = OpenArchive(file);
  std::set<std::string> seen;
  archive_entry* e;
  int r;
  std::vector<char> buf(1 << 16);
  while ((r = archive_read_next_header(in.get(), &e)) != ARCHIVE_EOF) {
    if (r < ARCHIVE_WARN)
      throw UsageError("load \"" + file + "\": " + archive_error_string(in.get()));
    std::string raw = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    if (!UnsafeEntryName(raw).empty() || archive_entry_filetype(e) != AE_IFREG) continue;
    const std::string name = Normalize(raw);
    if (paths.count(name) == 0 || !seen.insert(name).second) continue;
    archive* a = in.get();
    ByteSource source = [a, &buf](const void** out, std::string* error) -> ssize_t {
      la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n < 0) *error = archive_error_string(a) ? archive_error_string(a) : "read error";
      *out = buf.data();
      return n;
    };
    fn(name, source);
  }
  for (const auto& p : paths)
    if (seen.count(p) == 0)
      throw UsageError("load \"" + file + "\": \"" + p + "\" vanished from the archive between "
                       "two reads");
}

}  // namespace nslab::image
