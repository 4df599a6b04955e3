// The busybox image (//images:busybox) built into the program: link
// //images:busybox_embedded and the tarball's bytes are part of the binary, in a
// read-only section (images/embed_file.sh writes the .incbin that puts them there).
// Use image::BuiltinBusybox() (common/image.h) rather than these symbols.
#ifndef NSLAB_IMAGES_BUSYBOX_EMBEDDED_H_
#define NSLAB_IMAGES_BUSYBOX_EMBEDDED_H_

#include <cstdint>

extern "C" {
extern const char nslab_busybox_tar[];      // the first byte of busybox.tar
extern const char nslab_busybox_tar_end[];  // one past the last
extern const uint64_t nslab_busybox_tar_size;
}

#endif  // NSLAB_IMAGES_BUSYBOX_EMBEDDED_H_
