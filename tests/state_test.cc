// state — records round-trip, ids and names are checked, status follows reality,
// names are unique, locks exclude each other.
#include "common/state.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>

#include "common/error.h"

namespace nslab {
namespace {

// Each test gets a state directory of its own.
class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base_ = std::string(tmp ? tmp : "/tmp") + "/state-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    setenv("NSLAB_STATE_DIR", base_.c_str(), 1);
  }
  void TearDown() override {
    for (const auto& r : state::List()) state::RemoveDir(r.id);
    rmdir(base_.c_str());
    unsetenv("NSLAB_STATE_DIR");
  }
  state::Record NewRecord(const std::string& name) {
    state::Record r;
    r.id = state::NewId();
    r.name = name;
    r.command = {"sh", "-c", "echo a\nb \\ c"};
    r.created = state::Now();
    return r;
  }
  std::string base_;
};

TEST_F(StateTest, BaseComesFromTheEnvironment) {
  EXPECT_EQ(state::Base(), base_);
  EXPECT_EQ(state::Dir("0123456789ab"), base_ + "/0123456789ab");
}

TEST_F(StateTest, RecordRoundTripsThroughText) {
  state::Record r = NewRecord("web");
  r.cgroups = {"/sys/fs/cgroup/pids/a", "/sys/fs/cgroup/memory/x/a"};
  r.cap_add = {"NET_ADMIN", "SYS_TIME"};
  r.tty = r.remove = true;
  r.pid = 42;
  r.pid_start = 123456789012ULL;
  r.exit_code = 137;
  r.exited = true;
  r.error = "line one\nline two";
  state::Record back = state::Parse(state::Format(r));
  EXPECT_EQ(back.id, r.id);
  EXPECT_EQ(back.name, "web");
  EXPECT_EQ(back.command, r.command);
  EXPECT_EQ(back.cgroups, r.cgroups);
  EXPECT_EQ(back.cap_add, r.cap_add);
  EXPECT_TRUE(back.cap_drop.empty());
  EXPECT_TRUE(back.tty);
  EXPECT_TRUE(back.remove);
  EXPECT_FALSE(back.interactive);
  EXPECT_EQ(back.pid, 42);
  EXPECT_EQ(back.pid_start, 123456789012ULL);
  EXPECT_EQ(back.exit_code, 137);
  EXPECT_TRUE(back.exited);
  EXPECT_EQ(back.error, r.error);
}

