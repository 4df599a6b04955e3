#include "common/engine/engine.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <linux/close_range.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/console.h"
#include "common/engine/cgroups.h"
#include "common/engine/hooks.h"
#include "common/engine/init.h"
#include "common/engine/spec.h"
#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"
#include "common/state.h"
#include "common/user.h"

namespace nslab::engine {
namespace {

using nlohmann::json;

constexpr const char* kOciVersion = "1.0.2";

// ---- The state directory: ROOT/ID/{state.json, config.json, exec.fifo} ------------

std::string Dir(const Context& ctx, const std::string& id) { return ctx.root + "/" + id; }
std::string FifoPath(const Context& ctx, const std::string& id) {
  return Dir(ctx, id) + "/exec.fifo";
}

bool Exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

// What a later command must know about a container (runc's state.json).
struct Saved {
  std::string id, bundle, rootfs, created, owner;
  pid_t pid = 0;
  uint64_t pid_start = 0;
  std::map<std::string, std::string> annotations;
  std::vector<cgroups::Node> cgroups;
  bool new_pid_ns = false;
};

json ToJson(const Saved& s) {
  json cg = json::array();
  for (const auto& n : s.cgroups)
    cg.push_back({{"version", n.version},
                  {"controllers", n.controllers},
                  {"dir", n.dir},
                  {"created", n.created}});
  return {{"id", s.id},         {"bundle", s.bundle},   {"rootfs", s.rootfs},
          {"created", s.created}, {"owner", s.owner},   {"pid", s.pid},
          {"pid_start", s.pid_start}, {"annotations", s.annotations}, {"cgroups", cg},
          {"new_pid_ns", s.new_pid_ns}};
}

Saved FromJson(const json& j) {
  Saved s;
  s.id = j.at("id").get<std::string>();
  s.bundle = j.at("bundle").get<std::string>();
  s.rootfs = j.value("rootfs", "");
  s.created = j.value("created", "");
  s.owner = j.value("owner", "");
  s.pid = j.at("pid").get<pid_t>();
  s.pid_start = j.at("pid_start").get<uint64_t>();
  s.annotations = j.value("annotations", std::map<std::string, std::string>{});
  for (const auto& n : j.value("cgroups", json::array())) {
    cgroups::Node node;
    node.version = n.at("version").get<int>();
    node.controllers = n.at("controllers").get<std::vector<std::string>>();
    node.dir = n.at("dir").get<std::string>();
    node.created = n.at("created").get<std::string>();
    s.cgroups.push_back(node);
  }
  s.new_pid_ns = j.value("new_pid_ns", false);
  return s;
}

// Atomic: a reader sees the old file or the new one (state.h explains why).
void WriteAtomic(const std::string& path, const std::string& text, mode_t mode = 0600) {
  const std::string tmp = path + ".tmp";
  {
    UniqueFd fd = Open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    WriteAll(fd.Get(), text, tmp);
  }
  Check(rename(tmp.c_str(), path.c_str()), "rename", path);
}

[[noreturn]] void NoSuch(const std::string& id) {
  throw UsageError("container \"" + id + "\" does not exist");
}

void RequireDir(const Context& ctx, const std::string& id) {
  ValidateId(id);
  if (!Exists(Dir(ctx, id))) NoSuch(id);
}

// nullopt while `create` has not written state.json yet ("creating").
std::optional<Saved> Load(const Context& ctx, const std::string& id) {
  RequireDir(ctx, id);
  const std::string path = Dir(ctx, id) + "/state.json";
  if (!Exists(path)) return std::nullopt;
  try {
    return FromJson(json::parse(ReadFile(path)));
  } catch (const json::exception& e) {
    throw UsageError(path + ": " + e.what());
  }
}

std::string StatusOf(const Context& ctx, const Saved& s) {
  if (!state::Alive(s.pid, s.pid_start)) return "stopped";
  if (cgroups::Frozen(s.cgroups)) return "paused";
  if (Exists(FifoPath(ctx, s.id))) return "created";
  return "running";
}

void RemoveStateDir(const std::string& dir) {
  std::vector<std::string> names;
  try {
    names = ListDir(dir);
  } catch (const SysError& e) {
    if (e.err() == ENOENT) return;
    throw;
  }
  for (const auto& n : names) {
    const std::string p = dir + "/" + n;
    if (unlink(p.c_str()) < 0 && errno != ENOENT) Check(-1, "unlink", p);
  }
  if (rmdir(dir.c_str()) < 0 && errno != ENOENT) Check(-1, "rmdir", dir);
}

std::string Rfc3339Now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%09ldZ", buf, ts.tv_nsec);
  return out;
}

std::string StateText(const std::string& id, const std::string& status, pid_t pid,
                      const std::string& bundle, const std::map<std::string, std::string>& ann) {
  json j = {{"ociVersion", kOciVersion}, {"id", id}, {"status", status}, {"bundle", bundle}};
  if (pid > 0) j["pid"] = pid;
  j["annotations"] = ann;
  return j.dump();
}

std::string OwnerName() {
  struct passwd* pw = getpwuid(geteuid());
  return pw ? pw->pw_name : std::to_string(geteuid());
}

// pidfd_open(2): wait for a process that is not our child, without a timed loop.
bool WaitGone(pid_t pid, uint64_t start, int timeout_ms) {
  if (!state::Alive(pid, start)) return true;
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!fd.Valid() || !state::Alive(pid, start)) return !state::Alive(pid, start);
  struct pollfd p = {fd.Get(), POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n > 0 || !state::Alive(pid, start);
}

// The processes in the init's pid namespace (for a container without a cgroup).
std::vector<pid_t> PidsInNamespaceOf(pid_t init) {
  std::vector<pid_t> out;
  struct stat want;
  if (stat(("/proc/" + std::to_string(init) + "/ns/pid").c_str(), &want) < 0) return out;
  for (const auto& name : ListDir("/proc")) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat st;
    if (stat(("/proc/" + name + "/ns/pid").c_str(), &st) == 0 && st.st_ino == want.st_ino &&
        st.st_dev == want.st_dev)
      out.push_back(std::atoi(name.c_str()));
  }
  return out;
}

