// error_test — the one error type: its message format, errno, context and exit codes.
#include "common/error.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace nslab {
namespace {

TEST(SysErrorTest, MessageNamesCallArgumentStrerrorAndHint) {
  SysError e(EINVAL, "pivot_root", "/run/nslab/x/rootfs", "make / private");
  EXPECT_STREQ(e.what(), (std::string("pivot_root \"/run/nslab/x/rootfs\": ") +
                          std::strerror(EINVAL) + " (hint: make / private)")
                             .c_str());
  EXPECT_EQ(e.err(), EINVAL);
  EXPECT_EQ(e.call(), "pivot_root");
  EXPECT_EQ(e.arg(), "/run/nslab/x/rootfs");
  EXPECT_EQ(e.hint(), "make / private");
}

TEST(SysErrorTest, NoArgumentAndNoHintLeaveThemOut) {
  SysError e(EAGAIN, "fork", "");
  EXPECT_EQ(std::string(e.what()), std::string("fork: ") + std::strerror(EAGAIN));
}

TEST(CheckTest, ReturnsTheValueOnSuccess) {
  EXPECT_EQ(Check(7, "read", "x"), 7);
  EXPECT_EQ(Check(0, "close"), 0);
  EXPECT_EQ(Check(static_cast<ssize_t>(4096), "write"), 4096);
  int x = 0;
  EXPECT_EQ(CheckPtr(&x, "opendir"), &x);
}

TEST(CheckTest, ThrowsSysErrorWithTheSavedErrno) {
  const std::string path = "/nonexistent-nslab/file";
  try {
    Check(open(path.c_str(), O_RDONLY | O_CLOEXEC), "open", path);
    FAIL() << "no exception";
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_EQ(std::string(e.what()),
              "open \"/nonexistent-nslab/file\": " + std::string(std::strerror(ENOENT)));
  }
}

TEST(CheckTest, AddsTheHintForTheCall) {
  errno = EPERM;
  try {
    Check(-1, "unshare", "CLONE_NEWUTS");
    FAIL() << "no exception";
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), EPERM);
    EXPECT_EQ(e.hint(), HintFor("unshare", EPERM));
    EXPECT_NE(std::string(e.what()).find("(hint: "), std::string::npos) << e.what();
  }
}

TEST(CheckTest, CheckPtrThrowsOnNull) {
  errno = ENOMEM;
  EXPECT_THROW(CheckPtr(static_cast<int*>(nullptr), "malloc"), SysError);
}

TEST(CheckErrnoTest, TakesPositiveAndNegativeErrnos) {
  EXPECT_NO_THROW(CheckErrno(0, "pthread_create"));
  try {
    CheckErrno(EBUSY, "pthread_mutex_trylock");
    FAIL();
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), EBUSY);
  }
  try {
    CheckErrno(-ENOENT, "rtnl_link_get_kernel", "veth0");  // libnl style
    FAIL();
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_EQ(e.arg(), "veth0");
  }
}

TEST(RethrowTest, AddsContextAndKeepsSysErrorAndErrno) {
  try {
    try {
      throw SysError(EBUSY, "umount2", "/mnt", "something uses it");
    } catch (...) {
      Rethrow("tearing down");
    }
    FAIL();
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), EBUSY);
    EXPECT_EQ(e.call(), "umount2");
    EXPECT_EQ(std::string(e.what()), "tearing down: umount2 \"/mnt\": " +
                                         std::string(std::strerror(EBUSY)) +
                                         " (hint: something uses it)");
  }
}

TEST(RethrowTest, KeepsExitCode) {
  try {
    try {
      throw ExitCodeError(127, "sh: not found");
    } catch (...) {
      Rethrow("starting the container");
    }
    FAIL();
  } catch (const ExitCodeError& e) {
    EXPECT_EQ(e.exit_code(), 127);
    EXPECT_EQ(std::string(e.what()), "starting the container: sh: not found");
  }
}

