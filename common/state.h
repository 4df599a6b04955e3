// state — where a container's runtime state lives: /run/nslab/<id>/, its id and
// name, the record the engine and the shim write, and the lock two CLIs take.
//
// Teaches: a container runtime keeps almost nothing in memory. Everything another
// invocation of the CLI must know — which process is the container's init, which
// shim watches it, how it ended — is a small file in a directory per container
// (runc: /run/runc/<id>/state.json; crun: /run/crun/<id>/status; conmon writes the
// exit file). Two rules make such files trustworthy:
//  - write a new version to a temporary file and rename(2) it over the old one, so a
//    reader sees the old or the new record, never half of one;
//  - a pid alone is not an identity (pids are reused): keep the process's start
//    time (field 22 of /proc/PID/stat) beside it, and call a container "running"
//    only when a process with that pid *and* that start time exists.
// Concurrent CLIs on one container serialise with flock(2) on its directory; the
// name table is guarded by a lock on the base directory.
// Read: rename(2), flock(2), proc(5) (/proc/PID/stat), runc's libcontainer/state.
//
//   state::Record r = state::Load(state::Resolve("web"));
//   if (state::Status(r) == state::kRunning) ...
//   state::Lock lock = state::Lock::Exclusive(state::Dir(r.id));
#ifndef NSLAB_COMMON_STATE_H_
#define NSLAB_COMMON_STATE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"

namespace nslab::state {

// $NSLAB_STATE_DIR, else /run/nslab for root; for other users $XDG_RUNTIME_DIR/nslab,
// else /tmp/nslab-UID (created on first use, mode 0711).
std::string Base();
// Base()/<id>.
std::string Dir(const std::string& id);

// A fresh id: 12 lowercase hex digits from getrandom(2) (Docker's short id length).
std::string NewId();
// Throws UsageError unless id is 12 lowercase hex digits.
void ValidateId(const std::string& id);
// Names: 1-63 characters, [a-zA-Z0-9][a-zA-Z0-9_.-]*. Throws UsageError otherwise.
void ValidateName(const std::string& name);

// Everything known about one container. Written by the CLI when it creates the
// container, by the engine once the init runs, by the shim when it ends.
struct Record {
  std::string id, name;
  std::string image;   // image name, or "" with --rootfs
  std::string rootfs;  // lower dir (image rootfs) or the --rootfs dir
  std::vector<std::string> command;
  std::string hostname;
  std::string net = "bridge";        // "bridge" or "none"
  std::string address;               // "10.88.0.2/16" on the bridge
  std::string address_file;          // the allocation to release
  std::string host_if;               // host end of the veth
  std::vector<std::string> cgroups;  // directories of the container's cgroup
  std::string limits;                // "memory 64M, pids 32" (for inspect)
  std::string cgroup_manager;        // which manager placed the cgroup, where, why (issue 12)
  bool tty = false, interactive = false, remove = false, user = false;
  bool privileged = false;
  std::vector<std::string> cap_add, cap_drop;
  pid_t creator_pid = 0;  // the CLI that created it (only for Status)
  uint64_t creator_start = 0;
  pid_t shim_pid = 0;       // the monitor; also the engine before it execs
  uint64_t shim_start = 0;  // its start time (clock ticks since boot)
  pid_t pid = 0;            // the container's init, as the host sees it
  uint64_t pid_start = 0;
  int64_t created = 0, started = 0, finished = 0;  // unix seconds; 0 = not yet
  bool exited = false;                             // the shim recorded an end
  int exit_code = 0;                               // shell code: code, or 128 + signal
  std::string error;                               // why it failed to start, if it did
};

// Status strings, as `ps` prints them.
inline constexpr const char* kCreated = "created";
inline constexpr const char* kRunning = "running";
inline constexpr const char* kExited = "exited";
inline constexpr const char* kUnknown = "unknown";  // no shim, no init, no exit record

// The status checked against reality: "running" only when the init (pid + start
// time) is alive and not a zombie; "exited" when the shim recorded an end (or the
// init is gone); "created" while the engine is still setting up; "unknown" when the
// processes vanished without a record (the shim was SIGKILLed).
std::string Status(const Record& r);
// "exited (137) 5 seconds ago" style detail for ps.
std::string StatusDetail(const Record& r);

// Serialises a record: one "key=value" per line, values escaped (\n, \\), the
// command as repeated "arg=" lines. Parse(Format(r)) == r.
std::string Format(const Record& r);
Record Parse(const std::string& text);

// Atomic write of Dir(r.id)/state (temporary file + rename). Throws SysError.
void Save(const Record& r);
// Reads Dir(id)/state. Throws UsageError "no such container" when it is missing.
Record Load(const std::string& id);

// Every container with a readable record, oldest first.
std::vector<Record> List();
// An exact id, a unique id prefix, or a name -> the id. Throws ExitCodeError(125,
// "no such container: X") when nothing matches, or when a prefix is ambiguous.
std::string Resolve(const std::string& id_or_name);

// Creates Dir(id) (0700) and reserves `name` (unique among containers), under the
// base lock, and writes the first record. Throws UsageError when the name is taken.
void CreateDir(Record& r);
// Removes Dir(id) and everything under it, never crossing into a mount point.
// A missing directory is fine.
void RemoveDir(const std::string& id);

// flock(2) on a directory, released when the object goes away.
class Lock {
 public:
  Lock() = default;
  explicit Lock(UniqueFd fd) : fd_(std::move(fd)) {}
  static Lock Exclusive(const std::string& dir);
  static Lock Shared(const std::string& dir);
  bool Held() const { return fd_.Valid(); }
  void Unlock() { fd_.Reset(); }

 private:
  UniqueFd fd_;
};

// Start time of a process (field 22 of /proc/PID/stat), 0 when it does not exist.
uint64_t StartTime(pid_t pid);
// Is `pid` alive with this start time, and not a zombie?
bool Alive(pid_t pid, uint64_t start_time);

// Unix seconds now; "2026-11-29 08:12:01" in UTC; "5 seconds ago".
int64_t Now();
std::string FormatTime(int64_t unix_seconds);
std::string Ago(int64_t unix_seconds);

}  // namespace nslab::state

#endif  // NSLAB_COMMON_STATE_H_
