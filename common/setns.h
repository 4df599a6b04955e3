// setns — entering namespaces that already exist, making one with unshare(2), and
// keeping one alive with no process in it.
//
// Teaches: clone(2) puts a *new child* into new namespaces; unshare(2) moves the
// *caller* into new ones; setns(2) moves the caller into an *existing* one, named
// by a file descriptor of its nsfs file (/proc/PID/ns/KIND). A namespace lives as
// long as something refers to it: a process in it, an open fd of its nsfs file, or a
// bind mount of that file. `ip netns add NAME` is exactly such a bind mount (of a
// new net namespace onto /run/netns/NAME), and `ip netns exec` / nsenter(1) open
// the file and setns(2). Two kinds apply to the caller's *children* only (pid,
// time): after joining them one must fork. A user namespace is joined first, so
// that its capabilities allow joining the others it owns; the mount namespace last,
// because after it /proc paths are the target's.
// Read: setns(2), unshare(2), namespaces(7) "The /proc/[pid]/ns/ directory",
// ioctl_ns(2) NS_GET_NSTYPE, nsenter(1), ip-netns(8).
//
//   setns::Unshare(CLONE_NEWUTS);                        // the caller moves
//   setns::BindKeep("/proc/self/ns/uts", run + "/uts");  // outlives the process
//   setns::JoinInChild(setns::OpenFile(run + "/uts"));  // in a fresh child
#ifndef NSLAB_COMMON_SETNS_H_
#define NSLAB_COMMON_SETNS_H_

#include <sys/types.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/process.h"

namespace nslab::setns {

// The kinds setns(2) can join, in the order a joiner must take them: user first
// (its capabilities let us join what it owns), mnt last (afterwards /proc paths
// and our root are the target's).
const std::vector<std::string>& JoinOrder();
// CLONE_NEWUTS for "uts"...; throws UsageError naming the kind when unknown.
int FlagOf(const std::string& kind);

// An open namespace file: its kind (from the kernel, ioctl NS_GET_NSTYPE), the
// path it was opened by and its nsfs inode (the namespace's identity).
struct NsFile {
  std::string kind;
  std::string path;
  unsigned long inode = 0;
  UniqueFd fd;
};
// Opens a namespace file (/proc/PID/ns/KIND, or a bind mount of one) and asks the
// kernel which kind it is. A file that is no namespace is a UsageError naming it.
NsFile OpenFile(const std::string& path);
// Opens /proc/PID/ns/KIND for each kind (in JoinOrder()); with no kinds, every kind
// in which pid's namespace differs from ours (nsenter --all). Kinds equal to ours
// are left out: joining our own user namespace is EINVAL, the others are no-ops.
// A pid that does not exist is a UsageError ("--target 4242: no such process").
std::vector<NsFile> OpenTargets(pid_t pid, const std::vector<std::string>& kinds);

// setns(2) into each, narrated, in the order given. Runs in the process that is to
// move (a child: setns cannot be undone). Afterwards chdir("/") when mnt was
// joined (setns put our root and cwd at that namespace's root).
void JoinInChild(const std::vector<NsFile>& files);
void JoinInChild(const NsFile& file);
// Does the list join a kind that applies only to children (pid, time)?
bool NeedsFork(const std::vector<NsFile>& files);

// unshare(2), narrated: the caller itself moves into new namespaces of `flags`.
void Unshare(int flags);

// Keeps the namespace of ns_path (e.g. "/proc/self/ns/uts") alive: creates the
// empty file `keep` and bind-mounts ns_path onto it, as `ip netns add` and
// `unshare --uts=FILE` do. The mount is in the caller's mount namespace.
void BindKeep(const std::string& ns_path, const std::string& keep);
// Unmounts and removes a file BindKeep made: the namespace loses that reference
// (and is freed when it was the last one).
void Release(const std::string& keep);

// The nsfs inode a path refers to, following links and bind mounts (stat -L).
unsigned long InodeOf(const std::string& path);
// The pids whose /proc/PID/ns/KIND is namespace `inode` (lsns's PROCS column).
std::vector<pid_t> ProcessesIn(const std::string& kind, unsigned long inode);

// --- Our nsenter(1) ---

// The command line of an nsenter: --target PID with the kinds to join (--uts,
// --net...; none given: every kind in which PID differs from us), or --ns FILE
// (repeatable: a namespace file, e.g. a bind mount made by BindKeep).
struct EnterOptions {
  pid_t target = 0;
  std::vector<std::string> kinds;
  std::vector<std::string> files;
  bool Active() const { return target != 0 || !files.empty() || !kinds.empty(); }
};
void AddEnterFlags(CLI::App& app, EnterOptions& opt);
// The namespace files to join, opened now and checked: a command is required, the
// kind flags need --target, nothing to join is an error.
std::vector<NsFile> OpenForEnter(const EnterOptions& opt, bool have_command);
// A child joins `files` and runs `command`; when a kind that applies to children
// only (pid, time) was joined, the command runs in a grandchild, forked after the
// join (nsenter does the same). Returns how the command ended.
process::ExitStatus RunJoined(const std::vector<NsFile>& files,
                              const std::vector<std::string>& command);

}  // namespace nslab::setns

#endif  // NSLAB_COMMON_SETNS_H_
