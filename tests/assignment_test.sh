#!/usr/bin/env bash
# assignment_test — the lab 03 assignment works end to end: scripts/check_assignment 3
# generates the starter tree from the real source tree, builds it with a Bazel of its
# own (output base under TEST_TMPDIR), checks it leaks nothing, fails the autograder,
# and passes once the solutions are restored.
#
# It needs the source tree itself (git ls-files), not the runfiles, so the test runs
# unsandboxed (tags no-sandbox) and follows the runfile symlink of the script back to
# the workspace. A nested Bazel build takes a few minutes on a cold cache: size large.
set -euo pipefail
script="$TEST_SRCDIR/${TEST_WORKSPACE:-nslab}/scripts/check_assignment"
real=$(readlink -f "$script")
workspace=$(cd "$(dirname "$real")/.." && pwd)
if [ ! -f "$workspace/WORKSPACE" ]; then
  echo "assignment_test: cannot find the source workspace from $script (run unsandboxed)" >&2
  exit 1
fi
work="${TEST_TMPDIR:-$(mktemp -d)}/check_03"
export HOME="${HOME:-$TEST_TMPDIR}"
"$workspace/scripts/check_assignment" 3 "$work"
status=$?
chmod -R u+w "$work" 2>/dev/null || true
rm -rf "$work"
exit $status
