#include "common/user.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <cerrno>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::user {
namespace {

bool FileExists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Does this process have `cap` in its effective set? (CapEff in /proc/self/status.)
bool HasEffectiveCap(int cap) {
  std::istringstream in(ReadFile("/proc/self/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("CapEff:", 0) == 0) {
      unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      return (mask >> cap) & 1;
    }
  }
  return false;
}

constexpr int kCapSetgid = 6;  // capability.h's CAP_SETGID, without pulling libcap in

std::string MapHint(const std::string& file, int err) {
  if (err == EPERM)
    return "each map can be written only once (a second write is refused); the writer "
           "needs CAP_SET" + std::string(file == "uid_map" ? "UID" : "GID") +
           " in the parent user namespace to map any id but its own" +
           (file == "gid_map" ? ", and without it must write \"deny\" to setgroups first" : "");
  if (err == EINVAL)
    return "a line is malformed, a range overlaps another, or the outside id is not "
           "mapped in the writer's own user namespace";
  if (err == ENOENT || err == ESRCH) return "the child is gone";
  if (err == EACCES)
    return "/proc/PID of the child is not ours: the writer changed uid without exec and is "
           "not dumpable (prctl PR_SET_DUMPABLE), or it is not in the child's parent user "
           "namespace";
  return HintFor("write", err);
}

}  // namespace

void CheckUserNamespacesEnabled() {
  const std::string max = "/proc/sys/user/max_user_namespaces";
  if (FileExists(max) && std::stol(ReadFile(max)) == 0)
    throw UsageError("user namespaces are disabled on this host: " + max +
                     " is 0 (as root: sysctl -w user.max_user_namespaces=15000)");
  // Debian and Ubuntu kernels once had a switch of their own for unprivileged users.
  const std::string deb = "/proc/sys/kernel/unprivileged_userns_clone";
  if (geteuid() != 0 && FileExists(deb) && std::stol(ReadFile(deb)) == 0)
    throw UsageError("unprivileged user namespaces are disabled on this host: " + deb +
                     " is 0 (as root: sysctl -w kernel.unprivileged_userns_clone=1)");
}

std::string MapLine(unsigned inside, unsigned outside, unsigned count) {
  return std::to_string(inside) + " " + std::to_string(outside) + " " +
         std::to_string(count) + "\n";
}

void WriteMapFile(pid_t child, const std::string& file, const std::string& line) {
  const std::string path = "/proc/" + std::to_string(child) + "/" + file;
  std::string shown = line;
  if (!shown.empty() && shown.back() == '\n') shown.pop_back();
  narrate::Syscall("write", "\"" + path + "\", \"" + shown + "\"");
  try {
    WriteFile(path, line);
  } catch (const SysError& e) {
    // Keep the errno, replace the generic hint with the reason for this file.
    throw SysError(e.err(), "write " + file + " " + Quote(path), shown, MapHint(file, e.err()));
  }
}

void WriteSetgroupsFromParent(pid_t child, const std::string& value) {
  const std::string path = "/proc/" + std::to_string(child) + "/setgroups";
  narrate::Syscall("write", "\"" + path + "\", \"" + value + "\"");
  try {
    WriteFile(path, value);
  } catch (const SysError& e) {
    if (e.err() == ENOENT && FileExists("/proc/" + std::to_string(child))) return;  // < 3.19
    throw SysError(e.err(), "write setgroups", path,
                   e.err() == EPERM ? "setgroups must be written before gid_map"
                                    : HintFor("write", e.err()));
  }
}

void WriteMapsFromParent(pid_t child, uid_t outside_uid, gid_t outside_gid) {
  WriteMapFile(child, "uid_map", MapLine(0, outside_uid));
  // Without CAP_SETGID over our namespace, the kernel accepts a gid_map only once
  // setgroups(2) is switched off for the child: else it could drop a group that
  // denies access to a file (user_namespaces(7), CVE-2014-8989).
  if (!HasEffectiveCap(kCapSetgid)) WriteSetgroupsFromParent(child, "deny");
  WriteMapFile(child, "gid_map", MapLine(0, outside_gid));
}

