#include "common/narrate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace nslab::narrate {
namespace {

struct State {
  bool demo = true;
  bool verbose = false;
  Role role = Role::kHost;
};
State& S() {
  static State s;
  return s;
}

FILE* Out() { return S().demo ? stdout : stderr; }

bool Colour() {
  static const bool colour = std::getenv("NO_COLOR") == nullptr;
  return colour && isatty(fileno(Out()));
}

const char* RoleColour() { return S().role == Role::kHost ? "\033[36m" : "\033[33m"; }

void Emit(std::string_view prefix_extra, std::string_view text) {
  FILE* out = Out();
  const char* who = S().role == Role::kHost ? "host" : "child";
  if (Colour()) {
    std::fprintf(out, "%s[%s %d]\033[0m %.*s%.*s\n", RoleColour(), who, getpid(),
                 static_cast<int>(prefix_extra.size()), prefix_extra.data(),
                 static_cast<int>(text.size()), text.data());
  } else {
    std::fprintf(out, "[%s %d] %.*s%.*s\n", who, getpid(),
                 static_cast<int>(prefix_extra.size()), prefix_extra.data(),
                 static_cast<int>(text.size()), text.data());
  }
  std::fflush(out);
}

}  // namespace

void Configure(bool demo, bool verbose) {
  S().demo = demo;
  S().verbose = verbose;
}
bool Verbose() { return S().verbose; }
bool Enabled() { return S().demo || S().verbose; }
void SetRole(Role role) { S().role = role; }

void Title(std::string_view text) {
  if (!Enabled()) return;
  FILE* out = Out();
  if (Colour()) {
    std::fprintf(out, "\n\033[1m== %.*s ==\033[0m\n", static_cast<int>(text.size()),
                 text.data());
  } else {
    std::fprintf(out, "\n== %.*s ==\n", static_cast<int>(text.size()), text.data());
  }
  std::fflush(out);
}

void Step(std::string_view text) {
  if (Enabled()) Emit("", text);
}

void Syscall(std::string_view call, std::string_view args) {
  if (!S().verbose) return;
  std::string line(call);
  line += "(";
  line += args;
  line += ")";
  Emit("> ", line);
}

void Block(std::string_view text) {
  if (!Enabled()) return;
  FILE* out = Out();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::fprintf(out, "    %.*s\n", static_cast<int>(end - start), text.data() + start);
    start = end + 1;
  }
  std::fflush(out);
}

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<Row>& rows) {
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], cells[i].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r.cells);
  auto line = [&](const std::vector<std::string>& cells, bool marked) {
    std::string s = marked ? "* " : "  ";
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  std::string out = line(header, false);
  for (const auto& r : rows) out += line(r.cells, r.marked);
  return out;
}

void Table(const std::vector<std::string>& header, const std::vector<Row>& rows) {
  if (!Enabled()) return;
  std::string text = RenderTable(header, rows);
  FILE* out = Out();
  if (!Colour()) {
    Block(text);
    return;
  }
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string l = text.substr(start, end - start);
    bool marked = !l.empty() && l[0] == '*';
    std::fprintf(out, marked ? "    \033[1;31m%s\033[0m\n" : "    %s\n", l.c_str());
    start = end + 1;
  }
  std::fflush(out);
}

}  // namespace nslab::narrate
