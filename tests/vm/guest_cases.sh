#!/usr/bin/env bash
# tests/vm/guest_cases.sh — runs INSIDE the lab VM (scripts/vm run ... guest_cases.sh) and
# tries the labs the way a student on a systemd + cgroup v2 host would. Each case prints
# one line, to stdout and to /nslab-vm/summary, which the host-side test reads:
#
#   case NAME ok DETAIL        or        case NAME FAIL DETAIL
#
# and leaves its full output in /nslab-vm/cases/NAME.log.
#
#   guest_cases.sh BOOT DIR     BOOT: systemd or plain (what the case "layout" expects);
#                               DIR: where labs/ and tests/ are: bazel-bin, or the
#                               test's runfiles (…/vm_test.runfiles/nslab)
set -u

boot=${1:?which boot: systemd or plain}
root=$(cd "${2:?where are labs/ and tests/}" && pwd)
out=/nslab-vm
logs=$out/cases
mkdir -p "$logs"
: > "$out/summary"

# Under Bazel's runfiles every binary finds its data (the busybox image, nslab-shim)
# beneath RUNFILES_DIR, as `bazel test` would set it; from bazel-bin each has its own
# NAME.runfiles beside it.
if [ "$(basename "$root")" = nslab ] && [ -d "$root/../nslab" ] && [ ! -d "$root/labs/10_cgroup.runfiles" ]; then
  export RUNFILES_DIR=$(dirname "$root") TEST_SRCDIR=$(dirname "$root")
fi
export TEST_WORKSPACE=nslab NO_COLOR=1
uniq=vm$$

labs=(00_doctor 01_process 02_proc_ns 03_clone 04_uts 05_pid 06_mount 07_ipc 08_net 09_user
      10_cgroup 11_container)

# --- how a case runs --------------------------------------------------------------------
# A case is a function: it returns 0 for ok and sets `why` to a short detail either way;
# what it prints goes to its log.
report() {  # NAME STATUS DETAIL
  local line="case $1 $2 $3"
  echo "$line"
  echo "$line" >> "$out/summary"
}

run_case() {  # NAME FUNCTION ARGS...
  local name=$1; shift
  local start=$SECONDS
  why=""
  if "$@" > "$logs/$name.log" 2>&1 < /dev/null; then
    report "$name" ok "${why:-ok} ($((SECONDS - start)) s)"
  else
    report "$name" FAIL "${why:-failed} ($((SECONDS - start)) s)"
  fi
}

# tmo SECONDS CMD...: a case never hangs the boot; 124 means it ran too long.
tmo() { local s=$1; shift; timeout -k 5 "$s" "$@"; }

# The last line a command printed that looks like an error, for the summary.
last_error() { grep -E 'rror|: |failed|refused' "$1" | tail -n 1 | cut -c1-160; }

lab() { echo "$root/labs/$1"; }

# --- the cases --------------------------------------------------------------------------

# What the guest is: pure cgroup v2; with systemd, the shell in a cgroup that holds other
# processes too (the getty's service or a login session), as a student's terminal is;
# without, the root cgroup.
case_layout() {
  local fs cg procs pid1
  fs=$(stat -fc %T /sys/fs/cgroup)
  cg=$(cut -d: -f3- /proc/self/cgroup)
  pid1=$(cat /proc/1/comm)
  procs=$(wc -l < "/sys/fs/cgroup$cg/cgroup.procs")
  echo "cgroup fs: $fs"; echo "cgroup: $cg ($procs processes)"; echo "pid 1: $pid1"
  cat /proc/self/cgroup; grep cgroup /proc/mounts
  echo "root controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
  echo "root subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
  why="pid 1 $pid1, $fs, shell in $cg ($procs processes)"
  [ "$fs" = cgroup2fs ] || { why="/sys/fs/cgroup is $fs, not cgroup2"; return 1; }
  if grep -qE '^[^ ]+ [^ ]+ cgroup ' /proc/mounts; then why="a cgroup v1 hierarchy is mounted"; return 1; fi
  if [ "$boot" = systemd ]; then
    systemctl is-system-running || true
    [ "$pid1" = systemd ] && [ "$cg" != / ] && [ "$procs" -gt 1 ]
  else
    [ "$pid1" != systemd ] && [ "$cg" = / ]
  fi
}

# Every lab's demo, as `bazel run //labs:NN` runs it, exits 0.
case_demo() {
  local rc
  tmo 300 "$(lab "$1")"
  rc=$?
  [ $rc -eq 0 ] && { why="exit 0"; return 0; }
  # The doctor's verdict is a table row marked "fail"; the other labs print one error.
  local row
  row=$(grep -E '^\* .* fail ' "$logs/demo_$1.log" | head -n 1 | tr -s ' ' | cut -c3-160)
  why="exit $rc: ${row:-$(last_error "$logs/demo_$1.log")}"
  return 1
}

