#include "common/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>

#include "common/error.h"

namespace nslab::state {
namespace {

constexpr const char* kStateFile = "state";

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

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;
      out += s[i] == 'n' ? '\n' : s[i];
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

int RemoveOne(const char* path, const struct stat*, int type, struct FTW*) {
  int r = (type == FTW_DP || type == FTW_DNR) ? rmdir(path) : unlink(path);
  if (r < 0 && errno != ENOENT)
    std::fprintf(stderr, "%s: removing \"%s\": %s\n", ProgramName().c_str(), path,
                 std::strerror(errno));
  return 0;
}

}  // namespace

// ---- Lock -------------------------------------------------------------------------

static Lock MakeLock(const std::string& dir, int op) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      std::string id = dir.substr(dir.rfind('/') + 1);
      throw ExitCodeError(125, "no such container: " + id);
    }
    Check(-1, "open", dir);
  }
  UniqueFd owned(fd);
  // flock(2) locks belong to the open file description: released when the fd is
  // closed — also when the CLI holding it is killed, so no stale lock survives.
  while (flock(fd, op) < 0) {
    if (errno != EINTR) Check(-1, "flock", dir);
  }
  return Lock(std::move(owned));
}

Lock Lock::Exclusive(const std::string& dir) { return MakeLock(dir, LOCK_EX); }
Lock Lock::Shared(const std::string& dir) { return MakeLock(dir, LOCK_SH); }

// ---- Paths and ids ----------------------------------------------------------------

std::string Base() {
  const char* env = std::getenv("NSLAB_STATE_DIR");
  if (env != nullptr && *env != '\0') return env;
  if (geteuid() == 0) return "/run/nslab";
  // Rootless: /run/nslab is root's. The user's runtime directory, as podman does.
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && *xdg != '\0') return std::string(xdg) + "/nslab";
  return "/tmp/nslab-" + std::to_string(geteuid());
}

std::string Dir(const std::string& id) { return Base() + "/" + id; }

