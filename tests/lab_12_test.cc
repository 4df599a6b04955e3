// End-to-end tests of labs/12_oci, the OCI runtime: bundles made from the busybox
// image, driven through the runtime's command line as conmon and containerd-shim
// drive it, every effect checked from outside (/proc/PID/..., cgroup files, the
// state directory). The test process is a child subreaper, as conmon is: the init
// that `create` leaves behind is reparented to it and reaped by it.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/engine/spec.h"
#include "gtest/gtest.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using nlohmann::json;
using testutil::RunResult;

std::string Oci() { return testutil::LabPath("12_oci"); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string NsOf(pid_t pid, const std::string& ns) {
  char buf[128];
  std::string p = "/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/ns/" + ns;
  ssize_t n = readlink(p.c_str(), buf, sizeof buf - 1);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// The first cgroup directory of `controller` as /proc/PID/cgroup names it.
std::string CgroupOf(pid_t pid, const std::string& controller) {
  for (const auto& l : testutil::Lines(testutil::ReadText("/proc/" + std::to_string(pid) + "/cgroup"))) {
    size_t a = l.find(':'), b = l.find(':', a + 1);
    std::string ctrls = l.substr(a + 1, b - a - 1);
    if (("," + ctrls + ",").find("," + controller + ",") != std::string::npos)
      return "/sys/fs/cgroup/" + controller + l.substr(b + 1);
  }
  return "";
}

class OciTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
    // As conmon does: orphans (the init after `create` exits) come to us.
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    root_ = testutil::MakeTempDir("oci-root");
  }
  void TearDown() override {
    for (const auto& id : ids_) Run({"delete", "--force", id});
    for (const auto& s : sockets_) unlink(s.c_str());
    for (const auto& d : tmp_dirs_) testutil::Run({"rm", "-rf", "--one-file-system", d});
    // Reap what was reparented to us.
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  std::string NewId() {
    std::string id = "engine-" + std::to_string(getpid()) + "-" + std::to_string(ids_.size());
    ids_.push_back(id);
    return id;
  }

  // A bundle: busybox's tree as rootfs, config.json = `spec` with `edit` applied.
  // `in`: a parent directory ("" = the test's tmpdir, which only host root can walk).
  std::string Bundle(const std::function<void(json&)>& edit, const std::string& in = "") {
    std::string dir;
    if (in.empty()) {
      dir = testutil::MakeTempDir("bundle");
    } else {
      dir = in + "/bundle";
      EXPECT_EQ(mkdir(dir.c_str(), 0755), 0);
    }
    std::string rootfs = dir + "/rootfs";
    EXPECT_EQ(mkdir(rootfs.c_str(), 0755), 0);
    EXPECT_EQ(testutil::Run({"tar", "-xf", testutil::Runfile("images/busybox.tar"), "-C", rootfs})
                  .exit_code,
              0);
    json j = json::parse(engine::DefaultSpecJson(false));
    j["process"]["terminal"] = false;
    j["process"]["args"] = {"sleep", "1000"};
    edit(j);
    int fd = open((dir + "/config.json").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string text = j.dump();
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    return dir;
  }

  std::vector<std::string> Argv(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {Oci(), "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  RunResult Run(const std::vector<std::string>& args) { return testutil::Run(Argv(args)); }

  // `create` and `exec --detach` leave a process holding their stdio: run them with
  // stdout and stderr in a file (a pipe would never reach EOF).
  RunResult RunLogged(const std::vector<std::string>& args) {
    std::string log = testutil::MakeTempDir("log") + "/out";
    RunResult r;
    r.exit_code = testutil::WaitExit(testutil::StartLogged(Argv(args), log));
    r.out = testutil::ReadText(log);
    r.err = r.out;
    return r;
  }

  pid_t Create(const std::string& id, const std::string& bundle) {
    std::string pid_file = bundle + "/pid";
    RunResult r = RunLogged({"create", "--bundle", bundle, "--pid-file", pid_file, id});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return std::atoi(testutil::ReadText(pid_file).c_str());
  }

  json State(const std::string& id) {
    RunResult r = Run({"state", id});
    if (r.exit_code != 0) return json();
    return json::parse(r.out);
  }
  std::string Status(const std::string& id) {
    json s = State(id);
    return s.is_null() ? "" : s["status"].get<std::string>();
  }

  std::string root_;
  std::vector<std::string> ids_, sockets_, tmp_dirs_;
};

TEST_F(OciTest, CreateLeavesTheInitWaitingAndStartReleasesIt) {
  std::string id = NewId();
  std::string b = Bundle([](json& j) { j["process"]["args"] = {"sh", "-c", "echo started > /tmp/mark; exec sleep 1000"};
                                       j["root"]["readonly"] = false; });
  pid_t pid = Create(id, b);
  ASSERT_GT(pid, 0);
  // The pid file: decimal, no newline.
  EXPECT_EQ(testutil::ReadText(b + "/pid"), std::to_string(pid));
  json s = State(id);
  EXPECT_EQ(s["status"], "created");
  EXPECT_EQ(s["pid"], pid);
  EXPECT_EQ(s["id"], id);
  EXPECT_EQ(s["bundle"], b);
  EXPECT_TRUE(s.contains("ociVersion"));
  // Its namespaces are new, it is reparented to us (the subreaper), and it has
  // not run the user's command yet.
  for (const char* ns : {"pid", "mnt", "uts", "ipc", "net", "cgroup"})
    EXPECT_NE(NsOf(pid, ns), NsOf(0, ns)) << ns;
  EXPECT_EQ(testutil::StatusField("PPid", pid), std::to_string(getpid()));
  EXPECT_FALSE(testutil::PathExists(b + "/rootfs/tmp/mark"));
  EXPECT_TRUE(testutil::PathExists(root_ + "/" + id + "/exec.fifo"));
  // start: the command runs.
  RunResult st = Run({"start", id});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  EXPECT_TRUE(testutil::Eventually([&] { return testutil::PathExists(b + "/rootfs/tmp/mark"); }));
  EXPECT_EQ(Status(id), "running");
  EXPECT_FALSE(testutil::PathExists(root_ + "/" + id + "/exec.fifo"));
  // No fd of the runtime's (the fifo, the sync pipes) crossed the execve.
  EXPECT_EQ(testutil::Entries("/proc/" + std::to_string(pid) + "/fd"),
            (std::vector<std::string>{"0", "1", "2"}));
  // start twice: refused, one line naming the state.
  RunResult again = Run({"start", id});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_EQ(again.err, "12_oci: cannot start an already running container \"" + id + "\"\n");
  // delete while running, without --force: refused, nothing changes.
  RunResult del = Run({"delete", id});
  EXPECT_NE(del.exit_code, 0);
  EXPECT_EQ(del.err, "12_oci: cannot delete container \"" + id + "\" that is not stopped: running\n");
  EXPECT_TRUE(testutil::ProcessAlive(pid));
  // kill by name, then by number after it stopped: refused.
  EXPECT_EQ(Run({"kill", id, "KILL"}).exit_code, 0);
  EXPECT_EQ(testutil::WaitExit(pid), 128 + SIGKILL);
  EXPECT_EQ(Status(id), "stopped");
  EXPECT_EQ(State(id)["pid"], 0);
  RunResult k = Run({"kill", id, "9"});
  EXPECT_NE(k.exit_code, 0);
  EXPECT_EQ(k.err, "12_oci: container \"" + id + "\" is not running\n");
  // delete of a stopped one: everything goes.
  EXPECT_EQ(Run({"delete", id}).exit_code, 0);
  EXPECT_FALSE(testutil::PathExists(root_ + "/" + id));
  RunResult gone = Run({"state", id});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_EQ(gone.err, "12_oci: container \"" + id + "\" does not exist\n");
}

TEST_F(OciTest, DeleteOfACreatedNeverStartedContainerKillsTheInit) {
  std::string id = NewId();
  std::string b = Bundle([](json&) {});
  pid_t pid = Create(id, b);
  ASSERT_GT(pid, 0);
  // The default spec has device rules: a cgroup exists (relative, beneath ours).
  std::string devices = CgroupOf(pid, "devices");
  ASSERT_NE(devices, "");
  EXPECT_TRUE(testutil::IsDir(devices));
  EXPECT_EQ(Run({"delete", id}).exit_code, 0);
  EXPECT_EQ(testutil::WaitExit(pid), 128 + SIGKILL);
  EXPECT_FALSE(testutil::PathExists(root_ + "/" + id));
  EXPECT_FALSE(testutil::IsDir(devices));
}

TEST_F(OciTest, DeleteForceStopsARunningContainerAndIgnoresAMissingOne) {
  std::string id = NewId();
  pid_t pid = Create(id, Bundle([](json&) {}));
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  EXPECT_EQ(Run({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(testutil::WaitExit(pid), 128 + SIGKILL);
  EXPECT_EQ(Run({"delete", "--force", id}).exit_code, 0);
  EXPECT_NE(Run({"delete", id}).exit_code, 0);
}

TEST_F(OciTest, ConfigFieldsAreAppliedAsSeenFromOutside) {
  std::string id = NewId();
  std::string cg = "nslab-engine-test-" + std::to_string(getpid());
  std::string data = testutil::MakeTempDir("data");
  std::string b = Bundle([&](json& j) {
    j["hostname"] = "engine-host";
    j["process"]["user"] = {{"uid", 1000}, {"gid", 1001}, {"additionalGids", {5, 6}}};
    json caps = {"CAP_CHOWN", "CAP_KILL"};
    j["process"]["capabilities"] = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
    j["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 512}, {"hard", 512}}};
    j["process"]["oomScoreAdj"] = 500;
    j["process"]["env"] = {"PATH=/bin", "ENGINE_TEST=yes"};
    j["process"]["cwd"] = "/tmp";
    j["linux"]["sysctl"] = {{"kernel.shmmax", "123456789"}};
    j["linux"]["cgroupsPath"] = cg;
    j["linux"]["resources"]["memory"] = {{"limit", 67108864}};
    j["linux"]["resources"]["pids"] = {{"limit", 20}};
    j["linux"]["resources"]["cpu"] = {{"quota", 50000}, {"period", 100000}};
    j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                             {"syscalls",
                              {{{"names", {"mkdir", "mkdirat"}},
                                {"action", "SCMP_ACT_ERRNO"},
                                {"errnoRet", 1}}}}};
    j["mounts"].push_back({{"destination", "/data"},
                           {"type", "bind"},
                           {"source", data},
                           {"options", {"rbind", "ro"}}});
    j["mounts"].push_back({{"destination", "/scratch"},
                           {"type", "tmpfs"},
                           {"source", "tmpfs"},
                           {"options", {"nosuid", "size=1m", "mode=1777"}}});
    j["annotations"] = {{"org.nslab.test", "yes"}};
  });
  pid_t pid = Create(id, b);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  ASSERT_TRUE(testutil::Eventually([&] {
    return Trim(testutil::ReadText("/proc/" + std::to_string(pid) + "/comm")) == "sleep";
  }));
  const std::string proc = "/proc/" + std::to_string(pid);
  // process.user
  EXPECT_EQ(testutil::StatusField("Uid", pid), "1000\t1000\t1000\t1000");
  EXPECT_EQ(testutil::StatusField("Gid", pid), "1001\t1001\t1001\t1001");
  EXPECT_EQ(testutil::StatusField("Groups", pid), "5 6");
  // capabilities: CAP_CHOWN (0) and CAP_KILL (5); the user is not root, so after
  // execve only the ambient set (none) would survive in effective.
  EXPECT_EQ(testutil::StatusField("CapBnd", pid), "0000000000000021");
  EXPECT_EQ(testutil::StatusField("CapEff", pid), "0000000000000000");
  EXPECT_EQ(testutil::StatusField("NoNewPrivs", pid), "1");
  EXPECT_EQ(testutil::StatusField("Seccomp", pid), "2");
  // rlimits, oomScoreAdj, env, cwd
  EXPECT_NE(testutil::ReadText(proc + "/limits").find("Max open files            512                  512"),
            std::string::npos);
  EXPECT_EQ(Trim(testutil::ReadText(proc + "/oom_score_adj")), "500");
  std::string env = testutil::ReadText(proc + "/environ");
  EXPECT_EQ(env, std::string("PATH=/bin\0ENGINE_TEST=yes\0", 26));
  char cwd[256] = {};
  ASSERT_GT(readlink((proc + "/cwd").c_str(), cwd, sizeof cwd - 1), 0);
  EXPECT_STREQ(cwd, "/tmp");
  // mounts: root read-only (default spec), /data a read-only bind, /scratch a tmpfs,
  // /proc/kcore masked, /proc/sys read-only.
  std::map<std::string, std::string> opts, types;
  for (const auto& l : testutil::Lines(testutil::ReadText(proc + "/mountinfo"))) {
    std::vector<std::string> f;
    size_t i = 0;
    while (i < l.size()) {
      size_t j2 = l.find(' ', i);
      if (j2 == std::string::npos) j2 = l.size();
      f.push_back(l.substr(i, j2 - i));
      i = j2 + 1;
    }
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    opts[f[4]] = f[5];
    if (dash + 1 < f.size()) types[f[4]] = f[dash + 1];
  }
  EXPECT_EQ(opts["/"].substr(0, 2), "ro");
  EXPECT_EQ(opts["/data"].substr(0, 2), "ro");
  EXPECT_EQ(types["/scratch"], "tmpfs");
  EXPECT_EQ(types["/proc"], "proc");
  EXPECT_EQ(opts["/proc/sys"].substr(0, 2), "ro");
  EXPECT_TRUE(opts.count("/proc/timer_list"));  // masked (this kernel has no /proc/kcore)
  EXPECT_EQ(types["/sys/fs/cgroup"], "tmpfs");
  EXPECT_EQ(types["/sys/fs/cgroup/memory"], "cgroup");
  // cgroup: the path asked for, beneath ours, with the limits written.
  std::string mem = CgroupOf(pid, "memory");
  EXPECT_NE(mem.find("/" + cg), std::string::npos) << mem;
  EXPECT_EQ(Trim(testutil::ReadText(mem + "/memory.limit_in_bytes")), "67108864");
  EXPECT_EQ(Trim(testutil::ReadText(CgroupOf(pid, "pids") + "/pids.max")), "20");
  EXPECT_EQ(Trim(testutil::ReadText(CgroupOf(pid, "cpu") + "/cpu.cfs_quota_us")), "50000");
  // hostname, sysctl, seccomp, the mask: from inside, through exec.
  RunResult h = Run({"exec", id, "hostname"});
  EXPECT_EQ(h.out, "engine-host\n") << h.err;
  RunResult sys = Run({"exec", id, "cat", "/proc/sys/kernel/shmmax"});
  EXPECT_EQ(sys.out, "123456789\n") << sys.err;
  RunResult mk = Run({"exec", id, "mkdir", "/scratch/x"});
  EXPECT_NE(mk.exit_code, 0);
  EXPECT_NE(mk.err.find("Operation not permitted"), std::string::npos) << mk.err;
  RunResult kc = Run({"exec", id, "cat", "/proc/timer_list"});
  EXPECT_EQ(kc.exit_code, 0) << kc.err;
  EXPECT_EQ(kc.out, "");
  // Its own cgroup at /sys/fs/cgroup (not the host's root), read-only.
  RunResult lim = Run({"exec", id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"});
  EXPECT_EQ(lim.out, "67108864\n") << lim.err;
  // The device cgroup denies all (the default spec) but the default devices work.
  RunResult null = Run({"exec", id, "sh", "-c", "echo x > /dev/null && head -c 3 /dev/zero | wc -c"});
  EXPECT_EQ(null.exit_code, 0) << null.err;
  EXPECT_EQ(null.out, "3\n");
  EXPECT_NE(testutil::ReadText(CgroupOf(pid, "devices") + "/devices.list").find("c 1:3 rwm"),
            std::string::npos);
  // annotations in the state
  EXPECT_EQ(State(id)["annotations"]["org.nslab.test"], "yes");
  // delete: the cgroup goes with it.
  EXPECT_EQ(Run({"delete", "--force", id}).exit_code, 0);
  EXPECT_FALSE(testutil::IsDir(mem));
}

TEST_F(OciTest, UserNamespaceWithMappings) {
  std::string id = NewId();
  // The container's root (host uid 200000) must be able to walk to its rootfs, as
  // with runc: a bundle under /tmp (0755 parents), removed at the end.
  char tmpl[] = "/tmp/nslab-engine-userns-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  ASSERT_EQ(chmod(tmpl, 0755), 0);
  tmp_dirs_.push_back(tmpl);
  std::string b = Bundle([](json& j) {
    j["linux"]["namespaces"].push_back({{"type", "user"}});
    j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    j["linux"].erase("resources");
  }, tmpl);
  pid_t pid = Create(id, b);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  EXPECT_NE(NsOf(pid, "user"), NsOf(0, "user"));
  std::string map = testutil::ReadText("/proc/" + std::to_string(pid) + "/uid_map");
  EXPECT_EQ(testutil::Lines(map).size(), 1u);
  EXPECT_NE(map.find("200000"), std::string::npos);
  EXPECT_TRUE(testutil::Eventually(
      [&] { return testutil::StatusField("Uid", pid) == "200000\t200000\t200000\t200000"; }));
  RunResult id_in = Run({"exec", id, "id", "-u"});
  EXPECT_EQ(id_in.out, "0\n") << id_in.err;
}

TEST_F(OciTest, JoinsNamespacesByPath) {
  std::string a = NewId();
  pid_t pa = Create(a, Bundle([](json&) {}));
  ASSERT_GT(pa, 0);
  std::string b = NewId();
  std::string bundle = Bundle([&](json& j) {
    for (auto& n : j["linux"]["namespaces"]) {
      if (n["type"] == "network") n["path"] = "/proc/" + std::to_string(pa) + "/ns/net";
      if (n["type"] == "ipc") n["path"] = "/proc/" + std::to_string(pa) + "/ns/ipc";
    }
  });
  pid_t pb = Create(b, bundle);
  ASSERT_GT(pb, 0);
  EXPECT_EQ(NsOf(pb, "net"), NsOf(pa, "net"));
  EXPECT_EQ(NsOf(pb, "ipc"), NsOf(pa, "ipc"));
  EXPECT_NE(NsOf(pb, "uts"), NsOf(pa, "uts"));
  EXPECT_NE(NsOf(pb, "pid"), NsOf(pa, "pid"));
}

TEST_F(OciTest, RefusedConfigLeavesNothingAndLogsJson) {
  std::string id = NewId();
  std::string cg = "nslab-engine-refused-" + std::to_string(getpid());
  std::string b = Bundle([&](json& j) {
    j["linux"]["cgroupsPath"] = cg;
    j["linux"]["intelRdt"] = {{"closID", "x"}};
  });
  std::string log = testutil::MakeTempDir("oci-log") + "/log.json";
  RunResult r = testutil::Run({Oci(), "--root", root_, "--log", log, "--log-format", "json",
                               "create", "--bundle", b, id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "12_oci: config.json: linux.intelRdt is not supported\n");
  EXPECT_FALSE(testutil::PathExists(root_ + "/" + id));
  EXPECT_FALSE(testutil::IsDir(CgroupOf(getpid(), "pids") + "/" + cg));
  json line = json::parse(Trim(testutil::ReadText(log)));
  EXPECT_EQ(line["level"], "error");
  EXPECT_EQ(line["msg"], "config.json: linux.intelRdt is not supported");
  EXPECT_TRUE(line.contains("time"));
}

TEST_F(OciTest, MissingCommandFailsCreateWithRuncsWords) {
  std::string id = NewId();
  std::string cg = "nslab-engine-nocmd-" + std::to_string(getpid());
  std::string b = Bundle([&](json& j) {
    j["process"]["args"] = {"nosuchcmd"};
    j["linux"]["cgroupsPath"] = cg;
  });
  RunResult r = RunLogged({"create", "--bundle", b, id});
  EXPECT_NE(r.exit_code, 0);
  // podman maps "executable file not found in" to exit code 127.
  EXPECT_EQ(r.out, "12_oci: exec: \"nosuchcmd\": executable file not found in $PATH\n");
  EXPECT_FALSE(testutil::PathExists(root_ + "/" + id));
  EXPECT_FALSE(testutil::IsDir(CgroupOf(getpid(), "pids") + "/" + cg));
}

TEST_F(OciTest, FailingCreateRuntimeHookFailsCreateAndHooksGetTheState) {
  std::string dir = testutil::MakeTempDir("hooks");
  std::string id = NewId();
  std::string b = Bundle([&](json& j) {
    j["hooks"] = {
        {"prestart", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + dir + "/prestart"}}}}},
        {"poststart", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + dir + "/poststart"}}}}},
        {"poststop", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + dir + "/poststop"}}}}}};
  });
  pid_t pid = Create(id, b);
  ASSERT_GT(pid, 0);
  json pre = json::parse(testutil::ReadText(dir + "/prestart"));
  EXPECT_EQ(pre["id"], id);
  EXPECT_EQ(pre["pid"], pid);
  EXPECT_EQ(pre["status"], "creating");
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  EXPECT_EQ(json::parse(testutil::ReadText(dir + "/poststart"))["status"], "running");
  EXPECT_EQ(Run({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(json::parse(testutil::ReadText(dir + "/poststop"))["status"], "stopped");

  std::string id2 = NewId();
  std::string b2 = Bundle([&](json& j) {
    j["hooks"] = {{"createRuntime", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "exit 3"}}}}}};
  });
  RunResult r = RunLogged({"create", "--bundle", b2, id2});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "12_oci: hook createRuntime[0] \"/bin/sh\": exited with status 3\n");
  EXPECT_FALSE(testutil::PathExists(root_ + "/" + id2));
}

