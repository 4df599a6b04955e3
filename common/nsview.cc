#include "common/nsview.h"

#include <algorithm>
#include <cstdio>

#include "common/error.h"

namespace nslab::nsview {
namespace {

// Light fills for the SVG boxes (text stays black on all of them); the first is the
// root's set, a quiet grey-blue, so that every other colour stands out as "not host".
const char* const kFill[] = {"#dbe4f0", "#ffd59e", "#b8e0b0", "#f4b6c2",
                             "#c9b8f0", "#fff3a0", "#a8e6e0", "#e6c9a8"};
const char* const kStroke[] = {"#7d8fa8", "#c98a2e", "#4f9a45", "#c2566e",
                               "#7a5cc2", "#b8a400", "#2e9a8f", "#9a7040"};
// Terminal colours (SGR): cyan for the root's set, then yellow, green, magenta...
const char* const kAnsi[] = {"36", "33", "32", "35", "34", "31", "1;33", "1;32"};
constexpr size_t kColours = sizeof kFill / sizeof kFill[0];

std::string Letter(int set) {
  if (set < 0) return "?";
  if (set < 26) return std::string(1, static_cast<char>('A' + set));
  return "S" + std::to_string(set);
}

// Only the kinds that make a set, so that pid_for_children does not split a set.
ns::Identity Restrict(const ns::Identity& id) {
  ns::Identity out;
  for (const auto& k : SetKinds()) {
    auto it = id.find(k);
    out[k] = it == id.end() ? 0 : it->second;
  }
  return out;
}

void Walk(const std::map<pid_t, proctree::Proc>& procs, pid_t pid, int depth, bool last,
          const ns::Identity* parent_ns, const Reader& read, View* view) {
  const proctree::Proc& p = procs.at(pid);
  Node n;
  n.pid = pid;
  n.ppid = p.ppid;
  n.comm = p.comm;
  n.state = p.state;
  n.depth = depth;
  n.last = last;
  ns::Identity mine;
  bool readable = false;
  try {
    mine = Restrict(read(pid));
    readable = true;
  } catch (const std::exception&) {
    // gone, a zombie, or not ours to inspect: drawn without a set
  }
  if (readable) {
    auto it = std::find(view->sets.begin(), view->sets.end(), mine);
    n.set = static_cast<int>(it - view->sets.begin());
    if (it == view->sets.end()) view->sets.push_back(mine);
    if (parent_ns != nullptr)
      for (const auto& k : SetKinds())
        if (mine.at(k) != parent_ns->at(k)) n.differs.push_back(k);
  }
  view->nodes.push_back(n);
  std::vector<pid_t> kids = p.children;
  std::sort(kids.begin(), kids.end());
  for (size_t i = 0; i < kids.size(); ++i)
    if (procs.count(kids[i]))
      Walk(procs, kids[i], depth + 1, i + 1 == kids.size(), readable ? &mine : nullptr, read,
           view);
}

std::string Xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

// The pid whose set is A: the root, unless its namespaces were unreadable (pid 1 on
// a host where init holds more capabilities than we do).
pid_t FirstOfSetA(const View& view) {
  for (const auto& n : view.nodes)
    if (n.set == 0) return n.pid;
  return 0;
}

std::string Label(const Node& n) {
  std::string s = n.comm + "(" + std::to_string(n.pid) + ")";
  if (n.state == 'Z') s += " <zombie>";
  return s;
}

}  // namespace

const std::vector<std::string>& SetKinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> k;
    for (const auto& kind : ns::Kinds())
      if (kind.clone_flag != 0) k.push_back(kind.name);
    return k;
  }();
  return kinds;
}

View Build(const std::map<pid_t, proctree::Proc>& procs, pid_t root, const Reader& read) {
  View view;
  if (!procs.count(root))
    throw UsageError("no process " + std::to_string(root) + " in /proc (it may have exited)");
  Walk(procs, root, 0, true, nullptr, read, &view);
  return view;
}

