#!/usr/bin/env bash
# Writes the fake /proc and /sys trees that tests/doctor_test.cc runs the doctor
# against: host layouts this machine cannot show. Each tree holds only the files the
# doctor reads. The trees are committed; rerun this after changing it:
#
#   tests/data/doctor/make_trees.sh
#
#   v2           pure cgroup v2 (systemd, Debian 12 / Ubuntu 22.04+ default): / is
#                shared, controllers delegated to our cgroup
#   v1           pure cgroup v1 (older distributions): / private
#   hybrid       v1 controllers and an empty cgroup2 at /sys/fs/cgroup/unified
#   userns_off   user namespaces disabled: user.max_user_namespaces=0, Debian's
#                unprivileged_userns_clone=0, Ubuntu's AppArmor restriction on
#   old_kernel   5.4: no time namespace, no overlayfs, pids not available in v2,
#                cgroup v2 whose cgroup still holds processes
#   no_cgroup    no cgroup filesystem mounted at all
#   systemd_v2   a student's Debian 12 (issue 12): systemd is PID 1, pure cgroup v2,
#                the shell in system.slice/console-getty.service, which holds
#                processes; the kernel offers cpu, systemd enabled only memory, pids
set -euo pipefail
cd "$(dirname "$0")"

# base DIR RELEASE: the parts every tree shares.
base() {
  local d=$1 release=$2
  rm -rf "$d"
  mkdir -p "$d/proc/self/ns" "$d/proc/sys/kernel" "$d/proc/sys/user" "$d/sys/fs/cgroup"
  echo "$release" >"$d/proc/sys/kernel/osrelease"
  for k in cgroup ipc mnt net pid time user uts; do
    : >"$d/proc/self/ns/$k"
    echo 63432 >"$d/proc/sys/user/max_${k}_namespaces"
  done
  printf 'nodev\tsysfs\nnodev\tproc\nnodev\ttmpfs\nnodev\tcgroup\nnodev\tcgroup2\n\text4\nnodev\toverlay\n' \
    >"$d/proc/filesystems"
  printf 'Name:\tcat\nUmask:\t0022\nState:\tR (running)\nSeccomp:\t0\nSeccomp_filters:\t0\n' \
    >"$d/proc/self/status"
}

# mountinfo DIR ROOT_OPTIONAL LINES...: / first (with its propagation), then the rest.
mountinfo() {
  local d=$1 root_opt=$2
  shift 2
  {
    echo "21 1 8:1 / / rw,relatime ${root_opt:+$root_opt }- ext4 /dev/sda1 rw"
    echo "22 21 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw"
    echo "23 21 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw"
    for l in "$@"; do echo "$l"; done
  } >"$d/proc/self/mountinfo"
}

v2_cgroup() {  # DIR PATH CONTROLLERS SUBTREE PROCS
  local d=$1 path=$2
  mkdir -p "$d/sys/fs/cgroup$path"
  echo "$3" >"$d/sys/fs/cgroup$path/cgroup.controllers"
  echo "$4" >"$d/sys/fs/cgroup$path/cgroup.subtree_control"
  printf '%s' "$5" >"$d/sys/fs/cgroup$path/cgroup.procs"
  echo "0::$path" >"$d/proc/self/cgroup"
}

# --- v2 ---
base v2 6.1.0-13-amd64
mountinfo v2 shared:1 \
  "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot"
v2_cgroup v2 /nslab.slice "cpuset cpu io memory pids" "cpu memory pids" ""
echo 1 >v2/proc/sys/kernel/unprivileged_userns_clone
echo 0 >v2/proc/sys/kernel/apparmor_restrict_unprivileged_userns

# --- v1 ---
base v1 4.19.0-25-amd64
rm v1/proc/self/ns/time v1/proc/sys/user/max_time_namespaces
mountinfo v1 "" \
  "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755" \
  "31 30 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory" \
  "32 30 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids" \
  "33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct"
printf '4:memory:/user.slice\n3:pids:/user.slice/user-1000.slice\n2:cpu,cpuacct:/\n1:name=systemd:/user.slice\n' \
  >v1/proc/self/cgroup
mkdir -p v1/sys/fs/cgroup/memory/user.slice v1/sys/fs/cgroup/pids/user.slice/user-1000.slice \
  v1/sys/fs/cgroup/cpu,cpuacct
: >v1/sys/fs/cgroup/memory/user.slice/tasks
: >v1/sys/fs/cgroup/pids/user.slice/user-1000.slice/tasks
: >v1/sys/fs/cgroup/cpu,cpuacct/tasks

# --- hybrid ---
base hybrid 5.10.0-26-amd64
mountinfo hybrid "" \
  "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755" \
  "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw" \
  "32 30 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory" \
  "33 30 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids" \
  "34 30 0:30 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu"
printf '4:memory:/lab\n3:pids:/\n2:cpu:/\n0::/\n' >hybrid/proc/self/cgroup
mkdir -p hybrid/sys/fs/cgroup/unified hybrid/sys/fs/cgroup/memory/lab hybrid/sys/fs/cgroup/pids \
  hybrid/sys/fs/cgroup/cpu
echo hugetlb >hybrid/sys/fs/cgroup/unified/cgroup.controllers
: >hybrid/sys/fs/cgroup/unified/cgroup.subtree_control
: >hybrid/sys/fs/cgroup/memory/lab/tasks
: >hybrid/sys/fs/cgroup/pids/tasks
: >hybrid/sys/fs/cgroup/cpu/tasks

# --- userns_off ---
base userns_off 6.5.0-14-generic
echo 0 >userns_off/proc/sys/user/max_user_namespaces
echo 0 >userns_off/proc/sys/kernel/unprivileged_userns_clone
echo 1 >userns_off/proc/sys/kernel/apparmor_restrict_unprivileged_userns
mountinfo userns_off shared:1 \
  "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw"
v2_cgroup userns_off / "cpuset cpu io memory pids" "cpu memory pids" "1
"

# --- old_kernel ---
base old_kernel 5.4.0-150-generic
rm old_kernel/proc/self/ns/time old_kernel/proc/sys/user/max_time_namespaces
printf 'nodev\tsysfs\nnodev\tproc\nnodev\tcgroup2\n\text4\n' >old_kernel/proc/filesystems
mountinfo old_kernel "" \
  "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw"
v2_cgroup old_kernel /user.slice/session-2.scope "cpu memory" "" "812
813
"

# --- no_cgroup ---
base no_cgroup 6.1.0-13-amd64
mountinfo no_cgroup ""
echo "0::/" >no_cgroup/proc/self/cgroup
: >no_cgroup/sys/fs/cgroup/.keep

# --- systemd_v2 ---
base systemd_v2 6.1.0-13-amd64
mountinfo systemd_v2 shared:1 \
  "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot"
echo "cpuset cpu io memory hugetlb pids rdma misc" >systemd_v2/sys/fs/cgroup/cgroup.controllers
echo "memory pids" >systemd_v2/sys/fs/cgroup/cgroup.subtree_control
v2_cgroup systemd_v2 /system.slice "memory pids" "memory pids" ""
v2_cgroup systemd_v2 /system.slice/console-getty.service "memory pids" "" "412
530
"
mkdir -p systemd_v2/run/systemd/system
: >systemd_v2/run/systemd/system/.keep
echo 1 >systemd_v2/proc/sys/kernel/unprivileged_userns_clone
echo 0 >systemd_v2/proc/sys/kernel/apparmor_restrict_unprivileged_userns
