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
#include <iostream>
#include <string>
#include <string_view>

#include "common/doctor.h"
#include "common/error.h"
#include "common/lab.h"
#include "images/busybox_embedded.h"

using namespace nslab;

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
    // The image the labs carry (//images:busybox_embedded), linked here as bytes only:
    // //common:image would pull in libarchive, and the doctor must start on a host
    // that lacks the very libraries it checks.
    host.busybox_image = [] {
      return std::string_view(nslab_busybox_tar, nslab_busybox_tar_size);
    };
    if (!opt.Demo())
      std::fprintf(stderr,
                   "00_doctor: ignoring the command after --: the doctor runs no sandbox\n");

    // 1. Every check reads files under /proc and /sys; none changes anything.
    std::vector<doctor::Finding> findings = doctor::RunAll(host);
    std::cout << doctor::Render(findings) << std::flush;

    // 2. The exit status says whether the labs can run; --lab N says it for lab N.
    auto blocked = doctor::BlockedLabs(findings);
    if (only_lab != 0) {
      const std::string name = doctor::LabNames().at(only_lab);
      auto it = blocked.find(only_lab);
      if (it == blocked.end()) {
        std::cout << "\n" << name << " can run here\n";
        return 0;
      }
      std::string why;
      for (const auto& check : it->second) why += (why.empty() ? "" : ", ") + check;
      std::cout << "\n" << name << " cannot run here: " << why << "\n";
      return 1;
    }
    return blocked.empty() ? 0 : 1;
  });
}
