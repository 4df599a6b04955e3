// bad_input_test — a table of bad inputs across labs 04-11. For each: the documented
// exit code (125 for a usage error, in every lab, as Docker), exactly
// one line on stderr that starts with the lab's name and says what is wrong, nothing
// on stdout, and nothing left behind — no state entry, image, run directory, mount,
// link, cgroup or process more than before, and no file written outside an image.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/security/harness.h"
#include "tests/testutil.h"

namespace nslab {
namespace {

using harness::Cli;
using testutil::Entries;
using testutil::TmpDir;

// How the lab is started.
enum class Wrap {
  kPlain,
  kNobody,       // as uid/gid 65534 (setpriv), from a copy of the binary in /tmp
  kNoUserNs,     // inside `unshare -Ur` with user.max_user_namespaces = 0 there
  kSubnetTaken,  // while another 08_net holds the only /30 of the subnet
};

struct Case {
  std::string name;  // for the test's name: letters, digits, '_'
  std::string lab;   // "11_container"
  std::vector<std::string> args;
  int code;
  std::string message;  // a part of the one stderr line
  Wrap wrap = Wrap::kPlain;
};

// gtest prints a parameter that fails; by name, not as bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.lab << " " << c.name; }

const std::string kH65(65, 'h');

// Placeholders in args: {R} a busybox rootfs, {T} the directory of crafted tarballs,
// {RUNNING} a running container's name, {EXITED} an exited one's, {H65} 65 bytes.
std::vector<Case> Cases() {
  const int kUsage = 125, kRt = 125;  // one rule: docs/README.md#exit-codes
  return {
      // --- labs 04-10: usage errors exit 2 ---
      {"uts_hostname_65_bytes", "04_uts", {"--hostname", "{H65}", "--", "true"}, kUsage,
       "at most 64"},
      {"mount_missing_rootfs", "06_mount", {"--rootfs", "/nonexistent/rootfs", "--", "true"},
       kUsage, "No such file or directory"},
      {"mount_relative_rootfs", "06_mount", {"--rootfs", "relative/rootfs", "--", "true"}, kUsage,
       "absolute path"},
      {"mount_rootfs_without_command", "06_mount", {"--rootfs", "{R}", "--", "/no/such/cmd"},
       kUsage, "is not in it"},
      {"cgroup_memory_empty", "10_cgroup", {"--memory", "", "--", "true"}, kUsage,
       "invalid memory limit"},
      {"cgroup_memory_negative", "10_cgroup", {"--memory", "-1", "--", "true"}, kUsage,
       "invalid memory limit"},
      {"cgroup_memory_banana", "10_cgroup", {"--memory", "banana", "--", "true"}, kUsage,
       "invalid memory limit"},
      {"cgroup_memory_overflow", "10_cgroup", {"--memory", "99999999999999999999G", "--", "true"},
       kUsage, "invalid memory limit"},
      {"cgroup_memory_twice", "10_cgroup", {"--memory", "64M", "--memory", "32M", "--", "true"},
       kUsage, "--memory"},
      {"cgroup_pids_zero", "10_cgroup", {"--pids", "0", "--", "true"}, kUsage,
       "invalid pids limit"},
      {"cgroup_cpus_abc", "10_cgroup", {"--cpus", "abc", "--", "true"}, kUsage,
       "invalid cpus limit"},
      {"net_subnet_banana", "08_net", {"--subnet", "banana", "--", "true"}, kUsage, "CIDR"},
      {"net_subnet_too_small", "08_net", {"--subnet", "10.0.0.0/31", "--", "true"}, kUsage,
       "prefix"},
      {"net_subnet_exhausted", "08_net", {"--subnet", "10.213.7.0/30", "--", "true"}, kRt,
       "exhausted", Wrap::kSubnetTaken},
      {"user_namespaces_disabled", "09_user", {"--net", "none", "--", "true"}, kUsage,
       "user namespaces are disabled", Wrap::kNoUserNs},
      {"uts_unprivileged", "04_uts", {"--", "true"}, kUsage, "needs root", Wrap::kNobody},
      // --- lab 11: every runtime error exits 125 ---
      {"run_missing_rootfs", "11_container", {"run", "--rootfs", "/nonexistent/rootfs", "true"},
       kRt, "No such file or directory"},
      {"run_relative_rootfs", "11_container", {"run", "--rootfs", "rel/rootfs", "true"}, kRt,
       "absolute path"},
      {"run_rootfs_without_command", "11_container", {"run", "--rootfs", "{R}", "/no/such/cmd"},
       kRt, "is not in it"},
      {"run_empty_command", "11_container", {"run", "--rootfs", "{R}", ""}, kRt, "\"\""},
      {"exec_without_command", "11_container", {"exec", "{RUNNING}"}, kRt, "CMD"},
      {"unknown_signal", "11_container", {"kill", "-s", "banana", "{RUNNING}"}, kRt,
       "unknown signal"},
      {"name_dot", "11_container", {"run", "--name", ".", "--rootfs", "{R}", "true"}, kRt,
       "invalid container name"},
      {"name_dotdot", "11_container", {"run", "--name", "..", "--rootfs", "{R}", "true"}, kRt,
       "invalid container name"},
      {"name_space", "11_container", {"run", "--name", "a b", "--rootfs", "{R}", "true"}, kRt,
       "invalid container name"},
      {"name_slash", "11_container", {"run", "--name", "a/b", "--rootfs", "{R}", "true"}, kRt,
       "invalid container name"},
      {"name_duplicate", "11_container", {"run", "--name", "{RUNNING}", "--rootfs", "{R}", "true"},
       kRt, "already in use"},
      {"id_empty_exec", "11_container", {"exec", "", "true"}, kRt, "no such container"},
      {"id_dot_rm", "11_container", {"rm", "."}, kRt, "no such container"},
      {"id_dotdot_inspect", "11_container", {"inspect", ".."}, kRt, "no such container"},
      {"id_slash_logs", "11_container", {"logs", "a/b"}, kRt, "no such container"},
      {"unknown_id_exec", "11_container", {"exec", "0123456789ab", "true"}, kRt,
       "no such container"},
      {"unknown_id_stop", "11_container", {"stop", "0123456789ab"}, kRt, "no such container"},
      {"unknown_id_rm", "11_container", {"rm", "-f", "0123456789ab"}, kRt, "no such container"},
      {"unknown_id_logs", "11_container", {"logs", "0123456789ab"}, kRt, "no such container"},
      {"unknown_id_inspect", "11_container", {"inspect", "0123456789ab"}, kRt,
       "no such container"},
      {"exec_into_exited", "11_container", {"exec", "{EXITED}", "true"}, kRt, "not running"},
      {"run_hostname_65_bytes", "11_container", {"run", "--hostname", "{H65}", "--rootfs", "{R}",
       "true"}, kRt, "at most 64"},
      {"run_memory_empty", "11_container", {"run", "--memory", "", "--rootfs", "{R}", "true"},
       kRt, "memory"},
      {"run_memory_negative", "11_container", {"run", "--memory", "-1", "--rootfs", "{R}", "true"},
       kRt, "memory"},
      {"run_memory_banana", "11_container", {"run", "--memory", "banana", "--rootfs", "{R}",
       "true"}, kRt, "memory"},
      {"run_memory_overflow", "11_container", {"run", "--memory", "99999999999999999999G",
       "--rootfs", "{R}", "true"}, kRt, "memory"},
      {"run_memory_twice", "11_container", {"run", "--memory", "1G", "--memory", "2G", "--rootfs",
       "{R}", "true"}, kRt, "--memory"},
      {"run_pids_zero", "11_container", {"run", "--pids", "0", "--rootfs", "{R}", "true"}, kRt,
       "pids"},
      {"run_cpus_abc", "11_container", {"run", "--cpus", "abc", "--rootfs", "{R}", "true"}, kRt,
       "cpus"},
      {"run_unknown_capability", "11_container", {"run", "--cap-add", "FOO", "--rootfs", "{R}",
       "true"}, kRt, "unknown capability \"FOO\""},
      {"run_unknown_net", "11_container", {"run", "--net", "host", "--rootfs", "{R}", "true"}, kRt,
       "--net"},
      {"stop_bad_timeout", "11_container", {"stop", "-t", "abc", "{RUNNING}"}, kRt, "abc"},
      {"run_unprivileged_without_user", "11_container", {"run", "--net", "none", "busybox",
       "true"}, kRt, "needs --user", Wrap::kNobody},
      {"import_missing_file", "11_container", {"import", "/nonexistent.tar", "imgmissing"}, kRt,
       "No such file or directory"},
      {"import_garbage", "11_container", {"import", "{T}/garbage.tar", "imggarbage"}, kRt,
       "garbage.tar"},
      {"import_text_line", "11_container", {"import", "{T}/textline.tar", "imgtextline"}, kRt,
       "textline.tar"},
      {"import_empty_file", "11_container", {"import", "{T}/empty.tar", "imgempty"}, kRt,
       "empty.tar"},
      {"import_truncated_gzip", "11_container", {"import", "{T}/truncated.tar.gz", "imgtrunc"},
       kRt, "truncated"},
      {"import_dotdot_entry", "11_container", {"import", "{T}/dotdot.tar", "imgdotdot"}, kRt,
       "..\" component"},
      {"import_absolute_entry", "11_container", {"import", "{T}/absolute.tar", "imgabs"}, kRt,
       "absolute path"},
      {"import_through_absolute_symlink", "11_container", {"import", "{T}/symlink.tar",
       "imgsym"}, kRt, "symlink"},
      {"import_absolute_hardlink", "11_container", {"import", "{T}/hardlink.tar", "imghard"}, kRt,
       "hardlink"},
      {"import_bad_image_name", "11_container", {"import", "{T}/garbage.tar", "Bad/Name"}, kRt,
       "Bad/Name"},
      // --- issue 13: user text is echoed with its control characters escaped, so the
      // error stays one line and cannot forge another or drive the terminal ---
      {"name_newline", "11_container", {"run", "--name", "a\nname=evil", "--rootfs", "{R}",
       "true"}, kRt, "invalid container name \"a\\nname=evil\""},
      {"name_escape_sequence", "11_container", {"run", "--name", "x\x1b[31mred", "--rootfs",
       "{R}", "true"}, kRt, "\"x\\x1b[31mred\""},
      {"rootfs_newline", "11_container", {"run", "--rootfs", "/no/such\nline", "true"}, kRt,
       "/no/such\\nline"},
      {"image_name_newline", "11_container", {"import", "{T}/garbage.tar", "img\nx"}, kRt,
       "\"img\\nx\""},
      {"exec_id_newline", "11_container", {"exec", "ab\ncd", "true"}, kRt, "ab\\ncd"},
      {"signal_tab_cr", "11_container", {"kill", "-s", "TE\tR\rM", "{RUNNING}"}, kRt,
       "\"TE\\tR\\rM\""},
      {"run_unknown_flag_escape", "11_container", {"run", "-\x1b]0;pwn\x07", "busybox"}, kRt,
       "\\x1b]0;pwn\\x07"},
  };
}

// A tar member: name, type ('0' file, '2' symlink, '1' hardlink), link target.
struct Member {
  std::string name;
  char type;
  std::string link;
};

// Writes a ustar archive by hand (no tar(1) would produce these on purpose).
void WriteTar(const std::string& path, const std::vector<Member>& members) {
  std::string out;
  for (const auto& m : members) {
    char h[512] = {0};
    std::snprintf(h, 100, "%s", m.name.c_str());
    std::snprintf(h + 100, 8, "%07o", 0644);
    std::snprintf(h + 108, 8, "%07o", 0);
    std::snprintf(h + 116, 8, "%07o", 0);
    const std::string data = m.type == '0' ? "pwned\n" : "";
    std::snprintf(h + 124, 12, "%011o", static_cast<unsigned>(data.size()));
    std::snprintf(h + 136, 12, "%011o", 0u);
    h[156] = m.type;
    std::snprintf(h + 157, 100, "%s", m.link.c_str());
    std::memcpy(h + 257, "ustar\0" "00", 8);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    out.append(h, 512);
    if (!data.empty()) {
      std::string block(512, '\0');
      block.replace(0, data.size(), data);
      out += block;
    }
  }
  out.append(1024, '\0');
  std::ofstream(path, std::ios::binary) << out;
}

class BadInputTest : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    if (!testutil::IsRoot()) return;
    harness::Init();
    env_ = new Env;
    env_->rootfs = harness::MakeRootfs("badinput");
    // Images and run directories of our own; the run directory and binary copies
    // under /tmp so that uid 65534 can reach them.
    env_->images = TmpDir() + "/images";
    mkdir(env_->images.c_str(), 0755);
    setenv("NSLAB_IMAGE_DIR", env_->images.c_str(), 1);
    char run[] = "/tmp/nslab-badinput-XXXXXX";
    env_->tmp = mkdtemp(run);
    chmod(env_->tmp.c_str(), 0755);
    env_->run = env_->tmp + "/run";
    mkdir(env_->run.c_str(), 0755);
    setenv("NSLAB_RUN_DIR", env_->run.c_str(), 1);
    // A directory that crafted tarballs aim at; it must stay empty.
    env_->victim = env_->tmp + "/victim";
    mkdir(env_->victim.c_str(), 0755);
    env_->tars = TmpDir() + "/tars";
    mkdir(env_->tars.c_str(), 0755);
    const std::string& t = env_->tars;
    std::ofstream(t + "/garbage.tar") << std::string(3000, '\x7f') << "not a tarball\n";
    std::ofstream(t + "/textline.tar") << "garbage\n";  // libarchive's mtree reads it
    std::ofstream(t + "/empty.tar");
    std::ofstream(t + "/truncated.tar.gz", std::ios::binary)
        << std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x4b\x4c", 12);
    WriteTar(t + "/dotdot.tar", {{"bin/ok", '0', ""},
                                 {"../../../../../../../.." + env_->victim + "/dotdot", '0', ""}});
    WriteTar(t + "/absolute.tar", {{env_->victim + "/absolute", '0', ""}});
    WriteTar(t + "/symlink.tar", {{"lnk", '2', env_->victim}, {"lnk/through-symlink", '0', ""}});
    WriteTar(t + "/hardlink.tar", {{"hl", '1', "/etc/passwd"}});
    // A running and an exited container for the cases that need one.
    env_->running = testutil::UniqueName("run");
    env_->exited = testutil::UniqueName("exited");
    harness::RunDetached({"--name", env_->running, "--rootfs", env_->rootfs, "sleep", "1000"})
        .Release();
    const std::string exited_id =
        harness::RunDetached({"--name", env_->exited, "--rootfs", env_->rootfs, "true"})
            .Release();
    // Exited, and its shim gone (it removes the container's cgroup on its way out):
    // from here on nothing changes by itself.
    harness::WaitFor([&] {
      harness::Facts f = harness::ReadState(exited_id);
      pid_t shim = static_cast<pid_t>(std::atoi(harness::Fact(f, "shim_pid").c_str()));
      return harness::Fact(f, "exited") == "1" && (shim <= 0 || kill(shim, 0) != 0);
    });
  }
  static void TearDownTestSuite() {
    if (!env_) return;
    // Our fixtures, and any container a case created by mistake (our own state
    // directory only).
    for (const auto& id : Entries(harness::StateDir()))
      if (id.size() == 12) Cli({"rm", "-f", id});
    testutil::Run({"rm", "-rf", env_->tmp});
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    if (!testutil::IsRoot()) GTEST_SKIP() << "needs root";
  }

