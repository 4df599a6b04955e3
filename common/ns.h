// ns — namespace identity: which namespaces a process is in, read from /proc.
//
// Teaches: every process has one namespace of each kind; /proc/PID/ns/KIND is a
// magic link whose target, "uts:[4026531838]", names the namespace by the inode of
// its nsfs file. Two processes share a namespace exactly when the inodes are equal
// (that is how lsns groups them). The *_for_children links show the namespace the
// process's next children will get (pid and time can only change for children).
// Read: namespaces(7), lsns(8), setns(2).
//
//   auto host = ns::Read(getpid()), child = ns::Read(pid);
//   narrate::Table(ns::TableHeader({"host", "child"}), ns::TableRows({host, child}));
#ifndef NSLAB_COMMON_NS_H_
#define NSLAB_COMMON_NS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/narrate.h"

namespace nslab::ns {

struct Kind {
  const char* name;  // the file in /proc/PID/ns
  int clone_flag;    // CLONE_NEW*, 0 for the *_for_children views
};
// cgroup ipc mnt net pid pid_for_children time time_for_children user uts.
const std::vector<Kind>& Kinds();
// The kind created by a CLONE_NEW* flag ("uts" for CLONE_NEWUTS), or "" if none.
std::string KindForFlag(int clone_flag);

// One process's namespaces: kind -> inode (0 when the kernel lacks that kind).
using Identity = std::map<std::string, unsigned long>;

// readlink(2) of every /proc/PID/ns/* link. Throws SysError naming /proc/PID when
// the process does not exist (ESRCH-like ENOENT) or is not ours to inspect (EACCES).
Identity Read(pid_t pid);

// Parses a link target "uts:[4026531838]" into 4026531838 (0 if malformed).
unsigned long ParseLink(const std::string& target);

// Rows for a side-by-side table: one row per kind present on this kernel, one
// column per identity; rows whose inodes differ are marked.
std::vector<narrate::Row> TableRows(const std::vector<Identity>& ids);
std::vector<std::string> TableHeader(const std::vector<std::string>& columns);

// The kinds in which two identities differ, e.g. {"uts", "pid_for_children"}.
std::vector<std::string> Differences(const Identity& a, const Identity& b);

}  // namespace nslab::ns

#endif  // NSLAB_COMMON_NS_H_
