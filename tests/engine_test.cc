// Unit tests of common/engine's config.json parser: every field lands in the Spec,
// and every field the engine cannot honour is refused by name.
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/engine/engine.h"
#include "common/engine/init.h"
#include "common/engine/spec.h"
#include "common/error.h"
#include "gtest/gtest.h"

namespace nslab::engine {
namespace {

using nlohmann::json;

json Base() { return json::parse(DefaultSpecJson(false)); }

Spec Parse(const json& j) { return ParseSpec(j.dump(), "/bundle"); }

// The message of the UsageError Parse(j) throws ("" when it does not throw).
std::string Refusal(const json& j) {
  try {
    Parse(j);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(SpecTest, DefaultSpecParses) {
  Spec s = Parse(Base());
  EXPECT_EQ(s.root_path, "/bundle/rootfs");
  EXPECT_TRUE(s.root_readonly);
  EXPECT_EQ(s.process.args, std::vector<std::string>{"sh"});
  EXPECT_TRUE(s.process.terminal);
  EXPECT_TRUE(s.process.no_new_privileges);
  EXPECT_EQ(s.hostname, "runc");
  EXPECT_TRUE(s.NewNamespace("pid"));
  EXPECT_TRUE(s.NewNamespace("cgroup"));
  EXPECT_FALSE(s.NewNamespace("user"));
  ASSERT_EQ(s.mounts.size(), 7u);
  EXPECT_EQ(s.mounts[1].destination, "/dev");
  EXPECT_EQ(s.mounts[1].flags, static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME));
  EXPECT_EQ(s.mounts[1].data, "mode=755,size=65536k");
  EXPECT_EQ(s.mounts[5].flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
  ASSERT_EQ(s.resources.devices.size(), 1u);
  EXPECT_FALSE(s.resources.devices[0].allow);
  ASSERT_TRUE(s.process.capabilities);
  EXPECT_EQ(s.process.capabilities->bounding,
            (1ull << 29) | (1ull << 5) | (1ull << 10));  // AUDIT_WRITE, KILL, NET_BIND_SERVICE
  EXPECT_EQ(s.masked_paths.size(), 10u);
  ASSERT_EQ(s.process.rlimits.size(), 1u);
  EXPECT_EQ(s.process.rlimits[0].resource, RLIMIT_NOFILE);
}

TEST(SpecTest, RootlessDefaultHasUserNamespaceAndMaps) {
  Spec s = ParseSpec(DefaultSpecJson(true), "/b");
  EXPECT_TRUE(s.NewNamespace("user"));
  EXPECT_FALSE(s.FindNamespace("network"));
  ASSERT_EQ(s.uid_mappings.size(), 1u);
  EXPECT_EQ(s.uid_mappings[0].size, 1u);
}

TEST(SpecTest, EveryFieldIsRead) {
  json j = Base();
  j["process"]["user"] = {{"uid", 1000}, {"gid", 1001}, {"additionalGids", {5, 6}}, {"umask", 18}};
  j["process"]["consoleSize"] = {{"height", 24}, {"width", 80}};
  j["process"]["oomScoreAdj"] = 500;
  j["process"]["cwd"] = "/tmp";
  j["process"]["env"] = {"A=1"};
  j["linux"]["namespaces"].push_back({{"type", "user"}});
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  j["linux"]["namespaces"][1]["path"] = "/proc/1/ns/net";
  j["linux"]["cgroupsPath"] = "/a/b";
  j["linux"]["resources"]["memory"] = {{"limit", 67108864}, {"swap", 134217728}};
  j["linux"]["resources"]["pids"] = {{"limit", 32}};
  j["linux"]["resources"]["cpu"] = {{"shares", 512}, {"quota", 50000}, {"period", 100000}};
  j["linux"]["sysctl"] = {{"kernel.shmmax", "4096"}};
  j["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"architectures", {"SCMP_ARCH_X86_64"}},
      {"syscalls",
       {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1},
         {"args", {{{"index", 1}, {"value", 0}, {"op", "SCMP_CMP_GE"}}}}}}}};
  j["linux"]["devices"] = {{{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229}}};
  j["hooks"] = {{"prestart", {{{"path", "/bin/true"}}}},
                {"poststop", {{{"path", "/bin/true"}, {"args", {"true", "x"}}, {"timeout", 5}}}}};
  j["annotations"] = {{"k", "v"}};
  j["mounts"].push_back({{"destination", "/data"},
                         {"type", "bind"},
                         {"source", "data"},
                         {"options", {"rbind", "ro", "rprivate"}}});
  Spec s = Parse(j);
  EXPECT_EQ(s.process.user.uid, 1000u);
  EXPECT_EQ(s.process.user.additional_gids, (std::vector<gid_t>{5, 6}));
  EXPECT_EQ(*s.process.user.umask, 18u);
  EXPECT_EQ(s.process.console_width, 80u);
  EXPECT_EQ(*s.process.oom_score_adj, 500);
  EXPECT_TRUE(s.NewNamespace("user"));
  EXPECT_EQ(s.FindNamespace("network")->path, "/proc/1/ns/net");
  EXPECT_EQ(s.uid_mappings[0].host_id, 100000u);
  EXPECT_EQ(s.cgroups_path, "/a/b");
  EXPECT_EQ(*s.resources.memory_limit, 67108864);
  EXPECT_EQ(*s.resources.pids_limit, 32);
  EXPECT_EQ(*s.resources.cpu_quota, 50000);
  EXPECT_EQ(s.sysctl.at("kernel.shmmax"), "4096");
  ASSERT_TRUE(s.seccomp);
  EXPECT_EQ(s.seccomp->syscalls[0].args[0].op, "SCMP_CMP_GE");
  EXPECT_NO_THROW(ValidateSeccomp(*s.seccomp));
  EXPECT_EQ(s.devices[0].major, 10);
  EXPECT_EQ(s.hooks.prestart.size(), 1u);
  EXPECT_EQ(*s.hooks.poststop[0].timeout, 5);
  EXPECT_EQ(s.annotations.at("k"), "v");
  const Mount& m = s.mounts.back();
  EXPECT_EQ(m.source, "/bundle/data");  // relative to the bundle
  EXPECT_EQ(m.flags, static_cast<unsigned long>(MS_BIND | MS_REC | MS_RDONLY));
  EXPECT_EQ(m.propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
}

TEST(SpecTest, EmptySectionsAreAccepted) {
  json j = Base();
  j["linux"]["intelRdt"] = json::object();
  j["linux"]["resources"]["blockIO"] = json::object();
  j["process"]["apparmorProfile"] = "";
  EXPECT_EQ(Refusal(j), "");
}

struct Case {
  const char* what;
  std::function<void(json&)> edit;
  const char* message;
};

TEST(SpecTest, RefusesWhatItCannotDoNamingTheField) {
  const Case cases[] = {
      {"intelRdt", [](json& j) { j["linux"]["intelRdt"] = {{"closID", "x"}}; },
       "config.json: linux.intelRdt is not supported"},
      {"time namespace", [](json& j) { j["linux"]["namespaces"].push_back({{"type", "time"}}); },
       "config.json: linux.namespaces[6].type \"time\" is not supported"},
      {"unknown namespace", [](json& j) { j["linux"]["namespaces"][0]["type"] = "bogus"; },
       "config.json: linux.namespaces[0].type \"bogus\" is no namespace type"},
      {"apparmor", [](json& j) { j["process"]["apparmorProfile"] = "docker-default"; },
       "config.json: process.apparmorProfile is not supported (no AppArmor support in nslab)"},
      {"swappiness", [](json& j) { j["linux"]["resources"]["memory"] = {{"swappiness", 10}}; },
       "config.json: linux.resources.memory.swappiness is not supported"},
      {"hugepages",
       [](json& j) { j["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", "2MB"}}}; },
       "config.json: linux.resources.hugepageLimits is not supported"},
      {"hostname without uts",
       [](json& j) {
         json ns = json::array();
         for (auto& n : j["linux"]["namespaces"])
           if (n["type"] != "uts") ns.push_back(n);
         j["linux"]["namespaces"] = ns;
       },
       "config.json: hostname requires a new uts namespace in linux.namespaces"},
      {"no mount namespace",
       [](json& j) {
         json ns = json::array();
         for (auto& n : j["linux"]["namespaces"])
           if (n["type"] != "mount") ns.push_back(n);
         j["linux"]["namespaces"] = ns;
       },
       "config.json: linux.namespaces must contain a mount namespace (nslab never changes the "
       "host's)"},
      {"maps without user ns",
       [](json& j) { j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1}, {"size", 1}}}; },
       "config.json: linux.uidMappings needs a new user namespace in linux.namespaces"},
      {"user ns without maps", [](json& j) { j["linux"]["namespaces"].push_back({{"type", "user"}}); },
       "config.json: linux.uidMappings (and gidMappings) are required with a new user namespace"},
      {"unknown capability",
       [](json& j) { j["process"]["capabilities"]["bounding"].push_back("CAP_FLY"); },
       "config.json: process.capabilities.bounding: unknown capability \"CAP_FLY\""},
      {"unknown rlimit", [](json& j) { j["process"]["rlimits"][0]["type"] = "RLIMIT_FOO"; },
       "config.json: process.rlimits[0].type \"RLIMIT_FOO\" is no rlimit"},
      {"relative cwd", [](json& j) { j["process"]["cwd"] = "tmp"; },
       "config.json: process.cwd must be an absolute path"},
      {"oci version", [](json& j) { j["ociVersion"] = "2.0.0"; },
       "config.json: ociVersion \"2.0.0\" is not a 1.x version of the spec"},
      {"idmap mount", [](json& j) { j["mounts"][0]["options"] = {"idmap"}; },
       "config.json: mounts[0].options \"idmap\" is not supported"},
      {"no args", [](json& j) { j["process"]["args"] = json::array(); },
       "config.json: process.args must name a command"},
      {"type error", [](json& j) { j["process"]["terminal"] = "yes"; },
       "config.json: process.terminal must be true or false"},
      {"relative mount destination", [](json& j) { j["mounts"][0]["destination"] = "proc"; },
       "config.json: mounts[0].destination must be an absolute path"},
      {"windows", [](json& j) { j["windows"] = {{"layerFolders", {"x"}}}; },
       "config.json: windows (or solaris, vm, zos): only linux is supported"},
      {"hook without path", [](json& j) { j["hooks"] = {{"poststart", {{{"args", {"x"}}}}}}; },
       "config.json: hooks.poststart[0].path must be an absolute path"},
      {"sysctl name", [](json& j) { j["linux"]["sysctl"] = {{"../../etc/passwd", "x"}}; },
       "config.json: linux.sysctl \"../../etc/passwd\" is no sysctl name"},
      {"seccomp notify", [](json& j) { j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerPath", "/x"}}; },
       "config.json: linux.seccomp.listenerPath is not supported (no seccomp user notification)"},
  };
  for (const auto& c : cases) {
    json j = Base();
    c.edit(j);
    EXPECT_EQ(Refusal(j), c.message) << c.what;
  }
}

