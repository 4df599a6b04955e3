#!/usr/bin/env bash
# assignment_patches_test — every lab's starter (tests/grading/NN/starter.patch) still
# applies to the sources, leaks none of the lab's answer, holds its TODO stubs, and
# its patched files compile with the build's compiler and warnings: scripts/
# check_assignment --static NN for NN = 01..11. No nested Bazel (that is
# assignment_test, for lab 03, and `scripts/check_assignment NN` by hand), so it runs
# in a few minutes at most. It needs the source tree (git ls-files), not runfiles:
# unsandboxed, like assignment_test.
set -euo pipefail
script="$TEST_SRCDIR/${TEST_WORKSPACE:-nslab}/scripts/check_assignment"
workspace=$(cd "$(dirname "$(readlink -f "$script")")/.." && pwd)
[ -f "$workspace/WORKSPACE" ] || { echo "assignment_patches_test: no workspace from $script" >&2; exit 1; }
fails=0
for lab in 1 2 3 4 5 6 7 8 9 10 11; do
  if "$workspace/scripts/check_assignment" --static "$lab" "${TEST_TMPDIR:-/tmp}/static_$lab"; then
    echo "ok   lab $lab"
  else
    echo "FAIL lab $lab"; fails=$((fails + 1))
  fi
  rm -rf "${TEST_TMPDIR:-/tmp}/static_$lab"
done
echo "$fails lab(s) failed"
[ "$fails" -eq 0 ]
