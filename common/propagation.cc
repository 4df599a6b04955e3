#include "common/propagation.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/error.h"
#include "common/mount.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::propagation {

Mode ParseMode(const std::string& name) {
  if (name == "shared") return Mode::kShared;
  if (name == "slave") return Mode::kSlave;
  if (name == "private") return Mode::kPrivate;
  if (name == "unbindable") return Mode::kUnbindable;
  throw UsageError("--propagation \"" + name + "\": one of shared, slave, private, unbindable");
}

std::string Name(Mode mode) {
  switch (mode) {
    case Mode::kShared: return "shared";
    case Mode::kSlave: return "slave";
    case Mode::kPrivate: return "private";
    case Mode::kUnbindable: return "unbindable";
  }
  return "?";
}

std::vector<std::string> Names() { return {"shared", "slave", "private", "unbindable"}; }

unsigned long FlagOf(Mode mode) {
  switch (mode) {
    case Mode::kShared: return MS_SHARED;
    case Mode::kSlave: return MS_SLAVE;
    case Mode::kPrivate: return MS_PRIVATE;
    case Mode::kUnbindable: return MS_UNBINDABLE;
  }
  return MS_PRIVATE;
}

void Set(const std::string& path, Mode mode) { mount::Mount("", path, "", FlagOf(mode)); }

void MakeVolumeFromParent(const std::string& dir, const std::string& source) {
  Check(mkdir(dir.c_str(), 0755), "mkdir", dir);
  if (source.empty())
    mount::Mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755");
  else
    mount::Mount(source, dir, "", MS_BIND | MS_REC);
  // A new peer group of one: copies of this mount (the child's CLONE_NEWNS copy, and
  // the bind it makes of it) will join it.
  Set(dir, Mode::kShared);
}

void BindVolumeInChild(const std::string& volume, const std::string& target, Mode mode) {
  if (mkdir(target.c_str(), 0755) < 0 && errno != EEXIST) Check(-1, "mkdir", target);
  // Our copy of the volume is a peer of the lab's; a bind of a shared mount onto a
  // private parent is shared in the same peer group (sharedsubtree.rst).
  mount::Mount(volume, target, "", MS_BIND);
  // shared: keep it a peer (events both ways). slave: its group becomes its master
  // (events in only). private/unbindable: no events at all.
  if (mode != Mode::kShared) Set(target, mode);
}

bool HostMountsReachInside(Mode mode) { return mode == Mode::kShared || mode == Mode::kSlave; }
bool InsideMountsReachHost(Mode mode) { return mode == Mode::kShared; }

void MakeOwnHostNamespace() {
  narrate::Syscall("unshare", "CLONE_NEWNS");
  Check(unshare(CLONE_NEWNS), "unshare", "CLONE_NEWNS");
  mount::Mount("", "/", "", MS_REC | MS_PRIVATE);
}

namespace {

void Say(int fd, char c) { WriteAll(fd, std::string_view(&c, 1), "demo pipe"); }

// One byte from the other side; false on EOF (it ended).
bool Hear(int fd) {
  char c;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n == 1) return true;
    if (n == 0) return false;
    if (errno != EINTR) Check(-1, "read", "demo pipe");
  }
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

Demo::Demo(std::string volume) : volume_(std::move(volume)) {
  Check(pipe2(to_host_, O_CLOEXEC), "pipe2", "demo");
  Check(pipe2(to_child_, O_CLOEXEC), "pipe2", "demo");
}

void Demo::StartHostSide() {
  std::fflush(stdout);
  host_side_ = Check(fork(), "fork", "host side of the demo");
  if (host_side_ == 0) {
    process::RunInChild([&] {
      narrate::SetRole(narrate::Role::kHost);  // it speaks for the host side
      CloseFd(to_host_[1]);
      CloseFd(to_child_[0]);
      if (!Hear(to_host_[0])) return 0;  // the sandbox ended early
      const std::string from_host = volume_ + "/from-host";
      Check(mkdir(from_host.c_str(), 0755), "mkdir", from_host);
      mount::Mount("tmpfs", from_host, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m");
      narrate::Step("host: mounted a tmpfs at " + from_host + " (" +
                    mount::Propagation(from_host) + ")");
      Say(to_child_[1], 'g');
      if (!Hear(to_host_[0])) return 0;
      const std::string from_inside = volume_ + "/from-inside";
      narrate::Step(std::string("host: the sandbox's mount at ") + from_inside + " is " +
                    (HasMountAt(from_inside) ? "HERE too" : "not here"));
      Say(to_child_[1], 'b');
      return 0;
    });
  }
  CloseFd(to_host_[0]);
  CloseFd(to_host_[1]);
  CloseFd(to_child_[0]);
  CloseFd(to_child_[1]);
}

void Demo::ShowInChild() {
  CloseFd(to_host_[0]);
  CloseFd(to_child_[1]);
  narrate::Step("my /data is " + mount::Propagation("/data"));
  Say(to_host_[1], 'r');
  if (!Hear(to_child_[0])) return;
  narrate::Step(std::string("the host's mount is ") +
                (HasMountAt("/data/from-host") ? "HERE too, at /data/from-host"
                                               : "not here (/data/from-host is a plain directory)"));
  Check(mkdir("/data/from-inside", 0755), "mkdir", "/data/from-inside");
  mount::Mount("tmpfs", "/data/from-inside", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m");
  narrate::Step("mounted a tmpfs at /data/from-inside");
  Say(to_host_[1], 'd');
  Hear(to_child_[0]);
  CloseFd(to_host_[1]);
  CloseFd(to_child_[0]);
}

void Demo::FinishFromParent() {
  if (host_side_ > 0) process::WaitPid(host_side_);
  host_side_ = -1;
}

Demo::~Demo() {
  for (int* fd : {&to_host_[0], &to_host_[1], &to_child_[0], &to_child_[1]}) CloseFd(*fd);
  // An exception before FinishFromParent: the host side sees EOF and ends; reap it.
  if (host_side_ > 0) process::WaitPid(host_side_);
}

bool HasMountAt(const std::string& path, pid_t pid) {
  for (const auto& m : mount::ReadMountInfo(pid))
    if (m.mount_point == path) return true;
  return false;
}

}  // namespace nslab::propagation
