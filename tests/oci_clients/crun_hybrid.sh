#!/bin/bash
# tests/oci_clients/crun_hybrid.sh: runs Debian's crun on this cgroup v1 + empty
# cgroup2 ("hybrid") host, where crun 1.8.1 refuses to start ("cgroups in hybrid mode
# not supported"). Only to check the test harness against a runtime everybody trusts
#   tests/oci_clients/podman_test.sh tests/oci_clients/crun_hybrid.sh
# never what the tests are for (they target //labs:12_oci, which must work here as is).
#
# crun tells hybrid from legacy by statfs("/sys/fs/cgroup/unified"); in a private mount
# namespace (propagation private, so the host's table is untouched) that mount is
# removed and crun sees a plain v1 host. The container inherits that namespace as the
# start of its own, which changes nothing it can see.
exec unshare --mount --propagation private \
  bash -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/crun "$@"' crun "$@"
