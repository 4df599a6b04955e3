"""Repository rules that bring Debian's system packages into the Bazel build, offline.

debian_rules_cc: Debian's bazel-rules-cc is newer than Bazel 4.2.3 and calls
`use_cpp_toolchain()` (added in Bazel 5) in two files. We copy the package into the
external repository and replace that call with the toolchain type it stands for.

system_library: exposes /usr (headers and libraries installed by apt) as an external
repository whose BUILD file is given, so targets can depend on e.g. @cli11//:cli11.
"""

_RULES_CC = "/usr/share/bazel/rules/cc"
_PATCHED = [
    "cc/private/rules_impl/cc_flags_supplier.bzl",
    "cc/private/rules_impl/compiler_flag.bzl",
]

def _debian_rules_cc_impl(rctx):
    src = rctx.path(_RULES_CC)
    if not src.exists:
        fail("%s is missing: run scripts/setup (it installs bazel-rules-cc)" % _RULES_CC)
    res = rctx.execute(["cp", "-r", str(src) + "/.", "."])
    if res.return_code != 0:
        fail("copying %s: %s" % (_RULES_CC, res.stderr))
    for f in _PATCHED:
        text = rctx.read(f)
        text = text.replace(', "use_cpp_toolchain")', ")")
        text = text.replace("use_cpp_toolchain()", '["@bazel_tools//tools/cpp:toolchain_type"]')
        rctx.file(f, text, executable = False)

debian_rules_cc = repository_rule(
    implementation = _debian_rules_cc_impl,
    local = True,
)

def _system_library_impl(rctx):
    rctx.symlink("/usr/include", "include")
    rctx.symlink("/usr/lib/x86_64-linux-gnu", "lib")
    rctx.symlink("/bin", "bin")
    rctx.symlink(rctx.attr.build_file, "BUILD.bazel")
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)

system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {"build_file": attr.label(mandatory = True)},
    local = True,
)
