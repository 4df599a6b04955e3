// Lab 11 — a container: busybox under a shim parent, driven by a docker-like CLI.
//
// Everything from labs 04-10 at once (uts, pid, mnt + rootfs, ipc, net, user,
// cgroup), plus what makes it a *container* rather than a sandbox that lives as
// long as the command that started it:
//  - a shim (nslab-shim) that detaches from the CLI (setsid, double fork), becomes a
//    child subreaper, holds the container's stdio (a pty with -t, log pipes
//    otherwise), waits for its init and records how it ended in /run/nslab/<id>/;
//  - an image store (/var/lib/nslab/images) and an overlay root per container;
//  - a bridge (nslab0, 10.88.0.1/16) and one veth per container;
//  - exec (setns into a running container), ps, logs, stop, rm, inspect.
// With no subcommand it reproduces `docker run -it -d busybox` and what that leaves
// on the host: nslab-shim───sh, `ps` inside showing `1 sh`, and the namespace table.
//
//   bazel run //labs:11_container                          # the narrated demo
//   bazel run //labs:11_container -- run -d --name web busybox sleep 1000
//   bazel run //labs:11_container -- exec web ps
//   bazel run //labs:11_container -- run -it --rm busybox  # an interactive shell
//
// Read: docs/11_container.md; namespaces(7), setns(2), pty(7), prctl(2)
// (PR_SET_CHILD_SUBREAPER), overlayfs, the OCI runtime spec, conmon's README.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "common/container.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/image/store.h"  // images helper hook (issue 17): layered images
#include "common/lab.h"
#include "common/narrate.h"
#include "common/ns.h"
#include "common/process.h"
#include "common/proctree.h"
#include "common/shim.h"
#include "common/security.h"
#include "common/state.h"
#include "common/store.h"

using namespace nslab;

