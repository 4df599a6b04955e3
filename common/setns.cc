#include "common/setns.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/error.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"

namespace nslab::setns {

const std::vector<std::string>& JoinOrder() {
  static const std::vector<std::string> order = {"user", "cgroup", "ipc", "uts",
                                                 "net",  "pid",    "time", "mnt"};
  return order;
}

int FlagOf(const std::string& kind) {
  for (const auto& k : ns::Kinds())
    if (kind == k.name && k.clone_flag != 0) return k.clone_flag;
  throw UsageError("\"" + kind + "\" is no namespace kind (one of: user cgroup ipc uts net "
                   "pid time mnt)");
}

unsigned long InodeOf(const std::string& path) {
  struct stat st;
  Check(stat(path.c_str(), &st), "stat", path);
  return st.st_ino;
}

NsFile OpenFile(const std::string& path) {
  NsFile f;
  f.path = path;
  f.fd = Open(path, O_RDONLY);
  // The kernel knows the kind of an nsfs file (Linux 4.11). Any other file says
  // ENOTTY: the ioctl is nsfs's own.
  const int type = ioctl(f.fd.Get(), NS_GET_NSTYPE);
  if (type < 0) {
    const int err = errno;
    if (err == ENOTTY || err == EINVAL)
      throw UsageError("\"" + path + "\" is not a namespace file (/proc/PID/ns/KIND or a "
                       "bind mount of one): ioctl NS_GET_NSTYPE says " +
                       std::string(strerror(err)));
    throw SysError(err, "ioctl", path + ", NS_GET_NSTYPE");
  }
  f.kind = ns::KindForFlag(type);
  struct stat st;
  Check(fstat(f.fd.Get(), &st), "fstat", path);
  f.inode = st.st_ino;
  return f;
}

std::vector<NsFile> OpenTargets(pid_t pid, const std::vector<std::string>& kinds) {
  for (const auto& k : kinds) FlagOf(k);  // an unknown kind fails before anything opens
  const std::string dir = "/proc/" + std::to_string(pid);
  if (pid <= 0 || access(dir.c_str(), F_OK) != 0)
    throw UsageError("--target " + std::to_string(pid) + ": no such process");
  const ns::Identity mine = ns::Read(getpid()), theirs = ns::Read(pid);
  std::vector<NsFile> files;
  for (const auto& kind : JoinOrder()) {
    const bool asked = kinds.empty();
    bool wanted = asked;
    for (const auto& k : kinds) wanted = wanted || k == kind;
    if (!wanted) continue;
    auto m = mine.find(kind), t = theirs.find(kind);
    if (m == mine.end() || t == theirs.end() || t->second == 0) continue;  // kernel lacks it
    if (m->second == t->second) {
      if (!asked) narrate::Step("already in " + kind + ":[" + std::to_string(m->second) +
                                "] of " + std::to_string(pid) + ": nothing to join");
      continue;
    }
    // Open all of them now: once we have joined the mount namespace, "/proc/PID"
    // would be looked up in the target's /proc.
    files.push_back(OpenFile(dir + "/ns/" + kind));
  }
  return files;
}

namespace {

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

void JoinOne(const NsFile& f) {
  const int flag = FlagOf(f.kind);
  // nstype = the kind we expect: the kernel refuses (EINVAL) a file of another
  // kind, so a mix-up cannot put us somewhere unintended.
  narrate::Syscall("setns", f.path + ", " + process::CloneFlagsToString(flag));
  if (::setns(f.fd.Get(), flag) < 0) {
    const int err = errno;
    // EPERM here is not "creating needs root": joining needs CAP_SYS_ADMIN both in
    // the user namespace that owns the target and in our own (setns(2)).
    throw SysError(err, "setns", f.path,
                   err == EPERM ? "joining needs CAP_SYS_ADMIN in the user namespace that "
                                  "owns it (and in ours): run as root on the host; see "
                                  "docs/04a_setns.md#pitfalls"
                                : HintFor("setns", err, f.path));
  }
  // setns(CLONE_NEWNS) put our root and cwd at the namespace's root; say so.
  if (flag == CLONE_NEWNS) Check(chdir("/"), "chdir", "/");
}

}  // namespace

void JoinInChild(const std::vector<NsFile>& files) {
  for (const auto& f : files) JoinOne(f);
}

void JoinInChild(const NsFile& file) { JoinOne(file); }

bool NeedsFork(const std::vector<NsFile>& files) {
  for (const auto& f : files)
    if (f.kind == "pid" || f.kind == "time") return true;
  return false;
}

void Unshare(int flags) {
  narrate::Syscall("unshare", process::CloneFlagsToString(flags));
  Check(unshare(flags), "unshare", process::CloneFlagsToString(flags));
}

void BindKeep(const std::string& ns_path, const std::string& keep) {
  // A bind mount needs a target of the same type: an empty regular file (ip netns
  // add creates /run/netns/NAME the same way).
  narrate::Syscall("open", "\"" + keep + "\", O_CREAT|O_EXCL");
  UniqueFd target = Open(keep, O_RDONLY | O_CREAT | O_EXCL, 0444);
  target.Reset();
  narrate::Syscall("mount", "\"" + ns_path + "\", \"" + keep + "\", MS_BIND");
  if (mount(ns_path.c_str(), keep.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    const int err = errno;
    unlink(keep.c_str());  // nothing left behind
    throw SysError(err, "mount", keep, HintFor("mount", err, keep));
  }
}

void Release(const std::string& keep) {
  narrate::Syscall("umount2", "\"" + keep + "\", MNT_DETACH");
  Check(umount2(keep.c_str(), MNT_DETACH), "umount2", keep);
  Check(unlink(keep.c_str()), "unlink", keep);
}

std::vector<pid_t> ProcessesIn(const std::string& kind, unsigned long inode) {
  std::vector<pid_t> pids;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  if (proc == nullptr) Check(-1, "opendir", "/proc");
  while (dirent* e = readdir(proc.get())) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    struct stat st;
    // A process may end while we look, or not be ours to inspect: skip it.
    const std::string link = std::string("/proc/") + e->d_name + "/ns/" + kind;
    if (stat(link.c_str(), &st) == 0 && st.st_ino == inode) pids.push_back(pid);
  }
  return pids;
}

void AddEnterFlags(CLI::App& app, EnterOptions& opt) {
  app.add_option("-t,--target", opt.target,
                 "nsenter mode: join this process's namespaces (those chosen with --uts, "
                 "--net...; none chosen: every kind in which it differs from us) and run "
                 "the command there")
      ->check(CLI::Range(1, 1 << 22));
  for (const auto& kind : JoinOrder())
    app.add_flag_callback("--" + kind, [&opt, kind] { opt.kinds.push_back(kind); },
                          "With --target: join its " + kind + " namespace");
  app.add_option("--ns", opt.files,
                 "nsenter mode: join the namespace of this file (/proc/PID/ns/KIND, or a "
                 "bind mount of one as `ip netns add` makes; repeatable)");
}

std::vector<NsFile> OpenForEnter(const EnterOptions& opt, bool have_command) {
  if (!opt.kinds.empty() && opt.target == 0)
    throw UsageError("--" + opt.kinds[0] + " needs --target PID: whose namespace to join");
  if (!have_command)
    throw UsageError(std::string(opt.target != 0 ? "--target" : "--ns") +
                     " needs a command to run in the namespaces (e.g. -- sh)");
  std::vector<NsFile> files;
  if (opt.target != 0) files = OpenTargets(opt.target, opt.kinds);
  for (const auto& path : opt.files) files.push_back(OpenFile(path));
  // Files given with --ns come in any order; join them in JoinOrder() too.
  auto rank = [](const NsFile& f) {
    const auto& order = JoinOrder();
    return std::find(order.begin(), order.end(), f.kind) - order.begin();
  };
  std::stable_sort(files.begin(), files.end(),
                   [&](const NsFile& a, const NsFile& b) { return rank(a) < rank(b); });
  if (files.empty())
    throw UsageError("--target " + std::to_string(opt.target) + ": nothing to join, it is in " +
                     (opt.kinds.empty() ? std::string("all our namespaces")
                                        : "our " + Join(opt.kinds) + " namespace") +
                     " already");
  return files;
}

process::ExitStatus RunJoined(const std::vector<NsFile>& files,
                              const std::vector<std::string>& command) {
  process::Child child = process::Clone({0}, [&] {
    JoinInChild(files);
    if (!NeedsFork(files)) return process::Exec(command);
    // setns(CLONE_NEWPID) and setns(CLONE_NEWTIME) move only our future children:
    // the command runs in a grandchild, and we pass its status on.
    process::Child inner = process::Clone({0}, [&] { return process::Exec(command); });
    inner.Go();
    return inner.Wait().ShellCode();
  });
  child.Go();
  return child.Wait();
}

}  // namespace nslab::setns