std::string RenderTerminal(const View& view, bool colour) {
  std::string out;
  // Tree prefixes: for each ancestor level, whether that ancestor was a last child.
  std::vector<bool> last_at;
  for (const auto& n : view.nodes) {
    last_at.resize(static_cast<size_t>(n.depth) + 1);
    last_at[static_cast<size_t>(n.depth)] = n.last;
    std::string prefix;
    for (int d = 1; d < n.depth; ++d) prefix += last_at[static_cast<size_t>(d)] ? "  " : "│ ";
    if (n.depth > 0) prefix += n.last ? "└─" : "├─";
    std::string text = Label(n) + " " + Letter(n.set);
    if (!n.differs.empty()) text += " [" + Join(n.differs) + "]";
    if (colour && n.set >= 0)
      out += prefix + "\033[" + kAnsi[static_cast<size_t>(n.set) % kColours] + "m" + text +
             "\033[0m\n";
    else
      out += prefix + text + "\n";
  }
  out += "\nnamespace sets (A is the set of pid " + std::to_string(FirstOfSetA(view)) + "):\n";
  std::vector<narrate::Row> rows;
  for (size_t i = 0; i < view.sets.size(); ++i) {
    narrate::Row r;
    r.cells.push_back(Letter(static_cast<int>(i)));
    for (const auto& k : SetKinds()) {
      unsigned long v = view.sets[i].at(k);
      r.cells.push_back(v ? std::to_string(v) : "-");
      if (i > 0 && v != view.sets[0].at(k)) r.marked = true;
    }
    rows.push_back(r);
  }
  std::vector<std::string> header = {"set"};
  header.insert(header.end(), SetKinds().begin(), SetKinds().end());
  out += narrate::RenderTable(header, rows);
  bool unreadable = std::any_of(view.nodes.begin(), view.nodes.end(),
                                [](const Node& n) { return n.set < 0; });
  if (unreadable) out += "  ? namespaces not readable (exited, zombie, or not ours)\n";
  return out;
}