# A 200 MB allocation under a 32 MB limit: the OOM killer ends it, SIGKILL, 137.
# (busybox dd allocates its whole block and fills it from /dev/zero.)
case_10_memory() {
  local rc
  tmo 300 "$(lab 10_cgroup)" --memory 32M -- dd if=/dev/zero of=/dev/null bs=200M count=1
  rc=$?
  why="exit $rc (want 137)"
  [ $rc -eq 137 ] || why="$why: $(last_error "$logs/10_memory.log")"
  [ $rc -eq 137 ]
}

# 20 background sleeps under pids.max 8: the shell's fork is refused partway.
case_10_pids() {
  local rc
  tmo 300 "$(lab 10_cgroup)" --pids 8 -- sh -c 'i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; wait'
  rc=$?
  if [ $rc -ne 0 ] && grep -v '^10_cgroup' "$logs/10_pids.log" | grep -qi "can't fork\|fork.*temporarily"; then
    why="exit $rc, the shell: $(grep -i fork "$logs/10_pids.log" | tail -n 1 | cut -c1-80)"
    return 0
  fi
  why="exit $rc, no refused fork: $(last_error "$logs/10_pids.log")"
  return 1
}

# A busy loop under a small CPU quota is throttled (cpu.stat nr_throttled, which -v shows).
# Lab10Test.CpuQuotaThrottles checks the same with 3000 rounds under 1% of a CPU, which
# TCG cannot finish inside that test's 60 s: this lighter version stands in for it here.
case_10_cpu() {
  local rc n
  tmo 300 "$(lab 10_cgroup)" -v --cpus 0.05 -- sh -c 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); done'
  rc=$?
  n=$(awk '{if ($1 == "*") $1 = ""; $0 = $0} $1 == "cpu" && $3 == "nr_throttled" {print $NF}' \
        "$logs/10_cpu.log" | tail -n 1)
  why="exit $rc, cpu.stat nr_throttled ${n:-not shown}"
  [ $rc -eq 0 ] || why="$why: $(last_error "$logs/10_cpu.log")"
  [ $rc -eq 0 ] && [ "${n:-0}" -ge 1 ]
}

ctr() { tmo 300 "$(lab 11_container)" "$@"; }

case_11_memory() {
  local rc
  ctr run --rm --memory 32M busybox dd if=/dev/zero of=/dev/null bs=200M count=1
  rc=$?
  why="exit $rc (want 137)"
  [ $rc -eq 137 ] || why="$why: $(last_error "$logs/11_memory.log")"
  [ $rc -eq 137 ]
}

# The container sees its own cgroup at /sys/fs/cgroup, as under Docker.
case_11_memory_max() {
  local got rc
  got=$(ctr run --rm --memory 32M busybox cat /sys/fs/cgroup/memory.max)
  rc=$?
  echo "memory.max inside: $got (exit $rc)"
  why="memory.max inside reads '${got:0:60}' (want 33554432), exit $rc"
  [ $rc -eq 0 ] && [ "$got" = 33554432 ]
}

# docker run -d / exec / rm -f.
case_11_detached() {
  local name=vm-$uniq rc ps
  ctr run -d --name "$name" busybox sleep 600
  rc=$?
  [ $rc -eq 0 ] || { why="run -d: exit $rc: $(last_error "$logs/11_detached.log")"; return 1; }
  ps=$(ctr exec "$name" ps)
  rc=$?
  echo "$ps"
  if [ $rc -ne 0 ] || ! grep -qE '^ *1 .*sleep 600' <<< "$ps"; then
    why="exec ps: exit $rc, no 'sleep 600' as PID 1: $(last_error "$logs/11_detached.log")"
    ctr rm -f "$name"
    return 1
  fi
  ctr rm -f "$name"
  rc=$?
  [ $rc -eq 0 ] || { why="rm -f: exit $rc"; return 1; }
  if ctr ps -a | grep -q "$name"; then why="still listed by ps -a after rm -f"; return 1; fi
  why="run -d, exec ps (sleep is PID 1), rm -f"
}

