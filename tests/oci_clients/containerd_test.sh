#!/bin/bash
# tests/oci_clients/containerd_test.sh: Debian's containerd 1.6, started by this test
# with its own config, root, state and socket, runs an OCI runtime (//labs:12_oci in
# Bazel) through containerd-shim-runc-v2 (`ctr run --runc-binary`), the path a
# Kubernetes node takes through the CRI. Checked from outside: the process tree
# (containerd───containerd-shim-runc-v2───sh as in the reference observation,
# ../shared/reference/docker-busybox-observation.md), /proc/PID/ns of shim and sh, the
# runtime's argv, and that nothing is left.
#
#   containerd_test.sh RUNTIME BUSYBOX_TAR SUBREAPER_EXEC
#   e.g. containerd_test.sh bazel-bin/labs/12_oci bazel-bin/images/busybox.tar \
#          bazel-bin/tests/oci_clients/subreaper_exec
#
# The image: //images:busybox imported into a private podman store and saved as an OCI
# archive (no registry), then `ctr image import`.
# Private state: root, state, the gRPC/ttrpc sockets, the runtime's --root
# (--runc-root), the io fifos (--fifo-dir) under /tmp/nslab-ociclients-containerd-PID,
# a ctr namespace and cgroups named with the pid. containerd 1.6 puts shim sockets in
# /run/containerd/s (fixed in the code): removed at the end if this run created it.
# Read: containerd(8), containerd-config.toml(5), ctr(8), prctl(2).
set -u
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/lib.sh"