namespace {

// One `ps aux`-like line for a host process: PID PPID STAT TTY COMMAND.
std::string PsLine(pid_t pid) {
  std::string stat, cmdline;
  try {
    stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  } catch (const std::exception&) {
    return std::to_string(pid) + " (gone)";
  }
  for (auto& c : cmdline)
    if (c == '\0') c = ' ';
  proctree::Proc p;
  proctree::ParseStat(stat, &p);
  // Field 7 (tty_nr): major 136-143 are the pty slaves, /dev/pts/N.
  std::vector<std::string> f;
  size_t i = stat.rfind(')') + 2;
  while (i < stat.size()) {
    size_t e = stat.find(' ', i);
    if (e == std::string::npos) e = stat.size();
    f.push_back(stat.substr(i, e - i));
    i = e + 1;
  }
  unsigned tty = f.size() > 4 ? static_cast<unsigned>(std::stoul(f[4])) : 0;
  unsigned major = (tty >> 8) & 0xfff, minor = (tty & 0xff) | ((tty >> 12) & 0xfff00);
  std::string tty_name = tty == 0 ? "?"
                         : (major >= 136 && major <= 143)
                             ? "pts/" + std::to_string(minor)
                             : std::to_string(major) + "," + std::to_string(minor);
  char line[512];
  std::snprintf(line, sizeof line, "%7d %7d %-4c %-7s %s", pid, p.ppid, p.state, tty_name.c_str(),
                cmdline.c_str());
  return line;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

// A table without narrate's mark column, for ps and images.
std::string Plain(const std::string& table) {
  std::string out;
  size_t pos = 0;
  while (pos < table.size()) {
    size_t nl = table.find('\n', pos);
    std::string line = table.substr(pos, nl - pos);
    out += (line.size() >= 2 ? line.substr(2) : line) + "\n";
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

void PrintNamespaceTable(const state::Record& r) {
  std::vector<std::string> cols = {"11_container", "nslab-shim", "init (" + r.command[0] + ")"};
  std::vector<ns::Identity> ids = {ns::Read(getpid())};
  ids.push_back(state::Alive(r.shim_pid, r.shim_start) ? ns::Read(r.shim_pid) : ns::Identity{});
  ids.push_back(state::Alive(r.pid, r.pid_start) ? ns::Read(r.pid) : ns::Identity{});
  std::cout << narrate::RenderTable(ns::TableHeader(cols), ns::TableRows(ids));
}

int Demo(bool verbose) {
  narrate::Configure(true, verbose);
  narrate::Title("11_container: `docker run -it -d busybox`, reproduced");

  // 1. Start a detached busybox sh with a pty (the CLI returns; the shim stays).
  narrate::Title("Step 1: run -it -d busybox (detached, with a pty)");
  container::Spec spec;
  spec.detach = spec.tty = spec.interactive = true;
  spec.name = "nslab-demo-" + std::to_string(getpid());
  state::Record r = container::Prepare(spec);
  int code = container::Run(spec, r);
  if (code != 0) {
    // The start failed and the record says why; the demo leaves nothing behind.
    try {
      container::Delete(r.id, true);
    } catch (const std::exception&) {
    }
    return code;
  }
  r = state::Load(r.id);
  narrate::Step("run -it -d busybox -> container " + r.id + " (name " + r.name + ")");
  try {
    // 2. What `ps aux` shows on the host: the shim, and sh as its child on a pty.
    narrate::Title("Step 2: the host's view (ps)");
    narrate::Block("    PID    PPID STAT TTY     COMMAND\n" + PsLine(r.shim_pid) + "\n" +
                   PsLine(r.pid));
    // 3. The process tree around the shim: reparented to init (or the nearest
    //    subreaper), sh its child, in namespaces of its own.
    narrate::Title("Step 3: the process tree around the shim (pstree)");
    auto procs = proctree::Snapshot();
    std::string chain;
    for (pid_t p : proctree::Ancestors(procs, r.shim_pid)) {
      if (p == r.shim_pid) break;
      chain += procs.count(p) ? procs.at(p).comm + "(" + std::to_string(p) + ")───" : "";
    }
    // Indent the shim's subtree under the shim, past the ancestors' chain.
    size_t width = 0;
    for (unsigned char c : chain) width += (c & 0xc0) != 0x80;  // UTF-8 code points
    std::string tree = proctree::Render(procs, r.shim_pid), shown;
    for (size_t pos = 0, n = 0; pos < tree.size(); ++n) {
      size_t nl = tree.find('\n', pos);
      shown += (n == 0 ? chain : std::string(width, ' ')) + tree.substr(pos, nl - pos) + "\n";
      pos = nl == std::string::npos ? tree.size() : nl + 1;
    }
    narrate::Block(shown);
    // 4. Inside: `ps` through exec (setns into its namespaces): sh is PID 1.
    narrate::Title("Step 4: ps inside the container (exec " + r.id + " ps)");
    container::Exec(r.id, {"ps"}, {});
    // 5. The namespaces of the shim and of sh side by side; * marks those that differ.
    narrate::Title("Step 5: /proc/PID/ns of the CLI, the shim and sh");
    narrate::Table(ns::TableHeader({"11_container", "nslab-shim", "sh"}),
                   ns::TableRows({ns::Read(getpid()), ns::Read(r.shim_pid), ns::Read(r.pid)}));
    narrate::Step(
        "the shim shares every namespace with the host; sh has its own cgroup, "
        "ipc, mnt, net, pid and uts");
  } catch (...) {
    container::Delete(r.id, true);
    throw;
  }
  // 6. Remove it: the init is killed, the shim records the end and exits, rm
  //    removes cgroup, veth and state directory.
  narrate::Title("Step 6: rm -f " + r.id);
  container::Delete(r.id, true);
  struct stat st;
  narrate::Step(state::Dir(r.id) +
                (stat(state::Dir(r.id).c_str(), &st) == 0 ? " is still there!" : " is gone"));
  return 0;
}

int Ps(bool quiet) {
  std::vector<state::Record> all = state::List();
  if (quiet) {
    for (const auto& r : all) std::cout << r.id << "\n";
    return 0;
  }
  std::vector<narrate::Row> rows;
  for (const auto& r : all) {
    std::string status = state::Status(r);
    // Long commands are cut, as docker ps does, so one does not widen the table.
    std::string command = Join(r.command);
    if (command.size() > 32) command = command.substr(0, 29) + "...";
    rows.push_back({{r.id, r.name, status == state::kRunning ? std::to_string(r.pid) : "-",
                     state::StatusDetail(r), command, state::Ago(r.created)},
                    false});
  }
  std::cout << Plain(
      narrate::RenderTable({"CONTAINER ID", "NAME", "PID", "STATUS", "COMMAND", "CREATED"}, rows));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("11_container");
  CLI::App app{"11_container: a busybox container under a shim parent, with a docker-like CLI"};
  app.require_subcommand(0, 1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose,
               "Log every system call, with its flags as text, before making it");
  app.footer(
      "With no subcommand, runs the narrated demo (docker run -it -d busybox, reproduced)\n"
      "and exits 0. Exit codes as Docker's: 125 runtime error (bad flag, unknown image or\n"
      "container), 126 command not executable, 127 command not found, else the\n"
      "container's status (128+N when killed by signal N).");

  // run
  container::Spec spec;
  std::vector<std::string> run_args;
  auto* run = app.add_subcommand(
      "run", "Create and start a container: run [flags] IMAGE [CMD ARGS...] (default CMD: sh)");
  run->add_flag("-d,--detach", spec.detach, "Print the id and return; the shim keeps it running");
  run->add_flag("-i,--interactive", spec.interactive, "Keep stdin open and pass it on");
  run->add_flag("-t,--tty", spec.tty, "Give the container a pty (held by the shim)");
  run->add_flag("--rm", spec.remove, "Remove everything when the container ends");
  run->add_option("--name", spec.name, "A name, unique among containers (default: the id)");
  run->add_option("--hostname", spec.hostname, "Hostname inside (default: the id)");
  run->add_option("--net", spec.net, "bridge (nslab0, 10.88.0.0/16) or none (only lo)")
      ->check(CLI::IsMember({"bridge", "none"}));
  run->add_option("--memory", spec.memory, "Memory limit (64M, 1G...)");
  run->add_option("--pids", spec.pids, "Maximum number of processes");
  run->add_option("--cpus", spec.cpus, "CPU quota in CPUs (0.5, 2...)");
  cgroup::AddManagerFlag(*run, spec.cgroup_manager);  // issue 12 hook: auto|systemd|cgroupfs
  run->add_flag("--user", spec.user,
                "A user namespace: root inside is a block of host ids of its own (from "
                "/etc/subuid's nslab line), else 65534 outside");
  run->add_flag("--privileged", spec.security.privileged,
                "No capability drop, no seccomp filter, no masked paths");
  // One name per flag (repeat the flag for more): `--cap-add NET_ADMIN busybox` must
  // not take "busybox" for a capability.
  run->add_option("--cap-add", spec.security.cap_add,
                  "Add a capability (NET_ADMIN, ...; repeatable)")
      ->allow_extra_args(false);
  run->add_option("--cap-drop", spec.security.cap_drop, "Drop a capability (or ALL; repeatable)")
      ->allow_extra_args(false);
  std::string log_size_max;
  run->add_option("--log-size-max", log_size_max,
                  "Rotate the container's log at this size, keeping 3 files (default 10M)");
  run->add_option("--rootfs", spec.rootfs_dir,
                  "Run this unpacked root filesystem as is; then every positional "
                  "argument is the command");
  // IMAGE [CMD ARGS...]: the first word that is not a flag of ours ends our flags;
  // everything after it is the command's own (`run busybox sh -c 'exit 3'`).
  run->prefix_command();

  // exec
  container::ExecOptions exec_opts;
  auto* exec = app.add_subcommand(
      "exec", "Run a command in a running container: exec [flags] ID CMD [ARGS...]");
  exec->add_flag("-i,--interactive", exec_opts.interactive, "Keep stdin open");
  exec->add_flag("-t,--tty", exec_opts.tty, "A pty of its own");
  std::vector<std::string> exec_args;  // ID CMD [ARGS...]
  exec->prefix_command();

  bool quiet = false;
  auto* ps = app.add_subcommand("ps", "List containers (status checked against /proc)");
  ps->add_flag("-q,--quiet", quiet, "Only the ids");

  std::string id;
  auto* logs = app.add_subcommand("logs", "Print what the container wrote");
  logs->add_option("id", id, "Container id or name")->required();

  int timeout = 10;
  std::vector<std::string> ids;
  auto* stop = app.add_subcommand("stop", "SIGTERM, then SIGKILL after -t seconds");
  stop->add_option("-t,--time", timeout, "Seconds to wait before SIGKILL")
      ->check(CLI::Range(0, 3600));
  stop->add_option("ids", ids, "Container ids or names")->required();

  std::string signal_name = "KILL";
  auto* kill_cmd = app.add_subcommand("kill", "Send a signal to the container's init (default KILL)");
  kill_cmd->add_option("-s,--signal", signal_name, "Signal: a name (TERM, HUP...) or a number")
      ->capture_default_str();
  kill_cmd->add_option("ids", ids, "Container ids or names")->required();

  bool force = false;
  auto* rm = app.add_subcommand("rm", "Remove containers (-f: kill first)");
  rm->add_flag("-f,--force", force, "Kill a running container first; always recovers");
  rm->add_option("ids", ids, "Container ids or names")->required();

  auto* inspect = app.add_subcommand("inspect", "State, and the namespaces of CLI, shim and init");
  inspect->add_option("id", id, "Container id or name")->required();

  std::string tar, image_name;
  auto* import = app.add_subcommand("import", "Unpack a root filesystem tarball as an image");
  import->add_option("file", tar, "FILE.tar (docker export, or any rootfs tarball)")->required();
  import->add_option("name", image_name, "Image name")->required();

  auto* images = app.add_subcommand("images", "List the images in the store");

  // BEGIN images-helper hook (issue 17): layered images; to move into the CLI's command table.
  std::string load_file, load_name;
  auto* load = app.add_subcommand(
      "load", "Load an OCI image layout or docker-save archive: layers by digest, shared");
  load->add_option("file", load_file, "FILE.tar (an OCI layout tarred, or docker save)")->required();
  load->add_option("name", load_name, "Image name (default: the archive's own)");
  bool rmi_force = false;
  auto* rmi = app.add_subcommand("rmi", "Remove images, and the layers no other image uses");
  rmi->add_flag("-f,--force", rmi_force, "Even when a container record names the image");
  rmi->add_option("images", ids, "Image names")->required();
  // END images-helper hook

  // Docker's 125 for a bad flag.
  if (std::optional<int> code = lab::Parse(app, argc, argv, process::kSetupFailed)) return *code;

  narrate::Configure(false, verbose);
  try {
    if (*run) {
      // An empty limit typed on purpose (`--memory ""`) is a mistake, not "no limit".
      for (const char* flag : {"--memory", "--pids", "--cpus"})
        if (run->count(flag) > 0 && run->get_option(flag)->as<std::string>().empty())
          throw UsageError(std::string(flag) + " \"\": empty (give a value, or leave the flag out)");
      run_args = run->remaining();
      if (!run_args.empty() && !run_args[0].empty() && run_args[0][0] == '-')
        throw ExitCodeError(process::kSetupFailed,
                            "run: unknown flag " + Quote(run_args[0]) + " (see run --help)");
      if (spec.rootfs_dir.empty()) {
        if (run_args.empty()) throw UsageError("run needs an IMAGE (busybox is built in)");
        spec.image = run_args[0];
        spec.command.assign(run_args.begin() + 1, run_args.end());
      } else {
        spec.command = run_args;
      }
      if (run->count("--log-size-max") > 0) spec.log_size_max = shim::ParseLogSize(log_size_max);
      state::Record r = container::Prepare(spec);
      int code = container::Run(spec, r);
      if (spec.detach && code == 0) std::cout << r.id << std::endl;
      return code;
    }
    if (*exec) {
      exec_args = exec->remaining();
      if (!exec_args.empty() && !exec_args[0].empty() && exec_args[0][0] == '-')
        throw ExitCodeError(process::kSetupFailed,
                            "exec: unknown flag " + Quote(exec_args[0]) + " (see exec --help)");
      if (exec_args.size() < 2) throw UsageError("exec needs ID and CMD");
      std::string cid = state::Resolve(exec_args[0]);
      // A --privileged container holds CAP_SYS_PTRACE: run from a sealed copy of this
      // binary, so that its /proc/PID/exe leads nowhere writable (CVE-2019-5736).
      if (state::Load(cid).privileged) security::ReexecFromSealedCopy(argv);
      return container::Exec(cid, {exec_args.begin() + 1, exec_args.end()}, exec_opts);
    }
    if (*ps) return Ps(quiet);
    if (*logs) {
      std::string cid = state::Resolve(id);
      // Across the rotated parts, oldest first, streamed (issue 13).
      std::cout << std::flush;
      shim::CopyLog(cid, STDOUT_FILENO);
      return 0;
    }
    if (*stop) {
      for (const auto& key : ids) {
        std::string cid = state::Resolve(key);
        container::Stop(cid, timeout);
        std::cout << key << std::endl;
      }
      return 0;
    }
    if (*kill_cmd) {
      const int sig = process::ParseSignal(signal_name);  // refused before any is sent
      for (const auto& key : ids) {
        container::Signal(state::Resolve(key), sig);
        std::cout << key << std::endl;
      }
      return 0;
    }
    if (*rm) {
      int code = 0;
      for (const auto& key : ids) {
        try {
          container::Delete(state::Resolve(key), force);
          std::cout << key << std::endl;
        } catch (const std::exception& e) {
          code = ReportError(e, process::kSetupFailed);
        }
      }
      return code;
    }
    if (*inspect) {
      state::Record r = state::Load(state::Resolve(id));
      for (const auto& line : container::Describe(r)) std::cout << line << "\n";
      std::cout << "namespaces (* differs):\n";
      PrintNamespaceTable(r);
      return 0;
    }
    if (*import) {
      store::Image img = store::Import(lab::ResolvePath(tar), image_name);  // bazel run: the user's cwd
      std::cout << img.name << " " << store::HumanSize(img.size) << " (" << img.files << " entries)"
                << std::endl;
      return 0;
    }
    if (*images) {
      store::Rootfs(store::kBuiltin);  // the built-in image is always listed
      std::vector<narrate::Row> rows;
      for (const auto& img : store::List())
        rows.push_back(
            {{img.name, store::HumanSize(img.size), state::Ago(img.created), img.source}, false});
      std::cout << Plain(narrate::RenderTable({"IMAGE", "SIZE", "CREATED", "SOURCE"}, rows));
      if (auto layered = image::List(); !layered.empty())  // images-helper hook (issue 17)
        std::cout << "\n" << image::RenderList(layered);
      return 0;
    }
    // BEGIN images-helper hook (issue 17)
    if (*load) {
      for (const auto& img : image::Load(lab::ResolvePath(load_file), load_name))
        std::cout << "Loaded image: " << img.name << " (" << img.layers.size()
                  << (img.layers.size() == 1 ? " layer, " : " layers, ")
                  << store::HumanSize(img.size) << ")" << std::endl;
      return 0;
    }
    if (*rmi) {
      for (const auto& name : ids) {
        std::vector<std::string> deleted;
        if (!image::Exists(name))
          store::Remove(name);  // an imported (flat) image
        else
          deleted = image::Remove(name, rmi_force);
        std::cout << "Untagged: " << name << "\n";
        for (const auto& layer : deleted) std::cout << "Deleted: " << layer << "\n";
        std::cout << std::flush;
      }
      return 0;
    }
    // END images-helper hook
    return Demo(verbose);
  } catch (const ExitCodeError& e) {
    return ReportError(e);
  } catch (const std::exception& e) {
    return ReportError(e, process::kSetupFailed);
  }
}
