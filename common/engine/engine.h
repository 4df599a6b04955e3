// engine — an OCI runtime: create, start, state, kill, delete, exec, list, ps,
// pause and resume of containers described by an OCI bundle (config.json + rootfs).
//
// Teaches: a container manager (podman through conmon, containerd through its shim)
// never builds containers itself: it writes a bundle and calls a runtime, one short
// command per step, each a new process. So everything a later command needs lives in
// the runtime's state directory (ROOT/ID: state.json, a copy of config.json, the
// exec fifo), never in memory, and the init is nobody's child but the manager's:
// `create` clones it, sets it up, and exits; the init is reparented to the caller's
// child subreaper (conmon and containerd-shim call PR_SET_CHILD_SUBREAPER for that).
// The state machine (runtime.md): creating -> created (init blocked on the exec
// fifo) -> running (start opened the fifo) -> stopped (the init is gone); paused is
// running with a frozen cgroup. Every entry point takes one Context, built once in
// main from the global flags (as crun's libcrun_context_t): where state lives, the
// log, the flags — no environment variable decides anything in the middle.
// Read: the OCI runtime spec's runtime.md (state, lifecycle, operations), runc's
// man pages (runc-create(8), runc-start(8), runc-delete(8)...), crun's src/*.c.
//
//   engine::Context ctx;  ctx.root = "/run/nslab-oci";
//   engine::Create(ctx, {.id = "c1", .bundle = "/b"});   // init waits
//   engine::Start(ctx, "c1");                            // init execs
//   std::cout << engine::StateJson(ctx, "c1");
//   engine::Kill(ctx, "c1", SIGKILL, false);  engine::Delete(ctx, "c1", false);
#ifndef NSLAB_COMMON_ENGINE_ENGINE_H_
#define NSLAB_COMMON_ENGINE_ENGINE_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace nslab::engine {

// Everything the global flags decide, built once in main and passed down.
struct Context {
  std::string root = "/run/nslab-oci";  // state: ROOT/ID/
  std::string log_path;                 // --log: errors are appended here too
  std::string log_format = "text";      // text | json
  bool systemd_cgroup = false;
  bool debug = false;
};

struct CreateOptions {
  std::string id, bundle, pid_file, console_socket;
  bool no_pivot = false, no_new_keyring = false;
  int preserve_fds = 0;
};

// runtime.md "create": validates config.json, makes ROOT/ID, the cgroup, clones the
// init and waits until it is set up and blocked on the exec fifo. Writes the pid
// file. On any failure nothing is left (state dir, cgroup, init).
void Create(const Context& ctx, const CreateOptions& opts);
// Releases a created container's init (it execs the user's process); poststart hooks.
void Start(const Context& ctx, const std::string& id);
// The state JSON of runtime.md (ociVersion, id, status, pid, bundle, annotations).
std::string StateJson(const Context& ctx, const std::string& id);
// creating | created | running | paused | stopped.
std::string Status(const Context& ctx, const std::string& id);
// kill(2) to the init, or with `all` to every process of the container.
void Kill(const Context& ctx, const std::string& id, int sig, bool all);
// Removes a stopped or created container (force: also a running one), its cgroup,
// its state; poststop hooks. A missing container is an error unless force.
void Delete(const Context& ctx, const std::string& id, bool force);
void Pause(const Context& ctx, const std::string& id);
void Resume(const Context& ctx, const std::string& id);
// The pids of the container's processes, as the host sees them.
std::vector<pid_t> Ps(const Context& ctx, const std::string& id);

struct ListEntry {
  std::string id, status, bundle, created, owner;
  pid_t pid = 0;
};
std::vector<ListEntry> List(const Context& ctx);

struct ExecOptions {
  std::string id;
  std::string process_file;        // --process F (process.json); else args
  std::vector<std::string> args;   // inline: exec ID CMD...
  std::vector<std::string> env;    // --env K=V (inline)
  std::string cwd, user;           // --cwd, --user UID[:GID] (inline)
  std::vector<std::string> cap;    // --cap (inline): added to the container's
  bool tty = false, detach = false, no_new_privs = false;
  std::string pid_file, console_socket;
  int preserve_fds = 0;
};
// Joins the running container (its namespaces, cgroup, seccomp) and runs a process.
// Detached: returns 0 once it has exec'd (pid file written); else its exit code.
int Exec(const Context& ctx, const ExecOptions& opts);

// `run`: create + start; attached (not detach): waits for the init, relays a
// terminal when the spec asks for one and no console socket is given, forwards
// signals, deletes the container and returns its exit code.
int Run(const Context& ctx, const CreateOptions& opts, bool detach);

// `features` (runtime-spec features.md), as JSON.
std::string FeaturesJson();

// Appends one line to ctx.log_path about an error (json: {"level":"error",
// "msg":...,"time":...}). Never throws.
void LogError(const Context& ctx, const std::string& message);

// Container ids: runc's rule, [a-zA-Z0-9][a-zA-Z0-9_+.-]* (no "/", no "..").
void ValidateId(const std::string& id);

}  // namespace nslab::engine

#endif  // NSLAB_COMMON_ENGINE_ENGINE_H_