[ $# -eq 3 ] || { echo "usage: $0 RUNTIME BUSYBOX_TAR SUBREAPER_EXEC" >&2; exit 2; }
busybox_tar=$(abspath "$2")
subreaper_exec=$(abspath "$3")
oci_init containerd "$1"
command -v containerd >/dev/null && command -v ctr >/dev/null ||
  { echo "containerd/ctr missing: run scripts/setup" >&2; exit 2; }

C=$WORK/containerd
mkdir -p "$C"
run_containerd_existed=no
[ -e /run/containerd ] && run_containerd_existed=yes
ns=nslab-ociclients-$$
sock=$C/containerd.sock
ctrd_pid=""

# `containerd config default` lists every setting; only these differ from it. The CRI
# plugin (what a kubelet would talk to) is off: it wants CNI and a pause image.
# The "opt" plugin would create /opt/containerd.
cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.monitor.v1.cgroups"]
  no_prometheus = true
EOF

c() { ctr --address "$sock" --namespace "$ns" "$@"; }
# What every container gets: the runtime under test, its state, fifos and cgroup
# (ctr's default, /<namespace>/<id>, would be outside the caller's own cgroup).
runc_opts() {
  printf '%s\n' --runc-binary "$RUNTIME" --runc-root "$C/runc" --fifo-dir "$C/fifo" \
    --cgroup "$CG_PARENT/$1"
}

cleanup() {
  if [ -n "$ctrd_pid" ] && [ -d "/proc/$ctrd_pid" ]; then
    local t
    for t in $(c task ls -q 2>/dev/null); do c task kill -s SIGKILL "$t" >/dev/null 2>&1; done
    for t in $(c task ls -q 2>/dev/null); do c task delete --force "$t" >/dev/null 2>&1; done
    for t in $(c container ls -q 2>/dev/null); do c container rm "$t" >/dev/null 2>&1; done
    kill "$ctrd_pid" 2>/dev/null
    wait "$ctrd_pid" 2>/dev/null
  fi
  podman_cleanup
  kill_run_procs
  cgroup_cleanup
  rm -rf "$WORK"
  if [ "$run_containerd_existed" = no ]; then rm -rf /run/containerd; fi
}
trap 'cleanup; trap - EXIT; exit 1' INT TERM
trap cleanup EXIT

say "runtime $REAL_RUNTIME; state in $WORK; cgroups under $CG_PARENT"

# --- the image: an OCI archive from a private podman store ---
podman_private
pm import "$busybox_tar" localhost/busybox >/dev/null 2>&1
pm save --format oci-archive -o "$C/busybox-oci.tar" localhost/busybox >"$C/save.log" 2>&1 || sed "s/^/     | /" "$C/save.log"
podman_cleanup
expect_match "podman save made an OCI archive" '^index.json$' "$(tar -tf "$C/busybox-oci.tar" 2>&1)"

# --- containerd, as a child subreaper (subreaper_exec.cc says why) ---
"$subreaper_exec" containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
ctrd_pid=$!
for i in $(seq 1 300); do
  c version >/dev/null 2>&1 && break
  [ -d "/proc/$ctrd_pid" ] || break
  sleep 0.1
done
if ! c version >/dev/null 2>&1; then
  fail "containerd did not start:"; tail -5 "$C/containerd.log" | sed 's/^/     | /'
  finish; exit 1
fi
pass "containerd $ctrd_pid serves $sock"

c image import "$C/busybox-oci.tar" >/dev/null 2>&1
expect_match "ctr image import" '^localhost/busybox:latest ' "$(c image ls 2>&1)"
image=localhost/busybox:latest

# --- a detached task with a terminal: sh as PID 1, the reference observation ---
# First, while the shim is containerd's only child (the shims of finished tasks stay
# zombies under it, see below).
: >"$CALLS"
# ctr wants a terminal of its own for -t: script(1) gives it one.
script -qec "ctr --address $sock --namespace $ns run $(runc_opts "$ns-sh" | paste -sd' ') \
  -d -t $image $ns-sh sh" /dev/null </dev/null >"$C/run-d.log" 2>&1
expect_eq "ctr run -d -t ... sh" 0 "$?"
pid=$(c task ls 2>/dev/null | awk -v id="$ns-sh" '$1 == id {print $2}')
if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
  expect_match "the shim passed --console-socket to create" \
    " create --bundle [^ ]+ --pid-file [^ ]+ --console-socket [^ ]+ $ns-sh\$" "$(sed -n 's/^  argv: //p' "$CALLS")"
  shim=$(awk '{print $4}' "/proc/$pid/stat")
  expect_eq "the parent of sh is containerd-shim-runc-v2" containerd-shim "$(cat "/proc/$shim/comm")"
  expect_eq "the parent of the shim is containerd" "$ctrd_pid" "$(awk '{print $4}' "/proc/$shim/stat")"
  expect_eq "pstree: containerd───containerd-shim-runc-v2───sh" \
    "containerd($ctrd_pid)---containerd-shim($shim)---sh($pid)" "$(pstree -p -l -T -A "$ctrd_pid")"
  expect_eq "sh is PID 1 inside (NSpid)" 1 "$(awk '/^NSpid:/{print $NF}' "/proc/$pid/status")"
  expect_match "sh's stdio is the pty the shim holds" '^/dev/pts/[0-9]+$' "$(readlink "/proc/$pid/fd/0")"
  # The reference's table: cgroup and user shared with the shim (and the host), a new
  # ipc, mnt, net, pid, uts. (time is not in the reference, the kernel was older.)
  for n in cgroup user; do
    expect_eq "ns $n: sh shares the shim's" "$(readlink "/proc/$shim/ns/$n")" "$(readlink "/proc/$pid/ns/$n")"
  done
  for n in ipc mnt net pid uts; do
    [ "$(readlink "/proc/$shim/ns/$n")" != "$(readlink "/proc/$pid/ns/$n")" ] &&
      pass "ns $n: sh has its own" || fail "ns $n: sh shares the shim's $(readlink "/proc/$pid/ns/$n")"
  done
  expect_eq "the shim is in the host's namespaces (mnt)" "$(readlink /proc/self/ns/mnt)" "$(readlink "/proc/$shim/ns/mnt")"

  : >"$CALLS"
  out=$(c task exec --exec-id "$ns-e1" "$ns-sh" ps 2>&1)
  expect_match "ctr task exec ps: PID 1 is sh" '^ +1 +root +.* sh$' "$out"
  c task exec --exec-id "$ns-e2" "$ns-sh" sh -c 'exit 7' >/dev/null 2>&1
  expect_eq "ctr task exec: exit code 7 comes through" 7 "$?"
  expect_match "the shim called: exec --process F --detach --pid-file P ID" \
    " exec --process [^ ]+ --detach --pid-file [^ ]+ $ns-sh\$" "$(sed -n 's/^  argv: //p' "$CALLS")"
  out=$(c task ps "$ns-sh" 2>&1)
  expect_match "ctr task ps lists sh's host pid" "^$pid " "$out"
  expect_match "the shim called: ps --format json ID" " ps --format json $ns-sh\$" "$(sed -n 's/^  argv: //p' "$CALLS")"

  # SIGTERM to a PID 1 without a handler is dropped by the kernel (pid_namespaces(7)):
  # the task survives it; SIGKILL from outside the namespace is not.
  : >"$CALLS"
  c task kill "$ns-sh" >/dev/null 2>&1
  expect_match "the shim called: kill ID 15" " kill $ns-sh 15\$" "$(sed -n 's/^  argv: //p' "$CALLS")"
  expect_eq "SIGTERM: sh (PID 1, no handler) survives" RUNNING \
    "$(c task ls 2>/dev/null | awk -v id="$ns-sh" '$1 == id {print $3}')"
  c task kill --signal SIGKILL "$ns-sh" >/dev/null 2>&1
  wait_gone "$pid" && pass "SIGKILL: sh is gone" || fail "SIGKILL: sh $pid still there"
  for i in $(seq 1 200); do
    [ "$(c task ls 2>/dev/null | awk -v id="$ns-sh" '$1 == id {print $3}')" = STOPPED ] && break
    sleep 0.1
  done
  expect_eq "ctr task ls: STOPPED" STOPPED "$(c task ls 2>/dev/null | awk -v id="$ns-sh" '$1 == id {print $3}')"
  c task delete "$ns-sh" >/dev/null 2>&1
  expect_eq "ctr task delete" 0 "$?"
  c container rm "$ns-sh" >/dev/null 2>&1
  expect_eq "ctr container rm" "" "$(c container ls -q 2>/dev/null)"
  # containerd, made a subreaper here, is the shim's parent but never wait(2)s for a
  # pid it did not fork: the exited shim stays a zombie until containerd ends.
  wait_exited "$shim" && pass "the shim has exited" || fail "the shim $shim is still running"
else
  fail "ctr run -d: no task process (pid [$pid])"
fi

# --- ctr run --rm IMAGE ID true ---
: >"$CALLS"
out=$(c run $(runc_opts "$ns-true") --rm "$image" "$ns-true" true 2>&1); rc=$?
expect_eq "ctr run --rm --runc-binary RUNTIME $image ID true exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | sed 's/^/     | /'
calls=$(sed -n 's/^  argv: //p' "$CALLS")
expect_match "the shim called: --root R --log F --log-format json create --bundle B --pid-file P ID" \
  " --root [^ ]+ --log [^ ]+ --log-format json create --bundle [^ ]+ --pid-file [^ ]+ $ns-true\$" "$calls"
expect_match "the shim called: start ID" " --log-format json start $ns-true\$" "$calls"
expect_match "the shim called: delete ID" " --log-format json delete $ns-true\$" "$calls"
out=$(c run $(runc_opts "$ns-three") --rm "$image" "$ns-three" sh -c 'exit 3' 2>&1)
expect_eq "ctr run: exit code 3 comes through" 3 "$?"

# --- what the runtime left behind itself, before this test's cleanup would hide it ---
expect_eq "the runtime's --root holds no state after delete" "" "$(runtime_state_left "$C/runc/$ns")"
expect_eq "the runtime removed every container cgroup" "" "$(runtime_cgroup_leftovers)"

# --- containerd down, everything gone ---
kill "$ctrd_pid"
wait "$ctrd_pid" 2>/dev/null
wait_gone "$ctrd_pid" && pass "containerd stopped" || fail "containerd $ctrd_pid still there"
ctrd_pid=""
cleanup
trap - EXIT
check_nothing_left
podman_check_host_dirs
if [ "$run_containerd_existed" = no ]; then
  [ -e /run/containerd ] && fail "/run/containerd left behind" || pass "no /run/containerd left behind"
fi
finish
