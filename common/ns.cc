#include "common/ns.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/error.h"

namespace nslab::ns {

const std::vector<Kind>& Kinds() {
  static const std::vector<Kind> kinds = {
      {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC},
      {"mnt", CLONE_NEWNS},        {"net", CLONE_NEWNET},
      {"pid", CLONE_NEWPID},       {"pid_for_children", 0},
      {"time", CLONE_NEWTIME},     {"time_for_children", 0},
      {"user", CLONE_NEWUSER},     {"uts", CLONE_NEWUTS},
  };
  return kinds;
}

std::string KindForFlag(int clone_flag) {
  if (clone_flag == 0) return "";  // not pid_for_children, whose flag is also 0
  for (const auto& k : Kinds())
    if (k.clone_flag == clone_flag) return k.name;
  return "";
}

unsigned long ParseLink(const std::string& target) {
  size_t open = target.find('[');
  size_t close = target.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return 0;
  std::string digits = target.substr(open + 1, close - open - 1);
  char* end = nullptr;
  unsigned long v = std::strtoul(digits.c_str(), &end, 10);
  return (end && *end == '\0') ? v : 0;
}

Identity Read(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  // Check the process itself first, so a bad pid gets one clear error.
  if (access(dir.c_str(), F_OK) != 0) {
    int err = errno;
    throw SysError(err, "access", dir,
                   err == ENOENT ? "no such process (it may have exited)" : "");
  }
  Identity id;
  for (const auto& k : Kinds()) {
    const std::string link = dir + "/ns/" + k.name;
    char buf[128];
    ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
    if (n < 0) {
      int err = errno;
      if (err == ENOENT && k.clone_flag == CLONE_NEWNS) {
        // Every kernel has mount namespaces: the process has exited. A zombie keeps
        // its pid and user links but drops the others, which would look like new
        // namespaces of every kind.
        throw SysError(ESRCH, "readlink", link,
                       "the process has exited (a zombie keeps no namespaces)");
      }
      if (err == ENOENT) {  // this kernel has no such namespace kind
        id[k.name] = 0;
        continue;
      }
      throw SysError(err, "readlink", link,
                     err == EACCES || err == EPERM
                         ? "reading another process's namespaces needs ptrace access: root, and every capability it has"
                         : "");
    }
    buf[n] = '\0';
    id[k.name] = ParseLink(buf);
  }
  return id;
}

std::vector<std::string> TableHeader(const std::vector<std::string>& columns) {
  std::vector<std::string> h = {"ns"};
  h.insert(h.end(), columns.begin(), columns.end());
  return h;
}

std::vector<narrate::Row> TableRows(const std::vector<Identity>& ids) {
  std::vector<narrate::Row> rows;
  for (const auto& k : Kinds()) {
    bool present = false;
    for (const auto& id : ids) {
      auto it = id.find(k.name);
      if (it != id.end() && it->second != 0) present = true;
    }
    if (!present) continue;
    narrate::Row row;
    row.cells.push_back(k.name);
    unsigned long first = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      auto it = ids[i].find(k.name);
      unsigned long v = it == ids[i].end() ? 0 : it->second;
      row.cells.push_back(v ? std::to_string(v) : "-");
      if (i == 0) first = v;
      else if (v != first) row.marked = true;
    }
    rows.push_back(row);
  }
  return rows;
}

std::vector<std::string> Differences(const Identity& a, const Identity& b) {
  std::vector<std::string> out;
  for (const auto& k : Kinds()) {
    auto ia = a.find(k.name), ib = b.find(k.name);
    unsigned long va = ia == a.end() ? 0 : ia->second;
    unsigned long vb = ib == b.end() ? 0 : ib->second;
    if (va != vb) out.push_back(k.name);
  }
  return out;
}

}  // namespace nslab::ns
