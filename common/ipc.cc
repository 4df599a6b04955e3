#include "common/ipc.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <sstream>
#include <utility>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::ipc {
namespace {

// IPC_EXCL is what makes the lesson visible: in one namespace a key names one object.
constexpr int kCreate = IPC_CREAT | IPC_EXCL | 0600;

std::string Hint(int err) {
  if (err == EEXIST)
    return "this IPC namespace already has an object with that key; in a new IPC "
           "namespace (CLONE_NEWIPC) the key is free again";
  if (err == ENOSPC) return "too many objects: see /proc/sys/kernel/msgmni, shmmni, sem";
  return HintFor("ipc", err);
}

ScopedSysV Created(SysVKind kind, key_t key, int id, const char* call) {
  if (id < 0) {
    int saved = errno;
    throw SysError(saved, call, KeyToString(key), Hint(saved));
  }
  return ScopedSysV(kind, key, id);
}

}  // namespace

const char* KindName(SysVKind kind) {
  switch (kind) {
    case SysVKind::kMsg: return "msg";
    case SysVKind::kShm: return "shm";
    case SysVKind::kSem: return "sem";
  }
  return "?";
}

ScopedSysV::ScopedSysV(ScopedSysV&& other) noexcept
    : kind_(other.kind_), key_(other.key_), id_(std::exchange(other.id_, -1)) {}

ScopedSysV& ScopedSysV::operator=(ScopedSysV&& other) noexcept {
  if (this != &other) {
    try {
      if (Valid()) Remove();
    } catch (const std::exception&) {
    }
    kind_ = other.kind_;
    key_ = other.key_;
    id_ = std::exchange(other.id_, -1);
  }
  return *this;
}

ScopedSysV::~ScopedSysV() {
  if (!Valid()) return;
  int saved = errno;
  try {
    Remove();
  } catch (const std::exception&) {
    // Destructors must not throw; the namespace frees it at the latest when it dies.
  }
  errno = saved;
}

void ScopedSysV::Remove() {
  if (!Valid()) return;
  int id = std::exchange(id_, -1);
  narrate::Syscall(std::string(KindName(kind_)) + "ctl",
                   std::to_string(id) + ", IPC_RMID");
  const std::string arg = std::to_string(id);
  switch (kind_) {
    case SysVKind::kMsg:
      Check(msgctl(id, IPC_RMID, nullptr), "msgctl IPC_RMID", arg);
      break;
    case SysVKind::kShm:
      Check(shmctl(id, IPC_RMID, nullptr), "shmctl IPC_RMID", arg);
      break;
    case SysVKind::kSem:
      Check(semctl(id, 0, IPC_RMID), "semctl IPC_RMID", arg);
      break;
  }
}

int ScopedSysV::Release() { return std::exchange(id_, -1); }

ScopedSysV CreateSysVQueue(key_t key) {
  narrate::Syscall("msgget", KeyToString(key) + ", IPC_CREAT|IPC_EXCL|0600");
  return Created(SysVKind::kMsg, key, msgget(key, kCreate), "msgget");
}

ScopedSysV CreateSysVShm(key_t key, size_t size) {
  narrate::Syscall("shmget", KeyToString(key) + ", " + std::to_string(size) +
                                 ", IPC_CREAT|IPC_EXCL|0600");
  return Created(SysVKind::kShm, key, shmget(key, size, kCreate), "shmget");
}

ScopedSysV CreateSysVSem(key_t key, int nsems) {
  narrate::Syscall("semget", KeyToString(key) + ", " + std::to_string(nsems) +
                                 ", IPC_CREAT|IPC_EXCL|0600");
  return Created(SysVKind::kSem, key, semget(key, nsems, kCreate), "semget");
}

key_t DemoKey(pid_t pid) {
  // 0x4e53 is "NS"; the low 16 bits of the pid keep parallel runs apart (pids that
  // agree in them would also have to run at the same time to collide).
  return static_cast<key_t>(0x4e530000u | (static_cast<unsigned>(pid) & 0xffffu));
}

std::vector<SysVObject> ParseSysV(SysVKind kind, const std::string& text) {
  // Columns (proc(5)): msg and sem start "key id perms"; the uid column is 8th for
  // msg, 8th for shm, 5th for sem.
  const size_t uid_col = kind == SysVKind::kSem ? 4 : 7;
  std::vector<SysVObject> out;
  std::istringstream lines(text);
  std::string line;
  bool header = true;
  while (std::getline(lines, line)) {
    if (header) {
      header = false;
      continue;
    }
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() <= uid_col) continue;
    SysVObject o;
    o.kind = kind;
    o.key = static_cast<key_t>(std::stol(f[0]));
    o.id = std::stoi(f[1]);
    o.perms = static_cast<unsigned>(std::stoul(f[2], nullptr, 8));
    o.uid = static_cast<uid_t>(std::stoul(f[uid_col]));
    out.push_back(o);
  }
  return out;
}