  std::vector<std::string> Expand(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (std::string a : args) {
      auto sub = [&](const std::string& key, const std::string& value) {
        size_t p = a.find(key);
        if (p != std::string::npos) a.replace(p, key.size(), value);
      };
      sub("{R}", env_->rootfs);
      sub("{T}", env_->tars);
      sub("{RUNNING}", env_->running);
      sub("{EXITED}", env_->exited);
      sub("{H65}", kH65);
      out.push_back(a);
    }
    return out;
  }

  // A copy of the lab in /tmp, reachable by uid 65534.
  std::string PublicCopy(const std::string& lab) {
    const std::string dst = env_->tmp + "/" + lab;
    if (access(dst.c_str(), X_OK) != 0) {
      testutil::Run({"cp", testutil::LabPath(lab), dst});
      chmod(dst.c_str(), 0755);
    }
    return dst;
  }

  testutil::RunResult RunCase(const Case& c) {
    std::vector<std::string> args = Expand(c.args);
    // `run` rows get --net none: a run accepted by mistake then makes no veth.
    if (c.lab == "11_container" && !args.empty() && args[0] == "run" &&
        std::find(args.begin(), args.end(), "--net") == args.end())
      args.insert(args.begin() + 1, {"--net", "none"});
    std::vector<std::string> argv;
    switch (c.wrap) {
      case Wrap::kPlain:
      case Wrap::kSubnetTaken:
        argv = {testutil::LabPath(c.lab)};
        break;
      case Wrap::kNobody:
        argv = {"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                PublicCopy(c.lab)};
        break;
      case Wrap::kNoUserNs: {
        // user.max_user_namespaces is per user namespace: set to 0 inside a new one,
        // the host's own limit is untouched.
        std::string cmd = "echo 0 > /proc/sys/user/max_user_namespaces && exec";
        cmd += " " + testutil::LabPath(c.lab);
        for (const auto& a : args) cmd += " '" + a + "'";
        return testutil::Run({"unshare", "-U", "-r", "sh", "-c", cmd});
      }
    }
    argv.insert(argv.end(), args.begin(), args.end());
    if (c.wrap != Wrap::kSubnetTaken) return testutil::Run(argv);
    // Another run holds the only /30 of the subnet while this one starts.
    pid_t holder = fork();
    if (holder == 0) {
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      execl(argv[0].c_str(), argv[0].c_str(), "--subnet", "10.213.7.0/30", "--", "sleep", "1000",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    harness::WaitFor([] {
      return testutil::Run({"ip", "-4", "addr", "show", "to", "10.213.7.0/30"}).out.find("inet") !=
             std::string::npos;
    }, 10);
    testutil::RunResult r = testutil::Run(argv);
    kill(holder, SIGTERM);
    int status;
    waitpid(holder, &status, 0);
    return r;
  }

  struct Env {
    std::string rootfs, images, tmp, run, victim, tars, running, exited;
  };
  static Env* env_;
};
BadInputTest::Env* BadInputTest::env_ = nullptr;

TEST_P(BadInputTest, OneLineErrorDocumentedCodeNothingLeft) {
  const Case& c = GetParam();
  const harness::Snapshot before = harness::TakeSnapshot();
  const std::vector<std::string> images = Entries(env_->images + "/images");
  const std::vector<std::string> runs = Entries(env_->run);

  testutil::RunResult r = RunCase(c);

  EXPECT_EQ(r.exit_code, c.code) << r.err;
  EXPECT_EQ(r.out, "");
  std::vector<std::string> lines = harness::NonEmptyLines(r.err);
  ASSERT_EQ(lines.size(), 1u) << "stderr:\n" << r.err;
  EXPECT_EQ(lines[0].rfind(c.lab + ": ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(c.message), std::string::npos)
      << "expected \"" << c.message << "\" in: " << lines[0];

  // Only what appeared counts: something of an earlier case may still be vanishing
  // (the kernel removes a veth with its network namespace, asynchronously).
  std::vector<std::string> added;
  for (const auto& d : harness::Diff(before, harness::TakeSnapshot()))
    if (d[0] == '+') added.push_back(d);
  EXPECT_EQ(added, std::vector<std::string>{});
  EXPECT_EQ(Entries(env_->images + "/images"), images) << "an image was left";
  EXPECT_EQ(Entries(env_->run), runs) << "a run directory was left";
  EXPECT_EQ(Entries(env_->victim), std::vector<std::string>{}) << "written outside an image";
}

// Two targets share this table (see BUILD): lab 11's rows and labs 04-10's rows, so
// that one lab that does not build does not hide the other's results.
std::vector<Case> Group() {
  std::vector<Case> out;
  for (const Case& c : Cases()) {
#if NSLAB_BAD_INPUT_GROUP == 11
    if (c.lab == "11_container") out.push_back(c);
#else
    if (c.lab != "11_container") out.push_back(c);
#endif
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Table, BadInputTest, ::testing::ValuesIn(Group()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace nslab
