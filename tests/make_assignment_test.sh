#!/usr/bin/env bash
# make_assignment_test — the generator's rules on a small fake course tree (no Bazel):
# lab NN's starter patch is applied (earlier labs stay as they are), later labs'
# files, tests, docs, grading tables, listed modules and the BUILD rules that use them
# are gone, no patch reaches a tree; a patch that no longer applies is refused naming
# the patch, file and line; --save turns an edited starter back into the patch.
set -euo pipefail
gen="$TEST_SRCDIR/${TEST_WORKSPACE:-nslab}/scripts/make_assignment"
tmp="${TEST_TMPDIR:-$(mktemp -d)}/mat"
rm -rf "$tmp"
src="$tmp/src"
mkdir -p "$src/labs" "$src/common" "$src/tests/grading/02" "$src/tests/grading/03" "$src/docs/img"
fails=0
check() {  # check "what" command...
  if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}

cat >"$src/labs/01_a.cc" <<'EOF'
#include "common/lab.h"
int One() {
  return 1;
}
EOF
cat >"$src/labs/02_b.cc" <<'EOF'
#include "common/lab.h"
int Two() {
  int x = 0;
    x = 2;
  int y = x;
  return y;
}
EOF
cat >"$src/labs/03_c.cc" <<'EOF'
int Three() { return 3; }  // holds lab 02's answer too: x = 2;
EOF
cat >"$src/common/net.cc" <<'EOF'
int Net() { return 3; }
EOF
cat >"$src/common/core.cc" <<'EOF'
#include "common/error.h"
int Core() {
  return 33;
}
EOF
cat >"$src/tests/grading/02/starter.patch" <<'EOF'
--- a/labs/02_b.cc
+++ b/labs/02_b.cc
@@ -1,7 +1,7 @@
 #include "common/lab.h"
 int Two() {
   int x = 0;
-    x = 2;
-  int y = x;
+    throw UsageError("TODO(lab 02): compute two (see docs/02_b.md)");
+  int y = 0;
   return y;
 }
--- a/docs/02_b.md
+++ b/docs/02_b.md
@@ -1,2 +1,2 @@
 # 02_b
-The answer is x = 2.
+> **TODO (lab 02)**: describe the diff
EOF
echo x >"$src/tests/grading/03/starter.patch"
printf '# 02_b\nThe answer is x = 2.\n' >"$src/docs/02_b.md"
printf 'common/net.* 3\n' >"$src/tests/grading/modules.txt"
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

out="$tmp/out"
"$gen" --source "$src" 2 "$out" >"$tmp/log"
cat "$tmp/log"

check "lab 01 is kept as it is" grep -qx '  return 1;' "$out/labs/01_a.cc"
check "lab 02's patch puts its stub in" \
  grep -qxF '    throw UsageError("TODO(lab 02): compute two (see docs/02_b.md)");' "$out/labs/02_b.cc"
check "the answer of lab 02 is gone" bash -c "! grep -q 'x = 2;\\|int y = x' '$out/labs/02_b.cc'"
check "a Markdown hunk becomes a TODO note" grep -q '^> \*\*TODO (lab 02)\*\*: describe the diff' "$out/docs/02_b.md"
check "the Markdown answer is gone" bash -c "! grep -q 'x = 2' '$out/docs/02_b.md'"
check "no starter patch reaches the tree" test ! -e "$out/tests/grading/02"
for f in labs/03_c.cc common/net.cc tests/lab_03_test.cc tests/net_test.cc tests/grading/03.txt docs/03_c.md docs/img/03_c.svg; do
  check "later lab's $f is removed" test ! -e "$out/$f"
done
check "lab 02's grading table stays" test -e "$out/tests/grading/02.txt"
check "BUILD: lab 03's binary is pruned" bash -c "! grep -q '03_c' '$out/labs/BUILD'"
check "BUILD: its comment goes with it" bash -c "! grep -q \"lab 03's binary\" '$out/labs/BUILD'"
check "BUILD: lab 02's binary stays" grep -q 'name = "02_b"' "$out/labs/BUILD"
check "BUILD: the listed module is pruned" bash -c "! grep -q '\"net\"' '$out/common/BUILD'"
check "BUILD: rules using it are pruned" bash -c "! grep -q 'net_test\|lab_03' '$out/tests/BUILD'"
check "BUILD: the autograder target stays" grep -q 'name = "lab_02"' "$out/tests/BUILD"
check "ASSIGNMENT.md says how to grade" grep -q 'scripts/grade 2' "$out/ASSIGNMENT.md"

"$gen" --source "$src" --solution 2 "$tmp/sol" >/dev/null
check "--solution keeps lab 02's answer" grep -qx '    x = 2;' "$tmp/sol/labs/02_b.cc"
check "--solution still strips later labs" test ! -e "$tmp/sol/labs/03_c.cc"

check "a non-empty OUTDIR is refused" bash -c "! '$gen' --source '$src' 2 '$out' 2>/dev/null"
check "an OUTDIR inside the source is refused" bash -c "! '$gen' --source '$src' 2 '$src/x' 2>/dev/null"
check "a lab without a patch is refused" bash -c "! '$gen' --source '$src' 1 '$tmp/nopatch' 2>/dev/null"

cp "$src/labs/02_b.cc" "$tmp/02_b.cc.orig"
sed -i 's/int x = 0;/int x = -1;/' "$src/labs/02_b.cc"
msg=$("$gen" --source "$src" 2 "$tmp/bad" 2>&1 || true)
check "a patch that no longer applies is refused naming it ($msg)" \
  grep -q 'tests/grading/02/starter.patch: the hunk for labs/02_b.cc:1 does not apply' <<<"$msg"
