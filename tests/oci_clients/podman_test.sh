#!/bin/bash
# tests/oci_clients/podman_test.sh: Debian's podman, through conmon, drives an OCI
# runtime (//labs:12_oci in Bazel) on private state, and every answer podman gives is
# checked against the host: /proc (parents, PID namespaces), cgroup files, the mount
# table. Issue 16, "Proof with real clients no one here wrote".
#
#   podman_test.sh RUNTIME BUSYBOX_TAR
#   e.g. podman_test.sh bazel-bin/labs/12_oci bazel-bin/images/busybox.tar
#        podman_test.sh tests/oci_clients/crun_hybrid.sh bazel-bin/images/busybox.tar
#
# Private state (lib.sh podman_private): --root/--runroot/--tmpdir and containers.conf/
# storage.conf under /tmp/nslab-ociclients-podman-PID, the runtime's own --root there
# too, file locks and a file events log, containers' cgroups beneath the caller's own.
# Read: podman-run(1), podman-exec(1), containers.conf(5), containers-storage.conf(5),
# conmon(8).
set -u
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/lib.sh"

[ $# -eq 2 ] || { echo "usage: $0 RUNTIME BUSYBOX_TAR" >&2; exit 2; }
busybox_tar=$(abspath "$2")
oci_init podman "$1"

podman_private

# What every container gets: never a pull (the image is local), no network, rlimits
# within this host's hard limits (podman's defaults, 1048576 open files, exceed them,
# and without CAP_SYS_RESOURCE the runtime's setrlimit would fail), the cgroup parent
# beneath ours.
run_opts=(--pull never --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768
  --cgroup-parent "$CG_PARENT")
name=nslab-ociclients-$$

cleanup() {
  podman_cleanup
  kill_run_procs
  cgroup_cleanup
  rm -rf "$WORK"
}
trap 'cleanup; trap - EXIT; exit 1' INT TERM
trap cleanup EXIT

say "runtime $REAL_RUNTIME; state in $WORK; cgroups under $CG_PARENT"

# --- the image: busybox-static's tree, imported (no registry) ---
pm import "$busybox_tar" localhost/busybox >/dev/null 2>&1
expect_eq "podman import of //images:busybox" "localhost/busybox" "$(pm images --format '{{.Repository}}' | head -1)"

# --- run --rm true: create, start, delete --force ---
: >"$CALLS"
out=$(pm run --rm "${run_opts[@]}" localhost/busybox true 2>&1); rc=$?
expect_eq "podman run --rm localhost/busybox true exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | sed 's/^/     | /'
calls=$(sed -n 's/^  argv: //p' "$CALLS")
expect_match "conmon called: create --bundle B --pid-file P ID" ' create --bundle [^ ]+ --pid-file [^ ]+ [0-9a-f]{64}$' "$calls"
expect_match "podman called: start ID" ' start [0-9a-f]{64}$' "$calls"
expect_match "podman called: delete --force ID" ' delete --force [0-9a-f]{64}$' "$calls"

# --- exit codes: the container's own, 127 for a missing command ---
pm run --rm "${run_opts[@]}" localhost/busybox sh -c 'exit 3' >/dev/null 2>&1
expect_eq "exit code 3 comes through" 3 "$?"
pm run --rm "${run_opts[@]}" localhost/busybox nslab-no-such-command >/dev/null 2>&1
expect_eq "a missing command exits 127" 127 "$?"

# --- run -d: conmon is the parent, the command is PID 1 inside ---
id=$(pm run -d --name "$name" "${run_opts[@]}" localhost/busybox \
  sh -c "echo hello-from-$name; exec sleep 1000" 2>&1)
expect_match "run -d prints the id" '^[0-9a-f]{64}$' "$id"
pid=$(pm inspect --format '{{.State.Pid}}' "$name" 2>/dev/null)
if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
  ppid=$(awk '{print $4}' "/proc/$pid/stat")
  expect_eq "the parent of the container's process is conmon" conmon "$(cat "/proc/$ppid/comm")"
  expect_eq "the container's process is sleep" sleep "$(cat "/proc/$pid/comm")"
  tree=$(pstree -p "$ppid")
  expect_match "pstree shows conmon───sleep" "^conmon\($ppid\)---sleep\($pid\)$" "$tree"
  nspid=$(awk '/^NSpid:/{print $NF}' "/proc/$pid/status")
  expect_eq "NSpid: PID 1 in its own PID namespace" 1 "$nspid"
  for ns in mnt uts ipc net pid; do
    [ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/$ppid/ns/$ns")" ] &&
      pass "$ns namespace differs from conmon's" || fail "$ns namespace is conmon's"
  done
  ps_out=$(pm ps --format '{{.Names}} {{.Status}}')
  expect_match "podman ps lists it Up" "^$name Up" "$ps_out"
  exec_ps=$(pm exec "$name" ps 2>&1)
  expect_match "exec ps: PID 1 is the container's command" '^ +1 +root +.*sleep 1000' "$exec_ps"
  pm exec "$name" sh -c 'exit 5' >/dev/null 2>&1
  expect_eq "exec exit code 5 comes through" 5 "$?"
  pm exec "$name" nslab-no-such-command >/dev/null 2>&1
  expect_eq "exec of a missing command exits 127" 127 "$?"
  calls=$(sed -n 's/^  argv: //p' "$CALLS")
  expect_match "conmon called: exec --pid-file P --process F --detach ID" \
    ' exec --pid-file [^ ]+ --process [^ ]+ --detach [0-9a-f]{64}$' "$calls"
  expect_match "logs shows the output" "^hello-from-$name\$" "$(pm logs "$name" 2>&1)"
  expect_match "top shows the process" 'sleep 1000' "$(pm top "$name" 2>&1)"

  # --- pause/unpause: the freezer, seen in the cgroup file ---
  freezer=$(cgroup_of "$pid" freezer)
  pm pause "$name" >/dev/null 2>&1
  expect_eq "pause: podman says paused" paused "$(pm inspect --format '{{.State.Status}}' "$name")"
  expect_eq "pause: freezer.state is FROZEN" FROZEN "$(cat "$freezer/freezer.state" 2>/dev/null)"
  expect_eq "pause: the process is stopped (D/T state)" yes \
    "$(awk '{print ($3=="D"||$3=="T"||$3=="t")?"yes":"no:"$3}' "/proc/$pid/stat")"
  pm unpause "$name" >/dev/null 2>&1
  expect_eq "unpause: podman says running" running "$(pm inspect --format '{{.State.Status}}' "$name")"
  expect_eq "unpause: freezer.state is THAWED" THAWED "$(cat "$freezer/freezer.state" 2>/dev/null)"

  # --- stop: SIGTERM (PID 1 ignores it), then SIGKILL ---
  : >"$CALLS"
  pm stop --time 1 "$name" >/dev/null 2>&1
  expect_eq "stop: podman says exited" exited "$(pm inspect --format '{{.State.Status}}' "$name")"
  expect_eq "stop: exit code 137 (SIGKILL)" 137 "$(pm inspect --format '{{.State.ExitCode}}' "$name")"
  wait_gone "$pid" && pass "stop: the process is gone" || fail "stop: pid $pid still there"
  calls=$(sed -n 's/^  argv: //p' "$CALLS")
  expect_eq "stop: podman called kill ID 15, then kill ID 9" \
    "kill $id 15|kill $id 9" "$(printf '%s\n' "$calls" | grep -Eo 'kill [0-9a-f]{64} [0-9]+$' | paste -sd'|')"
  wait_gone "$ppid" && pass "stop: conmon is gone" || fail "stop: conmon $ppid still there"
else
  fail "run -d: no running container process (pid [$pid])"
fi
pm rm "$name" >/dev/null 2>&1
expect_eq "rm: podman ps -a no longer lists it" "" "$(pm ps -a --filter "name=$name" --format '{{.Names}}')"

# --- a terminal: run -it and exec -it through script(1), the console socket ---
: >"$CALLS"
out=$(script -qec "$(pm_line) run --rm -it ${run_opts[*]} localhost/busybox \
  sh -c 'tty; exit 4'" /dev/null </dev/null 2>&1); rc=$?
expect_eq "run -it: the exit code comes through script(1)" 4 "$rc"
expect_match "run -it: stdin is a pty inside" '^/dev/pts/[0-9]+' "$(printf '%s\n' "$out" | tr -d '\r\000')"
expect_match "run -it: conmon passed --console-socket to create" \
  ' create --bundle [^ ]+ --pid-file [^ ]+ --console-socket [^ ]+ [0-9a-f]{64}$' "$(sed -n 's/^  argv: //p' "$CALLS")"
pm run -d --name "$name-t" "${run_opts[@]}" localhost/busybox sleep 1000 >/dev/null 2>&1
out=$(script -qec "$(pm_line) exec -it $name-t sh -c 'tty; exit 6'" /dev/null </dev/null 2>&1); rc=$?
expect_eq "exec -it: the exit code comes through" 6 "$rc"
expect_match "exec -it: a pty inside" '(^|\^@)/dev/pts/[0-9]+$' "$(printf '%s\n' "$out" | tr -d '\r\000')"
pm rm --force --time 0 "$name-t" >/dev/null 2>&1

# --- limits: --memory enforced (OOM kill, 137) and visible inside; --pids-limit ---
out=$(pm run --rm "${run_opts[@]}" --memory 32m --memory-swap 32m localhost/busybox \
  sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max' 2>&1)
expect_eq "--memory 32m is visible inside" 33554432 "$out"
pm run --rm "${run_opts[@]}" --memory 32m --memory-swap 32m localhost/busybox \
  tail /dev/zero >/dev/null 2>&1
expect_eq "--memory 32m: tail /dev/zero is OOM-killed (137)" 137 "$?"
run_out=$(pm run -d --name "$name-pids" "${run_opts[@]}" --pids-limit 10 --memory 32m --memory-swap 32m \
  localhost/busybox sleep 1000 2>&1)
pid=$(pm inspect --format '{{.State.Pid}}' "$name-pids" 2>/dev/null)
if [ -n "$pid" ] && [ "$pid" != 0 ]; then
  expect_eq "--pids-limit 10: pids.max on the host" 10 "$(cat "$(cgroup_of "$pid" pids)/pids.max" 2>/dev/null)"
  expect_eq "--memory 32m: memory.limit_in_bytes on the host" 33554432 \
    "$(cat "$(cgroup_of "$pid" memory)/memory.limit_in_bytes" 2>/dev/null)"
  # 20 background sleeps in a shell: the fork that would make the 11th task fails.
  out=$(pm exec "$name-pids" sh -c 'for i in $(seq 1 20); do sleep 30 & done' 2>&1)
  expect_match "--pids-limit 10: fork fails inside" "can't fork" "$out"
  pids_dir=$(cgroup_of "$pid" pids)
  expect_eq "--pids-limit 10: never more than 10 tasks (pids.current)" yes \
    "$(awk '{print ($1 <= 10) ? "yes" : "no: " $1}' "$pids_dir/pids.current")"
  expect_match "--pids-limit 10: the kernel counted refused forks (pids.events)" '^max [1-9]' \
    "$(cat "$pids_dir/pids.events")"
else
  fail "--pids-limit: no container process:"; printf '%s\n' "$run_out" | sed 's/^/     | /' 
fi
pm rm --force --time 0 "$name-pids" >/dev/null 2>&1

# --- what the runtime left behind itself, before this test's cleanup would hide it ---
pm rm --all --force --time 0 >/dev/null 2>&1
expect_eq "the runtime's --root holds no state after rm" "" "$(runtime_state_left "$RUNTIME_ROOT")"
# podman moves each conmon into <parent>/conmon and never removes it: not the runtime's.
expect_eq "the runtime removed every container cgroup" "" "$(runtime_cgroup_leftovers conmon)"

cleanup
trap - EXIT
check_nothing_left
podman_check_host_dirs
finish
