// seccomp_precompiled — the BPF programs of the two profiles of seccomp.h's table,
// as libseccomp built them at build time (the genrule in common/BUILD runs
// seccomp_bpfgen). Bytes of struct sock_filter[], ready for seccomp(2).
#ifndef NSLAB_COMMON_SECCOMP_PRECOMPILED_H_
#define NSLAB_COMMON_SECCOMP_PRECOMPILED_H_

#include <string>

namespace nslab::seccomp::precompiled {

const std::string& Default();        // Options{}
const std::string& AllowSysAdmin();  // Options{.allow_sys_admin = true}

}  // namespace nslab::seccomp::precompiled

#endif  // NSLAB_COMMON_SECCOMP_PRECOMPILED_H_