std::vector<SysVObject> ListSysV(const std::string& proc) {
  std::vector<SysVObject> all;
  for (SysVKind kind : {SysVKind::kMsg, SysVKind::kShm, SysVKind::kSem}) {
    // Each file shows the IPC namespace of the process that reads it.
    auto part = ParseSysV(kind, ReadFile(proc + "/sysvipc/" + KindName(kind)));
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

bool Contains(const std::vector<SysVObject>& objects, SysVKind kind, key_t key) {
  return std::any_of(objects.begin(), objects.end(), [&](const SysVObject& o) {
    return o.kind == kind && o.key == key;
  });
}

std::string KeyToString(key_t key) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(key));
  return buf;
}

std::vector<narrate::Row> Rows(const std::vector<SysVObject>& objects) {
  std::vector<narrate::Row> rows;
  for (const auto& o : objects) {
    char perms[8];
    std::snprintf(perms, sizeof perms, "%o", o.perms);
    rows.push_back({{KindName(o.kind), KeyToString(o.key), std::to_string(o.id), perms,
                     std::to_string(o.uid)}});
  }
  return rows;
}

constexpr long kMqueueMagic = 0x19800202;  // MQUEUE_MAGIC, linux/magic.h

void MountMqueueInChild(const std::string& target) {
  if (mkdir(target.c_str(), 0755) < 0 && errno != EEXIST) Check(-1, "mkdir", target);
  // An mqueue superblock belongs to the IPC namespace of whoever mounts it: this
  // mount shows our namespace's queues, whatever /dev/mqueue on the host shows.
  narrate::Syscall("mount", "\"mqueue\", \"" + target +
                               "\", \"mqueue\", MS_NOSUID|MS_NODEV|MS_NOEXEC");
  Check(mount("mqueue", target.c_str(), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
        "mount mqueue", target);
}

ScopedMqueue::ScopedMqueue(ScopedMqueue&& other) noexcept
    : name_(std::move(other.name_)), mqd_(std::exchange(other.mqd_, static_cast<mqd_t>(-1))) {}

ScopedMqueue& ScopedMqueue::operator=(ScopedMqueue&& other) noexcept {
  if (this != &other) {
    ScopedMqueue old(std::move(*this));
    name_ = std::move(other.name_);
    mqd_ = std::exchange(other.mqd_, static_cast<mqd_t>(-1));
  }
  return *this;
}

ScopedMqueue::~ScopedMqueue() {
  if (!Valid()) return;
  int saved = errno;
  mq_close(mqd_);
  mq_unlink(name_.c_str());
  errno = saved;
}

std::string ScopedMqueue::Release() {
  if (Valid()) mq_close(std::exchange(mqd_, static_cast<mqd_t>(-1)));
  return std::move(name_);
}

ScopedMqueue CreatePosixQueue(const std::string& name) {
  if (name.size() < 2 || name[0] != '/' || name.find('/', 1) != std::string::npos)
    throw UsageError("POSIX queue name must be \"/name\" with no other slash: \"" + name + "\"");
  mq_attr attr = {};
  attr.mq_maxmsg = 4;
  attr.mq_msgsize = 64;
  narrate::Syscall("mq_open", "\"" + name + "\", O_CREAT|O_EXCL|O_RDWR|O_CLOEXEC, 0600");
  mqd_t mqd = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
  if (mqd == static_cast<mqd_t>(-1)) {
    int saved = errno;
    throw SysError(saved, "mq_open", name,
                   saved == EEXIST ? "a queue of that name exists in this IPC namespace"
                                   : HintFor("mq_open", saved));
  }
  return ScopedMqueue(name, mqd);
}

std::vector<std::string> ListPosixQueues(const std::string& mqueue_mount) {
  DIR* dir = CheckPtr(opendir(mqueue_mount.c_str()), "opendir", mqueue_mount);
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back("/" + n);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Demo::Demo(pid_t lab_pid)
    : host_key_(DemoKey(lab_pid)),
      sandbox_key_(host_key_ + 0x10000),  // 0x4e54....: the sandbox's
      made_(MakePipe()),
      looked_(MakePipe()) {}

Demo::Demo(pid_t lab_pid, bool run) : Demo(lab_pid) {
  if (!run) return;
  MakeHostObjects();
  ForkObserver();  // before the clone: the child inherits only the pipes' ends
}

Demo::~Demo() {
  made_.write.Reset();  // an observer still waiting sees EOF: the sandbox failed first
  looked_.read.Reset();
  if (observer_ > 0) waitpid(observer_, nullptr, 0);
}

void Demo::MakeHostObjects() {
  host_objects_.push_back(CreateSysVQueue(host_key_));
  host_objects_.push_back(CreateSysVShm(host_key_));
  host_objects_.push_back(CreateSysVSem(host_key_));
  narrate::Step("the host made a message queue, a shm segment and a semaphore set "
                "with key " + KeyToString(host_key_));
}

void Demo::ShowInChild() {
  made_.read.Reset();  // the observer's ends
  looked_.write.Reset();
  auto before = ListSysV();
  const bool leak = Contains(before, SysVKind::kMsg, host_key_);
  narrate::Step("/proc/sysvipc here lists " + std::to_string(before.size()) +
                " objects: nothing with the host's key " + KeyToString(host_key_) +
                (leak ? " (BUT IT IS HERE?!)" : ""));
  // Released, not removed: the namespace frees them when its last process exits.
  CreateSysVQueue(sandbox_key_).Release();
  CreateSysVShm(sandbox_key_).Release();
  CreateSysVSem(sandbox_key_).Release();
  narrate::Step("made a message queue, a shared memory segment and a semaphore set "
                "with key " + KeyToString(sandbox_key_) + "; /proc/sysvipc here:");
  narrate::Table({"kind", "key", "id", "perms", "uid"}, Rows(ListSysV()));
  // A fresh mqueue mount shows *this* IPC namespace's POSIX queues (the labs' recipe
  // mounts it on /dev/mqueue already; a bare child gets one here).
  struct statfs fs;
  if (statfs("/dev/mqueue", &fs) < 0 || static_cast<long>(fs.f_type) != kMqueueMagic)
    MountMqueueInChild("/dev/mqueue");
  CreatePosixQueue("/nslab").Release();
  std::string names;
  for (const auto& n : ListPosixQueues("/dev/mqueue")) names += " " + n;
  narrate::Step("mq_open(\"/nslab\") in a fresh mqueue mount: /dev/mqueue holds:" + names);
  WriteAll(made_.write.Get(), "m");
  made_.write.Reset();
  ReadAll(looked_.read.Get());  // EOF: the host has looked
  narrate::Step("exiting without removing anything: the IPC namespace dies with its "
                "last process and takes every object in it along");
}

void Demo::StartHostObserver() {
  made_.write.Reset();  // the child's ends
  looked_.read.Reset();
  ForkObserver();
}

void Demo::ForkObserver() {
  started_ = true;
  std::fflush(stdout);
  observer_ = Check(fork(), "fork", "observer");
  if (observer_ == 0) process::RunInChild([&] {
    made_.write.Reset();  // the child's ends, when forked before the clone
    looked_.read.Reset();
    narrate::SetRole(narrate::Role::kHost);  // it speaks for the host
    if (ReadAll(made_.read.Get(), 1).empty()) return 0;  // the child failed first
    std::vector<SysVObject> ours;
    for (const auto& o : ListSysV())
      if (o.key == host_key_ || o.key == sandbox_key_) ours.push_back(o);
    narrate::Step("meanwhile on the host, /proc/sysvipc (what ipcs reads) has, of our keys:");
    narrate::Table({"kind", "key", "id", "perms", "uid"}, Rows(ours));
    bool leak = false;
    for (const auto& o : ours) leak = leak || o.key == sandbox_key_;
    narrate::Step(leak ? "the sandbox's objects are visible here?!"
                       : "the sandbox's " + KeyToString(sandbox_key_) +
                             " objects are not among them");
    return 0;  // exiting closes `looked`: the child goes on
  });
  made_.read.Reset();
  looked_.write.Reset();
}

void Demo::FinishFromParent() {
  if (!started_) return;
  made_.write.Reset();  // the child's ends, held since the clone
  looked_.read.Reset();
  if (observer_ > 0) process::WaitPid(std::exchange(observer_, -1));
  narrate::Step(std::string("the host's tables hold ") +
                (Contains(ListSysV(), SysVKind::kMsg, sandbox_key_)
                     ? "the sandbox's queue?!"
                     : "no " + KeyToString(sandbox_key_) +
                           " object: they died with the sandbox's IPC namespace") +
                "; ours are removed as the lab exits");
}

}  // namespace nslab::ipc
