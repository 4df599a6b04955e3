#include "common/uts.h"

#include <CLI/CLI.hpp>

#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>

#include "common/error.h"
#include "common/narrate.h"

namespace nslab::uts {

void AddFlags(CLI::App& app, std::string& hostname) {
  app.add_option("--hostname", hostname, "Hostname inside the sandbox (at most 64 bytes)")
      ->capture_default_str();
}

void ValidateHostname(const std::string& name) {
  if (name.empty()) throw UsageError("--hostname: a hostname cannot be empty");
  if (name.size() > kMaxHostname)
    throw UsageError("--hostname " + Quote(name) + ": " + std::to_string(name.size()) +
                     " bytes, the kernel allows at most " + std::to_string(kMaxHostname));
  // RFC 1123: labels of letters, digits and '-', separated by '.', not starting or
  // ending with '-'. The kernel itself accepts any bytes, but a name with spaces or
  // '/' breaks prompts, /etc/hosts and DNS.
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string::npos) end = name.size();
    std::string label = name.substr(start, end - start);
    if (label.empty())
      throw UsageError("--hostname " + Quote(name) + ": empty label (two dots, or a dot at an end)");
    if (label.front() == '-' || label.back() == '-')
      throw UsageError("--hostname " + Quote(name) + ": a label cannot start or end with '-'");
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
        throw UsageError("--hostname " + Quote(name) + ": character '" + std::string(1, c) +
                         "' not allowed (letters, digits, '-' and '.' only)");
    }
    start = end + 1;
  }
}

void SetHostnameInChild(const std::string& name) {
  narrate::Syscall("sethostname", Quote(name));
  // Changes the nodename of our UTS namespace only: the parent's copy stays.
  Check(sethostname(name.data(), name.size()), "sethostname", name);
}

std::string Hostname() {
  struct utsname u;
  Check(uname(&u), "uname");
  return u.nodename;
}

}  // namespace nslab::uts
