#!/bin/sh
# Builds images/busybox.tar (run by the //images:busybox genrule): Debian's static
# busybox as /bin/busybox, one absolute symlink per applet where `busybox --install -s`
# would put it (bin/, sbin/, usr/bin/, usr/sbin/), a minimal /etc, and the empty
# directories a container runtime mounts over (/proc, /sys, /dev) or expects (/tmp).
# The tarball is reproducible: sorted names, uid/gid 0, fixed times.
#
# Usage: build_busybox_image.sh BUSYBOX OUT.tar
set -eu
busybox=$1
out=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

umask 022
mkdir -p "$stage/bin" "$stage/sbin" "$stage/usr/bin" "$stage/usr/sbin" "$stage/etc" \
  "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" "$stage/root" "$stage/home" \
  "$stage/var/spool/mail" "$stage/var/www"
chmod 1777 "$stage/tmp"
chmod 0700 "$stage/root"
chmod 0555 "$stage/proc" "$stage/sys"
cp "$busybox" "$stage/bin/busybox"
chmod 0755 "$stage/bin/busybox"

# `--list-full` prints each applet with the directory it belongs in ("bin/ls",
# "usr/sbin/chroot"). Absolute targets, as `busybox --install -s` makes them: inside
# the container / is this tree.
"$busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$stage/$(dirname "$applet")"
  ln -s /bin/busybox "$stage/$applet"
done

cat >"$stage/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat >"$stage/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo busybox >"$stage/etc/hostname"
cat >"$stage/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
HOSTS
chmod 0644 "$stage/etc/passwd" "$stage/etc/group" "$stage/etc/hostname" "$stage/etc/hosts"

out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
cd "$stage"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu \
  -cf "$out_abs" bin dev etc home proc root sbin sys tmp usr var
