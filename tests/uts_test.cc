// Unit tests for common/uts: hostname validation, and sethostname in a new UTS
// namespace leaving ours alone.
#include "common/uts.h"

#include <sched.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/process.h"

namespace nslab {
namespace {

TEST(UtsTest, AcceptsOrdinaryNames) {
  EXPECT_NO_THROW(uts::ValidateHostname("nslab"));
  EXPECT_NO_THROW(uts::ValidateHostname("web-1.example.org"));
  EXPECT_NO_THROW(uts::ValidateHostname(std::string(64, 'a')));
}

TEST(UtsTest, RefusesEmptyLongAndOddNames) {
  EXPECT_THROW(uts::ValidateHostname(""), UsageError);
  EXPECT_THROW(uts::ValidateHostname(std::string(65, 'a')), UsageError);
  EXPECT_THROW(uts::ValidateHostname("has space"), UsageError);
  EXPECT_THROW(uts::ValidateHostname("a/b"), UsageError);
  EXPECT_THROW(uts::ValidateHostname("-lead"), UsageError);
  EXPECT_THROW(uts::ValidateHostname("a..b"), UsageError);
  EXPECT_THROW(uts::ValidateHostname("trail."), UsageError);
}

TEST(UtsTest, MessageNamesTheProblem) {
  try {
    uts::ValidateHostname(std::string(70, 'x'));
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("70 bytes"), std::string::npos) << e.what();
  }
}

TEST(UtsTest, SetsHostnameInNewNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string before = uts::Hostname();
  process::Child child = process::Clone({CLONE_NEWUTS}, [] {
    uts::SetHostnameInChild("uts-test-inner");
    return uts::Hostname() == "uts-test-inner" ? 0 : 1;
  });
  child.Go();
  EXPECT_EQ(child.Wait().ShellCode(), 0);
  EXPECT_EQ(uts::Hostname(), before);
}

}  // namespace
}  // namespace nslab
