#include "common/engine/spec.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/error.h"
#include "common/fd.h"

namespace nslab::engine {
namespace {

using nlohmann::json;

// A JSON object being read field by field. Each getter marks its key as understood;
// Done() then refuses every key nobody asked for — unless its value asks for nothing
// (null, {}, [], ""), as runtimes treat an empty section as absent.
class Obj {
 public:
  Obj(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) Fail("", "must be an object");
  }
  ~Obj() noexcept(false) {
    if (std::uncaught_exceptions() == 0) Done();
  }
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;

  std::string Field(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  [[noreturn]] void Fail(const std::string& key, const std::string& what) const {
    std::string field = key.empty() ? path_ : Field(key);
    throw UsageError("config.json: " + (field.empty() ? std::string("the document") : field) +
                     " " + what);
  }
  // The raw value (null when absent); marks the key understood.
  const json& Get(const std::string& key) {
    seen_.insert(key);
    static const json kNull;
    auto it = j_.find(key);
    return it == j_.end() ? kNull : *it;
  }
  bool Has(const std::string& key) {
    const json& v = Get(key);
    return !v.is_null();
  }
  std::string Str(const std::string& key, const std::string& def = "") {
    const json& v = Get(key);
    if (v.is_null()) return def;
    if (!v.is_string()) Fail(key, "must be a string");
    return v.get<std::string>();
  }
  bool Bool(const std::string& key, bool def = false) {
    const json& v = Get(key);
    if (v.is_null()) return def;
    if (!v.is_boolean()) Fail(key, "must be true or false");
    return v.get<bool>();
  }
  template <typename T>
  std::optional<T> Num(const std::string& key) {
    const json& v = Get(key);
    if (v.is_null()) return std::nullopt;
    if (!v.is_number_integer()) Fail(key, "must be an integer");
    if (std::is_unsigned<T>::value && v.is_number_integer() && !v.is_number_unsigned() &&
        v.get<int64_t>() < 0)
      Fail(key, "must not be negative");
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) Fail(key, "is out of range");
      return static_cast<T>(u);
    }
    int64_t s = v.get<int64_t>();
    if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        (s > 0 && static_cast<uint64_t>(s) > static_cast<uint64_t>(std::numeric_limits<T>::max())))
      Fail(key, "is out of range");
    return static_cast<T>(s);
  }
  std::vector<std::string> Strings(const std::string& key) {
    const json& v = Get(key);
    std::vector<std::string> out;
    if (v.is_null()) return out;
    if (!v.is_array()) Fail(key, "must be an array of strings");
    for (const auto& e : v) {
      if (!e.is_string()) Fail(key, "must be an array of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  // Calls fn(Obj&) for each element of an array of objects ("key[3]").
  template <typename F>
  void Each(const std::string& key, F fn) {
    const json& v = Get(key);
    if (v.is_null()) return;
    if (!v.is_array()) Fail(key, "must be an array");
    for (size_t i = 0; i < v.size(); ++i) {
      Obj o(v[i], Field(key) + "[" + std::to_string(i) + "]");
      fn(o);
    }
  }
  // fn(Obj&) for a nested object, when present.
  template <typename F>
  void Sub(const std::string& key, F fn) {
    const json& v = Get(key);
    if (v.is_null()) return;
    Obj o(v, Field(key));
    fn(o);
  }
  std::map<std::string, std::string> StringMap(const std::string& key) {
    const json& v = Get(key);
    std::map<std::string, std::string> out;
    if (v.is_null()) return out;
    if (!v.is_object()) Fail(key, "must be an object of strings");
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!it->is_string()) Fail(key + "." + it.key(), "must be a string");
      out[it.key()] = it->get<std::string>();
    }
    return out;
  }
  // Marks keys the runtime may ignore by design (with the reason at the call site).
  void Ignore(const std::string& key) { seen_.insert(key); }

  void Done() {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (seen_.count(it.key())) continue;
      const json& v = *it;
      bool empty = v.is_null() || ((v.is_object() || v.is_array() || v.is_string()) && v.empty());
      if (!empty) throw UsageError("config.json: " + Field(it.key()) + " is not supported");
    }
    seen_.clear();
    for (auto it = j_.begin(); it != j_.end(); ++it) seen_.insert(it.key());
  }

 private:
  const json& j_;
  std::string path_;
  std::set<std::string> seen_;
};

