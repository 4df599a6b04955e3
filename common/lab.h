// lab — what every lab main shares: the flags every lab has, the command after
// `--`, the single place errors are printed, the root check, and paths given
// relative to where the user ran `bazel run`.
//
//   int main(int argc, char** argv) {
//     lab::Options opt;
//     CLI::App app{"04_uts: a new UTS namespace"};
//     lab::AddCommonFlags(app, opt);
//     return lab::Main("04_uts", app, argc, argv, opt, [&] { ... return code; });
//   }
#ifndef NSLAB_COMMON_LAB_H_
#define NSLAB_COMMON_LAB_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nslab::lab {

struct Options {
  bool verbose = false;
  std::vector<std::string> command;  // empty: run the narrated demo
  bool Demo() const { return command.empty(); }
};

// -v/--verbose and the trailing `-- CMD ARGS...` (the `--` may be left out: the first
// word that is not a flag of the lab starts the command). A `--` as the very first
// argument is dropped (Parse), so `04_uts -- -v hostname` is `04_uts -v hostname`,
// as under `bazel run //labs:04_uts -- -v hostname`, which strips it itself.
void AddCommonFlags(CLI::App& app, Options& opt);

// Parses argv with CLI11: returns the exit code when parsing ends the program
// (--help: 0; a bad flag: one line on stderr and `bad_flag_code`), else nothing.
std::optional<int> Parse(CLI::App& app, int argc, char** argv, int bad_flag_code);

// Parses argv, configures narration, runs body and returns its exit code. Any
// exception is printed once as "<name>: <message>" and becomes the exit code it
// carries (ExitCodeError), else 125: a usage error and a failed setup alike (Docker's
// rule: 125 is the tool's own failure, the command never ran; docs/README.md).
int Main(std::string_view name, CLI::App& app, int argc, char** argv, Options& opt,
         const std::function<int()>& body);

// Fails at once, with one line, when not running as root (euid 0). `what` names
// what needs it: "creating a UTS namespace".
void RequireRoot(std::string_view what);

// Under `bazel run` the program starts in the runfiles tree; a relative path the
// user typed is meant relative to where they typed it (BUILD_WORKING_DIRECTORY).
std::string ResolvePath(const std::string& path);

// A name unique to this run (for hostnames, veth names, state directories):
// prefix + pid, e.g. "nsl4242".
std::string RunName(std::string_view prefix);

}  // namespace nslab::lab

#endif  // NSLAB_COMMON_LAB_H_
