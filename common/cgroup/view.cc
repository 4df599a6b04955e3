#include "common/cgroup/view.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/mount.h"
#include "common/narrate.h"

namespace nslab::cgroup {

void MountViewInChild(const std::string& target, const Layout& layout) {
  // nosuid, nodev, noexec: nothing in a cgroup filesystem is meant to run.
  constexpr unsigned long kFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  bool v1 = false;
  for (const auto& h : layout.hierarchies)
    if (h.version == 1) v1 = true;
  if (!v1) {
    // Pure v2: the one tree, rooted at our cgroup because we mount it from inside
    // our cgroup namespace.
    for (const auto& h : layout.hierarchies)
      if (h.version == 2) mount::Mount("cgroup2", target, "cgroup2", kFlags);
    return;
  }
  // v1 (or hybrid): a tmpfs to hold a directory per hierarchy, made read-only once
  // they are mounted.
  mount::Mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k");
  for (const auto& h : layout.hierarchies) {
    // The hierarchy is known by its controllers ("cpu,cpuacct"): mounting it with
    // exactly those options finds the existing hierarchy; inside our cgroup
    // namespace its root is our own cgroup in it.
    const std::string name = h.version == 2 ? "unified" : h.v1_options;
    const std::string dir = target + "/" + name;
    narrate::Syscall("mkdir", "\"" + dir + "\", 0555");
    Check(mkdir(dir.c_str(), 0555), "mkdir", dir);
    if (h.version == 2) {
      mount::Mount("cgroup2", dir, "cgroup2", kFlags);
      continue;
    }
    mount::Mount("cgroup", dir, "cgroup", kFlags, h.v1_options);
    // "cpu,cpuacct" is also reached as cpu and cpuacct, as on the host.
    if (name.find(',') == std::string::npos) continue;
    size_t start = 0;
    while (start < name.size()) {
      size_t end = name.find(',', start);
      if (end == std::string::npos) end = name.size();
      const std::string link = target + "/" + name.substr(start, end - start);
      narrate::Syscall("symlink", "\"" + name + "\", \"" + link + "\"");
      Check(symlink(name.c_str(), link.c_str()), "symlink", link);
      start = end + 1;
    }
  }
  mount::Mount("tmpfs", target, "tmpfs",
               MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k");
}

}  // namespace nslab::cgroup