std::vector<pid_t> PidsOf(const Saved& s) {
  if (!s.cgroups.empty()) return cgroups::Pids(s.cgroups);
  if (!state::Alive(s.pid, s.pid_start)) return {};
  if (s.new_pid_ns) return PidsInNamespaceOf(s.pid);
  return {s.pid};
}

UniqueFd ConnectConsoleSocket(const std::string& path) {
  UniqueFd s(Check(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket", "AF_UNIX"));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw UsageError("--console-socket \"" + path + "\": path too long for a unix socket");
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  Check(connect(s.Get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), "connect",
        path);
  return s;
}

void WritePidFile(const std::string& path, pid_t pid) {
  if (path.empty()) return;
  // Decimal, no newline (conmon and containerd read it with strconv.Atoi).
  WriteAtomic(path, std::to_string(pid), 0644);
}

// Everything `create` made, undone in one place if it fails before the end.
struct Undo {
  std::string dir;
  std::vector<cgroups::Node>* nodes = nullptr;
  bool armed = true;
  ~Undo() {
    if (!armed) return;
    try {
      if (nodes && !nodes->empty()) cgroups::Destroy(*nodes);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: cleanup: %s\n", ProgramName().c_str(), e.what());
    }
    try {
      RemoveStateDir(dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: cleanup: %s\n", ProgramName().c_str(), e.what());
    }
  }
};

// The namespace order for setns: user first (it grants the rights over the others),
// mount last (after it, /proc paths of the host are gone).
const std::vector<std::string>& JoinOrder() {
  static const std::vector<std::string> kOrder = {"user", "ipc", "uts", "network",
                                                  "pid",  "cgroup", "mount"};
  return kOrder;
}

const char* ProcNsName(const std::string& type) {
  if (type == "network") return "net";
  if (type == "mount") return "mnt";
  return type.c_str();
}

// create, for `create` and `run`: returns the init's pid (our child).
pid_t CreateContainer(const Context& ctx, const CreateOptions& opts, int console_fd) {
  ValidateId(opts.id);
  // 1. The bundle's config.json, fully checked before anything exists.
  Spec spec = LoadSpec(opts.bundle);
  struct stat st;
  if (stat(spec.root_path.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
    throw UsageError("config.json: root.path \"" + spec.root_path + "\" is not a directory");
  if (spec.seccomp) ValidateSeccomp(*spec.seccomp);
  if (spec.process.terminal && opts.console_socket.empty() && console_fd < 0)
    throw UsageError("process.terminal is true: --console-socket is required (the pty master "
                     "must go somewhere)");
  if (!spec.process.terminal && !opts.console_socket.empty())
    throw UsageError("--console-socket given, but config.json's process.terminal is false");
  if (ctx.systemd_cgroup && !Exists("/run/systemd/system"))
    throw UsageError("--systemd-cgroup: this host is not run by systemd (no /run/systemd/system)");
  if (ctx.systemd_cgroup)
    throw UsageError("--systemd-cgroup: the systemd cgroup manager is not part of this engine yet");

  // 2. The state directory ROOT/ID (0700): its existence is the container's.
  std::string parent;
  for (size_t i = 1; i <= ctx.root.size(); ++i) {
    if (i == ctx.root.size() || ctx.root[i] == '/') {
      parent = ctx.root.substr(0, i);
      if (mkdir(parent.c_str(), 0700) < 0 && errno != EEXIST) Check(-1, "mkdir", parent);
    }
  }
  const std::string dir = Dir(ctx, opts.id);
  if (mkdir(dir.c_str(), 0700) < 0) {
    if (errno == EEXIST) throw UsageError("container \"" + opts.id + "\" already exists");
    Check(-1, "mkdir", dir);
  }
  std::vector<cgroups::Node> nodes;
  Undo undo{dir, &nodes};
  WriteAtomic(dir + "/config.json", ReadFile(spec.bundle + "/config.json"));
  // 3. The exec fifo: 0622 so that an init running as any user can open it to write.
  const std::string fifo = FifoPath(ctx, opts.id);
  Check(mkfifo(fifo.c_str(), 0622), "mkfifo", fifo);
  Check(chmod(fifo.c_str(), 0622), "chmod", fifo);  // past our umask

  // The fifo, O_PATH, opened here by us (the init inherits it): in a new user
  // namespace the init could not even walk into a 0700 state root.
  UniqueFd fifo_fd(Check(open(fifo.c_str(), O_PATH | O_CLOEXEC), "open", fifo));

  // 4. The console socket (connected now: a bad path fails before the clone).
  UniqueFd console;
  if (!opts.console_socket.empty()) console = ConnectConsoleSocket(opts.console_socket);
  const int console_for_init = console.Valid() ? console.Get() : console_fd;

  // 5. The cgroup: only where config.json asks (cgroupsPath), or for resources.
  if (!spec.cgroups_path.empty() || !spec.resources.Empty()) {
    nodes = cgroups::Plan(spec.cgroups_path.empty() ? "nslab-oci-" + opts.id : spec.cgroups_path);
    cgroups::Create(nodes);
    Resources res = spec.resources;
    if (!res.devices.empty()) {
      // linux.devices nodes are usable in the container (runc allows them too).
      for (const auto& d : spec.devices) {
        DeviceRule r;
        r.allow = true;
        r.type = d.type == "b" ? "b" : "c";
        r.major = d.major;
        r.minor = d.minor;
        if (d.type != "p") res.devices.push_back(r);
      }
    }
    cgroups::Apply(nodes, res);
  }

  // 6. Namespaces to join by path, opened now (the init setns()es them); a pid
  //    namespace is joined here, by us: it applies to the children we clone.
  InitPlan plan;
  plan.spec = &spec;
  plan.state_dir = dir;
  plan.fifo = fifo;
  plan.fifo_fd = fifo_fd.Get();
  plan.console_socket = console_for_init;
  plan.no_pivot = opts.no_pivot;
  plan.preserve_fds = opts.preserve_fds;
  std::vector<UniqueFd> join_fds;
  for (const auto& type : JoinOrder()) {
    const Namespace* n = spec.FindNamespace(type);
    if (n == nullptr || n->path.empty()) continue;
    UniqueFd fd = Open(n->path, O_RDONLY);
    if (type == "pid") {
      narrate::Syscall("setns", n->path + ", CLONE_NEWPID");
      Check(setns(fd.Get(), CLONE_NEWPID), "setns", "linux.namespaces pid " + n->path);
      continue;
    }
    plan.join.push_back({type, fd.Get()});
    join_fds.push_back(std::move(fd));
  }
  int flags = 0;
  for (const auto& n : spec.namespaces)
    if (n.path.empty() && n.type != "cgroup") flags |= n.flag;
  plan.cgroup_ns_new = spec.NewNamespace("cgroup");
  const bool create_hooks =
      !spec.hooks.prestart.empty() || !spec.hooks.create_runtime.empty() ||
      !spec.hooks.create_container.empty() || !spec.hooks.start_container.empty();

  // 7. The init: cloned into its new namespaces, waiting on the sync pipe.
  process::CloneOptions copts;
  copts.flags = flags;
  copts.kill_with_parent = false;  // it must outlive `create`
  copts.forward_signals = false;
  // The hooks' state JSON names the init's host pid, known only after the clone: the
  // init reads it from a pipe we fill before Go().
  Pipe state_pipe;
  if (create_hooks) {
    state_pipe = MakePipe();
    plan.state_fd = state_pipe.read.Get();
    plan.state_write_fd = state_pipe.write.Get();
  }
  process::Child child = process::Clone(copts, [&] { return InitInChild(plan); });
  join_fds.clear();
  if (create_hooks) {
    plan.state_json = StateText(opts.id, "creating", child.pid(), spec.bundle, spec.annotations);
    state_pipe.read.Reset();
    WriteAll(state_pipe.write.Get(), plan.state_json, "state pipe");
    state_pipe.write.Reset();
  }

  // 8. What only the parent can do while the init waits: id maps, the cgroup move,
  //    oom_score_adj; then the prestart and createRuntime hooks.
  if (spec.NewNamespace("user")) {
    auto lines = [](const std::vector<IdMapping>& m) {
      std::string s;
      for (const auto& e : m)
        s += std::to_string(e.container_id) + " " + std::to_string(e.host_id) + " " +
             std::to_string(e.size) + "\n";
      return s;
    };
    user::WriteMapFile(child.pid(), "uid_map", lines(spec.uid_mappings));
    user::WriteMapFile(child.pid(), "gid_map", lines(spec.gid_mappings));
  }
  if (!nodes.empty()) cgroups::AddProcess(nodes, child.pid());
  if (spec.process.oom_score_adj)
    WriteFile("/proc/" + std::to_string(child.pid()) + "/oom_score_adj",
              std::to_string(*spec.process.oom_score_adj));
  RunHooks(spec.hooks.prestart, "prestart", plan.state_json);
  RunHooks(spec.hooks.create_runtime, "createRuntime", plan.state_json);

  // 9. Go: the init sets itself up and reports ready (or its error, thrown here).
  child.Go();

  // 10. Recorded: state.json, then the pid file the manager waits for.
  Saved s;
  s.id = opts.id;
  s.bundle = spec.bundle;
  s.rootfs = spec.root_path;
  s.created = Rfc3339Now();
  s.owner = OwnerName();
  s.pid = child.pid();
  s.pid_start = state::StartTime(child.pid());
  s.annotations = spec.annotations;
  s.cgroups = nodes;
  s.new_pid_ns = spec.NewNamespace("pid");
  WriteAtomic(dir + "/state.json", ToJson(s).dump());
  WritePidFile(opts.pid_file, child.pid());
  undo.armed = false;
  return child.Release();
}

}  // namespace

void ValidateId(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 1024 && std::isalnum(static_cast<unsigned char>(id[0]));
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '+' && c != '-' &&
        c != '.')
      ok = false;
  if (!ok)
    throw UsageError("invalid container id \"" + id +
                     "\": use letters, digits and _ + - . (first a letter or digit)");
}

void Create(const Context& ctx, const CreateOptions& opts) { CreateContainer(ctx, opts, -1); }

void Start(const Context& ctx, const std::string& id) {
  RequireDir(ctx, id);
  state::Lock lock = state::Lock::Exclusive(Dir(ctx, id));
  std::optional<Saved> s = Load(ctx, id);
  if (!s) throw UsageError("container \"" + id + "\" is still being created");
  const std::string status = StatusOf(ctx, *s);
  if (status == "stopped") throw UsageError("cannot start a container that has stopped");
  if (status != "created")
    throw UsageError("cannot start an already " + status + " container \"" + id + "\"");
  // Open the fifo's read end without blocking, then wait until the init has written
  // its byte — or has died (its pidfd becomes readable): never hang on a dead init.
  const std::string fifo = FifoPath(ctx, id);
  UniqueFd r = Open(fifo, O_RDONLY | O_NONBLOCK);
  UniqueFd pfd(static_cast<int>(syscall(SYS_pidfd_open, s->pid, 0)));
  for (;;) {
    struct pollfd p[2] = {{r.Get(), POLLIN, 0}, {pfd.Get(), POLLIN, 0}};
    int n = poll(p, pfd.Valid() ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    Check(n, "poll", "exec.fifo");
    char byte;
    ssize_t got = read(r.Get(), &byte, 1);
    if (got == 1) break;
    if (p[1].revents & POLLIN) throw UsageError("container \"" + id + "\" init exited before start");
    if (got < 0 && errno != EAGAIN) Check(-1, "read", fifo);
    if (got == 0 && !state::Alive(s->pid, s->pid_start))
      throw UsageError("container \"" + id + "\" init exited before start");
  }
  // Gone fifo = started (what `state` reads as "running").
  Check(unlink(fifo.c_str()), "unlink", fifo);
  try {
    Spec spec = ParseSpec(ReadFile(Dir(ctx, id) + "/config.json"), s->bundle);
    if (!spec.hooks.poststart.empty())
      RunHooks(spec.hooks.poststart, "poststart",
               StateText(id, "running", s->pid, s->bundle, s->annotations));
  } catch (const std::exception& e) {
    // runtime.md: a failing poststart hook is a warning, the container runs.
    std::fprintf(stderr, "%s: warning: %s\n", ProgramName().c_str(), e.what());
  }
}

std::string Status(const Context& ctx, const std::string& id) {
  std::optional<Saved> s = Load(ctx, id);
  return s ? StatusOf(ctx, *s) : "creating";
}

std::string StateJson(const Context& ctx, const std::string& id) {
  std::optional<Saved> s = Load(ctx, id);
  json j;
  if (!s) {
    j = {{"ociVersion", kOciVersion}, {"id", id}, {"status", "creating"}, {"pid", 0}};
    return j.dump(2) + "\n";
  }
  const std::string status = StatusOf(ctx, *s);
  j = {{"ociVersion", kOciVersion},
       {"id", id},
       {"status", status},
       {"pid", status == "stopped" ? 0 : s->pid},
       {"bundle", s->bundle},
       {"rootfs", s->rootfs},
       {"created", s->created},
       {"owner", s->owner},
       {"annotations", s->annotations}};
  return j.dump(2) + "\n";
}

void Kill(const Context& ctx, const std::string& id, int sig, bool all) {
  std::optional<Saved> s = Load(ctx, id);
  if (!s) throw UsageError("container \"" + id + "\" is still being created");
  const std::string status = StatusOf(ctx, *s);
  if (all) {
    // Every process of the container (runc kill --all): also after the init died,
    // its orphans may still be in the cgroup.
    for (pid_t p : PidsOf(*s)) {
      narrate::Syscall("kill", std::to_string(p) + ", " + std::to_string(sig));
      kill(p, sig);
    }
    return;
  }
  if (status == "stopped") throw UsageError("container \"" + id + "\" is not running");
  narrate::Syscall("kill", std::to_string(s->pid) + ", " + std::to_string(sig));
  Check(kill(s->pid, sig), "kill", std::to_string(s->pid));
}

void Delete(const Context& ctx, const std::string& id, bool force) {
  ValidateId(id);
  const std::string dir = Dir(ctx, id);
  if (!Exists(dir)) {
    if (force) return;  // runc: delete --force of nothing succeeds
    NoSuch(id);
  }
  state::Lock lock = state::Lock::Exclusive(dir);
  std::optional<Saved> s = Load(ctx, id);
  if (!s) {
    // A create that died half-way (SIGKILLed): nothing but the directory to remove.
    if (!force) throw UsageError("container \"" + id + "\" is being created: use --force");
    RemoveStateDir(dir);
    return;
  }
  const std::string status = StatusOf(ctx, *s);
  // runtime.md: delete of a running container is an error; runc also removes a
  // created one (its user process never ran).
  if ((status == "running" || status == "paused") && !force)
    throw UsageError("cannot delete container \"" + id + "\" that is not stopped: " + status);
  if (status != "stopped") {
    if (status == "paused") cgroups::Freeze(s->cgroups, false);
    narrate::Syscall("kill", std::to_string(s->pid) + ", SIGKILL");
    kill(s->pid, SIGKILL);
    if (!WaitGone(s->pid, s->pid_start, 10000))
      throw UsageError("container \"" + id + "\": init " + std::to_string(s->pid) +
                       " did not die after SIGKILL");
  }
  std::string first_error;
  if (!s->cgroups.empty()) {
    try {
      cgroups::Destroy(s->cgroups);
    } catch (const std::exception& e) {
      first_error = e.what();
    }
  }
  std::string config;
  try {
    config = ReadFile(dir + "/config.json");
  } catch (const SysError&) {
  }
  RemoveStateDir(dir);
  if (!config.empty()) {
    try {
      Spec spec = ParseSpec(config, s->bundle);
      RunHooks(spec.hooks.poststop, "poststop",
               StateText(id, "stopped", 0, s->bundle, s->annotations));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: warning: %s\n", ProgramName().c_str(), e.what());
    }
  }
  if (!first_error.empty()) throw UsageError(first_error);
}

void Pause(const Context& ctx, const std::string& id) {
  std::optional<Saved> s = Load(ctx, id);
  if (!s || StatusOf(ctx, *s) != "running")
    throw UsageError("container \"" + id + "\" is not running");
  cgroups::Freeze(s->cgroups, true);
}

void Resume(const Context& ctx, const std::string& id) {
  std::optional<Saved> s = Load(ctx, id);
  if (!s || StatusOf(ctx, *s) != "paused")
    throw UsageError("container \"" + id + "\" is not paused");
  cgroups::Freeze(s->cgroups, false);
}

std::vector<pid_t> Ps(const Context& ctx, const std::string& id) {
  std::optional<Saved> s = Load(ctx, id);
  if (!s) return {};
  return PidsOf(*s);
}

std::vector<ListEntry> List(const Context& ctx) {
  std::vector<ListEntry> out;
  if (!Exists(ctx.root)) return out;
  for (const auto& id : ListDir(ctx.root)) {
    ListEntry e;
    e.id = id;
    try {
      std::optional<Saved> s = Load(ctx, id);
      if (s) {
        e.status = StatusOf(ctx, *s);
        e.pid = e.status == "stopped" ? 0 : s->pid;
        e.bundle = s->bundle;
        e.created = s->created;
        e.owner = s->owner;
      } else {
        e.status = "creating";
      }
    } catch (const std::exception&) {
      continue;  // not a container directory
    }
    out.push_back(e);
  }
  return out;
}

// ---- exec -------------------------------------------------------------------------

int Exec(const Context& ctx, const ExecOptions& opts) {
  std::optional<Saved> s = Load(ctx, opts.id);
  if (!s) throw UsageError("container \"" + opts.id + "\" is still being created");
  const std::string status = StatusOf(ctx, *s);
  if (status != "running" && status != "created")
    throw UsageError("cannot exec in a " + status + " container \"" + opts.id + "\"");
  Spec spec = ParseSpec(ReadFile(Dir(ctx, opts.id) + "/config.json"), s->bundle);
  Process proc;
  if (!opts.process_file.empty()) {
    proc = ParseProcess(ReadFile(opts.process_file), opts.process_file);
  } else {
    if (opts.args.empty()) throw UsageError("exec needs a command (or --process FILE)");
    proc = spec.process;
    proc.args = opts.args;
    proc.terminal = opts.tty;
    for (const auto& e : opts.env) proc.env.push_back(e);
    if (!opts.cwd.empty()) proc.cwd = opts.cwd;
    if (!opts.user.empty()) {
      size_t colon = opts.user.find(':');
      proc.user.uid = static_cast<uid_t>(std::stoul(opts.user.substr(0, colon)));
      if (colon != std::string::npos)
        proc.user.gid = static_cast<gid_t>(std::stoul(opts.user.substr(colon + 1)));
    }
    if (opts.no_new_privs) proc.no_new_privileges = true;
    for (const auto& c : opts.cap) {
      if (!proc.capabilities) break;  // no capability set asked: the process keeps all
      uint64_t bit = uint64_t{1} << CapabilityNumber(c, "--cap");
      proc.capabilities->bounding |= bit;
      proc.capabilities->effective |= bit;
      proc.capabilities->permitted |= bit;
    }
  }
  if (proc.terminal && opts.detach && opts.console_socket.empty())
    throw UsageError("exec --tty --detach needs --console-socket");
  // The init's namespaces, opened while its /proc entry is ours to read.
  std::vector<std::pair<std::string, UniqueFd>> targets;
  for (const auto& type : JoinOrder()) {
    if (!spec.FindNamespace(type)) continue;
    const std::string mine = "/proc/self/ns/" + std::string(ProcNsName(type));
    const std::string theirs =
        "/proc/" + std::to_string(s->pid) + "/ns/" + std::string(ProcNsName(type));
    struct stat a, b;
    if (stat(mine.c_str(), &a) == 0 && stat(theirs.c_str(), &b) == 0 && a.st_ino == b.st_ino)
      continue;  // the same as ours: setns to one's own user namespace is EINVAL
    targets.push_back({type, Open(theirs, O_RDONLY)});
  }
  if (!state::Alive(s->pid, s->pid_start))
    throw UsageError("container \"" + opts.id + "\" is not running");
  UniqueFd console;
  Pipe internal;  // a terminal for a human at our own terminal: we relay it
  if (proc.terminal) {
    if (!opts.console_socket.empty()) {
      console = ConnectConsoleSocket(opts.console_socket);
    } else {
      internal = console::MakeFdSocket();
    }
  }
  const int console_fd = console.Valid() ? console.Get() : internal.write.Get();
  Pipe report = MakePipe();  // the process's error, EOF once it has exec'd
  Pipe pid_pipe = MakePipe();
  const Seccomp* sc = spec.seccomp ? &*spec.seccomp : nullptr;
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t c1 = Check(fork(), "fork", "exec");
  if (c1 == 0) {
    process::RunInChild([&]() -> int {
      report.read.Reset();
      pid_pipe.read.Reset();
      // Until it has joined, a process inside could ptrace us and reach the host
      // through our /proc/PID/{fd,exe} (CVE-2019-5736, CVE-2016-9962).
      Check(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl", "PR_SET_DUMPABLE");
      // The container's cgroup first, through the host's cgroupfs.
      if (!s->cgroups.empty()) cgroups::AddProcess(s->cgroups, 0);
      for (auto& [type, fd] : targets) {
        narrate::Syscall("setns", type);
        Check(setns(fd.Get(), 0), "setns", type);
        fd.Reset();
      }
      // setns(CLONE_NEWPID) applies to children only: fork once more.
      pid_t c2 = Check(fork(), "fork", "exec (in the pid namespace)");
      if (c2 == 0) {
        int code = 0;
        try {
          pid_pipe.write.Reset();
          if (proc.terminal) {
            console::Pty pty = console::OpenPty();  // the container's /dev/ptmx
            if (proc.console_height || proc.console_width) {
              struct winsize ws = {};
              ws.ws_row = static_cast<unsigned short>(proc.console_height);
              ws.ws_col = static_cast<unsigned short>(proc.console_width);
              ioctl(pty.master.Get(), TIOCSWINSZ, &ws);
            }
            console::SendFd(console_fd, pty.master.Get());
            pty.master.Reset();
            console::AttachInChild(pty.slave.Release());
          }
          std::string path = ApplyProcessInChild(proc, sc);
          for (int fd = 3; fd < 3 + opts.preserve_fds; ++fd) {
            int fl = fcntl(fd, F_GETFD);
            if (fl >= 0) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
          }
          close_range(3 + opts.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
          ExecProcess(proc, path);
        } catch (const ExitCodeError& e) {
          code = e.exit_code();
          std::string line = std::to_string(code) + " " + e.what();
          (void)!write(report.write.Get(), line.data(), line.size());
        } catch (const std::exception& e) {
          code = 1;
          std::string line = "1 " + std::string(e.what());
          (void)!write(report.write.Get(), line.data(), line.size());
        }
        _exit(code);
      }
      report.write.Reset();
      std::string pid = std::to_string(c2);
      WriteAll(pid_pipe.write.Get(), pid, "exec pid pipe");
      pid_pipe.write.Reset();
      if (opts.detach) return 0;  // c2 is reparented to the caller's subreaper
      return process::WaitPid(c2).ShellCode();
    });
  }
  report.write.Reset();
  pid_pipe.write.Reset();
  internal.write.Reset();
  console.Reset();
  targets.clear();
  std::string pid_text = ReadAll(pid_pipe.read.Get());
  std::string error = ReadAll(report.read.Get());
  if (!error.empty()) {
    process::WaitPid(c1);
    size_t sp = error.find(' ');
    int code = std::atoi(error.substr(0, sp).c_str());
    throw ExitCodeError(code == 0 ? 1 : code, error.substr(sp + 1));
  }
  if (pid_text.empty()) {
    process::ExitStatus st = process::WaitPid(c1);
    throw ExitCodeError(1, "exec: the joining process failed (" + st.Describe() + ")");
  }
  WritePidFile(opts.pid_file, std::atoi(pid_text.c_str()));
  if (opts.detach) {
    process::WaitPid(c1);
    return 0;
  }
  if (internal.read.Valid()) {
    UniqueFd master = console::ReceiveFd(internal.read.Get());
    if (master.Valid()) {
      console::RawMode raw;
      if (isatty(STDIN_FILENO)) raw = console::RawMode(STDIN_FILENO);
      console::CopyWindowSize(STDIN_FILENO, master.Get());
      console::Relay(STDIN_FILENO, master.Get(), master.Get(), STDOUT_FILENO);
    }
  }
  return process::WaitPid(c1).ShellCode();
}

// ---- run ----------------------------------------------------------------------------

namespace {
volatile sig_atomic_t g_run_init = 0;
void ForwardToInit(int sig) {
  if (g_run_init > 0) kill(static_cast<pid_t>(g_run_init), sig);
}
}  // namespace

int Run(const Context& ctx, const CreateOptions& opts, bool detach) {
  Spec spec = LoadSpec(opts.bundle);  // to know about the terminal before creating
  Pipe internal;
  if (spec.process.terminal && opts.console_socket.empty()) {
    if (detach) throw UsageError("run --detach with a terminal needs --console-socket");
    internal = console::MakeFdSocket();
  }
  pid_t init = CreateContainer(ctx, opts, internal.write.Get());
  internal.write.Reset();
  if (detach) {
    Start(ctx, opts.id);
    return 0;
  }
  const int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  g_run_init = init;
  struct sigaction sa = {};
  sa.sa_handler = ForwardToInit;
  sigemptyset(&sa.sa_mask);
  for (int sig : kSignals) sigaction(sig, &sa, nullptr);
  try {
    Start(ctx, opts.id);
  } catch (...) {
    try {
      Delete(ctx, opts.id, true);
    } catch (const std::exception&) {
    }
    throw;
  }
  if (internal.read.Valid()) {
    UniqueFd master = console::ReceiveFd(internal.read.Get());
    if (master.Valid()) {
      console::RawMode raw;
      if (isatty(STDIN_FILENO)) raw = console::RawMode(STDIN_FILENO);
      console::CopyWindowSize(STDIN_FILENO, master.Get());
      console::Relay(STDIN_FILENO, master.Get(), master.Get(), STDOUT_FILENO);
    }
  }
  int code = process::WaitPid(init).ShellCode();
  g_run_init = 0;
  Delete(ctx, opts.id, true);
  return code;
}

// ---- features and the log ---------------------------------------------------------------

std::string FeaturesJson() {
  json caps = json::array();
  int last = std::atoi(ReadFile("/proc/sys/kernel/cap_last_cap").c_str());
  static const char* kNames[] = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
      "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
      "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
      "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
      "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
      "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
      "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
      "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
      "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
  for (int i = 0; i <= last && i < static_cast<int>(sizeof kNames / sizeof kNames[0]); ++i)
    caps.push_back(kNames[i]);
  json f = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.1.0"},
      {"hooks",
       {"prestart", "createRuntime", "createContainer", "startContainer", "poststart",
        "poststop"}},
      {"mountOptions",
       {"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand",
        "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime",
        "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared",
        "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync",
        "unbindable"}},
      {"linux",
       {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}},
        {"capabilities", caps},
        {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false},
                    {"rdma", false}}},
        {"seccomp",
         {{"enabled", true},
          {"actions",
           {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}},
          {"operators",
           {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}},
          {"archs", {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"}},
          {"knownFlags",
           {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}},
          {"supportedFlags",
           {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}},
        {"intelRdt", {{"enabled", false}}}}},
      {"annotations", {{"org.nslab.engine", "common/engine"}}}};
  return f.dump(4) + "\n";
}

void LogError(const Context& ctx, const std::string& message) {
  if (ctx.log_path.empty()) return;
  try {
    std::string line;
    if (ctx.log_format == "json") {
      line = json{{"level", "error"}, {"msg", message}, {"time", Rfc3339Now()}}.dump() + "\n";
    } else {
      line = "time=\"" + Rfc3339Now() + "\" level=error msg=" + json(message).dump() + "\n";
    }
    UniqueFd fd = Open(ctx.log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    WriteAll(fd.Get(), line, ctx.log_path);
  } catch (const std::exception&) {
  }
}

}  // namespace nslab::engine
