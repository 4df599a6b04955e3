// nsview — what the host sees: the process tree with namespace membership, as a
// coloured tree on the terminal or as an SVG picture.
//
// Run a lab in one terminal and look at it from another: the sandbox is a subtree
// whose colour differs from the host's. The docs' "what the host sees" figures are
// made with it by scripts/figures.
//
//   bazel run //labs:nsview                         # the whole tree, from pid 1
//   bazel run //labs:nsview -- --pid 4242           # the subtree under a lab
//   bazel run //labs:nsview -- --pid 4242 --svg docs/img/05_pid.svg --title 05_pid
//
// Read: namespaces(7), lsns(8), pstree(1).
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "common/error.h"
#include "common/fd.h"
#include "common/lab.h"
#include "common/nsview.h"
#include "common/proctree.h"

using namespace nslab;

int main(int argc, char** argv) {
  lab::Options opt;
  pid_t root = 1;
  std::string svg, title;
  bool no_colour = false;
  CLI::App app{"nsview: the process tree with namespace membership, coloured per namespace set"};
  app.add_option("-p,--pid", root, "Root of the tree to show (default: 1, every process)")
      ->check(CLI::PositiveNumber);
  app.add_option("--svg", svg, "Write an SVG picture to this file instead of the terminal tree");
  app.add_option("--title", title, "Title of the SVG picture (default: \"what the host sees\")");
  app.add_flag("--no-color", no_colour, "No colours on the terminal (also: NO_COLOR set)");
  app.add_flag("-v,--verbose", opt.verbose, "Accepted for symmetry with the labs");
  app.footer(
      "Each distinct set of namespaces (cgroup ipc mnt net pid time user uts) gets a\n"
      "letter and a colour; A is the set of the root of the tree. A process in another\n"
      "colour than its parent is in at least one other namespace; [uts pid] names the\n"
      "kinds. Processes whose /proc/PID/ns cannot be read (exited, zombies, or more\n"
      "privileged than us) are shown with '?'.");
  return lab::Main("nsview", app, argc, argv, opt, [&] {
    // 1. One snapshot of /proc, then each process's namespaces (proctree, ns).
    nsview::View view = nsview::Build(proctree::Snapshot(), root);

    // 2. Draw it.
    if (!svg.empty()) {
      std::string path = lab::ResolvePath(svg);
      UniqueFd out = Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      WriteAll(out.Get(), nsview::RenderSvg(view, title.empty() ? "what the host sees" : title),
               path);
      std::cout << "nsview: wrote " << path << " (" << view.nodes.size() << " processes, "
                << view.sets.size() << " namespace sets)\n";
      return 0;
    }
    const bool colour = !no_colour && std::getenv("NO_COLOR") == nullptr && isatty(1);
    std::cout << nsview::RenderTerminal(view, colour);
    return 0;
  });
}
