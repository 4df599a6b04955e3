// seccomp_load — LoadInChild: the filter for a profile, compiled by libseccomp when
// nslab was built (seccomp_bpfgen.cc, run by a genrule into seccomp_precompiled.cc),
// handed to the kernel as it is. A start pays for seccomp(2) only, not for
// libseccomp's compiler (which sorts, merges and optimises the rules for three
// architectures on every call: ~0.4 ms a start, bench/README.md).
#include "common/seccomp.h"
#include "common/seccomp_precompiled.h"

namespace nslab::seccomp {

void LoadInChild(const Options& opts) {
  LoadBpfInChild(opts.allow_sys_admin ? precompiled::AllowSysAdmin() : precompiled::Default());
}

}  // namespace nslab::seccomp
