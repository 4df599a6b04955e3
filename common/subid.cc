// subid — see subid.h. Parsing subuid(5) lines, and reserving blocks with O_EXCL.
#include "common/subid.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::subid {
namespace {

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : fallback;
}

std::string ReadOr(const std::string& path) {
  try {
    return ReadFile(path);
  } catch (const std::exception&) {
    return "";
  }
}

const std::vector<std::string>& Names() {
  static const std::vector<std::string> names = {"nslab", "root", "0"};
  return names;
}

// The reservation's file: the block's first host uid.
std::string FileOf(const std::string& dir, uint32_t uid) { return dir + "/" + std::to_string(uid); }

void MakeDirs(const std::string& dir) {
  for (size_t pos = 1;; ++pos) {
    pos = dir.find('/', pos);
    const std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), 0700) < 0 && errno != EEXIST) Check(-1, "mkdir", part);
    if (pos == std::string::npos) break;
  }
}

}  // namespace

std::string SubUidPath() { return Env("NSLAB_SUBUID", "/etc/subuid"); }
std::string SubGidPath() { return Env("NSLAB_SUBGID", "/etc/subgid"); }
std::string StateDir() { return "/run/nslab/userns"; }

std::optional<Range> Parse(const std::string& text, const std::vector<std::string>& names) {
  for (const std::string& want : names) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      size_t a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos || line.compare(0, a, want) != 0 ||
          a != want.size())
        continue;
      char* end = nullptr;
      unsigned long long start = std::strtoull(line.c_str() + a + 1, &end, 10);
      if (end != line.c_str() + b) continue;
      unsigned long long count = std::strtoull(line.c_str() + b + 1, &end, 10);
      if (*end != '\0' || count == 0 || start + count > 0xffffffffULL) continue;
      return Range{static_cast<uint32_t>(start), static_cast<uint32_t>(count)};
    }
  }
  return std::nullopt;
}

std::optional<Block> Reserve(const std::string& dir, const std::string& id,
                             const std::string& state_base) {
  std::optional<Range> uids = Parse(ReadOr(SubUidPath()), Names());
  std::optional<Range> gids = Parse(ReadOr(SubGidPath()), Names());
  if (!uids || !gids) return std::nullopt;
  const uint32_t blocks = std::min(uids->count, gids->count) / kIdsPerContainer;
  MakeDirs(dir);
  for (uint32_t k = 0; k < blocks; ++k) {
    Block b{uids->start + k * kIdsPerContainer, gids->start + k * kIdsPerContainer};
    const std::string file = FileOf(dir, b.uid);
    int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
      // Taken — unless by a container whose state directory is gone (SIGKILLed
      // engine, host crash without a tmpfs /run): then it is ours to reuse.
      std::string owner = ReadOr(file);
      while (!owner.empty() && owner.back() == '\n') owner.pop_back();
      struct stat st;
      if (owner.empty() || stat((state_base + "/" + owner).c_str(), &st) == 0) continue;
      unlink(file.c_str());
      fd = open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0 && errno == EEXIST) continue;  // another CLI reclaimed it first
    }
    UniqueFd owned(Check(fd, "open", file));
    WriteAll(owned.Get(), id + "\n", file);
    narrate::Step("host ids " + std::to_string(b.uid) + "-" +
                  std::to_string(b.uid + b.count - 1) + " for the container's user namespace");
    return b;
  }
  throw ExitCodeError(125, "every block of " + std::to_string(kIdsPerContainer) +
                               " host ids in " + SubUidPath() + " is in use (" +
                               std::to_string(blocks) + " blocks): remove a --user container");
}

std::optional<Block> Find(const std::string& dir, const std::string& id) {
  std::optional<Range> gids = Parse(ReadOr(SubGidPath()), Names());
  std::optional<Range> uids = Parse(ReadOr(SubUidPath()), Names());
  if (!uids || !gids) return std::nullopt;
  for (uint32_t k = 0; k < std::min(uids->count, gids->count) / kIdsPerContainer; ++k) {
    const uint32_t uid = uids->start + k * kIdsPerContainer;
    std::string owner = ReadOr(FileOf(dir, uid));
    while (!owner.empty() && owner.back() == '\n') owner.pop_back();
    if (owner == id) return Block{uid, gids->start + k * kIdsPerContainer};
  }
  return std::nullopt;
}

void Release(const std::string& dir, const std::string& id) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string file = dir + "/" + e->d_name;
    std::string owner = ReadOr(file);
    while (!owner.empty() && owner.back() == '\n') owner.pop_back();
    if (owner == id) unlink(file.c_str());
  }
  closedir(d);
  rmdir(dir.c_str());  // the last reservation out leaves no empty directory (ENOTEMPTY else)
}

}  // namespace nslab::subid
