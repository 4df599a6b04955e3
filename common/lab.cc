#include "common/lab.h"

#include <unistd.h>

#include <cstdlib>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/narrate.h"
#include "common/process.h"

namespace nslab::lab {

void AddCommonFlags(CLI::App& app, Options& opt) {
  app.add_flag("-v,--verbose", opt.verbose,
               "Log every system call, with its flags as text, before making it");
  app.add_option("command", opt.command,
                 "Command to run inside the sandbox, after `--` (default: the narrated demo)");
  // The first word that is not one of our flags starts the command: everything after
  // it is the command's own (`04_uts sh -c 'hostname -s'`; `-c` and `-s` are sh's).
  // So `bazel run //labs:01_process -- sh -c 'exit 3'` works although bazel eats the
  // `--`; a `--` of our own is still accepted.
  app.positionals_at_end();
  app.footer(
      "With no command, the lab runs its narrated demo and exits 0. With `-- CMD ARGS...`\n"
      "it runs CMD inside the lab's sandbox and exits with CMD's status (127 not found,\n"
      "126 not executable, 125 a bad flag or the sandbox could not be set up, 128+N killed\n"
      "by signal N). A `--` as the first argument is dropped: `-- -v CMD` is `-v CMD`.");
}

std::optional<int> Parse(CLI::App& app, int argc, char** argv, int bad_flag_code) {
  // `bazel run //labs:04_uts -- -v hostname` hands us `-v hostname`: bazel eats its
  // `--`. Typed by hand, `bazel-bin/labs/04_uts -- -v hostname` must mean the same,
  // so a `--` right after the program name is dropped (one later still ends our flags).
  std::vector<char*> args(argv, argv + argc);
  if (args.size() > 1 && std::string_view(args[1]) == "--") args.erase(args.begin() + 1);
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", ProgramName().c_str(), e.what());
    return bad_flag_code;
  }
  return std::nullopt;
}

int Main(std::string_view name, CLI::App& app, int argc, char** argv, Options& opt,
         const std::function<int()>& body) {
  SetProgramName(name);
  // One rule for every lab, 11_container's (Docker's) included: 125 means the lab
  // itself failed, a bad flag as much as a failed mount, so the command never ran.
  if (std::optional<int> code = Parse(app, argc, argv, process::kSetupFailed)) return *code;
  narrate::Configure(opt.Demo(), opt.verbose);
  try {
    return body();
  } catch (const ExitCodeError& e) {
    return ReportError(e);
  } catch (const std::exception& e) {
    return ReportError(e, process::kSetupFailed);
  }
}

void RequireRoot(std::string_view what) {
  if (geteuid() == 0) return;
  throw UsageError(std::string(what) +
                   " needs root: run with sudo, or `bazel run --run_under=sudo //labs:...`");
}

std::string ResolvePath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (cwd == nullptr || *cwd == '\0') return path;
  return std::string(cwd) + "/" + path;
}

std::string RunName(std::string_view prefix) {
  return std::string(prefix) + std::to_string(getpid());
}

}  // namespace nslab::lab
