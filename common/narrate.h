// narrate — the one voice of every lab: numbered steps from the host or the child,
// tables, and (with -v) each system call before it is made.
//
// Teaches nothing about the kernel itself; it makes the order of events visible.
// Lines carry who speaks and its pid as *it* sees it, so a child in a new PID
// namespace says [child 1] while the host calls it 4242 (tini's "[INFO tini (pid)]").
//
//   narrate::Step("sethostname(\"nslab\")");      // [host 4241] sethostname("nslab")
//   narrate::Syscall("clone", "CLONE_NEWUTS");    // shown with -v only
//   narrate::Table({"ns", "host", "child"}, rows);
#ifndef NSLAB_COMMON_NARRATE_H_
#define NSLAB_COMMON_NARRATE_H_

#include <string>
#include <string_view>
#include <vector>

namespace nslab::narrate {

enum class Role { kHost, kChild };

// Demo mode narrates on stdout. Command mode (`-- CMD`) keeps stdout for the
// command: narration only with -v, and then on stderr.
void Configure(bool demo, bool verbose);
bool Verbose();
bool Enabled();
void SetRole(Role role);

// A section title: "== Step 2: a new UTS namespace ==".
void Title(std::string_view text);
// One step, prefixed by the speaker: "[host 4241] text".
void Step(std::string_view text);
// A system call about to be made, shown only with -v: "[host 4241] > clone(...)".
void Syscall(std::string_view call, std::string_view args);
// Free text lines, indented, for output read from /proc or a command.
void Block(std::string_view text);

// A table with aligned columns. Rows whose mark is true are flagged with "*" (and
// colour on a terminal) — the way lsns users spot a differing namespace.
struct Row {
  std::vector<std::string> cells;
  bool marked = false;
};
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<Row>& rows);
void Table(const std::vector<std::string>& header, const std::vector<Row>& rows);

}  // namespace nslab::narrate

#endif  // NSLAB_COMMON_NARRATE_H_
