// engine/spec — the OCI runtime spec's config.json, parsed into one C++ value.
//
// Teaches: an OCI bundle is a directory with a root filesystem and a config.json
// that says everything a runtime needs to start the container: the process (argv,
// env, cwd, user, capabilities, rlimits), the root, the mounts in order, and on
// Linux the namespaces (new, or joined by path), id mappings, cgroup path and
// resources, sysctls, masked paths, the seccomp profile and the hooks. A runtime
// must refuse what it cannot honour: silently ignoring a field the user relies on
// (a seccomp rule, a device limit) would run a weaker container than the one asked
// for. Parse therefore rejects every field it does not know how to apply, naming
// it: `config.json: linux.intelRdt is not supported`.
// Read: the OCI runtime spec (config.md, config-linux.md, runtime.md), runc's
// libcontainer/specconv, crun's libocispec, nlohmann/json's README.
//
//   engine::Spec spec = engine::LoadSpec("/path/to/bundle");   // bundle/config.json
//   spec.process.args;  spec.namespaces;  spec.mounts; ...
#ifndef NSLAB_COMMON_ENGINE_SPEC_H_
#define NSLAB_COMMON_ENGINE_SPEC_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nslab::engine {

struct Namespace {
  std::string type;  // pid network mount ipc uts user cgroup
  std::string path;  // "" = a new one; else join this one (setns)
  int flag = 0;      // CLONE_NEW*
};

struct IdMapping {
  uint32_t container_id = 0, host_id = 0, size = 0;
};

struct Mount {
  std::string destination, type, source;
  std::vector<std::string> options;
  // Options turned into mount(2) arguments (runc's parseMountOptions).
  unsigned long flags = 0;        // MS_RDONLY, MS_NOSUID, MS_BIND...
  unsigned long propagation = 0;  // MS_PRIVATE|MS_REC... applied after the mount
  std::string data;               // what mount(2) gets as filesystem options
  bool Bind() const;
};

struct Rlimit {
  int resource = 0;  // RLIMIT_NOFILE...
  std::string name;  // "RLIMIT_NOFILE"
  uint64_t soft = 0, hard = 0;
};

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::optional<mode_t> umask;
  std::vector<gid_t> additional_gids;
};

// Capability sets as bit masks (bit N = capability N, the encoding of CapEff).
struct Capabilities {
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

struct Process {
  bool terminal = false;
  unsigned console_height = 0, console_width = 0;
  User user;
  std::vector<std::string> args, env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;  // absent: no change at all
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
};

struct SeccompArg {
  unsigned index = 0;
  uint64_t value = 0, value_two = 0;
  std::string op;  // SCMP_CMP_EQ ...
};
struct SeccompSyscall {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_ERRNO ...
  std::optional<unsigned> errno_ret;
  std::vector<SeccompArg> args;
};
struct Seccomp {
  std::string default_action;
  std::optional<unsigned> default_errno_ret;
  std::vector<std::string> architectures;  // SCMP_ARCH_X86_64 ...
  std::vector<std::string> flags;          // SECCOMP_FILTER_FLAG_*
  std::vector<SeccompSyscall> syscalls;
};

struct DeviceRule {
  bool allow = false;
  std::string type = "a";  // a, c, b
  int64_t major = -1, minor = -1;  // -1 = any ("*")
  std::string access = "rwm";
};
struct Device {  // linux.devices: a node to create in the container's /dev
  std::string path, type;
  int64_t major = 0, minor = 0;
  mode_t file_mode = 0666;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Resources {
  std::optional<int64_t> memory_limit, memory_reservation, memory_swap;
  std::optional<int64_t> pids_limit;
  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;
  std::optional<uint64_t> cpu_period;
  std::string cpuset_cpus, cpuset_mems;
  std::vector<DeviceRule> devices;
  bool Empty() const;
};

struct Hook {
  std::string path;
  std::vector<std::string> args, env;
  std::optional<int> timeout;  // seconds
};
struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
};

struct Spec {
  std::string oci_version;
  std::string bundle;     // absolute directory of config.json
  std::string root_path;  // absolute (resolved against the bundle)
  bool root_readonly = false;
  Process process;
  std::string hostname, domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  // linux
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::vector<Device> devices;
  std::string cgroups_path;
  Resources resources;
  std::map<std::string, std::string> sysctl;
  std::vector<std::string> masked_paths, readonly_paths;
  std::optional<Seccomp> seccomp;
  std::string rootfs_propagation;  // "" = rprivate
  std::string mount_label;

  const Namespace* FindNamespace(const std::string& type) const;
  bool NewNamespace(const std::string& type) const;  // listed without a path
};

// Parses config.json text; `bundle` resolves a relative root.path. Throws
// UsageError "config.json: <field> ..." for a malformed or unsupported field.
Spec ParseSpec(const std::string& json_text, const std::string& bundle);
// Reads bundle/config.json and parses it (bundle made absolute first).
Spec LoadSpec(const std::string& bundle);
// Parses a process.json (`exec --process F`): the "process" object of the spec.
Process ParseProcess(const std::string& json_text, const std::string& what);

// A capability name of the spec ("CAP_NET_ADMIN") -> its number; throws UsageError
// naming `field` for one this kernel does not know.
int CapabilityNumber(const std::string& name, const std::string& field);

// The default config.json of `runc spec` (and `--rootless`), as text.
std::string DefaultSpecJson(bool rootless);

}  // namespace nslab::engine

#endif  // NSLAB_COMMON_ENGINE_SPEC_H_