TEST(SpecTest, RefusesBadJson) {
  EXPECT_THROW(ParseSpec("{", "/b"), UsageError);
  EXPECT_THROW(ParseSpec("[]", "/b"), UsageError);
}

TEST(SpecTest, SeccompRefusesUnknownActionAndArch) {
  Seccomp sc;
  sc.default_action = "SCMP_ACT_DANCE";
  try {
    ValidateSeccomp(sc);
    ADD_FAILURE() << "accepted an unknown action";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(),
                 "config.json: linux.seccomp.defaultAction \"SCMP_ACT_DANCE\" is no seccomp action");
  }
  sc.default_action = "SCMP_ACT_ALLOW";
  sc.architectures = {"SCMP_ARCH_VAX"};
  EXPECT_THROW(ValidateSeccomp(sc), UsageError);
}

TEST(SpecTest, ProcessJsonForExec) {
  Process p = ParseProcess(R"({"args":["ps"],"cwd":"/","env":["A=1"],"terminal":false})", "p.json");
  EXPECT_EQ(p.args, std::vector<std::string>{"ps"});
  try {
    ParseProcess(R"({"args":["ps"],"cwd":"rel"})", "p.json");
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "p.json: process.cwd must be an absolute path");
  }
}

TEST(EngineTest, ValidatesIds) {
  EXPECT_NO_THROW(ValidateId("abc-1.2_x+y"));
  EXPECT_THROW(ValidateId("../x"), UsageError);
  EXPECT_THROW(ValidateId(""), UsageError);
  EXPECT_THROW(ValidateId("a/b"), UsageError);
  EXPECT_THROW(ValidateId("-a"), UsageError);
}

TEST(EngineTest, FeaturesIsJsonNamingHooksAndNamespaces) {
  json f = json::parse(FeaturesJson());
  EXPECT_EQ(f["ociVersionMin"], "1.0.0");
  EXPECT_EQ(f["hooks"].size(), 6u);
  EXPECT_EQ(f["linux"]["namespaces"].size(), 7u);
  EXPECT_TRUE(f["linux"]["seccomp"]["enabled"].get<bool>());
}

}  // namespace
}  // namespace nslab::engine
