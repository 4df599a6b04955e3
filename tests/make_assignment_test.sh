#!/usr/bin/env bash
# solution-markers: off  (this test writes regions into a fake tree)
# make_assignment_test — the generator's rules on a small fake course tree (no Bazel):
# lab NN's regions become stubs (default or STUB lines), earlier labs' stay solved
# without markers, later labs' files, tests, docs, grading tables, marked modules and
# the BUILD rules that use them are gone; bad markers are refused with file:line.
set -euo pipefail
gen="$TEST_SRCDIR/${TEST_WORKSPACE:-nslab}/scripts/make_assignment"
tmp="${TEST_TMPDIR:-$(mktemp -d)}/mat"
rm -rf "$tmp"
src="$tmp/src"
mkdir -p "$src/labs" "$src/common" "$src/tests/grading" "$src/docs/img"
fails=0
check() {  # check "what" command...
  if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}

cat >"$src/labs/01_a.cc" <<'EOF'
#include "common/lab.h"
int One() {
  // BEGIN SOLUTION 01: return one
  return 1;
  // END SOLUTION 01
}
EOF
cat >"$src/labs/02_b.cc" <<'EOF'
#include "common/lab.h"
int Two() {
  int x = 0;
    // BEGIN SOLUTION 02: compute two
    x = 2;
    // END SOLUTION 02
  // BEGIN SOLUTION 02
  int y = x;
  // STUB: int y = 0;
  // STUB: throw UsageError("custom stub");
  // END SOLUTION 02
  return y;
}
EOF
cat >"$src/labs/03_c.cc" <<'EOF'
int Three() { return 3; }  // holds lab 02's answer too: x = 2;
EOF
cat >"$src/common/net.cc" <<'EOF'
// net — SOLUTION FILE 03
int Net() { return 3; }
EOF
cat >"$src/common/core.cc" <<'EOF'
#include "common/error.h"
int Core() {
  // BEGIN SOLUTION 03: later lab
  return 33;
  // END SOLUTION 03
}
EOF
cat >"$src/labs/BUILD" <<'EOF'
load("@rules_cc//cc:defs.bzl", "cc_binary")

cc_binary(
    name = "01_a",
    srcs = ["01_a.cc"],
)

cc_binary(
    name = "02_b",
    srcs = ["02_b.cc"],
    deps = ["//common:core"],
)

# lab 03's binary
cc_binary(
    name = "03_c",
    srcs = ["03_c.cc"],
    deps = ["//common:net"],
)
EOF
cat >"$src/common/BUILD" <<'EOF'
cc_library(
    name = "core",
    srcs = ["core.cc"],
)

cc_library(
    name = "net",
    srcs = ["net.cc"],
)
EOF
cat >"$src/tests/BUILD" <<'EOF'
cc_test(
    name = "lab_02",
    srcs = ["lab_02_test.cc"],
    data = ["//labs:02_b"],
)

cc_test(
    name = "lab_03",
    srcs = ["lab_03_test.cc"],
    data = ["//labs:03_c"],
)

cc_test(
    name = "net_test",
    srcs = ["net_test.cc"],
    deps = ["//common:net"],
)
EOF
for f in tests/lab_02_test.cc tests/lab_03_test.cc tests/net_test.cc tests/grading/02.txt \
         tests/grading/03.txt docs/03_c.md docs/img/03_c.svg; do echo x >"$src/$f"; done
cat >"$src/docs/02_b.md" <<'EOF'
# 02_b
<!-- BEGIN SOLUTION 02: describe the diff -->
The answer is x = 2.
<!-- END SOLUTION 02 -->
EOF

out="$tmp/out"
"$gen" --source "$src" 2 "$out" >"$tmp/log"
cat "$tmp/log"

check "lab 01's region is kept, without markers" grep -qx '  return 1;' "$out/labs/01_a.cc"
check "no marker is left in lab 01" bash -c "! grep -q SOLUTION '$out/labs/01_a.cc'"
check "lab 02's region becomes a default stub at its indentation" \
  grep -qxF '    throw ::nslab::UsageError("TODO(lab 02): compute two (see docs/02_b.md)");' "$out/labs/02_b.cc"
