// proctree — the process tree read from /proc, printed like `pstree -p`, with the
// namespaces in which each process differs from its parent.
//
// Teaches: the kernel knows each process's parent (field 4 of /proc/PID/stat); a
// container on the host is just a subtree, e.g. nslab-shim(812)───sh(813) [ipc mnt
// net pid uts]. Read: proc(5) /proc/PID/stat, pstree(1).
//
//   std::cout << proctree::Render(proctree::Snapshot(), getpid());
#ifndef NSLAB_COMMON_PROCTREE_H_
#define NSLAB_COMMON_PROCTREE_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/ns.h"

namespace nslab::proctree {

struct Proc {
  pid_t pid = 0;
  pid_t ppid = 0;
  std::string comm;   // short name, as in /proc/PID/comm
  char state = '?';   // R S D Z T ...
  std::vector<pid_t> children;
};

// Parses one /proc/PID/stat line; the command name may itself hold spaces and
// parentheses, so it is taken up to the *last* ')'.
bool ParseStat(const std::string& line, Proc* out);

// Every process visible now (those that vanish while we read are skipped).
std::map<pid_t, Proc> Snapshot();

// The tree below `root`, one line per process:
//   lab(100)
//   └─sh(101) [uts pid]
// Processes whose namespaces differ from their parent's get the differing kinds in
// brackets (pid_for_children and time_for_children are left out as noise).
std::string Render(const std::map<pid_t, Proc>& procs, pid_t root);

// The chain of ancestors of pid, from pid 1 down to pid itself.
std::vector<pid_t> Ancestors(const std::map<pid_t, Proc>& procs, pid_t pid);

}  // namespace nslab::proctree

#endif  // NSLAB_COMMON_PROCTREE_H_
