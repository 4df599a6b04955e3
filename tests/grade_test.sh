#!/usr/bin/env bash
# grade_test — scripts/grade's arithmetic on a fake workspace: test cases mapped to
# exercises through tests/grading/NN.txt, globs, a case that did not run, a target
# that did not build, and the exit status (0 only with full marks). A fake `bazel`
# prints the verdict lines and leaves the test.xml a real run would.
set -euo pipefail
src="$TEST_SRCDIR/${TEST_WORKSPACE:-nslab}/scripts/grade"
ws="${TEST_TMPDIR:-$(mktemp -d)}/grade_ws"
rm -rf "$ws"
mkdir -p "$ws/scripts" "$ws/tests/grading" "$ws/bazel-testlogs/tests/lab_05" \
  "$ws/bazel-testlogs/tests/pid_test"
cp "$src" "$ws/scripts/grade"
fails=0
check() { if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

cat >"$ws/tests/grading/05.txt" <<'T'
# exercise points cases
pid-one      4  Lab05Test.ChildIsPid1 Lab05Test.Host*
reaping      3  Lab05Test.ReapsOrphans
unit         2  //tests:pid_test:PidTest.Parse
missing      1  Lab05Test.NoSuchCase
T
cat >"$ws/bazel-testlogs/tests/lab_05/test.xml" <<'X'
<testsuites><testsuite name="Lab05Test">
<testcase name="ChildIsPid1" classname="Lab05Test"/>
<testcase name="HostSeesOtherPid" classname="Lab05Test"/>
<testcase name="HostUnchanged" classname="Lab05Test"/>
<testcase name="ReapsOrphans" classname="Lab05Test"><failure message="zombie left"/></testcase>
<testcase name="Extra" classname="Lab05Test"/>
</testsuite></testsuites>
X
cp "$ws/bazel-testlogs/tests/lab_05/test.xml" "$ws/bazel-testlogs/tests/pid_test/test.xml"
fake="$ws/fakebazel"
printf '#!/bin/sh\necho "//tests:lab_05      FAILED in 0.3s"\necho "//tests:pid_test    FAILED TO BUILD"\nexit 3\n' >"$fake"
chmod +x "$fake"

out=$("$ws/scripts/grade" 5 --quiet --bazel "$fake") && status=0 || status=$?
echo "$out"
check "exit status 1 without full marks" test "$status" = 1
check "all cases of an exercise pass, with a glob: full points" grep -q '^  pid-one  *4/4  *ok$' <<<"$out"
check "a failed case: no points, named" grep -q '^  reaping  *0/3  *FAIL: Lab05Test.ReapsOrphans failed$' <<<"$out"
check "a target that did not build fails its cases" grep -q '^  unit  *0/2  *FAIL: //tests:pid_test failed to build$' <<<"$out"
check "a case that did not run counts as failed" grep -q '^  missing  *0/1  *FAIL: Lab05Test.NoSuchCase did not run$' <<<"$out"
check "the total" grep -q '^  total  *4/10$' <<<"$out"
check "unmapped cases are listed" grep -q 'not graded: Lab05Test.Extra' <<<"$out"

# Full marks: every case passes and the other target built.
sed -i 's|<failure message="zombie left"/>||' "$ws/bazel-testlogs/tests/lab_05/test.xml"
sed -i 's|^missing.*||' "$ws/tests/grading/05.txt"
printf '<testsuites><testsuite name="PidTest"><testcase name="Parse" classname="PidTest"/></testsuite></testsuites>\n' \
  >"$ws/bazel-testlogs/tests/pid_test/test.xml"
printf '#!/bin/sh\necho "//tests:lab_05      PASSED in 0.3s"\necho "//tests:pid_test    (cached) PASSED in 0.1s"\n' >"$fake"
out=$("$ws/scripts/grade" 5 --quiet --bazel "$fake") && status=0 || status=$?
echo "$out"
check "full marks exit 0" test "$status" = 0
check "full total" grep -q '^  total  *9/9$' <<<"$out"

# A side lab: its table tests/grading/09a.txt, its default target //tests:lab_09a.
mkdir -p "$ws/bazel-testlogs/tests/lab_09a"
printf 'maps  3  Lab09aTest.Maps\nother 1  Lab09aTest.Other\n' >"$ws/tests/grading/09a.txt"
printf '<testsuites><testsuite name="Lab09aTest"><testcase name="Maps" classname="Lab09aTest"/><testcase name="Other" classname="Lab09aTest"><failure message="no"/></testcase></testsuite></testsuites>\n' \
  >"$ws/bazel-testlogs/tests/lab_09a/test.xml"
printf '#!/bin/sh\necho "//tests:lab_09a      FAILED in 0.3s"\nexit 3\n' >"$fake"
out=$("$ws/scripts/grade" 09a --quiet --bazel "$fake") && status=0 || status=$?
echo "$out"
check "a side lab is graded from its own table and target" grep -q '^grade: lab 09a (//tests:lab_09a)$' <<<"$out"
check "a side lab's points" grep -q '^  maps  *3/3  *ok$' <<<"$out"
check "a side lab's total and status" bash -c "grep -q '^  total  *3/4$' <<<'$out' && test $status = 1"
check "a malformed lab id is refused" bash -c "! '$ws/scripts/grade' 9ab --no-run 2>/dev/null"

check "a lab without a table is refused" bash -c "! '$ws/scripts/grade' 7 --no-run 2>/dev/null"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
