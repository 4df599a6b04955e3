// harness — driving //labs:11_container from black-box tests, and proving that the
// host is as it was afterwards.
//
// Shared by tests/security, tests/faults and tests/bad_input. Everything is observed
// from outside: the CLI's exit code and one-line errors, the state file the engine
// writes, /proc/<init>/status and mountinfo, /sys/class/net, the cgroup trees beneath
// our own cgroup. Each test binary gets its own state directory (NSLAB_STATE_DIR
// under TEST_TMPDIR), so `ps` and the leftovers check see only its containers.
//
//   harness::Init();                                   // once, in main or a fixture
//   std::string root = harness::MakeRootfs("esc");     // busybox + /bin/probe
//   harness::Container c = harness::RunDetached({"--rootfs", root, "sleep", "1000"});
//   pid_t init = c.InitPid();
//   auto r = harness::Cli({"exec", c.id(), "probe", "status"});
//   // ~Container runs `rm -f`; harness::Leftovers(c.facts()) must then be empty.
#ifndef NSLAB_TESTS_SECURITY_HARNESS_H_
#define NSLAB_TESTS_SECURITY_HARNESS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "tests/testutil.h"

namespace nslab::harness {

// Sets NSLAB_STATE_DIR to a fresh directory under TEST_TMPDIR (unless already set)
// and returns it. Idempotent.
std::string Init();
std::string StateDir();

// Path of the built lab 11 binary, the shim, the probe, the busybox image tarball.
std::string LabBinary();
std::string ShimBinary();
std::string ProbeBinary();
std::string BusyboxTar();

// Runs `11_container args...`.
testutil::RunResult Cli(const std::vector<std::string>& args, const std::string& input = "",
                        int timeout_seconds = 60);

// A root filesystem directory (TEST_TMPDIR/rootfs-<name>-N): the busybox image
// unpacked with tar(1), plus the probe at /bin/probe. Fails the test on error.
std::string MakeRootfs(const std::string& name);

// A host file the container must never read: TEST_TMPDIR/sentinel-<token>/<token>,
// whose content is the token itself (the probe looks for the token).
struct Sentinel {
  std::string path, token;
};
Sentinel MakeSentinel();
bool SentinelIntact(const Sentinel& s);

// key -> values of the state file (Base()/<id>/state): "key=value" lines, repeated
// keys (cgroups, arg) collected in order. Empty map when unreadable.
using Facts = std::map<std::string, std::vector<std::string>>;
Facts ReadState(const std::string& id);
std::string Fact(const Facts& f, const std::string& key);

// What must be gone after `rm -f`: gathered while the container exists.
struct Footprint {
  std::string id, state_dir, host_if;
  std::vector<std::string> cgroups;
  pid_t init = 0, shim = 0;
};
Footprint FootprintOf(const std::string& id);
// Each thing of the footprint still present, as a line ("state dir /x exists",
// "mount /x/merged", "link veth1", "cgroup /sys/fs/cgroup/...", "process 123
// (shim) alive"); empty when the host is clean.
std::vector<std::string> Leftovers(const Footprint& fp);

// A container started with `run -d`; removed with `rm -f` when it goes out of scope.
class Container {
 public:
  Container() = default;
  explicit Container(std::string id) : id_(std::move(id)) {}
  Container(Container&& o) noexcept : id_(std::move(o.id_)) { o.id_.clear(); }
  Container& operator=(Container&& o) noexcept;
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;
  ~Container() { Remove(); }

  const std::string& id() const { return id_; }
  bool ok() const { return !id_.empty(); }
  // The init's host pid from the state file (0 when unknown).
  pid_t InitPid() const;
  // `rm -f`, once; returns its result.
  testutil::RunResult Remove();
  // Gives up ownership: the container stays; returns its id.
  std::string Release() {
    std::string id = std::move(id_);
    id_.clear();
    return id;
  }

 private:
  std::string id_;
};

// `run -d --net none ARGS...`; the id printed on stdout. On failure the returned
// Container is !ok() and *result (if given) says why.
Container RunDetached(const std::vector<std::string>& args,
                      testutil::RunResult* result = nullptr);

// Field of /proc/<pid>/status ("CapEff" -> "00000000a80425fb"); "" when absent.
std::string ProcStatus(pid_t pid, const std::string& key);
// Fds open in a process, from /proc/<pid>/fd (sorted numbers).
std::vector<int> ProcFds(pid_t pid);

// A picture of the host parts a container touches: mount points naming nslab,
// 11_container's links (nslab0, nsl<hex>h) and cgroups (nslab-<id>) beneath our own
// cgroups, entries of the state directory, zombie children of ours, and live
// nslab-shim processes of our state directory.
struct Snapshot {
  std::vector<std::string> items;  // "mount /x", "link eth0", "cgroup /sys/...", ...
};
Snapshot TakeSnapshot();
// Items in `after` not in `before`, as "+item", and the reverse as "-item".
std::vector<std::string> Diff(const Snapshot& before, const Snapshot& after);

// The non-empty lines of a text.
std::vector<std::string> NonEmptyLines(const std::string& text);

// Polls (every 20 ms, up to `seconds`) until pred() is true; returns its last value.
bool WaitForImpl(bool (*pred)(void*), void* arg, int seconds);
template <typename Pred>
bool WaitFor(Pred pred, int seconds = 20) {
  return WaitForImpl([](void* p) { return (*static_cast<Pred*>(p))(); }, &pred, seconds);
}

// sha256 of a file's bytes, hex (via the host's sha256sum); "" when unreadable.
std::string Sha256(const std::string& path);

}  // namespace nslab::harness

#endif  // NSLAB_TESTS_SECURITY_HARNESS_H_