cp "$tmp/02_b.cc.orig" "$src/labs/02_b.cc"
"$gen" --source "$src" 2 "$tmp/edit" >/dev/null
sed -i 's/int y = 0;/int y = 7;/' "$tmp/edit/labs/02_b.cc"
"$gen" --source "$src" --save 2 "$tmp/edit" >/dev/null
check "--save writes the edited starter as the patch" grep -qx '+  int y = 7;' "$src/tests/grading/02/starter.patch"
"$gen" --source "$src" 2 "$tmp/again" >/dev/null
check "...which applies again" grep -qx '  int y = 7;' "$tmp/again/labs/02_b.cc"

# tests/grading/modules.txt assigns whole files to labs; a wrong entry that would take
# lab 02's own binary away is refused, naming the chain.
printf 'common/core.* 2\ncommon/net.* 3\n' >"$src/tests/grading/modules.txt"
mkdir -p "$src/tests/grading/01" && : >"$src/tests/grading/01/starter.patch"
"$gen" --source "$src" 1 "$tmp/mod" >/dev/null
check "a module listed for lab 02 is absent from lab 01's tree" test ! -e "$tmp/mod/common/core.cc"
check "...with the rules that use it" bash -c "! grep -q '02_b\|\"core\"' '$tmp/mod/labs/BUILD' '$tmp/mod/common/BUILD'"
printf 'common/core.* 3\ncommon/net.* 3\n' >"$src/tests/grading/modules.txt"
msg=$("$gen" --source "$src" 2 "$tmp/mod2" 2>&1 || true)
check "a module table that strips lab 02's binary is refused ($msg)" \
  grep -q "lab 02 would lose //labs:02_b: //labs:02_b <- //common:core <- uses common/core.cc, of lab 3" <<<"$msg"

# A side lab (02a, 02b branch from lab 02): its tree has lab 02 solved and 02a's
# starter, none of its sibling 02b nor of lab 03; lab 02's own tree has no side lab
# (each extends lab 02's main: it holds lab 02's answer).
printf 'common/core.* 2\ncommon/net.* 3\ncommon/sidea.* 02a\n' >"$src/tests/grading/modules.txt"
mkdir -p "$src/tests/grading/02a"
cat >"$src/labs/02a_side.cc" <<'EOF2'
int Two();
int SideA() {
  return Two() + 40;
}
EOF2
printf 'int SideB() { return 2; }  // x = 2;\n' >"$src/labs/02b_other.cc"
printf 'int SideAHelper() { return 1; }\n' >"$src/common/sidea.cc"
for f in docs/02a_side.md tests/lab_02a_test.cc tests/grading/02a.txt docs/02b_other.md \
         tests/lab_02b_test.cc tests/grading/02b.txt; do echo x >"$src/$f"; done
cat >>"$src/labs/BUILD" <<'EOF2'

cc_binary(
    name = "02a_side",
    srcs = ["02a_side.cc"],
    deps = ["//common:sidea"],
)

cc_binary(
    name = "02b_other",
    srcs = ["02b_other.cc"],
)
EOF2
cat >>"$src/common/BUILD" <<'EOF2'

cc_library(
    name = "sidea",
    srcs = ["sidea.cc"],
)
EOF2
cat >"$src/tests/grading/02a/starter.patch" <<'EOF2'
diff -ru a/labs/02a_side.cc b/labs/02a_side.cc
--- a/labs/02a_side.cc
+++ b/labs/02a_side.cc
@@ -1,4 +1,4 @@
 int Two();
 int SideA() {
-  return Two() + 40;
+  throw UsageError("TODO(lab 02a): add forty (see docs/02a_side.md)");
 }
EOF2
"$gen" --source "$src" 02a "$tmp/side" >/dev/null
check "side lab 02a: its starter (diff -ru headers) is applied" grep -q 'TODO(lab 02a): add forty' "$tmp/side/labs/02a_side.cc"
check "side lab 02a: its base lab 02 is solved" grep -qx '    x = 2;' "$tmp/side/labs/02_b.cc"
for f in common/sidea.cc docs/02a_side.md tests/lab_02a_test.cc tests/grading/02a.txt; do
  check "side lab 02a: its $f is kept" test -e "$tmp/side/$f"
done
for f in labs/02b_other.cc docs/02b_other.md tests/lab_02b_test.cc tests/grading/02b.txt labs/03_c.cc; do
  check "side lab 02a: sibling's or later lab's $f is removed" test ! -e "$tmp/side/$f"
done
check "side lab 02a: no patch reaches the tree" test ! -e "$tmp/side/tests/grading/02a"
check "side lab 02a: BUILD keeps its binary, drops its sibling's" \
  bash -c "grep -q '\"02a_side\"' '$tmp/side/labs/BUILD' && ! grep -q '02b_other' '$tmp/side/labs/BUILD'"
check "side lab 02a: ASSIGNMENT.md grades it by its id" grep -q 'scripts/grade 02a' "$tmp/side/ASSIGNMENT.md"
"$gen" --source "$src" --solution 2 "$tmp/base" >/dev/null
for f in labs/02a_side.cc common/sidea.cc labs/02b_other.cc tests/grading/02a.txt; do
  check "lab 02's tree has no side lab file $f" test ! -e "$tmp/base/$f"
done
check "lab 02's BUILD has no side lab rule" bash -c "! grep -q '02a_side\|sidea\|02b_other' '$tmp/base/labs/BUILD' '$tmp/base/common/BUILD'"
"$gen" --source "$src" --solution 03 "$tmp/later" >/dev/null
check "lab 03's tree keeps lab 02's side labs" test -e "$tmp/later/labs/02a_side.cc" -a -e "$tmp/later/common/sidea.cc"
check "a malformed lab id is refused" bash -c "! '$gen' --source '$src' 2ab '$tmp/badid' 2>/dev/null"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
