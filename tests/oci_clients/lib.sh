# tests/oci_clients/lib.sh: what the podman and containerd tests share. Sourced, not run.
#
# The tests drive an OCI runtime (runc's command line: create/start/state/kill/delete/
# exec/...) with container managers nobody here wrote, on private state only, and
# check from outside (/proc, the mount table, cgroup files) that what they report
# is what happened. Read: runtime-spec's runtime.md (the operations), podman(1),
# conmon(8), ctr(8), containerd-config.toml(5), cgroups(7).
#
#   RUNTIME      the runtime under test, an absolute path (set by oci_init)
#   WORK         this run's private directory, /tmp/nslab-ociclients-<what>-<pid>
#   CALLS        the runtime's argv log (argv_log.sh writes one line a call)
#   RUNTIME_ROOT the runtime's --root (state), $WORK/runtime-root
#   CG_PARENT    the cgroup, beneath the caller's own, every container goes under

set -u

fail_count=0
pass_count=0

say() { printf '[oci_clients] %s\n' "$*"; }
pass() { pass_count=$((pass_count + 1)); printf 'ok   %s\n' "$*"; }
fail() { fail_count=$((fail_count + 1)); printf 'FAIL %s\n' "$*"; }

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1 ($3)"; else fail "$1: expected [$2], got [$3]"; fi
}
# expect_match WHAT REGEX TEXT   (grep -E on any line of TEXT)
expect_match() {
  if printf '%s\n' "$3" | grep -Eq -- "$2"; then pass "$1"; else
    fail "$1: no line matches /$2/ in:"; printf '%s\n' "$3" | sed 's/^/     | /'; fi
}
expect_no_match() {
  if printf '%s\n' "$3" | grep -Eq -- "$2"; then
    fail "$1: a line matches /$2/ in:"; printf '%s\n' "$3" | sed 's/^/     | /'; else pass "$1"; fi
}

# Resolves a path found in runfiles (Bazel passes rootpaths relative to the runfiles
# directory, where the test starts) to an absolute one: podman, conmon and the
# containerd shim run the runtime from other working directories.
abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd -P)" "$(basename "$1")"); }

# oci_init WHAT RUNTIME: the private directory, the argv-logging wrapper, the cgroup.
oci_init() {
  local what=$1 real
  real=$(abspath "$2") || { echo "runtime not found: $2" >&2; exit 2; }
  [ -x "$real" ] || { echo "runtime \"$real\" is not executable" >&2; exit 2; }
  [ "$(id -u)" -eq 0 ] || { echo "needs root (podman, conmon and containerd run as root here)" >&2; exit 2; }
  WORK=/tmp/nslab-ociclients-$what-$$
  rm -rf "$WORK"
  mkdir -p "$WORK/bin"
  CALLS=$WORK/calls.log
  : >"$CALLS"
  # The wrapper keeps the runtime's basename: podman passes --log-format=json only to
  # runtimes named crun or runc, and the tests must see what the real binary sees.
  RUNTIME=$WORK/bin/$(basename "$real")
  RUNTIME_ROOT=$WORK/runtime-root
  mkdir -p "$RUNTIME_ROOT"
  sed -e "s#@REAL@#$real#" -e "s#@LOG@#$CALLS#" -e "s#@ROOT@#$RUNTIME_ROOT#" \
    "$(dirname "${BASH_SOURCE[0]}")/argv_log.sh" >"$RUNTIME"
  chmod 0755 "$RUNTIME"
  REAL_RUNTIME=$real
  cgroup_init "$what"
  # Work from the private directory: conmon writes files (an `oom` marker when the
  # kernel OOM-kills the container) into the working directory podman had.
  cd "$WORK" || exit 2
}

