#include "common/idmap.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"
#include "common/user.h"

namespace nslab::idmap {

namespace {

constexpr unsigned long kMaxId = 4294967295UL;  // ids are 32 bits; (uid_t)-1 is invalid

bool ParseNumber(const std::string& s, unsigned long& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 10)
    return false;
  out = std::strtoul(s.c_str(), nullptr, 10);
  return out <= kMaxId;
}

bool Overlap(unsigned long a, unsigned long an, unsigned long b, unsigned long bn) {
  return a < b + bn && b < a + an;
}

// Runs a helper (newuidmap PID inside outside count ...) and waits for it.
void RunHelper(const std::vector<std::string>& argv) {
  std::string shown;
  for (const auto& a : argv) shown += (shown.empty() ? "" : " ") + a;
  narrate::Syscall("execvp", shown);
  std::fflush(stdout);
  pid_t pid = Check(fork(), "fork", argv[0]);
  if (pid == 0) process::RunInChild([&] { return process::Exec(argv); });
  process::ExitStatus st = process::WaitPid(pid);
  if (st.ShellCode() != 0)
    throw ExitCodeError(process::kSetupFailed, argv[0] + " " + st.Describe());
}

std::vector<std::string> HelperArgs(const std::string& helper, pid_t child, const Map& map) {
  std::vector<std::string> argv = {helper, std::to_string(child)};
  for (const Range& r : map) {
    argv.push_back(std::to_string(r.inside));
    argv.push_back(std::to_string(r.outside));
    argv.push_back(std::to_string(r.count));
  }
  return argv;
}

std::string ReadOrEmpty(const std::string& path) {
  try {
    return ReadFile(path);
  } catch (const SysError&) {
    return "";  // no file: no allocation at all
  }
}

}  // namespace

Map ParseMap(const std::vector<std::string>& items, const std::string& flag) {
  if (items.size() > 340)
    throw UsageError(flag + ": " + std::to_string(items.size()) +
                     " ranges, the kernel takes at most 340");
  Map map;
  for (const auto& item : items) {
    std::vector<std::string> f;
    std::stringstream in(item);
    std::string part;
    while (std::getline(in, part, ':')) f.push_back(part);
    Range r;
    if (f.size() != 3 || !ParseNumber(f[0], r.inside) || !ParseNumber(f[1], r.outside) ||
        !ParseNumber(f[2], r.count))
      throw UsageError(flag + " \"" + item + "\": expected INSIDE:OUTSIDE:COUNT");
    if (r.count == 0) throw UsageError(flag + " \"" + item + "\": a range of 0 ids");
    if (r.inside + r.count > kMaxId || r.outside + r.count > kMaxId)
      throw UsageError(flag + " \"" + item + "\": runs past the last id (4294967294)");
    for (const Range& o : map) {
      if (Overlap(r.inside, r.count, o.inside, o.count))
        throw UsageError(flag + " \"" + item + "\": its inside ids overlap another range");
      if (Overlap(r.outside, r.count, o.outside, o.count))
        throw UsageError(flag + " \"" + item + "\": its outside ids overlap another range");
    }
    map.push_back(r);
  }
  return map;
}

std::string Render(const Map& map) {
  std::string text;
  for (const Range& r : map) text += user::MapLine(r.inside, r.outside, r.count);  // ends in \n
  return text;
}

long long Outside(const Map& map, unsigned long inside) {
  for (const Range& r : map)
    if (inside >= r.inside && inside < r.inside + r.count)
      return static_cast<long long>(r.outside + (inside - r.inside));
  return -1;
}

void WriteFromParent(pid_t child, const Map& uids, const Map& gids) {
  // The whole map in one write(2): the kernel takes a map file only once.
  user::WriteMapFile(child, "uid_map", Render(uids));
  user::WriteMapFile(child, "gid_map", Render(gids));
}

Map SubidRanges(const std::string& file_text, const std::string& user, uid_t uid) {
  Map out;
  std::istringstream in(file_text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string part;
    while (std::getline(ls, part, ':')) f.push_back(part);
    Range r;
    if (f.size() != 3 || (f[0] != user && f[0] != std::to_string(uid)) ||
        !ParseNumber(f[1], r.outside) || !ParseNumber(f[2], r.count))
      continue;
    out.push_back(r);
  }
  return out;
}

