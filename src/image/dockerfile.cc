#include "image/dockerfile.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"

namespace vessel::image::dockerfile {

namespace {

const std::set<std::string> kKnown = {"FROM",       "RUN",         "CMD",     "LABEL", "MAINTAINER",
                                      "EXPOSE",     "ENV",         "ADD",     "COPY",  "ENTRYPOINT",
                                      "VOLUME",     "USER",        "WORKDIR", "ARG",   "ONBUILD",
                                      "STOPSIGNAL", "HEALTHCHECK", "SHELL"};
const std::set<std::string> kWithFlags = {"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"};
const std::set<std::string> kJsonForm = {"RUN",    "CMD",  "ENTRYPOINT", "SHELL",
                                         "VOLUME", "COPY", "ADD"};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool is_comment(const std::string& line) {
  auto t = trim(line);
  return !t.empty() && t[0] == '#';
}

// "# name=value" at the top of the file.
std::optional<std::pair<std::string, std::string>> directive(const std::string& line) {
  auto t = trim(line);
  if (t.empty() || t[0] != '#') return std::nullopt;
  t = trim(t.substr(1));
  auto eq = t.find('=');
  if (eq == std::string::npos) return std::nullopt;
  std::string key = trim(t.substr(0, eq));
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (key.empty() || key.find_first_of(" \t") != std::string::npos) return std::nullopt;
  return std::make_pair(key, trim(t.substr(eq + 1)));
}

// A heredoc marker: "<<EOF", "<<-EOF", "<<'EOF'", "<<\"EOF\"".
bool has_heredoc(const std::string& s) {
  for (size_t p = s.find("<<"); p != std::string::npos; p = s.find("<<", p + 2)) {
    size_t q = p + 2;
    if (q < s.size() && s[q] == '-') ++q;
    if (q < s.size() && (s[q] == '\'' || s[q] == '"')) ++q;
    if (q < s.size() && (std::isalpha(static_cast<unsigned char>(s[q])) || s[q] == '_'))
      return true;
  }
  return false;
}

std::optional<std::vector<std::string>> json_array(const std::string& args) {
  if (args.empty() || args[0] != '[') return std::nullopt;
  try {
    auto j = nlohmann::json::parse(args);
    if (!j.is_array()) return std::nullopt;
    std::vector<std::string> out;
    for (const auto& e : j) {
      if (!e.is_string()) return std::nullopt;
      out.push_back(e.get<std::string>());
    }
    return out;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

Instruction make_instruction(const std::string& text, int line, const std::string& file) {
  Instruction ins;
  ins.text = text;
  ins.line = line;
  size_t sp = text.find_first_of(" \t");
  ins.keyword = upper(text.substr(0, sp));
  std::string rest = sp == std::string::npos ? "" : trim(text.substr(sp));
  if (!kKnown.count(ins.keyword))
    fail("{}:{}: unknown instruction \"{}\"", file, line, text.substr(0, sp));
  if (kWithFlags.count(ins.keyword)) {
    while (rest.rfind("--", 0) == 0) {
      size_t end = rest.find_first_of(" \t");
      std::string flag = rest.substr(2, end == std::string::npos ? std::string::npos : end - 2);
      rest = end == std::string::npos ? "" : trim(rest.substr(end));
      auto eq = flag.find('=');
      if (eq == std::string::npos)
        ins.flags.emplace_back(flag, "");
      else
        ins.flags.emplace_back(flag.substr(0, eq), flag.substr(eq + 1));
    }
  }
  ins.args = rest;
  if ((ins.keyword == "RUN" || ins.keyword == "COPY" || ins.keyword == "ADD") && has_heredoc(rest))
    fail("{}:{}: heredocs (<<EOF) are not supported: write the lines out, or COPY a file", file,
         line);
  if (kJsonForm.count(ins.keyword)) ins.json = json_array(rest);
  if (ins.args.empty() && ins.keyword != "RUN" && ins.keyword != "CMD" &&
      ins.keyword != "ENTRYPOINT")
    fail("{}:{}: {} needs arguments", file, line, ins.keyword);
  return ins;
}

}  // namespace

std::optional<std::string> Instruction::flag(const std::string& name) const {
  for (const auto& [k, v] : flags)
    if (k == name) return v;
  return std::nullopt;
}

File parse(const std::string& text, const std::string& name) {
  File f;
  f.name = name;
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) {
      if (start < text.size()) lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  for (auto& l : lines)
    if (!l.empty() && l.back() == '\r') l.pop_back();

  size_t i = 0;
  // Parser directives: only at the very top, before any other line.
  std::set<std::string> seen;
  for (; i < lines.size(); ++i) {
    auto d = directive(lines[i]);
    if (!d) break;
    if (seen.count(d->first)) break;
    seen.insert(d->first);
    if (d->first == "escape") {
      if (d->second != "\\" && d->second != "`")
        fail("{}:{}: invalid escape directive \"{}\": \\ or `", name, i + 1, d->second);
      f.escape = d->second[0];
    }
  }

  std::string current;
  int first_line = 0;
  for (; i < lines.size(); ++i) {
    const std::string& raw = lines[i];
    if (is_comment(raw)) continue;  // comments go, even inside a continued instruction
    std::string line = raw;
    std::string t = trim(line);
    if (t.empty()) {
      if (current.empty()) continue;
      continue;  // an empty line inside a continuation
    }
    if (current.empty()) first_line = static_cast<int>(i) + 1;
    // Continuation: the escape character at the end of the line.
    std::string rt = line.substr(0, line.find_last_not_of(" \t") + 1);
    bool cont = !rt.empty() && rt.back() == f.escape;
    if (cont) rt.pop_back();
    if (current.empty())
      current = trim(rt);
    else
      current += " " + trim(rt);
    if (cont) continue;
    f.instructions.push_back(make_instruction(current, first_line, name));
    current.clear();
  }
  if (!current.empty()) f.instructions.push_back(make_instruction(current, first_line, name));

  bool from = false;
  for (const auto& ins : f.instructions) {
    if (ins.keyword == "FROM") {
      from = true;
      break;
    }
    if (ins.keyword != "ARG")
      fail("{}:{}: {} before the first FROM (only ARG may come before it)", name, ins.line,
           ins.keyword);
  }
  if (!from) fail("{}: no FROM instruction", name);
  return f;
}

namespace {

class Lexer {
 public:
  Lexer(const std::string& s, const Lookup& lookup, char escape)
      : s_(s), lookup_(lookup), esc_(escape) {}

  std::vector<std::string> run(bool split) {
    std::vector<std::string> out;
    std::string word;
    bool have = false;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (split && (c == ' ' || c == '\t')) {
        if (have) out.push_back(word);
        word.clear();
        have = false;
        ++pos_;
        continue;
      }
      have = true;
      if (c == esc_) {
        ++pos_;
        if (pos_ < s_.size()) word += s_[pos_++];
        continue;
      }
      if (c == '\'') {
        ++pos_;
        while (pos_ < s_.size() && s_[pos_] != '\'') word += s_[pos_++];
        if (pos_ >= s_.size()) fail("unterminated single quote in \"{}\"", s_);
        ++pos_;
        continue;
      }
      if (c == '"') {
        ++pos_;
        while (pos_ < s_.size() && s_[pos_] != '"') {
          char d = s_[pos_];
          if (d == esc_ && pos_ + 1 < s_.size() &&
              (s_[pos_ + 1] == '"' || s_[pos_ + 1] == esc_ || s_[pos_ + 1] == '$')) {
            word += s_[pos_ + 1];
            pos_ += 2;
          } else if (d == '$') {
            word += variable();
          } else {
            word += d;
            ++pos_;
          }
        }
        if (pos_ >= s_.size()) fail("unterminated double quote in \"{}\"", s_);
        ++pos_;
        continue;
      }
      if (c == '$') {
        word += variable();
        continue;
      }
      word += c;
      ++pos_;
    }
    if (have) out.push_back(word);
    return out;
  }

 private:
  static bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

  // At a '$': the substitution, pos_ moved past it.
  std::string variable() {
    ++pos_;
    if (pos_ >= s_.size()) return "$";
    if (s_[pos_] == '{') {
      ++pos_;
      std::string name;
      while (pos_ < s_.size() && name_char(s_[pos_])) name += s_[pos_++];
      if (name.empty()) fail("bad substitution in \"{}\"", s_);
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return lookup_(name).value_or("");
      }
      std::string op;
      if (pos_ < s_.size() && s_[pos_] == ':') op += s_[pos_++];
      if (pos_ >= s_.size() || (s_[pos_] != '-' && s_[pos_] != '+'))
        fail("unsupported substitution in \"{}\": ${{VAR}}, ${{VAR:-default}} or ${{VAR:+alt}}",
             s_);
      op += s_[pos_++];
      // The word up to the matching '}', itself expanded.
      std::string inner;
      int depth = 1;
      while (pos_ < s_.size()) {
        char c = s_[pos_];
        if (c == '{') ++depth;
        if (c == '}' && --depth == 0) break;
        inner += c;
        ++pos_;
      }
      if (pos_ >= s_.size()) fail("missing closing brace in \"{}\"", s_);
      ++pos_;
      auto value = lookup_(name);
      bool colon = op[0] == ':';
      char kind = op.back();
      bool set = value && (!colon || !value->empty());
      std::string word = Lexer(inner, lookup_, esc_).run(false).empty()
                             ? ""
                             : Lexer(inner, lookup_, esc_).run(false)[0];
      if (kind == '-') return set ? *value : word;
      return set ? word : "";
    }
    if (!name_char(s_[pos_])) return "$";
    std::string name;
    while (pos_ < s_.size() && name_char(s_[pos_])) name += s_[pos_++];
    return lookup_(name).value_or("");
  }

  const std::string& s_;
  const Lookup& lookup_;
  char esc_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<std::string> words(const std::string& s, const Lookup& lookup, char escape) {
  return Lexer(s, lookup, escape).run(true);
}

std::string expand(const std::string& s, const Lookup& lookup, char escape) {
  auto w = Lexer(s, lookup, escape).run(false);
  return w.empty() ? "" : w[0];
}

std::vector<std::pair<std::string, std::optional<std::string>>> key_values(
    const std::string& keyword, const std::string& args, const Lookup& lookup, char escape) {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  std::string t = trim(args);
  // The old form: "ENV KEY some value" (no '=' in the first word).
  size_t sp = t.find_first_of(" \t");
  std::string first = t.substr(0, sp);
  if (keyword != "ARG" && first.find('=') == std::string::npos) {
    if (sp == std::string::npos) fail("{} {}: needs a value ({} KEY=VALUE)", keyword, t, keyword);
    out.emplace_back(first, expand(trim(t.substr(sp)), lookup, escape));
    return out;
  }
  for (const auto& w : words(t, lookup, escape)) {
    auto eq = w.find('=');
    if (eq == std::string::npos) {
      if (keyword != "ARG") fail("{}: \"{}\" is not KEY=VALUE", keyword, w);
      out.emplace_back(w, std::nullopt);
    } else {
      if (eq == 0) fail("{}: \"{}\" has no name before '='", keyword, w);
      out.emplace_back(w.substr(0, eq), w.substr(eq + 1));
    }
  }
  return out;
}

std::vector<std::string> command(const Instruction& ins, const std::vector<std::string>& shell) {
  if (ins.json) return *ins.json;
  if (ins.args.empty()) return {};
  std::vector<std::string> out = shell;
  out.push_back(ins.args);
  return out;
}

}  // namespace vessel::image::dockerfile