check "the answer of lab 02 is gone" bash -c "! grep -q 'x = 2;' '$out/labs/02_b.cc'"
check "STUB lines replace their region" grep -qx '  int y = 0;' "$out/labs/02_b.cc"
check "...and are the only code of it" bash -c "! grep -q 'int y = x' '$out/labs/02_b.cc'"
check "error.h is included for the stubs" grep -q '#include "common/error.h"' "$out/labs/02_b.cc"
check "a Markdown region becomes a TODO note" grep -q '^> \*\*TODO (lab 02)\*\*: describe the diff' "$out/docs/02_b.md"
check "the Markdown answer is gone" bash -c "! grep -q 'x = 2' '$out/docs/02_b.md'"
for f in labs/03_c.cc common/net.cc tests/lab_03_test.cc tests/net_test.cc tests/grading/03.txt docs/03_c.md docs/img/03_c.svg; do
  check "later lab's $f is removed" test ! -e "$out/$f"
done
check "a later lab's region elsewhere is stubbed" grep -q 'TODO(lab 03): later lab' "$out/common/core.cc"
check "lab 02's grading table stays" test -e "$out/tests/grading/02.txt"
check "BUILD: lab 03's binary is pruned" bash -c "! grep -q '03_c' '$out/labs/BUILD'"
check "BUILD: its comment goes with it" bash -c "! grep -q \"lab 03's binary\" '$out/labs/BUILD'"
check "BUILD: lab 02's binary stays" grep -q 'name = "02_b"' "$out/labs/BUILD"
check "BUILD: the marked module is pruned" bash -c "! grep -q '\"net\"' '$out/common/BUILD'"
check "BUILD: rules using it are pruned" bash -c "! grep -q 'net_test\|lab_03' '$out/tests/BUILD'"
check "BUILD: the autograder target stays" grep -q 'name = "lab_02"' "$out/tests/BUILD"
check "ASSIGNMENT.md says how to grade" grep -q 'scripts/grade 2' "$out/ASSIGNMENT.md"

"$gen" --source "$src" --solution 2 "$tmp/sol" >/dev/null
check "--solution keeps lab 02's answer" grep -qx '    x = 2;' "$tmp/sol/labs/02_b.cc"
check "--solution still strips later labs" test ! -e "$tmp/sol/labs/03_c.cc"

check "a non-empty OUTDIR is refused" bash -c "! '$gen' --source '$src' 2 '$out' 2>/dev/null"
check "an OUTDIR inside the source is refused" bash -c "! '$gen' --source '$src' 2 '$src/x' 2>/dev/null"
printf 'int f() {\n  // BEGIN SOLUTION 02\n  return 1;\n}\n' >"$src/common/bad.cc"
msg=$("$gen" --source "$src" 2 "$tmp/bad" 2>&1 || true)
check "an unterminated region is refused with file:line ($msg)" grep -q 'common/bad.cc:2: BEGIN SOLUTION 02 has no END' <<<"$msg"
printf '// BEGIN SOLUTION 02\n// BEGIN SOLUTION 03\n// END SOLUTION 03\n// END SOLUTION 02\n' >"$src/common/bad.cc"
msg=$("$gen" --source "$src" 2 "$tmp/bad2" 2>&1 || true)
check "nested regions are refused ($msg)" grep -q 'common/bad.cc:2: solution regions cannot nest' <<<"$msg"
rm "$src/common/bad.cc"

# tests/grading/modules.txt assigns whole files to labs; a wrong entry that would take
# lab 02's own binary away is refused, naming the chain.
printf 'common/core.* 2\n' >"$src/tests/grading/modules.txt"
"$gen" --source "$src" 1 "$tmp/mod" >/dev/null
check "a module listed for lab 02 is absent from lab 01's tree" test ! -e "$tmp/mod/common/core.cc"
check "...with the rules that use it" bash -c "! grep -q '02_b\|\"core\"' '$tmp/mod/labs/BUILD' '$tmp/mod/common/BUILD'"
printf 'common/core.* 3\n' >"$src/tests/grading/modules.txt"
msg=$("$gen" --source "$src" 2 "$tmp/mod2" 2>&1 || true)
check "a module table that strips lab 02's binary is refused ($msg)" \
  grep -q "lab 02 would lose //labs:02_b: //labs:02_b <- //common:core <- uses common/core.cc, of lab 3" <<<"$msg"
rm "$src/tests/grading/modules.txt"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
