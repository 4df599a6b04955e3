// ipc — System V IPC objects and POSIX message queues, the things an IPC namespace
// isolates.
//
// Teaches: a System V message queue, shared memory segment or semaphore set is found
// by a numeric key (ftok(3)) in a table that belongs to the caller's IPC namespace.
// Two processes in different IPC namespaces can both create key 0x4e53... with
// IPC_EXCL and get two different objects; neither sees the other's in ipcs(1), which
// only reads /proc/sysvipc/{msg,shm,sem} — files that show the *reader's* IPC
// namespace. POSIX message queues (mq_overview(7)) live in an mqueue filesystem; a
// fresh mount of it made inside a new IPC namespace shows that namespace's queues.
// When the last process of an IPC namespace exits, all its objects are freed.
// Read: ipc_namespaces(7), sysvipc(7), msgget(2), shmget(2), semget(2),
// mq_overview(7), ipcs(1), ipcmk(1).
//
//   ipc::ScopedSysV q = ipc::CreateSysVQueue(ipc::DemoKey());   // removed on scope exit
//   for (const ipc::SysVObject& o : ipc::ListSysV()) ...        // this namespace's table
//   ipc::MountMqueueInChild("/dev/mqueue");                     // in a new IPC + mount ns
//   ipc::ScopedMqueue mq = ipc::CreatePosixQueue("/nslab");     // mq_unlink on scope exit
#ifndef NSLAB_COMMON_IPC_H_
#define NSLAB_COMMON_IPC_H_

#include <mqueue.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::ipc {

enum class SysVKind { kMsg, kShm, kSem };
// "msg", "shm", "sem" (the /proc/sysvipc file names).
const char* KindName(SysVKind kind);

// A System V object created by us, removed with IPC_RMID when the owner goes out of
// scope (move-only; Release() keeps the object).
class ScopedSysV {
 public:
  ScopedSysV() = default;
  ScopedSysV(SysVKind kind, key_t key, int id) : kind_(kind), key_(key), id_(id) {}
  ScopedSysV(ScopedSysV&& other) noexcept;
  ScopedSysV& operator=(ScopedSysV&& other) noexcept;
  ScopedSysV(const ScopedSysV&) = delete;
  ScopedSysV& operator=(const ScopedSysV&) = delete;
  ~ScopedSysV();

  SysVKind kind() const { return kind_; }
  key_t key() const { return key_; }
  int id() const { return id_; }
  bool Valid() const { return id_ >= 0; }
  // Removes it now (msgctl/shmctl/semctl IPC_RMID); throws SysError on failure.
  void Remove();
  // Gives up ownership: the object stays until removed or its namespace dies.
  int Release();

 private:
  SysVKind kind_ = SysVKind::kMsg;
  key_t key_ = 0;
  int id_ = -1;
};

// msgget/shmget/semget(key, IPC_CREAT | IPC_EXCL | 0600). IPC_EXCL makes the point of
// the lab: the call fails with EEXIST when *this namespace* already has the key.
ScopedSysV CreateSysVQueue(key_t key);
ScopedSysV CreateSysVShm(key_t key, size_t size = 4096);
ScopedSysV CreateSysVSem(key_t key, int nsems = 1);

// A key for this run's demo objects: "NS" in the high bytes, our pid below, so that
// parallel runs do not collide (0x4e53xxxx).
key_t DemoKey(pid_t pid);

// One row of /proc/sysvipc/{msg,shm,sem}.
struct SysVObject {
  SysVKind kind;
  key_t key;
  int id;
  unsigned perms;  // octal mode bits, as ipcs prints them
  uid_t uid;
};
// Every object in the caller's IPC namespace (what `ipcs` shows), read from
// /proc/sysvipc. `proc` lets a child whose /proc is elsewhere point at it.
std::vector<SysVObject> ListSysV(const std::string& proc = "/proc");
// Parses the text of one /proc/sysvipc file (its header line is skipped).
std::vector<SysVObject> ParseSysV(SysVKind kind, const std::string& text);
// Is an object of this kind and key in the list?
bool Contains(const std::vector<SysVObject>& objects, SysVKind kind, key_t key);
// Table rows for narrate::Table({"kind", "key", "id", "perms", "uid"}, ...).
std::vector<narrate::Row> Rows(const std::vector<SysVObject>& objects);
// "0x4e531234".
std::string KeyToString(key_t key);