std::string NewId() {
  unsigned char bytes[6];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    Check(n, "getrandom", "container id");
    got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

void ValidateId(const std::string& id) {
  bool ok = id.size() == 12 && std::all_of(id.begin(), id.end(), [](char c) {
              return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            });
  if (!ok) throw UsageError("invalid container id " + Quote(id) + " (12 hex digits)");
}

void ValidateName(const std::string& name) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  bool ok = !name.empty() && name.size() <= 63 && alnum(name[0]) &&
            std::all_of(name.begin(), name.end(),
                        [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
  if (!ok)
    throw UsageError("invalid container name " + Quote(name) +
                     ": use 1-63 of [a-zA-Z0-9_.-], starting with a letter or digit");
}

// ---- Processes and time -----------------------------------------------------------

namespace {
// Fields of /proc/PID/stat after the command name (which may hold spaces and
// parentheses, so it ends at the *last* ')'): [0] is the state, [19] the start time.
bool StatFields(pid_t pid, std::vector<std::string>* fields) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  std::string line(buf, static_cast<size_t>(n));
  size_t close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return false;
  fields->clear();
  size_t i = close_paren + 2;
  while (i < line.size()) {
    size_t end = line.find(' ', i);
    if (end == std::string::npos) end = line.size();
    fields->push_back(line.substr(i, end - i));
    i = end + 1;
  }
  return fields->size() > 19;
}
}  // namespace

uint64_t StartTime(pid_t pid) {
  std::vector<std::string> f;
  if (pid <= 0 || !StatFields(pid, &f)) return 0;
  return std::strtoull(f[19].c_str(), nullptr, 10);
}

bool Alive(pid_t pid, uint64_t start_time) {
  std::vector<std::string> f;
  if (pid <= 0 || !StatFields(pid, &f)) return false;
  if (f[0] == "Z" || f[0] == "X") return false;
  return start_time == 0 || std::strtoull(f[19].c_str(), nullptr, 10) == start_time;
}

int64_t Now() { return static_cast<int64_t>(time(nullptr)); }

std::string FormatTime(int64_t t) {
  if (t == 0) return "-";
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string Ago(int64_t t) {
  if (t == 0) return "-";
  int64_t d = std::max<int64_t>(0, Now() - t);
  auto unit = [](int64_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s") + " ago";
  };
  if (d < 60) return unit(d, "second");
  if (d < 3600) return unit(d / 60, "minute");
  if (d < 86400) return unit(d / 3600, "hour");
  return unit(d / 86400, "day");
}

// ---- Status -----------------------------------------------------------------------

std::string Status(const Record& r) {
  if (r.exited) return kExited;
  if (r.pid > 0) {
    if (Alive(r.pid, r.pid_start)) {
      // An init without its shim has nobody to reap it or record its end.
      return Alive(r.shim_pid, r.shim_start) ? kRunning : kUnknown;
    }
    // The init is gone: ended (the shim is writing it down) or lost with its shim.
    return Alive(r.shim_pid, r.shim_start) ? kExited : kUnknown;
  }
  // No init yet: still being created, as long as the engine (or, before it, the
  // CLI that created the record) lives.
  if (r.shim_pid > 0) return Alive(r.shim_pid, r.shim_start) ? kCreated : kUnknown;
  if (r.creator_pid > 0) return Alive(r.creator_pid, r.creator_start) ? kCreated : kUnknown;
  return kCreated;
}

std::string StatusDetail(const Record& r) {
  std::string s = Status(r);
  if (s == kExited) return "exited (" + std::to_string(r.exit_code) + ") " + Ago(r.finished);
  if (s == kRunning) return "running " + Ago(r.started).substr(0, Ago(r.started).size() - 4);
  return s;
}

// ---- Serialisation ----------------------------------------------------------------

std::string Format(const Record& r) {
  std::string out;
  auto kv = [&](const char* k, const std::string& v) {
    out += k;
    out += '=';
    out += Escape(v);
    out += '\n';
  };
  auto num = [&](const char* k, int64_t v) { kv(k, std::to_string(v)); };
  kv("id", r.id);
  kv("name", r.name);
  kv("image", r.image);
  kv("rootfs", r.rootfs);
  for (const auto& a : r.command) kv("arg", a);
  kv("hostname", r.hostname);
  kv("net", r.net);
  kv("address", r.address);
  kv("address_file", r.address_file);
  kv("host_if", r.host_if);
  for (const auto& c : r.cgroups) kv("cgroup", c);
  kv("limits", r.limits);
  if (!r.cgroup_manager.empty()) kv("cgroup_manager", r.cgroup_manager);  // issue 12 hook
  num("tty", r.tty);
  num("interactive", r.interactive);
  num("remove", r.remove);
  num("user", r.user);
  num("privileged", r.privileged);
  kv("cap_add", Join(r.cap_add, ','));
  kv("cap_drop", Join(r.cap_drop, ','));
  num("creator_pid", r.creator_pid);
  kv("creator_start", std::to_string(r.creator_start));
  num("shim_pid", r.shim_pid);
  kv("shim_start", std::to_string(r.shim_start));
  num("pid", r.pid);
  kv("pid_start", std::to_string(r.pid_start));
  num("created", r.created);
  num("started", r.started);
  num("finished", r.finished);
  num("exited", r.exited);
  num("exit_code", r.exit_code);
  kv("error", r.error);
  return out;
}

Record Parse(const std::string& text) {
  using Setter = void (*)(Record&, const std::string&);
  // One setter per key; unknown keys (from a newer version) are ignored.
  static const std::map<std::string, Setter> kSetters = {
      {"id", [](Record& r, const std::string& v) { r.id = v; }},
      {"name", [](Record& r, const std::string& v) { r.name = v; }},
      {"image", [](Record& r, const std::string& v) { r.image = v; }},
      {"rootfs", [](Record& r, const std::string& v) { r.rootfs = v; }},
      {"arg", [](Record& r, const std::string& v) { r.command.push_back(v); }},
      {"hostname", [](Record& r, const std::string& v) { r.hostname = v; }},
      {"net", [](Record& r, const std::string& v) { r.net = v; }},
      {"address", [](Record& r, const std::string& v) { r.address = v; }},
      {"address_file", [](Record& r, const std::string& v) { r.address_file = v; }},
      {"host_if", [](Record& r, const std::string& v) { r.host_if = v; }},
      {"cgroup", [](Record& r, const std::string& v) { r.cgroups.push_back(v); }},
      {"limits", [](Record& r, const std::string& v) { r.limits = v; }},
      {"cgroup_manager", [](Record& r, const std::string& v) { r.cgroup_manager = v; }},
      {"tty", [](Record& r, const std::string& v) { r.tty = v == "1"; }},
      {"interactive", [](Record& r, const std::string& v) { r.interactive = v == "1"; }},
      {"remove", [](Record& r, const std::string& v) { r.remove = v == "1"; }},
      {"user", [](Record& r, const std::string& v) { r.user = v == "1"; }},
      {"privileged", [](Record& r, const std::string& v) { r.privileged = v == "1"; }},
      {"cap_add", [](Record& r, const std::string& v) { r.cap_add = Split(v, ','); }},
      {"cap_drop", [](Record& r, const std::string& v) { r.cap_drop = Split(v, ','); }},
      {"creator_pid",
       [](Record& r, const std::string& v) { r.creator_pid = std::atoi(v.c_str()); }},
      {"creator_start",
       [](Record& r, const std::string& v) {
         r.creator_start = std::strtoull(v.c_str(), nullptr, 10);
       }},
      {"shim_pid", [](Record& r, const std::string& v) { r.shim_pid = std::atoi(v.c_str()); }},
      {"shim_start",
       [](Record& r, const std::string& v) {
         r.shim_start = std::strtoull(v.c_str(), nullptr, 10);
       }},
      {"pid", [](Record& r, const std::string& v) { r.pid = std::atoi(v.c_str()); }},
      {"pid_start",
       [](Record& r, const std::string& v) {
         r.pid_start = std::strtoull(v.c_str(), nullptr, 10);
       }},
      {"created",
       [](Record& r, const std::string& v) { r.created = std::strtoll(v.c_str(), nullptr, 10); }},
      {"started",
       [](Record& r, const std::string& v) { r.started = std::strtoll(v.c_str(), nullptr, 10); }},
      {"finished",
       [](Record& r, const std::string& v) { r.finished = std::strtoll(v.c_str(), nullptr, 10); }},
      {"exited", [](Record& r, const std::string& v) { r.exited = v == "1"; }},
      {"exit_code", [](Record& r, const std::string& v) { r.exit_code = std::atoi(v.c_str()); }},
      {"error", [](Record& r, const std::string& v) { r.error = v; }},
  };
  Record r;
  for (const auto& [key, value] : KeyValueLines(text)) {
    auto it = kSetters.find(key);
    if (it != kSetters.end()) it->second(r, Unescape(value));
  }
  return r;
}

void Save(const Record& r) {
  const std::string dir = Dir(r.id);
  const std::string tmp = dir + "/.state.tmp." + std::to_string(getpid());
  const std::string text = Format(r);
  {
    UniqueFd fd(
        Check(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), "open", tmp));
    WriteAll(fd.Get(), text, tmp);
  }
  // rename(2) replaces the old record atomically: a reader sees one or the other.
  if (rename(tmp.c_str(), (dir + "/" + kStateFile).c_str()) < 0) {
    int saved = errno;
    unlink(tmp.c_str());
    errno = saved;
    Check(-1, "rename", tmp);
  }
}

Record Load(const std::string& id) {
  const std::string path = Dir(id) + "/" + kStateFile;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw ExitCodeError(125, "no such container: " + id);
    Check(-1, "open", path);
  }
  UniqueFd owned(fd);
  Record r = Parse(ReadAll(fd));
  if (r.id.empty()) r.id = id;
  return r;
}

