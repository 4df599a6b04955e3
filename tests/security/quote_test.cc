// quote_test — common/error's one quoting function: user text in a message never
// carries a control character (issue 13: `run --name $'a\nname=evil'` printed a raw
// newline and ran over two lines).
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"

namespace nslab {
namespace {

TEST(QuoteTest, EscapesControlCharactersQuotesAndBackslashes) {
  EXPECT_EQ(Quote("plain name"), "\"plain name\"");
  EXPECT_EQ(Quote(""), "\"\"");
  EXPECT_EQ(Quote("a\nname=evil"), "\"a\\nname=evil\"");
  EXPECT_EQ(Quote("t\tr\r"), "\"t\\tr\\r\"");
  EXPECT_EQ(Quote("\x1b[31m"), "\"\\x1b[31m\"");
  EXPECT_EQ(Quote(std::string("nul\0x", 5)), "\"nul\\x00x\"");
  EXPECT_EQ(Quote("\x7f"), "\"\\x7f\"");
  EXPECT_EQ(Quote("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
  EXPECT_EQ(Quote("héllo"), "\"héllo\"") << "UTF-8 passes through";
}

TEST(QuoteTest, SysErrorQuotesItsArgument) {
  SysError e(ENOENT, "open", "/tmp/a\nb");
  EXPECT_EQ(std::string(e.what()), "open \"/tmp/a\\nb\": No such file or directory");
}

TEST(QuoteTest, ReportErrorPrintsOneLineWhateverTheMessage) {
  testing::internal::CaptureStderr();
  ReportError(UsageError("unquoted\nsecond line\x1b[2J"));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
  EXPECT_EQ(err.find('\x1b'), std::string::npos) << err;
  EXPECT_NE(err.find("unquoted\\nsecond line\\x1b[2J"), std::string::npos) << err;
}

}  // namespace
}  // namespace nslab
