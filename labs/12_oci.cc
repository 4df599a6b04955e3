// 12_oci — an OCI runtime command line (runc's), over common/engine.
//
// Teaches: podman (through conmon) and containerd (through containerd-shim-runc-v2)
// drive any program that speaks this command line: global options, then one
// subcommand per lifecycle step — `create` (the init waits), `start`, `state`,
// `kill`, `delete` — each a short-lived process that reads and writes the state
// directory. This main only parses: the context (--root, --log...) is built once
// here and passed to the engine; each subcommand is one entry of the table below,
// one small function over one engine call (crun's src/*.c over libcrun).
// Options come before the positional arguments, as urfave/cli (runc) parses them:
// `exec ID sh -c 'echo hi'` needs no `--`.
// Read: docs/12_oci.md, runc(8) and its subcommands' man pages, the OCI runtime
// spec's runtime.md, crun(1).
//
//   bazel run //labs:12_oci -- spec                   # config.json in the current dir
//   bazel run //labs:12_oci -- create --bundle B c1   # init waits on exec.fifo
//   bazel run //labs:12_oci -- start c1 && bazel run //labs:12_oci -- state c1
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/engine/engine.h"
#include "common/engine/spec.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"

namespace {

using namespace nslab;

constexpr const char* kVersion = "0.1.0";

// One option of a subcommand: --name[=VALUE] or -s VALUE, or a flag.
struct Opt {
  std::string name;   // "bundle"
  char short_name;    // 'b', or 0
  bool takes_value;
  std::string help;
};

struct Args {
  std::map<std::string, std::vector<std::string>> opts;  // name -> values ("" for flags)
  std::vector<std::string> positional;
  bool Flag(const std::string& n) const { return opts.count(n) != 0; }
  std::string Value(const std::string& n, const std::string& def = "") const {
    auto it = opts.find(n);
    return it == opts.end() ? def : it->second.back();
  }
  std::vector<std::string> Values(const std::string& n) const {
    auto it = opts.find(n);
    return it == opts.end() ? std::vector<std::string>{} : it->second;
  }
};

struct Command {
  std::string name, usage, summary;
  std::vector<Opt> opts;
  size_t min_args, max_args;  // positional arguments (max: SIZE_MAX = any)
  std::function<int(const engine::Context&, const Args&)> run;
};

// Parses options until the first positional argument (or "--"); all the rest is
// positional. Throws UsageError naming an unknown option.
Args ParseArgs(const std::vector<Opt>& spec, const std::vector<std::string>& argv, size_t begin,
               const std::string& where, bool stop_at_positional, size_t* end = nullptr) {
  Args a;
  size_t i = begin;
  for (; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s == "--") {
      ++i;
      break;
    }
    if (s.size() < 2 || s[0] != '-') {
      if (stop_at_positional) break;
      a.positional.push_back(s);
      continue;
    }
    std::string name, value;
    bool has_value = false;
    const Opt* o = nullptr;
    if (s[1] == '-') {
      name = s.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      for (const auto& c : spec)
        if (c.name == name) o = &c;
    } else {
      for (const auto& c : spec)
        if (c.short_name == s[1]) o = &c;
      if (o && s.size() > 2) {
        value = s.substr(2);
        has_value = true;
      }
      // runc's single-dash long options (-bundle) are urfave/cli's too.
      if (!o) {
        name = s.substr(1);
        for (const auto& c : spec)
          if (c.name == name) o = &c;
      }
    }
    if (!o) throw UsageError(where + ": unknown option \"" + s + "\" (see --help)");
    if (o->takes_value && !has_value) {
      if (i + 1 >= argv.size()) throw UsageError(where + ": option --" + o->name + " needs a value");
      value = argv[++i];
    } else if (!o->takes_value && has_value) {
      if (value != "true" && value != "false")
        throw UsageError(where + ": option --" + o->name + " takes no value");
      if (value == "false") continue;
      value.clear();
    }
    a.opts[o->name].push_back(value);
  }
  if (end) *end = i;
  for (; i < argv.size(); ++i) a.positional.push_back(argv[i]);
  return a;
}

void PrintHelp(const std::string& prog, const Command& c) {
  std::printf("Usage: %s %s %s\n\n%s\n", prog.c_str(), c.name.c_str(), c.usage.c_str(),
              c.summary.c_str());
  if (!c.opts.empty()) std::printf("\nOptions:\n");
  for (const auto& o : c.opts) {
    std::string left = "  ";
    left += o.short_name ? std::string("-") + o.short_name + ", " : "    ";
    left += "--" + o.name + (o.takes_value ? " VALUE" : "");
    std::printf("%-34s %s\n", left.c_str(), o.help.c_str());
  }
}