// Listens on a unix socket as conmon and containerd-shim do; Receive() returns the
// one fd sent over it with SCM_RIGHTS (-1 if none).
struct ConsoleListener {
  int ls = -1;
  std::string path;
  explicit ConsoleListener(const std::string& p) : path(p) {
    unlink(path.c_str());
    ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    EXPECT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(ls, 1), 0);
  }
  ~ConsoleListener() {
    close(ls);
    unlink(path.c_str());
  }
  int Receive() {
    int conn = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return -1;
    char byte;
    struct iovec iov = {&byte, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    int fd = -1;
    if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) > 0) {
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      if (c != nullptr && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
    close(conn);
    return fd;
  }
};

// Everything a pty master gives until the other side is closed (EIO).
std::string ReadAllFrom(int master) {
  std::string out;
  char buf[256];
  for (;;) {
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST_F(OciTest, ExecTtyDetachedSendsItsPtyToTheConsoleSocket) {
  std::string id = NewId();
  pid_t pid = Create(id, Bundle([](json&) {}));
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  ConsoleListener l("/tmp/nslab-engine-exec-" + std::to_string(getpid()) + ".sock");
  std::string dir = testutil::MakeTempDir("exec-tty");
  // conmon's order of flags: exec --pid-file P --process F --detach --tty --console-socket S ID
  std::string pf = dir + "/process.json";
  {
    json p = {{"args", {"sh"}}, {"cwd", "/"}, {"env", {"PATH=/bin:/usr/bin"}}, {"terminal", true}};
    int fd = open(pf.c_str(), O_WRONLY | O_CREAT, 0644);
    std::string t = p.dump();
    ASSERT_EQ(write(fd, t.data(), t.size()), static_cast<ssize_t>(t.size()));
    close(fd);
  }
  testutil::Background bg = testutil::Start(Argv({"exec", "--pid-file", dir + "/pid", "--process",
                                                  pf, "--detach", "--tty", "--console-socket",
                                                  l.path, id}));
  int master = l.Receive();
  ASSERT_GE(master, 0);
  RunResult r = bg.Finish();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  pid_t epid = std::atoi(testutil::ReadText(dir + "/pid").c_str());
  ASSERT_GT(epid, 0);
  EXPECT_EQ(NsOf(epid, "pid"), NsOf(pid, "pid"));
  const std::string cmd = "tty; exit 4\n";
  ASSERT_EQ(write(master, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
  std::string out = ReadAllFrom(master);
  EXPECT_NE(out.find("/dev/pts/0"), std::string::npos) << out;
  EXPECT_EQ(testutil::WaitExit(epid), 4);  // reparented to us, the subreaper
  close(master);
}

TEST_F(OciTest, CreateContainerAndStartContainerHooksRunInTheContainer) {
  std::string dir = testutil::MakeTempDir("hooks-in");
  std::string id = NewId();
  std::string b = Bundle([&](json& j) {
    j["root"]["readonly"] = false;
    j["hooks"] = {
        // Resolved on the host (before pivot_root), run in the container's namespaces.
        {"createContainer",
         {{{"path", "/bin/sh"},
           {"args", {"sh", "-c", "cat > " + dir + "/cc; readlink /proc/self/ns/uts > " + dir + "/uts"}}}}},
        // Resolved in the container, after start, before the user's process.
        {"startContainer",
         {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "hostname > /tmp/started-by-hook"}}}}}};
  });
  pid_t pid = Create(id, b);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(json::parse(testutil::ReadText(dir + "/cc"))["id"], id);
  EXPECT_EQ(Trim(testutil::ReadText(dir + "/uts")), NsOf(pid, "uts"));
  EXPECT_NE(Trim(testutil::ReadText(dir + "/uts")), NsOf(0, "uts"));
  EXPECT_FALSE(testutil::PathExists(b + "/rootfs/tmp/started-by-hook"));
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  EXPECT_TRUE(testutil::Eventually(
      [&] { return testutil::ReadText(b + "/rootfs/tmp/started-by-hook") == "runc\n"; }));
}

// A console socket as conmon and containerd-shim listen on it.
TEST_F(OciTest, ConsoleSocketReceivesThePtyMaster) {
  std::string path = "/tmp/nslab-engine-" + std::to_string(getpid()) + ".sock";
  sockets_.push_back(path);
  unlink(path.c_str());
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(ls, 1), 0);
  std::string id = NewId();
  std::string b = Bundle([](json& j) {
    j["process"]["terminal"] = true;
    j["process"]["args"] = {"sh"};
  });
  RunResult r = RunLogged({"create", "--bundle", b, "--pid-file", b + "/pid",
                           "--console-socket", path, id});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  pid_t pid = std::atoi(testutil::ReadText(b + "/pid").c_str());
  int conn = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  char byte;
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ASSERT_GT(recvmsg(conn, &msg, MSG_CMSG_CLOEXEC), 0);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->cmsg_type, SCM_RIGHTS);
  int master;
  std::memcpy(&master, CMSG_DATA(c), sizeof master);
  // A pty master: TIOCGPTN answers with its number; the init's stdio is its slave,
  // /dev/pts/0 of the container's own devpts.
  unsigned ptn = 99;
  EXPECT_EQ(ioctl(master, TIOCGPTN, &ptn), 0);
  EXPECT_EQ(ptn, 0u);
  char link[64] = {};
  ASSERT_GT(readlink(("/proc/" + std::to_string(pid) + "/fd/0").c_str(), link, sizeof link - 1), 0);
  EXPECT_STREQ(link, "/dev/pts/0");
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  const std::string cmd = "echo engine-$((6*7))\nexit\n";
  ASSERT_EQ(write(master, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
  std::string out;
  char buf[256];
  for (;;) {
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the shell has exited
    out.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(out.find("engine-42"), std::string::npos) << out;
  EXPECT_EQ(testutil::WaitExit(pid), 0);
  close(master);
  close(conn);
  close(ls);
}

TEST_F(OciTest, ExecRunsInTheContainerWithItsExitCode) {
  std::string id = NewId();
  pid_t pid = Create(id, Bundle([](json&) {}));
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  RunResult e = Run({"exec", id, "sh", "-c", "exit 7"});
  EXPECT_EQ(e.exit_code, 7);
  RunResult ps = Run({"exec", id, "ps", "-o", "pid,comm"});
  EXPECT_NE(ps.out.find("    1 sleep"), std::string::npos) << ps.out << ps.err;
  RunResult nf = Run({"exec", id, "nosuchcmd"});
  EXPECT_EQ(nf.exit_code, 127);
  EXPECT_EQ(nf.err, "12_oci: exec: \"nosuchcmd\": executable file not found in $PATH\n");
  // --process F --detach --pid-file P, as conmon and containerd-shim call it.
  std::string dir = testutil::MakeTempDir("exec");
  std::string pf = dir + "/process.json";
  {
    json p = {{"args", {"sleep", "500"}}, {"cwd", "/"}, {"env", {"PATH=/bin"}}, {"terminal", false}};
    int fd = open(pf.c_str(), O_WRONLY | O_CREAT, 0644);
    std::string t = p.dump();
    ASSERT_EQ(write(fd, t.data(), t.size()), static_cast<ssize_t>(t.size()));
    close(fd);
  }
  RunResult d = RunLogged({"exec", "--process", pf, "--detach", "--pid-file", dir + "/pid", id});
  ASSERT_EQ(d.exit_code, 0) << d.out;
  pid_t epid = std::atoi(testutil::ReadText(dir + "/pid").c_str());
  ASSERT_GT(epid, 0);
  EXPECT_EQ(NsOf(epid, "pid"), NsOf(pid, "pid"));
  EXPECT_EQ(NsOf(epid, "mnt"), NsOf(pid, "mnt"));
  // ps: both, as host pids; --format json as containerd reads it.
  json pids = json::parse(Run({"ps", "--format", "json", id}).out);
  std::set<pid_t> set(pids.begin(), pids.end());
  EXPECT_TRUE(set.count(pid));
  EXPECT_TRUE(set.count(epid));
  // kill --all reaches the exec'd process too.
  EXPECT_EQ(Run({"kill", "--all", id, "KILL"}).exit_code, 0);
  EXPECT_EQ(testutil::WaitExit(epid), 128 + SIGKILL);
  EXPECT_EQ(testutil::WaitExit(pid), 128 + SIGKILL);
}

TEST_F(OciTest, PauseAndResumeFreezeTheCgroup) {
  std::string id = NewId();
  pid_t pid = Create(id, Bundle([](json&) {}));
  ASSERT_EQ(Run({"start", id}).exit_code, 0);
  std::string freezer = CgroupOf(pid, "freezer");
  ASSERT_NE(freezer, "");
  EXPECT_EQ(Run({"pause", id}).exit_code, 0);
  EXPECT_EQ(Trim(testutil::ReadText(freezer + "/freezer.state")), "FROZEN");
  EXPECT_EQ(Status(id), "paused");
  EXPECT_NE(Run({"pause", id}).exit_code, 0);
  EXPECT_EQ(Run({"resume", id}).exit_code, 0);
  EXPECT_EQ(Trim(testutil::ReadText(freezer + "/freezer.state")), "THAWED");
  EXPECT_EQ(Status(id), "running");
}

TEST_F(OciTest, RunIsAttachedAndCleansUp) {
  std::string id = NewId();
  std::string b = Bundle([](json& j) { j["process"]["args"] = {"sh", "-c", "echo out; exit 3"}; });
  RunResult r = Run({"run", "--bundle", b, id});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_FALSE(testutil::PathExists(root_ + "/" + id));
}

TEST_F(OciTest, ListSpecFeaturesAndBadUsage) {
  std::string id = NewId();
  std::string b = Bundle([](json&) {});
  pid_t pid = Create(id, b);
  ASSERT_GT(pid, 0);
  json l = json::parse(Run({"list", "--format", "json"}).out);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["id"], id);
  EXPECT_EQ(l[0]["status"], "created");
  EXPECT_EQ(json::parse(Run({"features"}).out)["ociVersionMin"], "1.0.0");
  // spec writes a config.json that create accepts, and refuses to overwrite it.
  std::string dir = testutil::MakeTempDir("spec");
  EXPECT_EQ(testutil::Run({Oci(), "spec", "--bundle", dir}).exit_code, 0);
  EXPECT_NO_THROW(engine::LoadSpec(dir));
  EXPECT_NE(testutil::Run({Oci(), "spec", "--bundle", dir}).exit_code, 0);
  EXPECT_EQ(testutil::Run({Oci(), "spec", "--rootless", "--bundle", testutil::MakeTempDir("s")}).exit_code, 0);
  RunResult bad = Run({"frobnicate"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "12_oci: unknown command \"frobnicate\" (see --help)\n");
  RunResult dup = RunLogged({"create", "--bundle", b, id});
  EXPECT_NE(dup.exit_code, 0);
  EXPECT_EQ(dup.out, "12_oci: container \"" + id + "\" already exists\n");
  RunResult sys = testutil::Run({Oci(), "--root", root_, "--systemd-cgroup", "create", "--bundle",
                                 b, NewId()});
  EXPECT_EQ(sys.err, "12_oci: --systemd-cgroup: this host is not run by systemd (no "
                     "/run/systemd/system)\n");
  EXPECT_EQ(testutil::Run({Oci(), "--help"}).exit_code, 0);
}

}  // namespace
}  // namespace nslab
