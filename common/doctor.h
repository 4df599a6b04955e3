// doctor — checks that this host can run every lab, before a lab fails in a way
// that looks like a bug in the student's code.
//
// Teaches: most "my container does not work" reports are about the host, not the
// code: cgroup v1 where v2 was expected (or the reverse), `/` mounted shared so that
// pivot_root says EINVAL, unprivileged user namespaces switched off by a sysctl or
// restricted by AppArmor, overlayfs missing, no root. Each of those is a file the
// kernel exports under /proc or /sys; reading them first turns a puzzling errno into
// a line with a verdict and a fix.
// Read: namespaces(7), user_namespaces(7) "/proc/sys/user", cgroups(7),
// mount_namespaces(7) "Shared subtrees", proc(5) /proc/PID/mountinfo and
// /proc/filesystems, Documentation/admin-guide/cgroup-v2.rst "Delegation".
//
// Every check takes the roots of /proc and /sys from a Host, so tests can run it
// against fake trees (tests/data/doctor/) for layouts this machine cannot show:
//
//   doctor::Host host;                       // the real /proc and /sys
//   auto findings = doctor::RunAll(host);
//   std::cout << doctor::Render(findings);
//   return doctor::BlockedLabs(findings).empty() ? 0 : 1;
#ifndef NSLAB_COMMON_DOCTOR_H_
#define NSLAB_COMMON_DOCTOR_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace nslab::doctor {

enum class Verdict { kOk, kWarn, kFail };
const char* VerdictName(Verdict v);  // "ok", "warn", "fail"

// One line of the doctor's table.
struct Finding {
  std::string check;    // "namespace uts", "cgroup memory"
  Verdict verdict = Verdict::kOk;
  std::string detail;   // what was found: "4026531838", "v1 at /sys/fs/cgroup/memory"
  std::string fix;      // what to do about it; empty when nothing needs doing
  std::vector<int> labs;  // labs that cannot run because of it (kFail only)
};

// Where the checks look. Defaults are this machine; tests point proc and sys at
// fake trees and choose the euid and which shared libraries "exist".
struct Host {
  std::string proc = "/proc";
  std::string sys = "/sys";
  std::string modules = "/lib/modules";  // kernel modules, for overlay.ko
  std::string run = "/run";              // run/systemd/system: systemd is PID 1
  uid_t euid;  // defaults to geteuid()
  // Whether a shared object (by soname) can be loaded; default: dlopen(3).
  std::function<bool(const std::string& soname)> has_library;
  // The busybox image tarball's bytes, or "" when there is none. 00_doctor links the
  // same //images:busybox_embedded as the labs, so it checks what they carry, from
  // any directory and as any user; default: none.
  std::function<std::string_view()> busybox_image;
  Host();
};

// The lab binaries by number: 1 -> "01_process" ... 11 -> "11_container".
const std::map<int, std::string>& LabNames();

// Each check returns one finding or several (one per namespace kind...).
std::vector<Finding> CheckKernel(const Host& host);        // osrelease
std::vector<Finding> CheckNamespaces(const Host& host);    // PROC/self/ns/* and max_*_namespaces
Finding CheckRoot(const Host& host);                       // euid
std::vector<Finding> CheckUserNamespaces(const Host& host);  // sysctls, AppArmor
// layout, the cgroup manager the labs will use (and why), memory/pids/cpu.
std::vector<Finding> CheckCgroups(const Host& host);
Finding CheckRootPropagation(const Host& host);            // `/` shared or private
Finding CheckOverlay(const Host& host);                    // PROC/filesystems
Finding CheckBusyboxImage(const Host& host);
std::vector<Finding> CheckLibraries(const Host& host);     // libnl, libseccomp, libcap, libarchive
Finding CheckSeccomp(const Host& host);                    // "Seccomp:" in PROC/self/status

// All of the above, in the order of the table.
std::vector<Finding> RunAll(const Host& host);

// The cgroup layout, as the kernel mounted it (from PROC/self/mountinfo).
enum class CgroupLayout { kNone, kV1, kV2, kHybrid };
const char* CgroupLayoutName(CgroupLayout l);  // "none", "v1", "v2", "hybrid"
CgroupLayout DetectCgroupLayout(const Host& host);

// Labs that cannot run, each with the checks that block it.
std::map<int, std::vector<std::string>> BlockedLabs(const std::vector<Finding>& findings);

// The table (check, verdict, detail, fix) followed by a summary line per blocked lab.
std::string Render(const std::vector<Finding>& findings);

}  // namespace nslab::doctor

#endif  // NSLAB_COMMON_DOCTOR_H_
