// nethelper — how the static engine asks nslab-net (labs/nslab_net.cc) for the
// nftables steps: outbound NAT, published ports.
//
// Teaches: a runtime's network setup often lives in a program of its own — podman
// execs netavark, containerd its CNI plugins — so that the runtime need not link
// the firewall's libraries. Here the reason is concrete: Debian ships libnftables
// only as a shared library, and 11_container is statically linked (issue 9). The
// helper is found like nslab-shim (next to our binary, in the runfiles, or
// $NSLAB_NET), run with fork + execv, and its one-line error becomes ours.
// Read: common/nat.h, execve(2), netavark's README.
//
//   nethelper::NatUp(opts, r.id);                          // after the veth is on the bridge
//   nethelper::Publish(opts, r.id, "10.88.0.2", {"8080:80"});
//   nethelper::NatDown(opts, r.id);                        // in rm, whatever the state
#ifndef NSLAB_COMMON_NETHELPER_H_
#define NSLAB_COMMON_NETHELPER_H_

#include <string>
#include <vector>

namespace nslab::nethelper {

inline constexpr const char* kName = "nslab-net";

// nslab-net's options; "" leaves its default (nslab0, 10.88.0.0/16, table nslab,
// /run/nslab/nat).
struct Options {
  std::string bridge, subnet, table, state_dir;
};

// $NSLAB_NET, else next to /proc/self/exe, else in the runfiles. Throws
// ExitCodeError(125) naming where it looked.
std::string FindBinary();

// Runs `nslab-net [options] args...` and waits. Throws ExitCodeError(125) with the
// helper's own error line when it fails.
void Run(const Options& o, const std::vector<std::string>& args);

inline void NatUp(const Options& o, const std::string& id) { Run(o, {"nat-up", id}); }
inline void NatDown(const Options& o, const std::string& id) { Run(o, {"nat-down", id}); }
void Publish(const Options& o, const std::string& id, const std::string& container_ip,
             const std::vector<std::string>& specs);

}  // namespace nslab::nethelper

#endif  // NSLAB_COMMON_NETHELPER_H_