bool Covered(const Map& map, const Map& allocated, unsigned long own_id) {
  for (const Range& r : map) {
    if (r.count == 1 && r.outside == own_id) continue;  // one's own id needs no grant
    bool ok = false;
    for (const Range& a : allocated)
      ok = ok || (r.outside >= a.outside && r.outside + r.count <= a.outside + a.count);
    if (!ok) return false;
  }
  return true;
}

void WriteWithHelpersFromParent(pid_t child, const Map& uids, const Map& gids) {
  const passwd* pw = getpwuid(getuid());
  const std::string name = pw != nullptr ? pw->pw_name : std::to_string(getuid());
  struct Check1 {
    const char* file;
    const Map& map;
    unsigned long own;
  };
  for (const Check1& c : {Check1{"/etc/subuid", uids, getuid()},
                          Check1{"/etc/subgid", gids, getgid()}}) {
    if (!Covered(c.map, SubidRanges(ReadOrEmpty(c.file), name, getuid()), c.own))
      throw UsageError(std::string(c.file) + " grants " + name +
                       " no range covering the map's outside ids, so newuidmap/newgidmap "
                       "would refuse: an administrator adds one (usermod --add-subuids "
                       "START-END " + name + "); this lab never edits the file");
  }
  RunHelper(HelperArgs("newuidmap", child, uids));
  RunHelper(HelperArgs("newgidmap", child, gids));
}

User ParseUser(const std::string& text) {
  const size_t colon = text.find(':');
  const std::string u = text.substr(0, colon);
  const std::string g = colon == std::string::npos ? u : text.substr(colon + 1);
  unsigned long uid = 0, gid = 0;
  if (!ParseNumber(u, uid) || !ParseNumber(g, gid) || uid == kMaxId || gid == kMaxId)
    throw UsageError("--user \"" + text + "\": expected UID or UID:GID (numbers: the image "
                     "has no /etc/passwd lookup here)");
  return {static_cast<uid_t>(uid), static_cast<gid_t>(gid)};
}

void CheckCovers(const Map& uids, const Map& gids, const User& u) {
  if (Outside(uids, 0) < 0 || Outside(gids, 0) < 0)
    throw UsageError("--uid-map/--gid-map: inside id 0 is not mapped (the setup runs as root "
                     "of the namespace)");
  if (Outside(uids, u.uid) < 0 || Outside(gids, u.gid) < 0)
    throw UsageError("--user " + std::to_string(u.uid) + ":" + std::to_string(u.gid) +
                     ": not covered by --uid-map/--gid-map");
}

void BecomeUserInChild(const User& u) {
  // Supplementary groups first (root's would stay otherwise), then the gid while we
  // still may change it, then the uid: with it every capability goes.
  narrate::Syscall("setgroups", "0, NULL");
  Check(setgroups(0, nullptr), "setgroups", "0");
  narrate::Syscall("setresgid", std::to_string(u.gid));
  Check(setresgid(u.gid, u.gid, u.gid), "setresgid", std::to_string(u.gid));
  narrate::Syscall("setresuid", std::to_string(u.uid));
  Check(setresuid(u.uid, u.uid, u.uid), "setresuid", std::to_string(u.uid));
  Check(prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl", "PR_SET_PDEATHSIG");
}

void ShowInChild() {
  std::istringstream in(ReadFile("/proc/self/status"));
  std::string line, cap_eff, groups;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) cap_eff = line.substr(7);
    if (line.rfind("Groups:", 0) == 0) groups = line.substr(7);
  }
  cap_eff.erase(0, cap_eff.find_first_not_of(" \t"));
  groups.erase(0, groups.find_first_not_of(" \t"));
  narrate::Step("I am uid " + std::to_string(getuid()) + ", gid " + std::to_string(getgid()) +
                " inside; supplementary groups: " + (groups.empty() ? "none" : groups));
  narrate::Step("CapEff " + cap_eff +
                (cap_eff.find_first_not_of('0') == std::string::npos
                     ? ": no capabilities at all, not even over my own namespaces"
                     : ": capabilities over the namespaces my user namespace owns"));
}

std::string HostIds(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) == 0 || line.rfind("Gid:", 0) == 0) {
      std::istringstream f(line);
      std::string w, squeezed;
      while (f >> w) squeezed += (squeezed.empty() ? "" : " ") + w;
      out += (out.empty() ? "" : ", ") + squeezed;
    }
  }
  return out;
}

}  // namespace nslab::idmap
