// image — the busybox image Bazel builds, and unpacking image tarballs safely.
//
// Teaches: a container image is, at bottom, a tarball of a root filesystem.
// //images:busybox packs Debian's static busybox, one symlink per applet (the
// layout `busybox --install -s` makes), /etc/passwd, /etc/group, /etc/hostname and
// the empty mount points. Unpacking an untrusted tarball as root is dangerous: an
// entry named "../../etc/cron.d/x", "/etc/shadow", or "link/x" after "link ->
// /etc" writes outside the destination (the tar-slip / CVE-2019-14271 class), so
// Unpack refuses such entries, by name, before writing them.
// Read: tar(5), libarchive(3), archive_write_disk(3).
//
// The busybox image is built into the binaries that link this module
// (//images:busybox_embedded): they need no file at run time, so a user who cannot
// reach Bazel's output directory (lab 09 run as uid 65534) still has it.
//
//   image::Unpack(image::BuiltinBusybox(), "busybox.tar", "/run/nslab/06_mount-42/rootfs");
//   image::Unpack("/tmp/alpine.tar", "/var/lib/nslab/images/.tmp-alpine-x/rootfs");
#ifndef NSLAB_COMMON_IMAGE_H_
#define NSLAB_COMMON_IMAGE_H_

#include <string>
#include <string_view>

namespace nslab::image {

// The bytes of images/busybox.tar, built into this binary (read-only, static).
std::string_view BuiltinBusybox();
// The name messages give the built-in image.
inline constexpr const char* kBuiltinBusyboxName = "busybox.tar";

struct UnpackStats {
  size_t entries = 0;
  size_t files = 0, dirs = 0, symlinks = 0, hardlinks = 0;
};

// Extracts tar_path into dest_dir (which must exist), keeping modes (including
// setuid and sticky bits), owners, times and symlinks. Refuses — throwing
// UsageError naming the entry — entries with ".." components, absolute paths,
// hardlinks whose target does either, and entries whose parent is a symlink
// (libarchive's ARCHIVE_EXTRACT_SECURE_NODOTDOT, _SECURE_NOABSOLUTEPATHS and
// _SECURE_SYMLINKS; we check the names first too, for a clearer message).
// Changes the working directory while it runs (and restores it): libarchive
// extracts relative to it.
UnpackStats Unpack(const std::string& tar_path, const std::string& dest_dir);

// The same, from a tarball in memory (the built-in image); `name` stands for it in
// messages. Both variants share one extraction loop, with the same refusals.
UnpackStats Unpack(std::string_view tar, const std::string& name, const std::string& dest_dir);

}  // namespace nslab::image

#endif  // NSLAB_COMMON_IMAGE_H_
