// Lab 00 — the doctor: can this host run the labs? Run it first.
//
// Most failures students meet in container tutorials come from the host, not from
// their code: cgroup v1 where v2 was expected, `/` mounted shared so pivot_root says
// EINVAL, user namespaces switched off or confined by AppArmor, no overlayfs, no
// root. Each is visible in a file under /proc or /sys; the doctor reads them all and
// prints one line per check with a verdict and a fix, then the labs that cannot run.
//
//   bazel run //labs:00_doctor                 # the table; exit 0 when every lab can run
//   bazel run //labs:00_doctor -- --lab 10     # exit status for lab 10 only
//   bazel run //labs:00_doctor -- --proc tests/data/doctor/v2/proc
//       --sys tests/data/doctor/v2/sys       # (one line) a pure cgroup v2 host
//
// Read: namespaces(7), user_namespaces(7), cgroups(7), mount_namespaces(7), proc(5).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/doctor.h"
#include "common/error.h"
#include "common/lab.h"

using namespace nslab;

namespace {

// images/busybox.tar among this binary's runfiles (//images:busybox is a data
// dependency), or "" when it was not built. The labs carry the image inside them
// (//images:busybox_embedded); the doctor checks that it builds without linking
// libarchive (//common:image): it must start on a host that lacks the libraries it
// checks.
std::string FindBusyboxImage() {
  std::vector<std::string> dirs;
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"})
    if (const char* d = std::getenv(var)) dirs.push_back(std::string(d) + "/nslab");
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) dirs.push_back(std::string(exe, static_cast<size_t>(n)) + ".runfiles/nslab");
  dirs.push_back("bazel-bin");  // run by hand from the workspace root
  for (const auto& d : dirs) {
    std::string path = d + "/images/busybox.tar";
    if (access(path.c_str(), R_OK) == 0) return path;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  lab::Options opt;
  doctor::Host host;
  int only_lab = 0;
  CLI::App app{"00_doctor: can this host run the labs? One line per check, with a fix"};
  app.add_option("--proc", host.proc, "Root of procfs to inspect (tests use fake trees)")
      ->capture_default_str();
  app.add_option("--sys", host.sys, "Root of sysfs to inspect")->capture_default_str();
  app.add_option("--modules", host.modules, "Where kernel modules are installed")
      ->capture_default_str();
  app.add_option("--lab", only_lab, "Exit status for this lab only (1-11)")
      ->check(CLI::Range(1, 11));
  lab::AddCommonFlags(app, opt);
  app.footer(
      "Prints a table (check, verdict ok/warn/fail, detail, fix) and the labs that\n"
      "cannot run here. Exit 0 when every lab can run (or, with --lab N, lab N can),\n"
      "1 otherwise. The doctor runs no sandbox: a command after `--` is not run; the\n"
      "checks run and the doctor exits as without it.");
  return lab::Main("00_doctor", app, argc, argv, opt, [&] {
    host.proc = lab::ResolvePath(host.proc);
    host.sys = lab::ResolvePath(host.sys);
    host.busybox_image = FindBusyboxImage;
    if (!opt.Demo())
      std::fprintf(stderr,
                   "00_doctor: ignoring the command after --: the doctor runs no sandbox\n");

    // 1. Every check reads files under /proc and /sys; none changes anything.
    std::vector<doctor::Finding> findings = doctor::RunAll(host);
    std::cout << doctor::Render(findings) << std::flush;

    // 2. The exit status says whether the labs can run.
    auto blocked = doctor::BlockedLabs(findings);
    if (only_lab != 0) return blocked.count(only_lab) ? 1 : 0;
    return blocked.empty() ? 0 : 1;
  });
}
