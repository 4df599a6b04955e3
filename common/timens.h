// timens — the time namespace: a monotonic and a boot-time clock of the sandbox's own.
//
// Teaches: a time namespace holds two offsets, added to CLOCK_MONOTONIC and
// CLOCK_BOOTTIME (and so to /proc/uptime, nanosleep, timerfd...) for the processes
// in it; CLOCK_REALTIME, the date, is never namespaced. It is made only with
// unshare(CLONE_NEWTIME) (clone(2) has no room for the flag) and, like a PID
// namespace, the caller stays where it is: its *next children* go into it
// (/proc/self/ns/time_for_children). The offsets are written to
// /proc/self/timens_offsets after the unshare and before the first child — once a
// process is in the namespace the kernel refuses any change (EACCES). CRIU made the
// kernel grow it: a migrated container's clocks must not jump.
// Read: time_namespaces(7), clock_gettime(2), unshare(2), proc(5) /proc/uptime.
//
//   timens::Offsets off{0, 86400};              // monotonic +0, boottime +1 day
//   timens::Validate(off);                      // before anything exists
//   timens::UnshareForChildren();               // we stay; children go in
//   timens::WriteOffsets(off);                  // before the first child
//   process::Clone({CLONE_NEWUTS}, ...);        // the child's uptime is a day more
#ifndef NSLAB_COMMON_TIMENS_H_
#define NSLAB_COMMON_TIMENS_H_

#include <sys/types.h>

#include <CLI/CLI.hpp>
#include <string>

namespace nslab::timens {

// Offsets in seconds relative to the host's clocks (nanoseconds are left 0).
struct Offsets {
  long long monotonic = 0;
  long long boottime = 0;
};

// Throws UsageError naming the flag (--monotonic, --boottime) when an offset would
// make the clock inside negative now, or more than about 146 years (KTIME_SEC_MAX/2):
// the kernel would say ERANGE.
void Validate(const Offsets& off);

// unshare(CLONE_NEWTIME), narrated: a new time namespace for our next children.
void UnshareForChildren();

// Writes "monotonic S 0\nboottime S 0\n" to /proc/self/timens_offsets: the offsets of
// the namespace our children will be in. EACCES (a process is in it already) is
// thrown with a hint that says so.
void WriteOffsets(const Offsets& off);

// Parses the text of a timens_offsets file ("monotonic   86400   0" lines).
Offsets ParseOffsets(const std::string& text);
// /proc/PID/timens_offsets (0: self) — for a process, its children's namespace.
Offsets ReadOffsets(pid_t pid = 0);
// "monotonic 0 s, boottime 864000 s".
std::string Describe(const Offsets& off);

// --boottime SECONDS and --monotonic SECONDS.
void AddOffsetFlags(CLI::App& app, Offsets& off);

// clock_gettime(2) of a clock, in seconds (with nanoseconds as the fraction).
double Now(int clock_id);
// The first field of /proc/uptime: seconds of CLOCK_BOOTTIME as this process sees it.
double Uptime();
// "boottime 865234.5 s (uptime 10 days 00:27), monotonic 1234.5 s, realtime 1764630000 s":
// the clocks as the calling process sees them.
std::string DescribeClocks();

}  // namespace nslab::timens

#endif  // NSLAB_COMMON_TIMENS_H_