const std::map<std::string, int>& NamespaceFlags() {
  static const std::map<std::string, int> kFlags = {
      {"pid", CLONE_NEWPID},   {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},
      {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS},     {"user", CLONE_NEWUSER},
      {"cgroup", CLONE_NEWCGROUP}};
  return kFlags;
}

const std::map<std::string, int>& RlimitNumbers() {
  static const std::map<std::string, int> kLimits = {
      {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},
      {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
      {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}};
  return kLimits;
}

// The capability names of capabilities(7), by number.
const std::vector<std::string>& CapabilityNames() {
  static const std::vector<std::string> kNames = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
      "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
      "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
      "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
      "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
      "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
      "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
      "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
      "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
  return kNames;
}

int LastCap() {
  static int last = [] {
    try {
      return std::atoi(ReadFile("/proc/sys/kernel/cap_last_cap").c_str());
    } catch (const std::exception&) {
      return static_cast<int>(CapabilityNames().size()) - 1;
    }
  }();
  return last;
}

uint64_t CapSet(Obj& o, const std::string& key) {
  uint64_t set = 0;
  for (const auto& name : o.Strings(key)) {
    set |= uint64_t{1} << CapabilityNumber(name, o.Field(key));
  }
  return set;
}

// mount(2) flags from the spec's mount options (runc's parseMountOptions; mount(8)).
void ParseMountOptions(Mount& m, const std::string& field) {
  struct Flag {
    bool clear;
    unsigned long flag;
  };
  static const std::map<std::string, Flag> kFlags = {
      {"async", {true, MS_SYNCHRONOUS}},  {"atime", {true, MS_NOATIME}},
      {"bind", {false, MS_BIND}},         {"defaults", {false, 0}},
      {"dev", {true, MS_NODEV}},          {"diratime", {true, MS_NODIRATIME}},
      {"dirsync", {false, MS_DIRSYNC}},   {"exec", {true, MS_NOEXEC}},
      {"mand", {false, MS_MANDLOCK}},     {"noatime", {false, MS_NOATIME}},
      {"nodev", {false, MS_NODEV}},       {"nodiratime", {false, MS_NODIRATIME}},
      {"noexec", {false, MS_NOEXEC}},     {"nomand", {true, MS_MANDLOCK}},
      {"norelatime", {true, MS_RELATIME}}, {"nostrictatime", {true, MS_STRICTATIME}},
      {"nosuid", {false, MS_NOSUID}},     {"rbind", {false, MS_BIND | MS_REC}},
      {"relatime", {false, MS_RELATIME}}, {"remount", {false, MS_REMOUNT}},
      {"ro", {false, MS_RDONLY}},         {"rw", {true, MS_RDONLY}},
      {"strictatime", {false, MS_STRICTATIME}}, {"suid", {true, MS_NOSUID}},
      {"sync", {false, MS_SYNCHRONOUS}}};
  static const std::map<std::string, unsigned long> kPropagation = {
      {"private", MS_PRIVATE},   {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},     {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},       {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};
  for (const auto& opt : m.options) {
    if (auto f = kFlags.find(opt); f != kFlags.end()) {
      if (f->second.clear) {
        m.flags &= ~f->second.flag;
      } else {
        m.flags |= f->second.flag;
      }
    } else if (auto p = kPropagation.find(opt); p != kPropagation.end()) {
      m.propagation |= p->second;
    } else if (opt == "tmpcopyup" || opt == "idmap" || opt == "ridmap" ||
               opt.rfind("X-mount.", 0) == 0) {
      throw UsageError("config.json: " + field + " \"" + opt + "\" is not supported");
    } else {
      m.data += (m.data.empty() ? "" : ",") + opt;  // a filesystem option: mode=755...
    }
  }
}

Process ReadProcess(Obj& p) {
  Process proc;
  proc.terminal = p.Bool("terminal");
  p.Sub("consoleSize", [&](Obj& c) {
    proc.console_height = c.Num<unsigned>("height").value_or(0);
    proc.console_width = c.Num<unsigned>("width").value_or(0);
  });
  p.Sub("user", [&](Obj& u) {
    proc.user.uid = u.Num<uid_t>("uid").value_or(0);
    proc.user.gid = u.Num<gid_t>("gid").value_or(0);
    if (auto m = u.Num<mode_t>("umask")) proc.user.umask = *m;
    const json& g = u.Get("additionalGids");
    if (!g.is_null()) {
      if (!g.is_array()) u.Fail("additionalGids", "must be an array of integers");
      for (const auto& e : g) {
        if (!e.is_number_unsigned()) u.Fail("additionalGids", "must be an array of integers");
        proc.user.additional_gids.push_back(e.get<gid_t>());
      }
    }
    if (!u.Str("username").empty()) u.Fail("username", "is not supported (Windows only)");
  });
  proc.args = p.Strings("args");
  if (!p.Str("commandLine").empty()) p.Fail("commandLine", "is not supported (Windows only)");
  proc.env = p.Strings("env");
  proc.cwd = p.Str("cwd", "/");
  if (proc.cwd.empty() || proc.cwd[0] != '/') p.Fail("cwd", "must be an absolute path");
  p.Sub("capabilities", [&](Obj& c) {
    Capabilities caps;
    caps.bounding = CapSet(c, "bounding");
    caps.effective = CapSet(c, "effective");
    caps.inheritable = CapSet(c, "inheritable");
    caps.permitted = CapSet(c, "permitted");
    caps.ambient = CapSet(c, "ambient");
    proc.capabilities = caps;
  });
  p.Each("rlimits", [&](Obj& r) {
    Rlimit l;
    l.name = r.Str("type");
    auto it = RlimitNumbers().find(l.name);
    if (it == RlimitNumbers().end()) r.Fail("type", "\"" + l.name + "\" is no rlimit");
    l.resource = it->second;
    l.soft = r.Num<uint64_t>("soft").value_or(0);
    l.hard = r.Num<uint64_t>("hard").value_or(0);
    if (l.soft > l.hard) r.Fail("soft", "is above hard");
    proc.rlimits.push_back(l);
  });
  proc.no_new_privileges = p.Bool("noNewPrivileges");
  proc.oom_score_adj = p.Num<int>("oomScoreAdj");
  if (proc.oom_score_adj && (*proc.oom_score_adj < -1000 || *proc.oom_score_adj > 1000))
    p.Fail("oomScoreAdj", "must be between -1000 and 1000");
  // AppArmor and SELinux are not on this course's kernel path: no profile may be
  // asked for (an empty one is fine and is what podman sends without them).
  if (!p.Str("apparmorProfile").empty())
    p.Fail("apparmorProfile", "is not supported (no AppArmor support in nslab)");
  if (!p.Str("selinuxLabel").empty())
    p.Fail("selinuxLabel", "is not supported (no SELinux support in nslab)");
  return proc;
}

std::vector<IdMapping> ReadMappings(Obj& l, const std::string& key) {
  std::vector<IdMapping> out;
  l.Each(key, [&](Obj& m) {
    IdMapping id;
    id.container_id = m.Num<uint32_t>("containerID").value_or(0);
    id.host_id = m.Num<uint32_t>("hostID").value_or(0);
    id.size = m.Num<uint32_t>("size").value_or(0);
    if (id.size == 0) m.Fail("size", "must be at least 1");
    out.push_back(id);
  });
  return out;
}

void ReadResources(Obj& r, Resources& res) {
  r.Sub("memory", [&](Obj& m) {
    res.memory_limit = m.Num<int64_t>("limit");
    res.memory_reservation = m.Num<int64_t>("reservation");
    res.memory_swap = m.Num<int64_t>("swap");
    // Deprecated knobs the kernel dropped (kernel memory accounting): runc ignores
    // them too. Anything else (swappiness, disableOOMKiller...) is refused by Done().
    m.Ignore("kernel");
    m.Ignore("kernelTCP");
  });
  r.Sub("pids", [&](Obj& p) {
    res.pids_limit = p.Num<int64_t>("limit");
    if (res.pids_limit && *res.pids_limit == 0) res.pids_limit.reset();  // "no limit"
  });
  r.Sub("cpu", [&](Obj& c) {
    res.cpu_shares = c.Num<uint64_t>("shares");
    res.cpu_quota = c.Num<int64_t>("quota");
    res.cpu_period = c.Num<uint64_t>("period");
    res.cpuset_cpus = c.Str("cpus");
    res.cpuset_mems = c.Str("mems");
  });
  r.Each("devices", [&](Obj& d) {
    DeviceRule rule;
    rule.allow = d.Bool("allow");
    rule.type = d.Str("type", "a");
    if (rule.type != "a" && rule.type != "c" && rule.type != "b")
      d.Fail("type", "must be a, c or b");
    rule.major = d.Num<int64_t>("major").value_or(-1);
    rule.minor = d.Num<int64_t>("minor").value_or(-1);
    rule.access = d.Str("access", "rwm");
    if (rule.access.find_first_not_of("rwm") != std::string::npos || rule.access.empty())
      d.Fail("access", "must be letters of \"rwm\"");
    res.devices.push_back(rule);
  });
}

void ReadSeccomp(Obj& s, Seccomp& sc) {
  sc.default_action = s.Str("defaultAction");
  if (sc.default_action.empty()) s.Fail("defaultAction", "is required");
  sc.default_errno_ret = s.Num<unsigned>("defaultErrnoRet");
  sc.architectures = s.Strings("architectures");
  sc.flags = s.Strings("flags");
  if (!s.Str("listenerPath").empty())
    s.Fail("listenerPath", "is not supported (no seccomp user notification)");
  s.Each("syscalls", [&](Obj& c) {
    SeccompSyscall call;
    call.names = c.Strings("names");
    if (call.names.empty()) c.Fail("names", "must name at least one syscall");
    call.action = c.Str("action");
    call.errno_ret = c.Num<unsigned>("errnoRet");
    c.Each("args", [&](Obj& a) {
      SeccompArg arg;
      arg.index = a.Num<unsigned>("index").value_or(0);
      if (arg.index > 5) a.Fail("index", "must be 0..5");
      arg.value = a.Num<uint64_t>("value").value_or(0);
      arg.value_two = a.Num<uint64_t>("valueTwo").value_or(0);
      arg.op = a.Str("op");
      call.args.push_back(arg);
    });
    // Comments some profiles carry (Docker's has them).
    c.Ignore("comment");
    c.Ignore("includes");
    c.Ignore("excludes");
    sc.syscalls.push_back(call);
  });
}

}  // namespace

bool Mount::Bind() const { return (flags & MS_BIND) != 0; }

bool Resources::Empty() const {
  return !memory_limit && !memory_reservation && !memory_swap && !pids_limit && !cpu_shares &&
         !cpu_quota && !cpu_period && cpuset_cpus.empty() && cpuset_mems.empty() &&
         devices.empty();
}

const Namespace* Spec::FindNamespace(const std::string& type) const {
  for (const auto& n : namespaces)
    if (n.type == type) return &n;
  return nullptr;
}

bool Spec::NewNamespace(const std::string& type) const {
  const Namespace* n = FindNamespace(type);
  return n != nullptr && n->path.empty();
}

int CapabilityNumber(const std::string& name, const std::string& field) {
  const auto& names = CapabilityNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) {
      if (static_cast<int>(i) > LastCap())
        throw UsageError("config.json: " + field + ": " + name + " is unknown to this kernel");
      return static_cast<int>(i);
    }
  }
  throw UsageError("config.json: " + field + ": unknown capability \"" + name + "\"");
}