const Opt kHelp{"help", 'h', false, "show this help"};

int Number(const std::string& text, const std::string& what) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0 || v > 1 << 20)
    throw UsageError(what + " \"" + text + "\" is not a number");
  return static_cast<int>(v);
}

// ---- The subcommands: one function each, over one engine call ---------------------------

int CmdCreate(const engine::Context& ctx, const Args& a) {
  engine::CreateOptions o;
  o.id = a.positional[0];
  o.bundle = a.Value("bundle", ".");
  o.pid_file = a.Value("pid-file");
  o.console_socket = a.Value("console-socket");
  o.no_pivot = a.Flag("no-pivot");
  o.no_new_keyring = a.Flag("no-new-keyring");
  o.preserve_fds = Number(a.Value("preserve-fds", "0"), "--preserve-fds");
  engine::Create(ctx, o);
  return 0;
}

int CmdRun(const engine::Context& ctx, const Args& a) {
  engine::CreateOptions o;
  o.id = a.positional[0];
  o.bundle = a.Value("bundle", ".");
  o.pid_file = a.Value("pid-file");
  o.console_socket = a.Value("console-socket");
  o.no_pivot = a.Flag("no-pivot");
  o.no_new_keyring = a.Flag("no-new-keyring");
  o.preserve_fds = Number(a.Value("preserve-fds", "0"), "--preserve-fds");
  return engine::Run(ctx, o, a.Flag("detach"));
}

int CmdStart(const engine::Context& ctx, const Args& a) {
  engine::Start(ctx, a.positional[0]);
  return 0;
}

int CmdState(const engine::Context& ctx, const Args& a) {
  std::fputs(engine::StateJson(ctx, a.positional[0]).c_str(), stdout);
  return 0;
}

int CmdKill(const engine::Context& ctx, const Args& a) {
  int sig = SIGTERM;
  if (a.positional.size() > 1) sig = process::ParseSignal(a.positional[1]);
  engine::Kill(ctx, a.positional[0], sig, a.Flag("all"));
  return 0;
}

int CmdDelete(const engine::Context& ctx, const Args& a) {
  engine::Delete(ctx, a.positional[0], a.Flag("force"));
  return 0;
}

int CmdPause(const engine::Context& ctx, const Args& a) {
  engine::Pause(ctx, a.positional[0]);
  return 0;
}

int CmdResume(const engine::Context& ctx, const Args& a) {
  engine::Resume(ctx, a.positional[0]);
  return 0;
}

int CmdList(const engine::Context& ctx, const Args& a) {
  auto list = engine::List(ctx);
  const std::string format = a.Value("format", "table");
  if (a.Flag("quiet")) {
    for (const auto& e : list) std::printf("%s\n", e.id.c_str());
    return 0;
  }
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : list)
      j.push_back({{"ociVersion", "1.0.2"}, {"id", e.id}, {"pid", e.pid}, {"status", e.status},
                   {"bundle", e.bundle}, {"created", e.created}, {"owner", e.owner}});
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  if (format != "table") throw UsageError("list --format \"" + format + "\": use table or json");
  std::printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
              "OWNER");
  for (const auto& e : list)
    std::printf("%-20s %-8d %-10s %-40s %-32s %s\n", e.id.c_str(), e.pid, e.status.c_str(),
                e.bundle.c_str(), e.created.c_str(), e.owner.c_str());
  return 0;
}

int CmdPs(const engine::Context& ctx, const Args& a) {
  std::vector<pid_t> pids = engine::Ps(ctx, a.positional[0]);
  const std::string format = a.Value("format", "table");
  if (format == "json") {  // what containerd's `ctr task ps` reads
    std::printf("%s\n", nlohmann::json(pids).dump().c_str());
    return 0;
  }
  if (format != "table") throw UsageError("ps --format \"" + format + "\": use table or json");
  std::printf("%-8s %-8s %s\n", "PID", "PPID", "CMD");
  for (pid_t p : pids) {
    std::string stat, cmd;
    try {
      stat = ReadFile("/proc/" + std::to_string(p) + "/stat");
      cmd = ReadFile("/proc/" + std::to_string(p) + "/cmdline");
    } catch (const std::exception&) {
      continue;  // ended meanwhile
    }
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    int ppid = 0;
    size_t close = stat.rfind(')');
    if (close != std::string::npos) std::sscanf(stat.c_str() + close + 2, "%*c %d", &ppid);
    std::printf("%-8d %-8d %s\n", p, ppid, cmd.c_str());
  }
  return 0;
}