// Runs in the child, in new IPC and mount namespaces: mounts a fresh mqueue
// filesystem on `target` (created if missing). The mount shows the queues of the IPC
// namespace the mounting process is in — the host's /dev/mqueue would show the
// host's. Lives as long as the mount namespace.
void MountMqueueInChild(const std::string& target);

// A POSIX message queue (mq_open O_CREAT|O_EXCL), closed and mq_unlink'ed on scope
// exit. `name` starts with '/'.
class ScopedMqueue {
 public:
  ScopedMqueue() = default;
  ScopedMqueue(std::string name, mqd_t mqd) : name_(std::move(name)), mqd_(mqd) {}
  ScopedMqueue(ScopedMqueue&& other) noexcept;
  ScopedMqueue& operator=(ScopedMqueue&& other) noexcept;
  ScopedMqueue(const ScopedMqueue&) = delete;
  ScopedMqueue& operator=(const ScopedMqueue&) = delete;
  ~ScopedMqueue();

  const std::string& name() const { return name_; }
  mqd_t Get() const { return mqd_; }
  bool Valid() const { return mqd_ != static_cast<mqd_t>(-1); }
  // Keeps the queue (closes our descriptor only).
  std::string Release();

 private:
  std::string name_;
  mqd_t mqd_ = static_cast<mqd_t>(-1);
};
ScopedMqueue CreatePosixQueue(const std::string& name);
// Names of the queues visible in an mqueue mount ("/nslab"), sorted.
std::vector<std::string> ListPosixQueues(const std::string& mqueue_mount);

// --- The IPC demo of labs 07-10 ---

// The host and the sandbox each make a message queue, a shared memory segment and
// a semaphore set under a key of their own (host: DemoKey(lab pid); sandbox: that
// key + 0x10000), and each looks for the other's. The lab itself waits in Go()
// while the child runs, so a helper forked on the host looks for it while the
// sandbox still holds its objects — what `ipcs` typed in another terminal would
// show. Two pipes order them: the sandbox tells the observer it has made its
// objects (`made`), then waits until the observer has looked (`looked` reaches EOF).
//
//   ipc::Demo demo(getpid());           // its pipes; its objects go with it
//   demo.MakeHostObjects();             // before the clone
//   ... in the child, last:  demo.ShowInChild();
//   demo.StartHostObserver();           // in the parent, right after the clone
//   child.Wait(); demo.FinishFromParent();
class Demo {
 public:
  explicit Demo(pid_t lab_pid);
  // The labs' one line before the clone: with run, MakeHostObjects() and the observer
  // forked at once (it keeps waiting for the sandbox); FinishFromParent() after the
  // child is reaped. Without run, nothing happens and FinishFromParent() does nothing.
  Demo(pid_t lab_pid, bool run);
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;
  ~Demo();  // reaps the observer, if it was started and not yet waited for

  key_t host_key() const { return host_key_; }
  key_t sandbox_key() const { return sandbox_key_; }

  // In the host: its own three objects, removed when the Demo goes out of scope.
  void MakeHostObjects();
  // Run by the child in its new IPC (and mount) namespace: the host's key is not in
  // its tables; it makes its own objects (left for the kernel to free when the
  // namespace dies) and a POSIX queue in a fresh mqueue mount at /dev/mqueue, lets
  // the observer look, and returns once it has.
  void ShowInChild();
  // In the parent right after the clone: forks the observer, which waits until the
  // sandbox has made its objects, then lists the host's tables for both keys.
  // Closes the parent's ends of the pipes either way.
  void StartHostObserver();
  // In the parent after the child is reaped: waits for the observer and shows that
  // the sandbox's objects died with its IPC namespace. Nothing when never started.
  void FinishFromParent();

 private:
  key_t host_key_;
  key_t sandbox_key_;
  std::vector<ScopedSysV> host_objects_;
  Pipe made_, looked_;  // child -> observer -> child
  pid_t observer_ = -1;
  bool started_ = false;
  void ForkObserver();
};

}  // namespace nslab::ipc

#endif  // NSLAB_COMMON_IPC_H_