Spec ParseSpec(const std::string& text, const std::string& bundle) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw UsageError(std::string("config.json: not valid JSON: ") + e.what());
  }
  Spec spec;
  spec.bundle = bundle;
  Obj top(doc, "");
  spec.oci_version = top.Str("ociVersion");
  if (spec.oci_version.empty()) top.Fail("ociVersion", "is required");
  if (spec.oci_version[0] != '1')
    top.Fail("ociVersion", "\"" + spec.oci_version + "\" is not a 1.x version of the spec");
  top.Sub("root", [&](Obj& r) {
    std::string path = r.Str("path");
    if (path.empty()) r.Fail("path", "is required");
    spec.root_path = path[0] == '/' ? path : bundle + "/" + path;
    spec.root_readonly = r.Bool("readonly");
  });
  if (spec.root_path.empty()) top.Fail("root", "is required");
  if (!top.Has("process")) top.Fail("process", "is required (nslab has no `create` without one)");
  top.Sub("process", [&](Obj& p) { spec.process = ReadProcess(p); });
  if (spec.process.args.empty()) top.Fail("process.args", "must name a command");
  spec.hostname = top.Str("hostname");
  spec.domainname = top.Str("domainname");
  top.Each("mounts", [&](Obj& m) {
    Mount mnt;
    mnt.destination = m.Str("destination");
    if (mnt.destination.empty() || mnt.destination[0] != '/')
      m.Fail("destination", "must be an absolute path");
    if (mnt.destination.find("/../") != std::string::npos ||
        (mnt.destination.size() >= 3 &&
         mnt.destination.compare(mnt.destination.size() - 3, 3, "/..") == 0))
      m.Fail("destination", "must not contain \"..\"");
    mnt.type = m.Str("type");
    mnt.source = m.Str("source");
    mnt.options = m.Strings("options");
    if (m.Has("uidMappings") || m.Has("gidMappings"))
      m.Fail("uidMappings", "(id-mapped mounts) is not supported");
    ParseMountOptions(mnt, m.Field("options"));
    if (mnt.type.empty() && !mnt.Bind()) m.Fail("type", "is required for a mount that is no bind");
    if (mnt.Bind() && !mnt.source.empty() && mnt.source[0] != '/')
      mnt.source = bundle + "/" + mnt.source;
    spec.mounts.push_back(mnt);
  });
  top.Sub("hooks", [&](Obj& h) {
    auto read = [&](const char* key, std::vector<Hook>& out) {
      h.Each(key, [&](Obj& o) {
        Hook hook;
        hook.path = o.Str("path");
        if (hook.path.empty() || hook.path[0] != '/') o.Fail("path", "must be an absolute path");
        hook.args = o.Strings("args");
        hook.env = o.Strings("env");
        hook.timeout = o.Num<int>("timeout");
        if (hook.timeout && *hook.timeout <= 0) o.Fail("timeout", "must be positive");
        out.push_back(hook);
      });
    };
    read("prestart", spec.hooks.prestart);
    read("createRuntime", spec.hooks.create_runtime);
    read("createContainer", spec.hooks.create_container);
    read("startContainer", spec.hooks.start_container);
    read("poststart", spec.hooks.poststart);
    read("poststop", spec.hooks.poststop);
  });
  spec.annotations = top.StringMap("annotations");
  if (top.Has("windows") || top.Has("solaris") || top.Has("vm") || top.Has("zos"))
    top.Fail("windows", "(or solaris, vm, zos): only linux is supported");
  top.Sub("linux", [&](Obj& l) {
    std::set<std::string> seen;
    l.Each("namespaces", [&](Obj& n) {
      Namespace ns;
      ns.type = n.Str("type");
      auto it = NamespaceFlags().find(ns.type);
      if (ns.type == "time") n.Fail("type", "\"time\" is not supported");
      if (it == NamespaceFlags().end()) n.Fail("type", "\"" + ns.type + "\" is no namespace type");
      if (!seen.insert(ns.type).second) n.Fail("type", "\"" + ns.type + "\" is listed twice");
      ns.flag = it->second;
      ns.path = n.Str("path");
      spec.namespaces.push_back(ns);
    });
    spec.uid_mappings = ReadMappings(l, "uidMappings");
    spec.gid_mappings = ReadMappings(l, "gidMappings");
    l.Each("devices", [&](Obj& d) {
      Device dev;
      dev.path = d.Str("path");
      if (dev.path.rfind("/dev/", 0) != 0) d.Fail("path", "must be beneath /dev");
      dev.type = d.Str("type");
      if (dev.type != "c" && dev.type != "b" && dev.type != "u" && dev.type != "p")
        d.Fail("type", "must be c, b, u or p");
      dev.major = d.Num<int64_t>("major").value_or(0);
      dev.minor = d.Num<int64_t>("minor").value_or(0);
      dev.file_mode = d.Num<mode_t>("fileMode").value_or(0666);
      dev.uid = d.Num<uid_t>("uid").value_or(0);
      dev.gid = d.Num<gid_t>("gid").value_or(0);
      spec.devices.push_back(dev);
    });
    spec.cgroups_path = l.Str("cgroupsPath");
    l.Sub("resources", [&](Obj& r) { ReadResources(r, spec.resources); });
    spec.sysctl = l.StringMap("sysctl");
    spec.masked_paths = l.Strings("maskedPaths");
    spec.readonly_paths = l.Strings("readonlyPaths");
    l.Sub("seccomp", [&](Obj& s) {
      Seccomp sc;
      ReadSeccomp(s, sc);
      spec.seccomp = sc;
    });
    spec.rootfs_propagation = l.Str("rootfsPropagation");
    if (!spec.rootfs_propagation.empty() && spec.rootfs_propagation != "private" &&
        spec.rootfs_propagation != "rprivate" && spec.rootfs_propagation != "slave" &&
        spec.rootfs_propagation != "rslave" && spec.rootfs_propagation != "shared" &&
        spec.rootfs_propagation != "rshared" && spec.rootfs_propagation != "unbindable" &&
        spec.rootfs_propagation != "runbindable")
      l.Fail("rootfsPropagation", "\"" + spec.rootfs_propagation + "\" is no propagation type");
    // SELinux labels: meaningless without SELinux; podman sends one only with it.
    spec.mount_label = l.Str("mountLabel");
    if (!spec.mount_label.empty()) l.Fail("mountLabel", "is not supported (no SELinux support)");
  });
  // Meaning checks (crun: "hostname requires a UTS namespace").
  if (!spec.hostname.empty() && !spec.NewNamespace("uts"))
    top.Fail("hostname", "requires a new uts namespace in linux.namespaces");
  if (!spec.domainname.empty() && !spec.NewNamespace("uts"))
    top.Fail("domainname", "requires a new uts namespace in linux.namespaces");
  if (!spec.FindNamespace("mount"))
    top.Fail("linux.namespaces", "must contain a mount namespace (nslab never changes the host's)");
  if (spec.NewNamespace("user")) {
    if (spec.uid_mappings.empty() || spec.gid_mappings.empty())
      top.Fail("linux.uidMappings", "(and gidMappings) are required with a new user namespace");
  } else if (!spec.uid_mappings.empty() || !spec.gid_mappings.empty()) {
    top.Fail("linux.uidMappings", "needs a new user namespace in linux.namespaces");
  }
  const Namespace* user = spec.FindNamespace("user");
  if (user && !user->path.empty() && spec.NewNamespace("pid"))
    top.Fail("linux.namespaces",
             "joining a user namespace by path while creating a new pid namespace is not "
             "supported");
  for (const auto& [key, value] : spec.sysctl) {
    if (key.find("..") != std::string::npos || key.find('/') != std::string::npos)
      top.Fail("linux.sysctl", "\"" + key + "\" is no sysctl name");
  }
  return spec;
}

