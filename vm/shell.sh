#!/usr/bin/env bash
# bazel run //vm:shell — the lab VM's shell (scripts/vm shell) from the checkout Bazel was
# run in, so that the guest's PATH holds that checkout's bazel-bin/labs, which Bazel has
# just built (the labs are this target's data).
set -euo pipefail
ws=${BUILD_WORKSPACE_DIRECTORY:?run me with: bazel run //vm:shell}
exec "$ws/scripts/vm" shell "$@"
