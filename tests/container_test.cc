// container — the engine's checks before anything is created, and the lifecycle
// calls on containers that are not running. (Running containers: lab_11_test.)
#include "common/container.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/error.h"
#include "common/state.h"

namespace nslab {
namespace {

class ContainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base_ = std::string(tmp ? tmp : "/tmp") + "/ctr-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    setenv("NSLAB_STATE_DIR", (base_ + "/run").c_str(), 1);
    setenv("NSLAB_IMAGE_DIR", (base_ + "/lib").c_str(), 1);
  }
  void TearDown() override {
    for (const auto& r : state::List()) container::Delete(r.id, true);
    unsetenv("NSLAB_STATE_DIR");
    unsetenv("NSLAB_IMAGE_DIR");
  }
  int Containers() { return static_cast<int>(state::List().size()); }
  std::string base_;
};

TEST_F(ContainerTest, BadInputIsRefusedBeforeAnythingExists) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  auto refused = [&](auto mutate) {
    container::Spec s;
    s.detach = true;
    mutate(s);
    EXPECT_ANY_THROW(container::Prepare(s));
  };
  refused([](container::Spec& s) { s.net = "host"; });
  refused([](container::Spec& s) { s.hostname = std::string(65, 'h'); });
  refused([](container::Spec& s) { s.hostname = "bad name"; });
  refused([](container::Spec& s) { s.name = "a/b"; });
  refused([](container::Spec& s) { s.memory = "banana"; });
  refused([](container::Spec& s) { s.memory = "-1"; });
  refused([](container::Spec& s) { s.pids = "0"; });
  refused([](container::Spec& s) { s.cpus = "abc"; });
  refused([](container::Spec& s) { s.security.cap_add = {"NOT_A_CAP"}; });
  refused([](container::Spec& s) { s.rootfs_dir = "/nonexistent/rootfs"; });
  EXPECT_EQ(Containers(), 0);
}

TEST_F(ContainerTest, UnknownImageIs125AndMissingCommandIs127) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  container::Spec s;
  s.image = "nosuch";
  try {
    container::Prepare(s);
    FAIL();
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 125);
  }
  s.image = "busybox";
  s.command = {"no-such-command"};
  try {
    container::Prepare(s);
    FAIL();
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 127);
  }
  EXPECT_EQ(Containers(), 0);
}

TEST_F(ContainerTest, PrepareWritesARecordWithDefaults) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  container::Spec s;
  s.detach = true;
  s.memory = "64M";
  state::Record r = container::Prepare(s);
  EXPECT_NO_THROW(state::ValidateId(r.id));
  EXPECT_EQ(r.name, r.id);
  EXPECT_EQ(r.hostname, r.id);
  EXPECT_EQ(r.command, std::vector<std::string>{"sh"});
  EXPECT_EQ(r.image, "busybox");
  EXPECT_EQ(r.net, "bridge");
  EXPECT_NE(r.limits.find("64M"), std::string::npos) << r.limits;
  for (const char* sub : {"/rootfs", "/upper", "/work"}) {
    struct stat st;
    EXPECT_EQ(stat((state::Dir(r.id) + sub).c_str(), &st), 0) << sub;
  }
  EXPECT_EQ(state::Status(state::Load(r.id)), state::kCreated);

  // The name is taken now.
  container::Spec dup;
  dup.name = "unique-one";
  container::Prepare(dup);
  EXPECT_THROW(container::Prepare(dup), UsageError);
  EXPECT_EQ(Containers(), 2);
}

TEST_F(ContainerTest, NothingRunsInAContainerThatWasNeverStarted) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  state::Record r = container::Prepare(container::Spec{});
  try {
    container::Exec(r.id, {"ps"}, {});
    FAIL();
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 125);
    EXPECT_NE(std::string(e.what()).find("not running"), std::string::npos);
  }
  EXPECT_THROW(container::Signal(r.id, SIGTERM), ExitCodeError);
  EXPECT_THROW(container::InitPid(r.id), ExitCodeError);
  EXPECT_NO_THROW(container::Stop(r.id, 0));  // stopped already: fine
  container::Delete(r.id, false);             // nothing runs: no -f needed
  EXPECT_EQ(access(state::Dir(r.id).c_str(), F_OK), -1);
  EXPECT_THROW(container::Delete(r.id, true), ExitCodeError);  // gone: no such container
}

TEST_F(ContainerTest, DescribeNamesTheEssentials) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  container::Spec s;
  s.name = "described";
  s.net = "none";
  s.command = {"sleep", "5"};
  state::Record r = container::Prepare(s);
  std::string text;
  for (const auto& l : container::Describe(r)) text += l + "\n";
  for (const std::string& want :
       {"id: " + r.id, std::string("name: described"), std::string("command: sleep 5"),
        std::string("network: none"), std::string("status: created")})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
}

}  // namespace
}  // namespace nslab