Spec LoadSpec(const std::string& bundle_in) {
  std::string bundle = bundle_in.empty() ? "." : bundle_in;
  char* real = realpath(bundle.c_str(), nullptr);
  if (real == nullptr) Check(-1, "realpath", bundle);
  bundle = real;
  std::free(real);
  std::string text = ReadFile(bundle + "/config.json");
  return ParseSpec(text, bundle);
}

Process ParseProcess(const std::string& text, const std::string& what) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw UsageError(what + ": not valid JSON: " + e.what());
  }
  try {
    Obj p(doc, "process");
    Process proc = ReadProcess(p);
    if (proc.args.empty()) p.Fail("args", "must name a command");
    return proc;
  } catch (const UsageError& e) {
    std::string msg = e.what();
    if (msg.rfind("config.json: ", 0) == 0) msg = what + ": " + msg.substr(13);
    throw UsageError(msg);
  }
}

std::string DefaultSpecJson(bool rootless) {
  // `runc spec`'s output, field for field (runc's libcontainer/specconv/example.go).
  json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  json spec = {
      {"ociVersion", "1.0.2-dev"},
      {"process",
       {{"terminal", true},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"sh"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities",
         {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "runc"},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"},
         {"type", "devpts"},
         {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"},
         {"type", "tmpfs"},
         {"source", "shm"},
         {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"},
         {"type", "mqueue"},
         {"source", "mqueue"},
         {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"},
         {"type", "sysfs"},
         {"source", "sysfs"},
         {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/sys/fs/cgroup"},
         {"type", "cgroup"},
         {"source", "cgroup"},
         {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}}},
      {"linux",
       {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces",
         {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}},
          {{"type", "mount"}}, {{"type", "cgroup"}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
  if (rootless) {
    // runc's ToRootless: a user namespace mapping the caller, no network namespace
    // (no veth without privilege), sysfs bound, no cgroup mount or device rules.
    uid_t uid = getuid();
    gid_t gid = getgid();
    json& linux = spec["linux"];
    linux.erase("resources");
    linux["uidMappings"] = {{{"containerID", 0}, {"hostID", uid}, {"size", 1}}};
    linux["gidMappings"] = {{{"containerID", 0}, {"hostID", gid}, {"size", 1}}};
    json ns = json::array();
    for (const auto& n : linux["namespaces"])
      if (n["type"] != "network") ns.push_back(n);
    ns.push_back({{"type", "user"}});
    linux["namespaces"] = ns;
    json mounts = json::array();
    for (auto m : spec["mounts"]) {
      if (m["destination"] == "/sys/fs/cgroup") continue;
      if (m["destination"] == "/sys") {
        m = {{"destination", "/sys"},
             {"type", "none"},
             {"source", "/sys"},
             {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
      }
      if (m["destination"] == "/dev/pts") {
        m["options"] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"};
      }
      mounts.push_back(m);
    }
    spec["mounts"] = mounts;
  }
  return spec.dump(1, '\t') + "\n";
}

}  // namespace nslab::engine