TEST(RethrowTest, KeepsUsageErrorAndOtherExceptions) {
  EXPECT_THROW(
      {
        try {
          throw UsageError("--memory needs a size");
        } catch (...) {
          Rethrow("parsing");
        }
      },
      UsageError);
  try {
    try {
      throw std::runtime_error("plain");
    } catch (...) {
      Rethrow("ctx");
    }
  } catch (const SysError&) {
    FAIL() << "became a SysError";
  } catch (const std::exception& e) {
    EXPECT_EQ(std::string(e.what()), "ctx: plain");
  }
}

TEST(HintForTest, PivotRootEinvalExplainsPropagationAndMountPoint) {
  std::string h = HintFor("pivot_root", EINVAL);
  EXPECT_NE(h.find("mount point"), std::string::npos) << h;
  EXPECT_NE(h.find("private"), std::string::npos) << h;
}

TEST(HintForTest, EpermSaysRoot) {
  for (const char* call : {"clone", "unshare", "setns", "mount", "pivot_root", "open"}) {
    std::string h = HintFor(call, EPERM);
    EXPECT_NE(h.find("sudo"), std::string::npos) << call << ": " << h;
  }
  EXPECT_NE(HintFor("clone", EPERM).find("namespaces"), std::string::npos);
}

TEST(HintForTest, NoHintWhereNoneHelps) {
  EXPECT_EQ(HintFor("read", EINVAL), "");
  EXPECT_EQ(HintFor("open", ENOENT), "");
  EXPECT_EQ(HintFor("anything", 0), "");
}

// The errnos with several documented causes name the doc section explaining them.
TEST(HintForDocsTest, ConfusingErrnosNameTheirLabPitfalls) {
  const struct {
    const char* call;
    int err;
    const char* arg;
    const char* doc;
  } cases[] = {
      {"pivot_root", EINVAL, "/run/nslab/x/rootfs", "docs/06_mount.md#pitfalls"},
      {"clone", EPERM, "CLONE_NEWUSER|CLONE_NEWUTS|SIGCHLD", "docs/09_user.md#pitfalls"},
      {"unshare", EPERM, "CLONE_NEWUSER", "docs/09_user.md#pitfalls"},
      {"umount2", EBUSY, "/mnt", "docs/06_mount.md#pitfalls"},
      {"mount", ENOSPC, "/mnt", "docs/06_mount.md#pitfalls"},
  };
  for (const auto& c : cases) {
    std::string h = HintFor(c.call, c.err, c.arg);
    EXPECT_NE(h.find(c.doc), std::string::npos) << c.call << ": " << h;
    EXPECT_EQ(h.find('\n'), std::string::npos) << "one line: " << h;
  }
  // EPERM from clone *with* CLONE_NEWUSER is the host's policy, not missing root.
  EXPECT_NE(HintFor("clone", EPERM, "CLONE_NEWUSER").find("unprivileged_userns_clone"),
            std::string::npos);
  EXPECT_EQ(HintFor("clone", EPERM, "CLONE_NEWUTS").find("docs/09_user.md"),
            std::string::npos);
  EXPECT_NE(HintFor("mount", ENOSPC).find("mount-max"), std::string::npos);
}

TEST(HintForDocsTest, CheckPassesTheArgumentToTheHint) {
  try {
    errno = EPERM;
    Check(-1, "clone", "CLONE_NEWUSER|SIGCHLD");
    FAIL() << "no throw";
  } catch (const SysError& e) {
    EXPECT_NE(std::string(e.what()).find("docs/09_user.md#pitfalls"), std::string::npos)
        << e.what();
  }
}

TEST(ReportErrorTest, PrintsOneLineAndReturnsTheExitCode) {
  SetProgramName("04_uts");
  testing::internal::CaptureStderr();
  int code = ReportError(ExitCodeError(126, "execvp \"/etc/passwd\": Permission denied"));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 126);
  EXPECT_EQ(err, "04_uts: execvp \"/etc/passwd\": Permission denied\n");
  EXPECT_EQ(ProgramName(), "04_uts");
}

TEST(ReportErrorTest, OtherErrorsGetTheFallback) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(ReportError(SysError(EPERM, "mount", "proc")), 1);
  EXPECT_EQ(ReportError(std::runtime_error("x"), 125), 125);
  EXPECT_EQ(ReportError(UsageError("bad"), 2), 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 3) << err;
}

}  // namespace
}  // namespace nslab