std::vector<Record> List() {
  std::vector<Record> out;
  DIR* d = opendir(Base().c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string id = e->d_name;
    if (id.size() != 12) continue;
    try {
      ValidateId(id);
      out.push_back(Load(id));
    } catch (const std::exception&) {
      // Not a container directory, or removed while we read: skip it.
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const Record& a, const Record& b) {
    return a.created != b.created ? a.created < b.created : a.id < b.id;
  });
  return out;
}

std::string Resolve(const std::string& key) {
  if (key.empty()) throw ExitCodeError(125, "no such container: \"\"");
  std::vector<Record> all = List();
  for (const auto& r : all)
    if (r.id == key || r.name == key) return r.id;
  std::string found;
  for (const auto& r : all) {
    if (r.id.compare(0, key.size(), key) == 0) {
      if (!found.empty())
        throw ExitCodeError(125, "container id prefix " + Quote(key) + " is ambiguous");
      found = r.id;
    }
  }
  if (found.empty()) throw ExitCodeError(125, "no such container: " + key);
  return found;
}

void CreateDir(Record& r) {
  const std::string base = Base();
  MakeDir(base, 0711);
  // The base lock makes "is the name free?" and "take it" one step for concurrent CLIs.
  Lock base_lock = Lock::Exclusive(base);
  if (!r.name.empty()) {
    for (const auto& other : List()) {
      if (other.name == r.name)
        throw UsageError("the name " + Quote(r.name) + " is already in use by container " + other.id +
                         " (remove it with `rm -f " + r.name + "`)");
    }
  }
  const std::string dir = Dir(r.id);
  Check(mkdir(dir.c_str(), 0700), "mkdir", dir);
  try {
    Save(r);
  } catch (...) {
    RemoveDir(r.id);
    throw;
  }
}

void RemoveDir(const std::string& id) {
  ValidateId(id);  // never let a bad id turn this into "rm -rf /run/nslab/.."
  const std::string dir = Dir(id);
  // overlayfs leaves work/work with mode 000 (and, with `volatile`, its
  // incompat/volatile/ below): root walks in anyway, a rootless owner must open
  // them up first, parents first.
  for (const char* sub : {"/work/work", "/work/work/incompat", "/work/work/incompat/volatile"})
    chmod((dir + sub).c_str(), 0700);
  // FTW_MOUNT: never descend into another filesystem; a mount left here makes
  // rmdir fail with EBUSY, which is reported instead of emptying what is mounted.
  nftw(dir.c_str(), RemoveOne, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

}  // namespace nslab::state
