// uts — the UTS namespace: a hostname (and NIS domain name) of the sandbox's own.
//
// Teaches: uname(2)'s nodename is per UTS namespace. A child cloned with
// CLONE_NEWUTS starts with a copy of the parent's hostname; sethostname(2) in the
// child then changes only the child's copy, so the host keeps its name. The kernel
// limits a hostname to 64 bytes (__NEW_UTS_LEN); we also insist on RFC 1123
// characters so that what a student types is a name a shell prompt can show.
// Read: uts_namespaces(7), sethostname(2), uname(2), hostname(7).
//
//   uts::ValidateHostname(opt.hostname);          // in main, before anything exists
//   process::Clone({CLONE_NEWUTS}, [&] {
//     uts::SetHostnameInChild(opt.hostname);      // the host keeps its name
//     return process::Exec(opt.command);
//   });
#ifndef NSLAB_COMMON_UTS_H_
#define NSLAB_COMMON_UTS_H_

#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace nslab::uts {

// The lab's flag for this concept: --hostname NAME (default kept in `hostname`).
void AddFlags(CLI::App& app, std::string& hostname);

// The longest hostname the kernel accepts (bytes).
inline constexpr size_t kMaxHostname = 64;

// Throws UsageError when `name` is empty, longer than 64 bytes, or has characters
// other than letters, digits, '-' and '.' (or a label starting/ending with '-', an
// empty label). Call it before creating anything, so a typo costs nothing.
void ValidateHostname(const std::string& name);

// sethostname(2) in the calling process's UTS namespace, narrated. Runs in the
// child: called in the host's namespace it would rename the host.
void SetHostnameInChild(const std::string& name);

// uname(2)'s nodename for the calling process.
std::string Hostname();

}  // namespace nslab::uts

#endif  // NSLAB_COMMON_UTS_H_