int CmdExec(const engine::Context& ctx, const Args& a) {
  engine::ExecOptions o;
  o.id = a.positional[0];
  o.args.assign(a.positional.begin() + 1, a.positional.end());
  o.process_file = a.Value("process");
  o.env = a.Values("env");
  o.cwd = a.Value("cwd");
  o.user = a.Value("user");
  o.cap = a.Values("cap");
  o.tty = a.Flag("tty");
  o.detach = a.Flag("detach");
  o.no_new_privs = a.Flag("no-new-privs");
  o.pid_file = a.Value("pid-file");
  o.console_socket = a.Value("console-socket");
  o.preserve_fds = Number(a.Value("preserve-fds", "0"), "--preserve-fds");
  if (o.process_file.empty() && o.args.empty())
    throw UsageError("exec: give a command after the id, or --process FILE");
  return engine::Exec(ctx, o);
}

int CmdFeatures(const engine::Context&, const Args&) {
  std::fputs(engine::FeaturesJson().c_str(), stdout);
  return 0;
}

int CmdSpec(const engine::Context&, const Args& a) {
  const std::string bundle = a.Value("bundle", ".");
  const std::string path = bundle + "/config.json";
  if (access(path.c_str(), F_OK) == 0) throw UsageError("File " + path + " exists. Remove it first");
  UniqueFd fd = Open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  WriteAll(fd.Get(), engine::DefaultSpecJson(a.Flag("rootless")), path);
  return 0;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"create", "[options] ID",
       "Create a container from the bundle: its init is set up and waits for `start`.",
       {{"bundle", 'b', true, "the bundle directory (config.json, rootfs); default ."},
        {"pid-file", 0, true, "write the init's host pid here (decimal, no newline)"},
        {"console-socket", 0, true, "unix socket that receives the pty master (terminal: true)"},
        {"no-pivot", 0, false, "move the root and chroot instead of pivot_root (ramfs roots)"},
        {"no-new-keyring", 0, false, "accepted: no session keyring is made either way"},
        {"preserve-fds", 0, true, "pass N more fds (3..3+N-1) to the container"},
        kHelp},
       1, 1, CmdCreate},
      {"start", "ID", "Run the user's process of a created container.", {kHelp}, 1, 1, CmdStart},
      {"state", "ID", "Print the container's state (runtime-spec JSON).", {kHelp}, 1, 1,
       CmdState},
      {"kill", "[options] ID [SIGNAL]",
       "Send a signal (name or number, default SIGTERM) to the container's init.",
       {{"all", 'a', false, "to every process of the container"}, kHelp}, 1, 2, CmdKill},
      {"delete", "[options] ID", "Remove a stopped or created container.",
       {{"force", 'f', false, "kill it first if it runs"}, kHelp}, 1, 1, CmdDelete},
      {"run", "[options] ID", "create + start; attached unless --detach.",
       {{"bundle", 'b', true, "the bundle directory; default ."},
        {"pid-file", 0, true, "write the init's host pid here"},
        {"console-socket", 0, true, "unix socket that receives the pty master"},
        {"detach", 'd', false, "return once the container runs"},
        {"no-pivot", 0, false, "chroot instead of pivot_root"},
        {"no-new-keyring", 0, false, "accepted"},
        {"preserve-fds", 0, true, "pass N more fds to the container"},
        kHelp},
       1, 1, CmdRun},
      {"exec", "[options] ID [COMMAND ARGS...]", "Run a process in a running container.",
       {{"process", 'p', true, "process.json (the spec's process object)"},
        {"detach", 'd', false, "return once it runs (its pid in --pid-file)"},
        {"pid-file", 0, true, "write its host pid here"},
        {"tty", 't', false, "allocate a pty"},
        {"console-socket", 0, true, "unix socket that receives the pty master"},
        {"env", 'e', true, "K=V, repeatable"},
        {"cwd", 0, true, "working directory"},
        {"user", 'u', true, "UID[:GID]"},
        {"cap", 'c', true, "add a capability (CAP_X), repeatable"},
        {"no-new-privs", 0, false, "set no_new_privs"},
        {"preserve-fds", 0, true, "pass N more fds"},
        kHelp},
       1, SIZE_MAX, CmdExec},
      {"list", "[options]", "List the containers under --root.",
       {{"format", 'f', true, "table or json"}, {"quiet", 'q', false, "ids only"}, kHelp}, 0, 0,
       CmdList},
      {"ps", "[options] ID", "List the container's processes.",
       {{"format", 'f', true, "table or json (a list of pids)"}, kHelp}, 1, 1, CmdPs},
      {"pause", "ID", "Freeze every process of the container (cgroup freezer).", {kHelp}, 1, 1,
       CmdPause},
      {"resume", "ID", "Thaw a paused container.", {kHelp}, 1, 1, CmdResume},
      {"features", "", "Print what this runtime supports (runtime-spec features JSON).", {kHelp},
       0, 0, CmdFeatures},
      {"spec", "[options]", "Write a default config.json (as `runc spec`).",
       {{"bundle", 'b', true, "where to write it; default ."},
        {"rootless", 0, false, "for a non-root user (user namespace, no network namespace)"},
        kHelp},
       0, 0, CmdSpec},
  };
  return kCommands;
}

