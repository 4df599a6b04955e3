// engine/hooks — the OCI lifecycle hooks: programs the runtime runs at fixed points
// of a container's life, with the container's state JSON on their stdin.
//
// Teaches: hooks are how a manager plugs work into a start without a runtime of its
// own: prestart/createRuntime run in the runtime's namespaces once the container's
// namespaces exist (a CNI plugin configures /proc/PID/ns/net there),
// createContainer in the container's namespaces before pivot_root, startContainer
// in the container just before the user's process, poststart after `start`,
// poststop after `delete`. A failing hook before the start fails the create; a
// failing poststart or poststop only warns (config.md "POSIX-platform Hooks").
// Read: the spec's config.md#posix-platform-hooks, runtime.md "Lifecycle".
#ifndef NSLAB_COMMON_ENGINE_HOOKS_H_
#define NSLAB_COMMON_ENGINE_HOOKS_H_

#include <string>
#include <vector>

#include "common/engine/spec.h"

namespace nslab::engine {

// Runs each hook in order: fork, execve(path, args, env), state_json on stdin,
// waited for (killed after its timeout). Throws UsageError naming the hook
// ("hook createRuntime[0] \"/bin/x\": exited with status 1") on the first failure.
void RunHooks(const std::vector<Hook>& hooks, const std::string& kind,
              const std::string& state_json);

}  // namespace nslab::engine

#endif  // NSLAB_COMMON_ENGINE_HOOKS_H_