void WriteMapsFromParent(pid_t child, uid_t outside_uid, gid_t outside_gid, unsigned count) {
  if (count <= 1) return WriteMapsFromParent(child, outside_uid, outside_gid);
  WriteMapFile(child, "uid_map", MapLine(0, outside_uid, count));
  if (!HasEffectiveCap(kCapSetgid)) WriteSetgroupsFromParent(child, "deny");
  WriteMapFile(child, "gid_map", MapLine(0, outside_gid, count));
}

void SetupInChild() {
  // Changing our effective ids clears the parent-death signal (prctl(2)): remember
  // it, to arm it again afterwards, or a SIGKILLed lab would leave us running.
  int pdeathsig = 0;
  Check(prctl(PR_GET_PDEATHSIG, &pdeathsig), "prctl", "PR_GET_PDEATHSIG");
  // Clear the supplementary groups we inherited (they are unmapped: "nogroup"
  // inside). Refused when setgroups is "deny", which is what it is for.
  if (setgroups(0, nullptr) < 0 && errno != EPERM) Check(-1, "setgroups", "[]");
  // The maps exist now; make every one of our ids 0 *inside*. Gid first: after the
  // uid changes we might lack the right to change it.
  narrate::Syscall("setresgid", "0, 0, 0");
  Check(setresgid(0, 0, 0), "setresgid", "0");
  narrate::Syscall("setresuid", "0, 0, 0");
  Check(setresuid(0, 0, 0), "setresuid", "0");
  if (pdeathsig != 0) {
    narrate::Syscall("prctl", "PR_SET_PDEATHSIG, " + std::to_string(pdeathsig) + " (again)");
    Check(prctl(PR_SET_PDEATHSIG, pdeathsig), "prctl", "PR_SET_PDEATHSIG");
  }
}

uid_t DefaultOutsideUid() { return geteuid() == 0 ? 65534 : geteuid(); }
gid_t DefaultOutsideGid() { return geteuid() == 0 ? 65534 : getegid(); }

void ChownForChild(const std::string& path, uid_t outside_uid, gid_t outside_gid) {
  // Not root: the directory is ours already, and ours is the only uid we may map
  // (a request for another is refused, clearly, when uid_map is written).
  if (geteuid() != 0) return;
  narrate::Syscall("chown", "\"" + path + "\", " + std::to_string(outside_uid) + ", " +
                                std::to_string(outside_gid));
  Check(chown(path.c_str(), outside_uid, outside_gid), "chown", path);
}

std::string UseOwnRunDirIfUnprivileged() {
  if (geteuid() == 0) return "";
  const char* set = std::getenv("NSLAB_RUN_DIR");
  if (set != nullptr && *set != '\0') return "";
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  std::string base = (xdg != nullptr && *xdg != '\0')
                         ? std::string(xdg) + "/nslab"
                         : "/tmp/nslab-" + std::to_string(geteuid());
  // /tmp is shared: the directory must be ours and closed to others, or another
  // user could have made it first and plant things in it.
  if (mkdir(base.c_str(), 0700) < 0 && errno != EEXIST) Check(-1, "mkdir", base);
  struct stat st;
  Check(lstat(base.c_str(), &st), "lstat", base);
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
    throw UsageError("\"" + base + "\" must be a directory of yours with mode 0700; "
                     "remove it or set NSLAB_RUN_DIR");
  setenv("NSLAB_RUN_DIR", base.c_str(), 1);
  return base;
}

std::string ReadMap(pid_t pid, const std::string& file) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/" + file));
  std::string line;
  std::getline(in, line);
  std::istringstream words(line);
  std::string out;
  for (std::string w; words >> w;) out += (out.empty() ? "" : " ") + w;
  return out;
}

void ShowInChild() {
  std::string map = ReadFile("/proc/self/uid_map"), status = ReadFile("/proc/self/status");
  size_t at = status.find("CapEff:\t");
  std::string caps = at == std::string::npos ? "?" : status.substr(at + 8, 16);
  narrate::Step("uid " + std::to_string(getuid()) + ", gid " + std::to_string(getgid()) +
                " inside; /proc/self/uid_map (inside outside count):");
  narrate::Block(map);
  narrate::Step("CapEff " + caps + ": every capability, over my namespaces only");
}

}  // namespace nslab::user
