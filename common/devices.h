// devices — which device nodes a container may open: the allowlist runc and crun
// apply, as a cgroup v1 devices controller list or a cgroup v2 BPF program.
//
// Teaches: a device node is only a name for (type, major, minor); whoever holds
// CAP_MKNOD can make one for any device, anywhere it can write — `mknod /dev/k c 1 11`
// is the host's kernel log, `b 8 0` its first disk. Two independent locks stop it
// from being *opened*: mounts flagged nodev (mount.h, MakeNodevInChild: the first
// line, for every container), and the device cgroup, which the kernel consults on
// every open and mknod of a node by a process in the cgroup:
//  - cgroup v1: the devices controller's lists: "a" written to devices.deny, then
//    one "c 1:3 rwm" line per allowed node to devices.allow;
//  - cgroup v2: no files at all — a BPF program of type BPF_PROG_TYPE_CGROUP_DEVICE
//    attached to the cgroup (bpf(2) BPF_PROG_LOAD, BPF_PROG_ATTACH), which answers
//    1 (allow) or 0 (deny) for each (access, type, major, minor). Written here
//    instruction by instruction, as crun's src/libcrun/ebpf.c does.
// Read: Documentation/admin-guide/cgroup-v1/devices.rst, cgroup-v2.rst "Device
// controller", bpf(2), include/uapi/linux/bpf.h (struct bpf_cgroup_dev_ctx), the OCI
// runtime spec's linux.resources.devices, runc's libcontainer/specconv (AllowedDevices).
//
//   devices::ApplyV1("/sys/fs/cgroup/devices/me/nslab-x", devices::DefaultAllowList());
//   UniqueFd prog = devices::LoadProgram(devices::BuildProgram(devices::DefaultAllowList()));
//   devices::AttachProgram("/sys/fs/cgroup/unified/me/nslab-x", prog.Get());
#ifndef NSLAB_COMMON_DEVICES_H_
#define NSLAB_COMMON_DEVICES_H_

#include <linux/bpf.h>

#include <string>
#include <vector>

#include "common/fd.h"

namespace nslab::devices {

// One allow rule. major/minor -1 mean "any" ('*'); type 'a' means any type.
struct Rule {
  char type = 'c';  // 'c' char, 'b' block, 'a' all
  int major = -1, minor = -1;
  std::string access = "rwm";  // r read, w write, m mknod
};

// The nodes a default container needs (runc's AllowedDevices, minus what our /dev
// does not hold): mknod of anything ("c *:* m", "b *:* m": making a node is harmless
// when opening it is refused), null 1:3, zero 1:5, full 1:7, random 1:8, urandom
// 1:9, tty 5:0, ptmx 5:2, the pty slaves 136:*, and tun 10:200.
std::vector<Rule> DefaultAllowList();

// "c 1:3 rwm", "b *:* m", "a" — the devices.allow syntax. Throws UsageError on a
// rule that is not well formed (type, access letters).
std::string Format(const Rule& rule);

// cgroup v1: "a" to dir/devices.deny, then each rule to dir/devices.allow. dir must
// be a cgroup of the devices hierarchy; its processes are restricted at once.
void ApplyV1(const std::string& dir, const std::vector<Rule>& rules);

// cgroup v2: the BPF program for rules. Reads struct bpf_cgroup_dev_ctx
// (access_type = access << 16 | type, major, minor) and returns 1 for the first rule
// that matches, 0 when none does.
std::vector<bpf_insn> BuildProgram(const std::vector<Rule>& rules);

// bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program; the verifier's log is
// part of the error when it refuses one.
UniqueFd LoadProgram(const std::vector<bpf_insn>& program);

// bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) to the cgroup2
// directory dir. The program stays attached as long as the cgroup exists.
void AttachProgram(const std::string& dir, int program_fd);

// The engine's one call for a container's cgroup directory: on cgroup2 the BPF
// program of DefaultAllowList() attached; on a v1 devices hierarchy the lists
// written; on any other v1 hierarchy (memory, pids...) nothing. Returns what it did
// ("bpf", "v1", "").
std::string ProtectCgroup(const std::string& dir);

}  // namespace nslab::devices

#endif  // NSLAB_COMMON_DEVICES_H_