TEST_F(StateTest, IdsAreTwelveHexDigitsAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = state::NewId();
    EXPECT_NO_THROW(state::ValidateId(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST_F(StateTest, BadIdsAndNamesAreRefused) {
  for (const char* id :
       {"", ".", "..", "a b", "a/b", "0123456789AB", "0123456789a", "../../etc/xx"})
    EXPECT_THROW(state::ValidateId(id), UsageError) << id;
  for (const char* name : {"", ".", "..", "a b", "a/b", "-x", "_x"})
    EXPECT_THROW(state::ValidateName(name), UsageError) << name;
  EXPECT_THROW(state::ValidateName(std::string(64, 'a')), UsageError);
  for (const char* name : {"web", "Web-1", "a.b_c", "0"})
    EXPECT_NO_THROW(state::ValidateName(name)) << name;
}

TEST_F(StateTest, SaveLoadListAndResolve) {
  state::Record a = NewRecord("alpha");
  state::Record b = NewRecord("beta");
  b.created = a.created + 1;
  state::CreateDir(a);
  state::CreateDir(b);
  struct stat st;
  ASSERT_EQ(stat(state::Dir(a.id).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto all = state::List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, a.id);  // oldest first
  EXPECT_EQ(all[1].id, b.id);

  EXPECT_EQ(state::Resolve("alpha"), a.id);
  EXPECT_EQ(state::Resolve(b.id), b.id);
  if (a.id.substr(0, 3) != b.id.substr(0, 3)) {
    EXPECT_EQ(state::Resolve(a.id.substr(0, 3)), a.id);
  }
  try {
    state::Resolve("nosuch");
    FAIL() << "resolved an unknown name";
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 125);
    EXPECT_NE(std::string(e.what()).find("no such container"), std::string::npos);
  }
  EXPECT_THROW(state::Resolve(""), ExitCodeError);

  a.exit_code = 3;
  state::Save(a);
  EXPECT_EQ(state::Load(a.id).exit_code, 3);
  // No temporary file is left beside the record.
  EXPECT_EQ(access((state::Dir(a.id) + "/.state.tmp." + std::to_string(getpid())).c_str(), F_OK),
            -1);
}

TEST_F(StateTest, AmbiguousPrefixIsAnError) {
  state::Record a = NewRecord("");
  state::Record b = NewRecord("");
  a.id = "aaaaaaaaaaa1";
  b.id = "aaaaaaaaaaa2";
  a.name = a.id;
  b.name = b.id;
  state::CreateDir(a);
  state::CreateDir(b);
  EXPECT_THROW(state::Resolve("aaa"), ExitCodeError);
  EXPECT_EQ(state::Resolve("aaaaaaaaaaa2"), b.id);
}

TEST_F(StateTest, NamesAreUnique) {
  state::Record a = NewRecord("same");
  state::CreateDir(a);
  state::Record b = NewRecord("same");
  EXPECT_THROW(state::CreateDir(b), UsageError);
  EXPECT_EQ(access(state::Dir(b.id).c_str(), F_OK), -1);  // nothing created
}

TEST_F(StateTest, LoadOfAMissingContainerIs125) {
  try {
    state::Load("0123456789ab");
    FAIL();
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 125);
  }
}

TEST_F(StateTest, StatusIsCheckedAgainstProcesses) {
  state::Record r = NewRecord("s");
  EXPECT_EQ(state::Status(r), state::kCreated);  // nothing started yet
  r.creator_pid = getpid();
  r.creator_start = state::StartTime(getpid());
  EXPECT_EQ(state::Status(r), state::kCreated);  // its creator is still at work
  r.creator_start += 1;
  EXPECT_EQ(state::Status(r), state::kUnknown);  // ...or is gone: never "created" forever

  // A live "init" and "shim": this test process.
  r.pid = r.shim_pid = getpid();
  r.pid_start = r.shim_start = state::StartTime(getpid());
  ASSERT_NE(r.pid_start, 0u);
  EXPECT_EQ(state::Status(r), state::kRunning);

  // Same pid, another start time: a reused pid is not our init.
  r.pid_start += 1;
  r.shim_start += 1;
  EXPECT_EQ(state::Status(r), state::kUnknown);

  // A dead process (reaped child).
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  r.pid = r.shim_pid = child;
  r.pid_start = r.shim_start = 1;
  EXPECT_EQ(state::Status(r), state::kUnknown);

  r.exited = true;
  r.exit_code = 137;
  r.finished = state::Now();
  EXPECT_EQ(state::Status(r), state::kExited);
  EXPECT_EQ(state::StatusDetail(r).rfind("exited (137)", 0), 0u) << state::StatusDetail(r);
}

TEST_F(StateTest, AZombieIsNotAlive) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  // Wait until it is a zombie without reaping it.
  siginfo_t si;
  waitid(P_PID, child, &si, WEXITED | WNOWAIT);
  EXPECT_FALSE(state::Alive(child, 0));
  waitpid(child, nullptr, 0);
}

TEST_F(StateTest, ExclusiveLockExcludesOthers) {
  state::Record r = NewRecord("lock");
  state::CreateDir(r);
  state::Lock lock = state::Lock::Exclusive(state::Dir(r.id));
  ASSERT_TRUE(lock.Held());
  int fd = open(state::Dir(r.id).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(flock(fd, LOCK_EX | LOCK_NB), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  lock.Unlock();
  EXPECT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  close(fd);
}

TEST_F(StateTest, LockOnAMissingContainerIs125) {
  EXPECT_THROW(state::Lock::Exclusive(state::Dir("0123456789ab")), ExitCodeError);
}

TEST_F(StateTest, RemoveDirRemovesEverything) {
  state::Record r = NewRecord("rm");
  state::CreateDir(r);
  const std::string d = state::Dir(r.id);
  ASSERT_EQ(mkdir((d + "/upper").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((d + "/work").c_str(), 0), 0);  // overlay leaves work/work mode 000
  int fd = open((d + "/upper/file").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  close(fd);
  state::RemoveDir(r.id);
  EXPECT_EQ(access(d.c_str(), F_OK), -1);
  EXPECT_NO_THROW(state::RemoveDir(r.id));  // already gone: fine
  EXPECT_THROW(state::RemoveDir(".."), UsageError);
}

TEST(StateTimeTest, FormatsTimes) {
  EXPECT_EQ(state::FormatTime(0), "-");
  EXPECT_EQ(state::FormatTime(86400), "1970-01-02 00:00:00");
  EXPECT_EQ(state::Ago(state::Now()), "0 seconds ago");
  EXPECT_EQ(state::Ago(state::Now() - 120), "2 minutes ago");
}

}  // namespace
}  // namespace nslab