# --- cgroups -----------------------------------------------------------------------
# This host is cgroup v1 with an empty cgroup2 at /sys/fs/cgroup/unified; the caller
# sits in a different cgroup per hierarchy (here memory:/process_api/<id>, the others
# at /). A container manager takes ONE parent path for every hierarchy, so take the
# deepest of the caller's paths, check each other one is a prefix of it (then the
# parent is beneath the caller's own cgroup in every hierarchy), and go one below.
cgroup_init() {
  local line path deepest=/
  while IFS= read -r line; do
    path=${line#*:*:}
    [ ${#path} -gt ${#deepest} ] && deepest=$path
  done </proc/self/cgroup
  while IFS= read -r line; do
    path=${line#*:*:}
    case "$deepest/" in
      "${path%/}/"*) ;;
      *) echo "the caller's cgroups are not nested ($path vs $deepest): no common parent" >&2; exit 2 ;;
    esac
  done </proc/self/cgroup
  CG_PARENT=${deepest%/}/nslab-ociclients-$1-$$
  # Mount points of every hierarchy, and which directories on the way to CG_PARENT
  # do not exist yet (podman and the runtime create them with mkdir -p; remove them
  # again at the end, deepest first, if they are empty then).
  CG_MOUNTS=$(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts)
  CG_CREATED=""
  local m d
  for m in $CG_MOUNTS; do
    d=$m
    for part in $(printf '%s' "${CG_PARENT#/}" | tr '/' ' '); do
      d=$d/$part
      [ -d "$d" ] || CG_CREATED="$d $CG_CREATED"
    done
  done
}

# Removes the cgroups of this run in every hierarchy, deepest first (a cgroup
# directory can only be removed empty, rmdir(2); the files in it are not files).
cgroup_cleanup() {
  local m d
  for m in $CG_MOUNTS; do
    [ -d "$m$CG_PARENT" ] || continue
    find "$m$CG_PARENT" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  for d in $CG_CREATED; do rmdir "$d" 2>/dev/null; done
  return 0
}

# Every cgroup directory of this run still there, one a line. The directories on the
# way to CG_PARENT that this run created are removed when empty but not checked:
# other runs (other tests, other users of the same caller cgroup) create and remove
# the same shared path at their own times.
cgroup_leftovers() {
  local m
  for m in $CG_MOUNTS; do
    [ -d "$m$CG_PARENT" ] && echo "$m$CG_PARENT"
  done
  return 0
}

# The container's cgroup directory in hierarchy CONTROLLER, from its pid (host view).
cgroup_of() {
  local pid=$1 controller=$2 line path m
  line=$(grep -E "^[0-9]+:([^:]*,)?$controller(,[^:]*)?:" "/proc/$pid/cgroup") || return 1
  path=${line#*:*:}
  for m in $CG_MOUNTS; do
    case "$m" in */"$controller" | */*,"$controller" | */"$controller",*) echo "$m$path"; return 0 ;; esac
  done
  return 1
}

# What the runtime itself left in the cgroups of the run: every directory beneath
# CG_PARENT except those named in $1 (a grep -E of names the manager makes itself).
runtime_cgroup_leftovers() {
  local m
  for m in $CG_MOUNTS; do
    [ -d "$m$CG_PARENT" ] && find "$m$CG_PARENT" -mindepth 1 -type d | grep -Ev "/(${1:-^$})\$"
  done
  return 0
}

# Polls (bounded: 20 s, for a loaded machine) until the runtime's state directory $1
# is empty; prints what is left.
runtime_state_left() {
  local i
  for i in $(seq 1 200); do
    [ -z "$(ls -A "$1" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  ls -A "$1"
}

# --- leftovers -----------------------------------------------------------------------
# Processes whose command line names this run's directory (conmon, shims, daemons):
# found by pid from /proc, never by name.
procs_of_run() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$WORK"; then
      echo "${p#/proc/} $(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | cut -c1-120)"
    fi
  done
}
mounts_of_run() { grep -F -- "$WORK" /proc/self/mounts || true; }

# Kills what is left of this run (by pid), unmounts what is left under WORK. Before
# WORK goes, the runtime's argv log is copied to $NSLAB_OCI_CALLS_OUT if that is set
# (scripts/capture_oci_clients shows it in docs/12_oci_clients.md).
kill_run_procs() {
  cd / || true   # WORK, the working directory, is about to go
  if [ -n "${NSLAB_OCI_CALLS_OUT:-}" ] && [ -f "$CALLS" ]; then cat "$CALLS" >>"$NSLAB_OCI_CALLS_OUT"; fi
  local pid rest
  procs_of_run | while read -r pid rest; do kill -9 "$pid" 2>/dev/null; done
  # The mount table, deepest first; lazily, since a dead container's overlay may still
  # be busy for a moment.
  mounts_of_run | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  return 0
}

# Checks that nothing of the run is left: processes, mounts, cgroups.
check_nothing_left() {
  local left
  left=$(procs_of_run); expect_eq "no process of the run is left" "" "$left"
  left=$(mounts_of_run); expect_eq "no mount under $WORK is left" "" "$left"
  left=$(cgroup_leftovers); expect_eq "no cgroup of the run is left" "" "$left"
}

finish() {
  say "$pass_count passed, $fail_count failed"
  [ "$fail_count" -eq 0 ]
}

# Waits (bounded, polling /proc) until pid $1 has exited: gone, or a zombie whose
# parent has not reaped it yet.
wait_exited() {
  local i
  for i in $(seq 1 300); do
    [ -d "/proc/$1" ] || return 0
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
    sleep 0.1
  done
  return 1
}

# Waits (bounded: 30 s, for a loaded machine; polling /proc) until pid $1 is gone.
wait_gone() {
  local i
  for i in $(seq 1 300); do [ -d "/proc/$1" ] || return 0; sleep 0.1; done
  return 1
}

# --- a private podman --------------------------------------------------------------
# podman_private: configuration and state under $WORK/p, the functions pm (podman
# with the private flags) and pm_line (the same as one line, for script -c).
# podman 4.3 insists on two host directories (/run/containers/networks even for
# `podman images`, /var/lib/containers/cache for the blob-info cache of `import`):
# podman_cleanup removes them if this run created them.
podman_private() {
  command -v podman >/dev/null && command -v conmon >/dev/null ||
    { echo "podman/conmon missing: run scripts/setup" >&2; exit 2; }
  # Short names: podman refuses a runroot longer than 50 characters.
  PM=$WORK/p
  PODMAN_HOST_DIRS=${PODMAN_HOST_DIRS:-}
  local d
  for d in /run/containers /var/lib/containers; do
    [ -e "$d" ] || case " $PODMAN_HOST_DIRS " in *" $d "*) ;; *) PODMAN_HOST_DIRS="$PODMAN_HOST_DIRS $d" ;; esac
  done
  mkdir -p "$PM/root" "$PM/rr" "$PM/tmp" "$PM/networks"
  cat >"$PM/containers.conf" <<EOF2
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM/events.log"
# shm locks live in one /dev/shm segment that every podman on the host shares
lock_type = "file"
tmp_dir = "$PM/tmp"
static_dir = "$PM/root/libpod"
volume_path = "$PM/root/volumes"
image_copy_tmp_dir = "$PM/tmp"
[network]
network_config_dir = "$PM/networks"
EOF2
  cat >"$PM/storage.conf" <<EOF2
[storage]
driver = "overlay"
graphroot = "$PM/root"
runroot = "$PM/rr"
EOF2
  export CONTAINERS_CONF=$PM/containers.conf CONTAINERS_STORAGE_CONF=$PM/storage.conf
  export CONTAINERS_REGISTRIES_CONF=/dev/null
}
# (The runtime's own --root: argv_log.sh adds it.)
pm_line() {
  printf '%s' "podman --root $PM/root --runroot $PM/rr --tmpdir $PM/tmp" \
    " --cgroup-manager cgroupfs --events-backend file --runtime $RUNTIME"
}
pm() {
  podman --root "$PM/root" --runroot "$PM/rr" --tmpdir "$PM/tmp" \
    --cgroup-manager cgroupfs --events-backend file --runtime "$RUNTIME" "$@"
}
podman_cleanup() {
  [ -n "${PM:-}" ] && [ -d "$PM" ] || return 0
  pm rm --all --force --time 0 >/dev/null 2>&1
  pm rmi --all --force >/dev/null 2>&1
  # conmon runs podman's exit command (`podman container cleanup`) after a container
  # ends, on its own time: wait (bounded) until no process names $PM any more.
  local i p busy
  for i in $(seq 1 50); do
    busy=no
    for p in /proc/[0-9]*; do
      tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$PM/" && { busy=yes; break; }
    done
    [ $busy = no ] && break
    sleep 0.1
  done
  # Only once: every later podman call would make the host directories again.
  rm -rf "$PM"
  local d
  for d in $PODMAN_HOST_DIRS; do rm -rf "$d"; done
  return 0
}
# Not an assertion: any other podman on the host (another helper's capture, a user)
# makes the same two directories at any time, so their presence here proves nothing.
podman_check_host_dirs() {
  local d
  for d in $PODMAN_HOST_DIRS; do
    [ -e "$d" ] && say "note: $d exists again (this run removed it; another podman on the host?)"
  done
  return 0
}
