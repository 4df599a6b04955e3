#!/usr/bin/env bash
# tests/vm/vm_test.sh — the VM stage of `bazel test //...`: the labs on the hosts students
# have, which this development host is not. Two boots of the stock Debian kernel in QEMU
# (scripts/vm), both with a pure cgroup v2 hierarchy:
#
#   systemd  systemd as PID 1, the cases run from root's login shell on the console,
#            a cgroup that holds other processes (as a student's terminal does)
#   plain    no systemd, the cases run in the root cgroup, nothing enabled below it
#
# In each, tests/vm/guest_cases.sh runs every lab's demo, the limits of labs 10 and 11,
# a detached container, the cgroup_test / lab_10 / lab_11 GoogleTest binaries, and then
# checks that nothing of ours is left; it writes one line per case. This test asserts
# every expected case of both boots from those lines: a missing line is a failure too.
# Each case is its own <testcase> in the JUnit XML that Bazel keeps (and CI counts), and
# the guests' logs are kept in the test's undeclared outputs (outputs.zip).
#
# The two guests boot at the same time, one virtual CPU each (NSLAB_VM_SERIAL=1: one
# after the other, two CPUs each): under TCG each guest is CPU-bound and mostly runs one
# process at a time, so two single-CPU guests use this 2-core machine best.
set -u

rf=${TEST_SRCDIR:?run me with bazel test}/${TEST_WORKSPACE:-nslab}
vm=$rf/scripts/vm
guest=$rf/tests/vm/guest_cases.sh
work=${TEST_TMPDIR:?}/vm
keep=${TEST_UNDECLARED_OUTPUTS_DIR:-$work}
mkdir -p "$work"

boots=(systemd plain)
cases=(layout)
for l in 00_doctor 01_process 02_proc_ns 03_clone 04_uts 05_pid 06_mount 07_ipc 08_net \
         09_user 10_cgroup 11_container; do
  cases+=("demo_$l")
done
cases+=(10_memory 10_pids 10_cpu 11_memory 11_memory_max 11_detached gtest_cgroup_test gtest_lab_10
        gtest_lab_11 leftovers)

# Boot both; every QEMU is scripts/vm's child, killed by it on any exit (and by the kernel
# if scripts/vm itself is SIGKILLed: it runs QEMU with a parent-death signal).
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait; }
trap stop EXIT
trap 'exit 143' TERM INT
start=$SECONDS
for b in "${boots[@]}"; do
  flag=--systemd; [ "$b" = plain ] && flag=--no-systemd
  mkdir -p "$work/$b"
  if [ -n "${NSLAB_VM_SERIAL:-}" ]; then
    "$vm" run "$flag" --out "$work/$b" "$guest" "$b" "$rf" > "$work/$b.host.log" 2>&1
    echo "vm_test: $b boot: scripts/vm exited $? after $((SECONDS - start)) s"
  else
    NSLAB_VM_CPUS=1 "$vm" run "$flag" --out "$work/$b" "$guest" "$b" "$rf" \
      > "$work/$b.host.log" 2>&1 &
    pids+=($!)
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"
  echo "vm_test: ${boots[$i]} boot: scripts/vm exited $? after $((SECONDS - start)) s"
done
pids=()
echo "vm_test: both boots took $((SECONDS - start)) s"

# --- assert, one check per case and boot --------------------------------------------------
xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
failed=()
total=0
xml=""
for b in "${boots[@]}"; do
  summary=$work/$b/summary
  echo
  echo "== $b boot =="
  sed 's/^/  /' "$work/$b.host.log"
  for c in "${cases[@]}"; do
    total=$((total + 1))
    line=$(grep -m1 "^case $c " "$summary" 2>/dev/null)
    status=$(awk '{print $3}' <<< "$line")
    detail=$(cut -d' ' -f4- <<< "$line")
    if [ -z "$line" ]; then
      status=FAIL
      detail="no result: the guest stopped before this case (see $b/console.log)"
    fi
    printf '  %-4s %-22s %s\n' "$status" "$c" "$detail"
    xml+="    <testcase name=\"$c\" classname=\"vm.$b\">"
    if [ "$status" != ok ]; then
      failed+=("$b/$c")
      xml+="<failure message=\"$(xml_escape <<< "$detail")\">"
      [ -f "$work/$b/cases/$c.log" ] && xml+=$(tail -n 40 "$work/$b/cases/$c.log" | xml_escape)
      xml+="</failure>"
    fi
    xml+="</testcase>"$'\n'
  done
done

if [ -n "${XML_OUTPUT_FILE:-}" ]; then
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<testsuites tests=\"$total\" failures=\"${#failed[@]}\">"
    echo "  <testsuite name=\"vm_test\" tests=\"$total\" failures=\"${#failed[@]}\">"
    printf '%s' "$xml"
    echo "  </testsuite>"
    echo "</testsuites>"
  } > "$XML_OUTPUT_FILE"
fi

# The guests' logs, for whoever reads a failure.
[ "$keep" != "$work" ] && cp -r "$work"/. "$keep"/ 2>/dev/null

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "vm_test: ${#failed[@]} of $total cases failed: ${failed[*]}"
  exit 1
fi
echo "vm_test: all $total cases passed"