# A GoogleTest binary, run as `bazel test` would: from its runfiles, with TEST_SRCDIR,
# TEST_WORKSPACE and a fresh TEST_TMPDIR.
case_gtest() {
  local bin=$root/tests/$1 srcdir tmp rc passed failed skipped skips
  if [ -n "${TEST_SRCDIR:-}" ] && [ ! -d "$bin.runfiles" ]; then srcdir=$TEST_SRCDIR; else srcdir=$bin.runfiles; fi
  tmp=$(mktemp -d /tmp/gtest.XXXXXX)
  (cd "$srcdir/nslab" && TEST_SRCDIR=$srcdir TEST_TMPDIR=$tmp tmo 900 "$bin" --gtest_color=no \
     ${2:+--gtest_filter=-$2})
  rc=$?
  rm -rf "$tmp"
  local log=$logs/gtest_$1.log
  passed=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" | grep -oE '[0-9]+$')
  skipped=$(grep -oE '^\[  SKIPPED \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | head -1)
  failed=$(grep -E '^\[  FAILED  \] [A-Za-z0-9_/]+\.[A-Za-z0-9_/]+' "$log" | awk '{print $4}' | sort -u | tr '\n' ' ')
  # A skipped test did not pass either: here, in a VM made for it, every case must run.
  skips=$(grep -E '^\[  SKIPPED \] [A-Za-z0-9_/]+\.[A-Za-z0-9_/]+' "$log" | awk '{print $4}' | sort -u | tr '\n' ' ')
  why="exit $rc, ${passed:-0} passed${skipped:+, $skipped skipped: $skips}"
  [ -n "$failed" ] && why="$why, failed: $failed"
  [ $rc -eq 124 ] && why="$why (timed out)"
  [ -n "${2:-}" ] && why="$why (left out here: $2)"
  [ $rc -eq 0 ] && [ -z "$skipped" ]
}

# Nothing of ours is left: no cgroup, no systemd unit, no mount, no veth, no state.
case_leftovers() {
  local left=()
  local cgs mounts links units state i
  if [ "$boot" = systemd ]; then
    # systemd notices an emptied scope through cgroup.events and unloads the unit (and
    # then our StopWhenUnneeded slice) from its event loop, a moment after the last
    # process is gone; under TCG that moment can take seconds. Wait for it, bounded:
    # what is still there after 20 s is left behind. The states go to the log.
    for i in $(seq 40); do
      [ -z "$(systemctl list-units --all --plain --no-legend 'nslab*' 2>/dev/null |
                awk '$1 != "nslab\\x2dvm.mount"')" ] && break
      sleep 0.5
    done
    echo "systemd settled after $i round(s) of 0.5 s"
    systemctl list-units --all --plain --no-legend 'nslab*'
    systemctl list-units --all --plain --no-legend 'nslab-*.scope' 2>/dev/null |
      awk '{print $1}' | xargs -r systemctl status --no-pager --lines 5
  fi
  cgs=$(find /sys/fs/cgroup -type d -name '*nslab*' 2>/dev/null)
  [ -n "$cgs" ] && left+=("cgroups: $(echo $cgs)")
  if [ "$boot" = systemd ]; then
    # (nslab\x2dvm.mount is this VM's own results share.)
    units=$(systemctl list-units --all --plain --no-legend 'nslab*' 2>/dev/null |
              awk '$1 != "nslab\\x2dvm.mount" {print $1}')
    [ -n "$units" ] && left+=("units: $(echo $units)")
  fi
  # The image store and the results share are this VM's own mounts; anything else named
  # nslab (a container's rootfs, an overlay) is a leftover.
  mounts=$(awk '$5 ~ /nslab/ && $5 != "/var/lib/nslab" && $5 != "/nslab-vm" {print $5}' /proc/self/mountinfo)
  [ -n "$mounts" ] && left+=("mounts: $(echo $mounts)")
  links=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^nsl[0-9a-f]+[hc]$')
  [ -n "$links" ] && left+=("links: $(echo $links)")
  state=$(ls /run/nslab 2>/dev/null | grep -v '^net$' | tr '\n' ' ')
  echo "cgroups: $cgs"; echo "units: ${units:-}"; echo "mounts: $mounts"; echo "links: $links"
  echo "/run/nslab: $(ls -A /run/nslab 2>/dev/null | tr '\n' ' ')"
  ip -o link show
  if [ ${#left[@]} -gt 0 ]; then why="left behind: ${left[*]}"; return 1; fi
  why="no nslab cgroup, unit, mount or veth"
  ip link show nslab0 > /dev/null 2>&1 && why="$why (the nslab0 bridge stays, as docker0 does)"
  return 0
}

# --- run them ---------------------------------------------------------------------------
echo "guest: $(uname -r), boot $boot, pid 1 $(cat /proc/1/comm), $(cut -d: -f3 /proc/self/cgroup)," \
     "cases start $(cut -d' ' -f1 /proc/uptime) s after the kernel did"
run_case layout case_layout
for l in "${labs[@]}"; do run_case "demo_$l" case_demo "$l"; done
run_case 10_memory case_10_memory
run_case 10_pids case_10_pids
run_case 10_cpu case_10_cpu
run_case 11_memory case_11_memory
run_case 11_memory_max case_11_memory_max
run_case 11_detached case_11_detached
run_case gtest_cgroup_test case_gtest cgroup_test
run_case gtest_lab_10 case_gtest lab_10 Lab10Test.CpuQuotaThrottles  # see case_10_cpu
run_case gtest_lab_11 case_gtest lab_11
run_case leftovers case_leftovers
exit 0
