// overlay — overlayfs: a writable root filesystem over read-only layers, copy-on-write.
//
// Teaches: an overlay mount merges directories. The lower layers (one or more,
// read-only, the top one first in `lowerdir=A:B`) are never written; every change
// goes to the upper directory: writing a file of a lower layer first *copies it up*
// whole; deleting one leaves a *whiteout* in upper (a character device 0,0 with
// the file's name) that hides the lower file; removing a lower directory and making
// it again leaves an *opaque* directory (xattr trusted.overlay.opaque=y, or
// user.overlay.opaque inside a user namespace) that hides everything below it. The
// work directory, empty and on upper's filesystem, is the kernel's scratch space for
// atomic copy-ups. That is how an image stays pristine under many containers: the
// image's layers are lowers, each container has its own upper (docker's diff dir).
// Read: Documentation/filesystems/overlayfs.rst, mount(2), xattr(7).
//
//   overlay::Layers l = overlay::PrepareFromParent(run, source, extra_lowers);
//   process::Clone({CLONE_NEWNS | ...}, [&] {
//     mount::MakePrivateInChild();
//     overlay::MountInChild(l, run.rootfs());      // lowerdir=...,upperdir=...,workdir=...
//     ...  pivot_root as in lab 06
//   });
//   narrate::Table(..., overlay::UpperRows(overlay::ScanUpper(l)));  // what changed
#ifndef NSLAB_COMMON_OVERLAY_H_
#define NSLAB_COMMON_OVERLAY_H_

#include <string>
#include <vector>

#include "common/narrate.h"
#include "common/rootfs.h"

namespace nslab::overlay {

// The directories of one overlay: lowers top first, then upper and work.
struct Layers {
  std::vector<std::string> lowers;
  std::string upper, work;
};

// The data argument of mount(2): "lowerdir=A:B,upperdir=U,workdir=W". Throws
// UsageError naming a directory whose path holds ',' or ':' (the option syntax).
std::string MountOptions(const Layers& layers);

// In the per-run directory: lower/ with the image unpacked (or the --rootfs
// directory used as it is: it is only read), layer/ with the lab's own small top
// layer (etc/motd), then `extra` (directories given with --lower, checked: they must
// exist) above them, and empty upper/ and work/. Runs in the parent.
Layers PrepareFromParent(const rootfs::RunDir& run, const rootfs::Source& source,
                         const std::vector<std::string>& extra);

// mount("overlay", target, "overlay", 0, MountOptions(layers)), narrated, with
// ",userxattr" added inside a user namespace (InInitialUserNamespace() false). Runs
// in a child whose mount namespace is private.
bool InInitialUserNamespace();
void MountInChild(const Layers& layers, const std::string& target);

// What a change left in upper/, one entry per path (relative to upper, sorted).
struct UpperEntry {
  enum Kind { kDir, kOpaqueDir, kCopiedUp, kNew, kWhiteout, kOther };
  std::string path;
  Kind kind = kOther;
  std::string detail;  // "61 -> 80 bytes", "hides lower's bin/ed"...
};
// Walks upper (never following symlinks) and classifies each entry by looking at
// the lowers: a char device 0,0 is a whiteout; a directory with the opaque xattr is
// opaque; a file that a lower has is a copy-up, else new.
std::vector<UpperEntry> ScanUpper(const Layers& layers);
std::string KindName(UpperEntry::Kind kind);
std::vector<narrate::Row> UpperRows(const std::vector<UpperEntry>& entries);

// Lab 06a's demo, run by the sandbox after pivot_root: appends to /etc/hosts (a
// copy-up), removes /bin/ed (a whiteout), removes and recreates /home (opaque),
// creates /root/notes (new), and reads /etc/motd from the lab's top layer.
int DemoChangesInChild();

}  // namespace nslab::overlay

#endif  // NSLAB_COMMON_OVERLAY_H_
