// Unit test of common/nsowner: the ioctl_ns(2) answers checked against stat(2) of the
// /proc/PID/ns links, on a forked child that unshares a user and a UTS namespace (so
// that its uts namespace is owned by its new user namespace, whose parent is ours and
// whose owner uid is our euid); the tree names them so; bad fds are refused, naming
// the request. Runs in Bazel's sandbox: a user namespace may be made inside one.
#include "common/nsowner.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/error.h"

namespace nslab {
namespace {

ino_t StatIno(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

// A child in a new user + UTS namespace, blocked until destroyed.
class Unshared {
 public:
  Unshared() {
    int ready[2], hold[2];
    if (pipe(ready) != 0 || pipe(hold) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      close(hold[1]);
      char c = unshare(CLONE_NEWUSER | CLONE_NEWUTS) == 0 ? 'y' : 'n';
      if (write(ready[1], &c, 1) != 1) _exit(1);
      (void)!read(hold[0], &c, 1);  // until the test closes its end
      _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    hold_ = hold[1];
    char c = 'n';
    ok_ = read(ready[0], &c, 1) == 1 && c == 'y';
    close(ready[0]);
  }
  ~Unshared() {
    if (hold_ >= 0) close(hold_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  bool ok() const { return ok_; }

 private:
  pid_t pid_ = -1;
  int hold_ = -1;
  bool ok_ = false;
};

TEST(NsownerTest, InodesAndTypesMatchTheProcLinks) {
  for (const std::string kind : {"user", "uts", "pid", "mnt", "net", "ipc"}) {
    UniqueFd fd = nsowner::OpenNs(getpid(), kind);
    EXPECT_EQ(nsowner::Type(fd.Get()), kind);
    EXPECT_EQ(nsowner::Inode(fd.Get()), StatIno("/proc/self/ns/" + kind)) << kind;
  }
}

TEST(NsownerTest, AChildsNewUserNamespaceOwnsItsUts) {
  Unshared child;
  ASSERT_TRUE(child.ok()) << "unshare(CLONE_NEWUSER|CLONE_NEWUTS) failed in the child";
  const std::string dir = "/proc/" + std::to_string(child.pid()) + "/ns/";
  const ino_t theirs = StatIno(dir + "user"), ours = StatIno("/proc/self/ns/user");
  ASSERT_NE(theirs, ours);
  UniqueFd uts = nsowner::OpenNs(child.pid(), "uts");
  EXPECT_EQ(nsowner::Inode(nsowner::Owner(uts.Get()).Get()), theirs);
  // Its pid namespace is still ours, owned by our user namespace.
  UniqueFd pid = nsowner::OpenNs(child.pid(), "pid");
  EXPECT_EQ(nsowner::Inode(pid.Get()), StatIno("/proc/self/ns/pid"));
  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  try {
    nsowner::Owner(null.Get());
    ADD_FAILURE() << "no error";
  } catch (const SysError& e) {
    EXPECT_EQ(e.arg(), "NS_GET_USERNS");
    EXPECT_EQ(e.err(), ENOTTY);
  }
}

TEST(NsownerTest, AChildsNewUserNamespaceHasOursAsParentAndOurUid) {
  Unshared child;
  ASSERT_TRUE(child.ok()) << "unshare(CLONE_NEWUSER|CLONE_NEWUTS) failed in the child";
  const ino_t ours = StatIno("/proc/self/ns/user");
  UniqueFd user = nsowner::OpenNs(child.pid(), "user");
  UniqueFd parent = nsowner::Parent(user.Get());
  ASSERT_TRUE(parent.Valid());
  EXPECT_EQ(nsowner::Inode(parent.Get()), ours);
  // On a user namespace NS_GET_USERNS is its parent too.
  EXPECT_EQ(nsowner::Inode(nsowner::Owner(user.Get()).Get()), ours);
  EXPECT_EQ(nsowner::OwnerUid(user.Get()), geteuid());
}

TEST(NsownerTest, OurUserNamespaceIsTheTopWeCanSee) {
  UniqueFd user = nsowner::OpenNs(getpid(), "user");
  EXPECT_FALSE(nsowner::Parent(user.Get()).Valid());
}

TEST(NsownerTest, CollectAndTreeNameOwnerAndParent) {
  Unshared child;
  ASSERT_TRUE(child.ok());
  const std::string dir = "/proc/" + std::to_string(child.pid()) + "/ns/";
  auto nss = nsowner::Collect({getpid(), child.pid()});
  const std::string theirs = nsowner::Name("user", StatIno(dir + "user"));
  const std::string ours = nsowner::Name("user", StatIno("/proc/self/ns/user"));
  const std::string uts = nsowner::Name("uts", StatIno(dir + "uts"));
  ASSERT_TRUE(nss.count(theirs) && nss.count(ours) && nss.count(uts));
  EXPECT_EQ(nss[theirs].owner, StatIno("/proc/self/ns/user"));
  EXPECT_EQ(nss[ours].owner, 0u);
  EXPECT_EQ(nss[uts].owner, StatIno(dir + "user"));
  EXPECT_EQ(nss[uts].pids, std::vector<pid_t>{child.pid()});
  EXPECT_EQ(nss[theirs].owner_uid, geteuid());
  const std::string tree = nsowner::RenderTree(nss);
  const std::string p = std::to_string(child.pid());
  // Ours at the top, theirs one level down, their uts under theirs.
  EXPECT_NE(tree.find(ours + " owner uid "), std::string::npos) << tree;
  EXPECT_NE(tree.find("\n  " + theirs + " owner uid " + std::to_string(geteuid()) +
                      " (pid " + p + ")\n    owns " + uts + " (pid " + p + ")\n"),
            std::string::npos)
      << tree;
}

TEST(NsownerTest, RefusesWhatIsNotANamespace) {
  try {
    nsowner::OpenNs(2147483647, "user");
    ADD_FAILURE() << "no error";
  } catch (const SysError& e) {
    EXPECT_EQ(e.call(), "open");
    EXPECT_EQ(e.arg(), "/proc/2147483647/ns/user");
  }
  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(null.Valid());
  EXPECT_THROW(nsowner::Type(null.Get()), SysError);
  EXPECT_THROW(nsowner::Parent(null.Get()), SysError);
  EXPECT_THROW(nsowner::OwnerUid(null.Get()), SysError);
}

}  // namespace
}  // namespace nslab
