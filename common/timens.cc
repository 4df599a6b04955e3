#include "common/timens.h"

#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "common/error.h"
#include "common/fd.h"
#include "common/narrate.h"

namespace nslab::timens {

namespace {

// KTIME_SEC_MAX / 2: no clock inside may exceed it (time_namespaces(7), ERANGE).
constexpr long long kMaxClockSeconds = (0x7fffffffffffffffLL / 1000000000LL) / 2;

void CheckOne(const char* flag, long long offset, int clock_id) {
  const long long now = static_cast<long long>(Now(clock_id));
  if (now + offset < 0)
    throw UsageError(std::string(flag) + " " + std::to_string(offset) +
                     ": the clock inside would be negative (it is at " + std::to_string(now) +
                     " s now)");
  if (offset > kMaxClockSeconds - now)
    throw UsageError(std::string(flag) + " " + std::to_string(offset) +
                     ": the clock inside would pass " + std::to_string(kMaxClockSeconds) +
                     " s (about 146 years), the kernel's limit");
}

}  // namespace

void Validate(const Offsets& off) {
  CheckOne("--monotonic", off.monotonic, CLOCK_MONOTONIC);
  CheckOne("--boottime", off.boottime, CLOCK_BOOTTIME);
}

void UnshareForChildren() {
  narrate::Syscall("unshare", "CLONE_NEWTIME");
  Check(unshare(CLONE_NEWTIME), "unshare", "CLONE_NEWTIME");
}

void WriteOffsets(const Offsets& off) {
  const std::string text = "monotonic " + std::to_string(off.monotonic) + " 0\nboottime " +
                           std::to_string(off.boottime) + " 0\n";
  const std::string path = "/proc/self/timens_offsets";
  narrate::Syscall("write", "\"" + path + "\", \"monotonic " + std::to_string(off.monotonic) +
                                " 0\\nboottime " + std::to_string(off.boottime) + " 0\\n\"");
  UniqueFd fd = Open(path, O_WRONLY);
  // One write(2) holding both records: the kernel checks them all, then applies them
  // together (or none, with the first error).
  const ssize_t n = write(fd.Get(), text.data(), text.size());
  if (n < 0) {
    const int err = errno;
    throw SysError(err, "write", path,
                   err == EACCES ? "a process is in that time namespace already: offsets "
                                   "can be set only before the first child; see "
                                   "docs/04b_time.md#pitfalls"
                                 : HintFor("write", err, path));
  }
}

Offsets ParseOffsets(const std::string& text) {
  Offsets off;
  std::istringstream in(text);
  std::string clock;
  long long secs = 0;
  long nanos = 0;
  while (in >> clock >> secs >> nanos) {
    // The kernel prints names; numbers (1 monotonic, 7 boottime) are accepted on write.
    if (clock == "monotonic" || clock == "1") off.monotonic = secs;
    if (clock == "boottime" || clock == "7") off.boottime = secs;
  }
  return off;
}

std::string Describe(const Offsets& off) {
  return "monotonic " + std::to_string(off.monotonic) + " s, boottime " +
         std::to_string(off.boottime) + " s";
}

Offsets ReadOffsets(pid_t pid) {
  return ParseOffsets(ReadFile("/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) +
                               "/timens_offsets"));
}

double Now(int clock_id) {
  timespec ts;
  Check(clock_gettime(clock_id, &ts), "clock_gettime", std::to_string(clock_id));
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string DescribeClocks() {
  const long long up = static_cast<long long>(Uptime());
  char buf[200];
  std::snprintf(buf, sizeof buf, "boottime %.1f s (uptime %lld days %02lld:%02lld), "
                "monotonic %.1f s, realtime %.0f s", Now(CLOCK_BOOTTIME), up / 86400,
                up % 86400 / 3600, up % 3600 / 60, Now(CLOCK_MONOTONIC), Now(CLOCK_REALTIME));
  return buf;
}

void AddOffsetFlags(CLI::App& app, Offsets& off) {
  app.add_option("--boottime", off.boottime,
                 "Seconds added to CLOCK_BOOTTIME (and /proc/uptime) inside; may be negative")
      ->capture_default_str();
  app.add_option("--monotonic", off.monotonic,
                 "Seconds added to CLOCK_MONOTONIC inside; may be negative")
      ->capture_default_str();
}

double Uptime() { return std::strtod(ReadFile("/proc/uptime").c_str(), nullptr); }

}  // namespace nslab::timens
