#include "common/proctree.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/error.h"
#include "common/fd.h"

namespace nslab::proctree {
namespace {

// Namespaces of pid, or an empty identity if it is gone or not ours to read.
ns::Identity TryRead(pid_t pid) {
  try {
    return ns::Read(pid);
  } catch (const SysError&) {
    return {};
  }
}

void RenderChildren(const std::map<pid_t, Proc>& procs, pid_t pid,
                    const ns::Identity& parent_ns, const std::string& indent,
                    std::string* out) {
  const Proc& p = procs.at(pid);
  std::vector<pid_t> kids = p.children;
  std::sort(kids.begin(), kids.end());
  for (size_t i = 0; i < kids.size(); ++i) {
    bool last = i + 1 == kids.size();
    const Proc& c = procs.at(kids[i]);
    ns::Identity mine = TryRead(c.pid);
    std::string line = indent + (last ? "└─" : "├─") + c.comm + "(" +
                       std::to_string(c.pid) + ")";
    if (c.state == 'Z') line += " <zombie>";
    if (!mine.empty() && !parent_ns.empty()) {
      std::string marks;
      for (const auto& kind : ns::Differences(parent_ns, mine)) {
        if (kind.find("_for_children") != std::string::npos) continue;
        marks += marks.empty() ? kind : " " + kind;
      }
      if (!marks.empty()) line += " [" + marks + "]";
    }
    *out += line + "\n";
    RenderChildren(procs, c.pid, mine, indent + (last ? "  " : "│ "), out);
  }
}

}  // namespace

bool ParseStat(const std::string& line, Proc* out) {
  size_t open = line.find('(');
  size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  out->pid = std::atoi(line.substr(0, open).c_str());
  out->comm = line.substr(open + 1, close - open - 1);
  // After ") " come: state ppid ...
  if (close + 4 >= line.size()) return false;
  out->state = line[close + 2];
  out->ppid = std::atoi(line.c_str() + close + 4);
  return out->pid > 0;
}

std::map<pid_t, Proc> Snapshot() {
  std::map<pid_t, Proc> procs;
  DIR* dir = CheckPtr(opendir("/proc"), "opendir", "/proc");
  while (dirent* e = readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    try {
      Proc p;
      if (ParseStat(ReadFile(std::string("/proc/") + e->d_name + "/stat"), &p))
        procs[p.pid] = p;
    } catch (const SysError&) {
      // exited between readdir and open: not part of the snapshot
    }
  }
  closedir(dir);
  for (auto& [pid, p] : procs) {
    auto parent = procs.find(p.ppid);
    if (parent != procs.end() && p.ppid != pid) parent->second.children.push_back(pid);
  }
  return procs;
}

std::string Render(const std::map<pid_t, Proc>& procs, pid_t root) {
  auto it = procs.find(root);
  if (it == procs.end()) return "(process " + std::to_string(root) + " is gone)\n";
  std::string out = it->second.comm + "(" + std::to_string(root) + ")\n";
  RenderChildren(procs, root, TryRead(root), "", &out);
  return out;
}

std::vector<pid_t> Ancestors(const std::map<pid_t, Proc>& procs, pid_t pid) {
  std::vector<pid_t> chain;
  while (pid > 0) {
    chain.push_back(pid);
    auto it = procs.find(pid);
    if (it == procs.end() || it->second.ppid == pid) break;
    pid = it->second.ppid;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

}  // namespace nslab::proctree
