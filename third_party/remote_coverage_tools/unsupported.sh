#!/bin/sh
echo "nslab: bazel coverage is not offered offline (no coverage tools in Debian's Bazel)" >&2
exit 1