std::string RenderSvg(const View& view, const std::string& title) {
  // Layout: one row per process, indented by depth; then the legend.
  const int kRow = 40, kBox = 28, kIndent = 34, kChar = 8, kLeft = 20, kTop = 52;
  const int kLegendRow = 24;
  std::string body;
  int width = 480;
  std::map<pid_t, int> row_of;
  for (size_t i = 0; i < view.nodes.size(); ++i) row_of[view.nodes[i].pid] = static_cast<int>(i);

  // Connectors first, so that boxes are drawn over them.
  for (size_t i = 0; i < view.nodes.size(); ++i) {
    const Node& n = view.nodes[i];
    if (n.depth == 0 || !row_of.count(n.ppid)) continue;
    const Node& parent = view.nodes[static_cast<size_t>(row_of[n.ppid])];
    int px = kLeft + parent.depth * kIndent + 14;
    int py = kTop + row_of[n.ppid] * kRow + kBox;
    int cy = kTop + static_cast<int>(i) * kRow + kBox / 2;
    int cx = kLeft + n.depth * kIndent;
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "  <path d=\"M%d %d V%d H%d\" fill=\"none\" stroke=\"#888\" "
                  "stroke-width=\"1.5\"/>\n",
                  px, py, cy, cx);
    body += buf;
  }
  for (size_t i = 0; i < view.nodes.size(); ++i) {
    const Node& n = view.nodes[i];
    const std::string label = Label(n) + "  " + Letter(n.set);
    int x = kLeft + n.depth * kIndent;
    int y = kTop + static_cast<int>(i) * kRow;
    int w = static_cast<int>(label.size()) * kChar + 16;
    size_t c = n.set < 0 ? 0 : static_cast<size_t>(n.set) % kColours;
    char buf[600];
    std::snprintf(buf, sizeof buf,
                  "  <rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"5\" fill=\"%s\" "
                  "stroke=\"%s\" stroke-width=\"1.5\"%s/>\n"
                  "  <text x=\"%d\" y=\"%d\" class=\"p\">%s</text>\n",
                  x, y, w, kBox, n.set < 0 ? "#ffffff" : kFill[c],
                  n.set < 0 ? "#999999" : kStroke[c],
                  n.set < 0 ? " stroke-dasharray=\"4 3\"" : "", x + 8, y + 19,
                  Xml(label).c_str());
    body += buf;
    int right = x + w;
    if (!n.differs.empty()) {
      std::string note = "new: " + Join(n.differs);
      std::snprintf(buf, sizeof buf, "  <text x=\"%d\" y=\"%d\" class=\"d\">%s</text>\n",
                    right + 10, y + 19, Xml(note).c_str());
      body += buf;
      right += 10 + static_cast<int>(note.size()) * 7;
    } else if (n.set < 0) {
      std::snprintf(buf, sizeof buf,
                    "  <text x=\"%d\" y=\"%d\" class=\"d\">namespaces not readable</text>\n",
                    right + 10, y + 19);
      body += buf;
      right += 10 + 23 * 7;
    }
    width = std::max(width, right + 20);
  }

  // Legend: a swatch and the inode of each kind per set; inodes that differ from
  // set A (the root's) in bold.
  int ly = kTop + static_cast<int>(view.nodes.size()) * kRow + 24;
  const int kCol = 100, kSetCol = 70;
  std::string legend;
  char buf[600];
  std::snprintf(buf, sizeof buf,
                "  <text x=\"%d\" y=\"%d\" class=\"h\">namespace sets: inode of each "
                "/proc/PID/ns link (bold: differs from A, the set of pid %d)</text>\n",
                kLeft, ly, FirstOfSetA(view));
  legend += buf;
  ly += kLegendRow;
  std::snprintf(buf, sizeof buf, "  <text x=\"%d\" y=\"%d\" class=\"k\">set</text>\n", kLeft,
                ly);
  legend += buf;
  for (size_t k = 0; k < SetKinds().size(); ++k) {
    std::snprintf(buf, sizeof buf, "  <text x=\"%d\" y=\"%d\" class=\"k\">%s</text>\n",
                  kLeft + kSetCol + static_cast<int>(k) * kCol, ly, SetKinds()[k].c_str());
    legend += buf;
  }
  width = std::max(width, kLeft + kSetCol + static_cast<int>(SetKinds().size()) * kCol + 10);
  for (size_t i = 0; i < view.sets.size(); ++i) {
    ly += kLegendRow;
    size_t c = i % kColours;
    std::snprintf(buf, sizeof buf,
                  "  <rect x=\"%d\" y=\"%d\" width=\"40\" height=\"18\" rx=\"3\" fill=\"%s\" "
                  "stroke=\"%s\"/>\n  <text x=\"%d\" y=\"%d\" class=\"p\">%s</text>\n",
                  kLeft, ly - 14, kFill[c], kStroke[c], kLeft + 14, ly,
                  Letter(static_cast<int>(i)).c_str());
    legend += buf;
    for (size_t k = 0; k < SetKinds().size(); ++k) {
      unsigned long v = view.sets[i].at(SetKinds()[k]);
      bool differs = i > 0 && v != view.sets[0].at(SetKinds()[k]);
      std::snprintf(buf, sizeof buf, "  <text x=\"%d\" y=\"%d\" class=\"%s\">%s</text>\n",
                    kLeft + kSetCol + static_cast<int>(k) * kCol, ly, differs ? "b" : "i",
                    v ? std::to_string(v).c_str() : "-");
      legend += buf;
    }
  }
  int height = ly + 20;
  width = std::max(width, kLeft * 2 + static_cast<int>(title.size()) * 10);

  std::string svg;
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, "
                "monospace\">\n",
                width, height, width, height);
  svg += buf;
  svg +=
      "  <style>.t{font-size:16px;font-weight:bold}.p{font-size:13px}"
      ".d{font-size:12px;fill:#b03030}.h{font-size:12px;fill:#444}"
      ".k{font-size:12px;fill:#444;font-weight:bold}.i{font-size:12px;fill:#555}"
      ".b{font-size:12px;font-weight:bold;fill:#000}</style>\n";
  std::snprintf(buf, sizeof buf,
                "  <rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
                "  <text x=\"%d\" y=\"28\" class=\"t\">%s</text>\n",
                width, height, kLeft, Xml(title).c_str());
  svg += buf;
  svg += body + legend + "</svg>\n";
  return svg;
}

}  // namespace nslab::nsview
