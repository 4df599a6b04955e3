#!/bin/bash
# tests/oci_clients/argv_log.sh: a template (lib.sh fills in @REAL@ and @LOG@) for a
# wrapper that stands in for an OCI runtime and writes down how a container manager
# calls it: time, caller, working directory, argv, exit status, and for the calls that
# answer on stdout (state, features, ps, list) the answer; on failure the runtime's
# --log file. Then the tests and docs/12_oci_clients.md can show the real sequence
# podman/conmon and containerd's shim use, not a remembered one.
#
# Private state: a call without --root gets --root @ROOT@ in front (and a note
# says so). podman's --runtime-flag would not do: conmon's exit command
# (`podman container cleanup`, which calls `delete --force`) drops it, and the runtime
# would look for the container in its default root.
#
# bash, not sh: dash keeps its script open on a descriptor without close-on-exec,
# which would leak into the container.
real='@REAL@'
log='@LOG@'
root='@ROOT@'

sub="" logf="" prev="" has_root=no
for a in "$@"; do
  case "$prev" in --log) logf=$a ;; esac
  case "$a" in
    --log=*) logf=${a#--log=} ;;
    --root | --root=*) [ -z "$sub" ] && has_root=yes ;;
    create | start | state | kill | delete | exec | ps | pause | resume | features | run | list | spec | update | checkpoint | restore | events)
      [ -z "$sub" ] && sub=$a ;;
  esac
  prev=$a
done

t0=$EPOCHREALTIME
ms() { local t1=$EPOCHREALTIME; echo $(( (${t1/./} - ${t0/./}) / 1000 )); }
{
  printf '%s caller=%s(%s) cwd=%s\n  argv:' "$(date -u +%T.%3N)" "$(cat /proc/$PPID/comm 2>/dev/null)" "$PPID" "$PWD"
  printf ' %q' "$(basename "$real")" "$@"
  printf '\n'
  [ $has_root = no ] && printf '  note: no --root given, --root %s added\n' "$root"
} >>"$log"
[ $has_root = no ] && set -- --root "$root" "$@"

case "$sub" in
  run)
    # Attached: the runtime's own exit status and stdio are the container's.
    exec "$real" "$@" ;;
  state | features | ps | list)
    out=$("$real" "$@"); rc=$?
    printf '%s\n' "$out"
    { printf '  rc=%s (%s ms) stdout:\n' "$rc" "$(ms)"; printf '%s\n' "$out" | sed 's/^/    /'; } >>"$log"
    exit $rc ;;
  *)
    "$real" "$@"; rc=$?
    printf '  rc=%s (%s ms)\n' "$rc" "$(ms)" >>"$log"
    if [ $rc -ne 0 ] && [ -n "$logf" ] && [ -f "$logf" ]; then
      tail -n 3 "$logf" | sed 's/^/  log: /' >>"$log"
    fi
    exit $rc ;;
esac
