// nsview — a picture of the process tree with namespace membership: what the host
// sees of a sandbox. Each distinct set of namespaces gets a colour; a process drawn
// in another colour than its parent lives in at least one other namespace.
//
// Teaches: a container is a subtree of the host's processes whose members share a
// namespace set different from the host's; the host sees all of it (pids, names,
// /proc/PID/ns), the container sees only its part. The pictures in docs/ ("what the
// host sees") are made with it by scripts/figures, never drawn by hand.
// Read: namespaces(7), lsns(8), pstree(1), proc(5) /proc/PID/ns.
//
//   auto view = nsview::Build(proctree::Snapshot(), lab_pid);
//   std::cout << nsview::RenderTerminal(view, /*colour=*/true);
//   WriteFile("docs/img/05_pid.svg", nsview::RenderSvg(view, "05_pid"));
#ifndef NSLAB_COMMON_NSVIEW_H_
#define NSLAB_COMMON_NSVIEW_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/ns.h"
#include "common/proctree.h"

namespace nslab::nsview {

// The kinds that make a namespace set (the *_for_children views are left out:
// they show where children will go, not where the process is).
const std::vector<std::string>& SetKinds();

struct Node {
  pid_t pid = 0;
  pid_t ppid = 0;
  std::string comm;
  char state = '?';
  int depth = 0;        // 0 for the root of the view
  bool last = false;    // the last child of its parent (for tree lines)
  int set = -1;         // index into View::sets; -1 when its namespaces are unreadable
  std::vector<std::string> differs;  // kinds in which it differs from its parent
};

struct View {
  std::vector<Node> nodes;            // pre-order, children sorted by pid
  std::vector<ns::Identity> sets;     // distinct namespace sets; sets[0] is the root's
};

// Reads one process's namespaces; throws SysError when it cannot (gone, zombie,
// not ours). Tests pass a fake.
using Reader = std::function<ns::Identity(pid_t)>;

// The subtree under root (root itself included), each process with its namespace
// set. Unreadable processes get set -1 and are still drawn. Throws UsageError when
// root is not in procs.
View Build(const std::map<pid_t, proctree::Proc>& procs, pid_t root,
           const Reader& read = ns::Read);

// A tree like `pstree -p`, each line tagged with its set's letter (A = the root's
// set, or the first readable process's) and, with colour, painted in the set's
// colour; then a legend with the inodes.
std::string RenderTerminal(const View& view, bool colour);

// An SVG: one box per process, indented under its parent, filled with the colour of
// its namespace set, the kinds it differs from its parent in under its name, and a
// legend mapping each colour to its namespaces' inode numbers.
std::string RenderSvg(const View& view, const std::string& title);

}  // namespace nslab::nsview

#endif  // NSLAB_COMMON_NSVIEW_H_