const std::vector<Opt> kGlobal = {
    {"root", 0, true,
     "state directory (default /run/nslab-oci; not root: $XDG_RUNTIME_DIR/nslab-oci)"},
    {"log", 'l', true, "append each error to this file, one line (see --log-format)"},
    {"log-format", 0, true, "text or json"},
    {"systemd-cgroup", 0, false, "cgroupsPath is slice:prefix:name (needs systemd)"},
    {"debug", 0, false, "narrate every step on stderr"},
    {"rootless", 0, true, "accepted for runc compatibility (auto, true, false)"},
    {"criu", 0, true, "accepted for runc compatibility (no checkpointing)"},
    {"version", 'v', false, "print the version"},
    kHelp,
};

void PrintMainHelp(const std::string& prog) {
  std::printf(
      "Usage: %s [global options] COMMAND [options] ARGS...\n\n"
      "An OCI runtime (runc's command line) over nslab's engine (common/engine).\n\n"
      "Global options:\n",
      prog.c_str());
  for (const auto& o : kGlobal)
    std::printf("  %-30s %s\n", ("--" + o.name + (o.takes_value ? " VALUE" : "")).c_str(),
                o.help.c_str());
  std::printf("\nCommands:\n");
  for (const auto& c : Commands()) std::printf("  %-10s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf("\n`%s COMMAND --help` shows a command's options.\n", prog.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const std::string prog = "12_oci";
  SetProgramName(prog);
  std::vector<std::string> args(argv, argv + argc);
  engine::Context ctx;
  try {
    // 1. Global options, up to the subcommand: they become the one context value.
    size_t next = 1;
    Args g = ParseArgs(kGlobal, args, 1, prog, true, &next);
    if (g.Flag("help") || (next >= args.size() && !g.Flag("version"))) {
      PrintMainHelp(prog);
      return next >= args.size() && !g.Flag("help") ? 1 : 0;
    }
    if (g.Flag("version")) {
      std::printf("%s version %s\nspec: 1.0.2\n", prog.c_str(), kVersion);
      return 0;
    }
    // Where state lives is decided here, once: root's /run/nslab-oci, else the user's
    // runtime directory (as runc does for rootless), else /tmp/nslab-oci-UID.
    if (geteuid() != 0) {
      const char* xdg = std::getenv("XDG_RUNTIME_DIR");
      ctx.root = xdg && *xdg ? std::string(xdg) + "/nslab-oci"
                             : "/tmp/nslab-oci-" + std::to_string(geteuid());
    }
    ctx.root = g.Value("root", ctx.root);
    ctx.log_path = g.Value("log");
    ctx.log_format = g.Value("log-format", "text");
    if (ctx.log_format != "text" && ctx.log_format != "json")
      throw UsageError("--log-format \"" + ctx.log_format + "\": use text or json");
    ctx.systemd_cgroup = g.Flag("systemd-cgroup");
    ctx.debug = g.Flag("debug");
    narrate::Configure(false, ctx.debug);
    // 2. The subcommand, from the table.
    const std::string name = args[next];
    const Command* cmd = nullptr;
    for (const auto& c : Commands())
      if (c.name == name) cmd = &c;
    if (cmd == nullptr) throw UsageError("unknown command \"" + name + "\" (see --help)");
    Args a = ParseArgs(cmd->opts, args, next + 1, name, true);
    if (a.Flag("help")) {
      PrintHelp(prog, *cmd);
      return 0;
    }
    if (a.positional.size() < cmd->min_args || a.positional.size() > cmd->max_args)
      throw UsageError(name + ": expected " + cmd->usage + " (see " + name + " --help)");
    // 3. One engine call.
    return cmd->run(ctx, a);
  } catch (const std::exception& e) {
    engine::LogError(ctx, e.what());
    int code = ReportError(e, 1);
    return code == 0 ? 1 : code;
  }
}
