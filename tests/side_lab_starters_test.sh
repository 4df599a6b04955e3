#!/usr/bin/env bash
# The side labs' starters (tests/grading/<lab>/starter.patch) still apply to the
# sources they patch, and take out what the exercises ask for: a starter that no
# longer applies would hand students a broken tree. (That a starter builds, fails
# its grading table and passes with the solution was checked by applying it and
# running the lab's tests; see the lab's page, section Exercises.)
set -euo pipefail
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
status=0
# Side labs only (04a, 09b): the main labs' patches are assignment_patches_test's.
for p in tests/grading/[0-9][0-9][a-z]/starter.patch; do
  work="$(mktemp -d "${TEST_TMPDIR}/starter.XXXXXX")"
  # A copy of exactly the files the patch touches (runfiles are symlinks).
  for f in $(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$p"); do
    mkdir -p "$work/$(dirname "$f")"
    cp -L "$f" "$work/$f"
  done
  if ! (cd "$work" && patch -p1 --quiet --no-backup-if-mismatch < "$OLDPWD/$p"); then
    echo "FAIL: $p does not apply" >&2
    status=1
    continue
  fi
  # Every TODO the patch adds is in the patched tree, every file changed.
  n=$(grep -c '^+.*TODO(lab ' "$p" || true)
  m=$(grep -rc 'TODO(lab ' "$work" | awk -F: '{s+=$2} END {print s+0}')
  if [ "$n" -eq 0 ] || [ "$m" -lt "$n" ]; then
    echo "FAIL: $p: $n TODO lines in the patch, $m in the patched tree" >&2
    status=1
  fi
  for f in $(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$p"); do
    if cmp -s "$f" "$work/$f"; then echo "FAIL: $p leaves $f unchanged" >&2; status=1; fi
  done
  echo "ok: $p"
done
exit $status
