// A subset of Go's text/template, the language of docker's and podman's --format: text with
// {{actions}}: fields ({{.Name}}, {{.State.Status}}, {{$.Id}}), variables ({{$x := .A}}),
// pipelines ({{.Names | upper}}), if/else if/else, range (with $i, $v and else), with, break,
// continue, comments, {{- trim markers -}}, and the functions scripts use: json, index, join,
// split, len, upper, lower, title, pad, truncate, printf, print, println, eq, ne, lt, le, gt,
// ge, and, or, not, slice. The data is JSON: a key is a field, a list a slice, an object a map.
// What is outside the subset (define, template, block, methods, unknown functions or fields)
// is an error naming the line and column, never a silently different output.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace vessel {

namespace gotmpl {
struct Node;
}

class GoTemplate {
 public:
  // Parses `text`; throws Error("template: line L, column C: ...") on bad syntax.
  explicit GoTemplate(std::string_view text);
  ~GoTemplate();
  GoTemplate(GoTemplate&&) noexcept;
  GoTemplate& operator=(GoTemplate&&) noexcept;

  // Runs the template on `dot`; throws Error naming the position of the failing action.
  std::string render(const nlohmann::json& dot) const;
  // Runs it in header mode, as docker's `table` formats do: `dot` maps each field to its
  // column title, a field of a title is the title, and the text functions (upper, json, join,
  // printf...) return their first argument as text.
  std::string render_header(const nlohmann::json& headers) const;

 private:
  std::unique_ptr<gotmpl::Node> root_;
};

// A --format value as docker reads it: "table" prefix (headers + aligned columns), `\t` and
// `\n` written as two characters become a tab and a newline, surrounding spaces trimmed.
struct FormatSpec {
  bool table = false;
  std::string text;  // the template; empty for a bare "table" (the command's default table)
};
FormatSpec parse_format(std::string_view format);

// Aligns tab-separated cells into columns, as Go's text/tabwriter (min width 10, padding 3, as
// docker's tables): each cell followed by a tab is padded; the last cell of a line is not.
std::string tabwrite(const std::string& text, size_t min_width = 10, size_t padding = 3);

// Writes rows through a template: table mode prints the header row first and aligns columns;
// otherwise each row is the template's output followed by a newline. The whole output.
std::string format_rows(const FormatSpec& spec, const nlohmann::json& rows,
                        const nlohmann::json& headers);

}  // namespace vessel
