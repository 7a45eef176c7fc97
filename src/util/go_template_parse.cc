// GoTemplate's lexer and parser: template text to the tree of util/go_template_ast.h.
#include <cctype>
#include <set>

#include "util/error.h"
#include "util/go_template.h"
#include "util/go_template_ast.h"

namespace vessel::gotmpl {

namespace {

enum class Tok {
  Text,
  Left,
  Right,
  Field,
  Dot,
  Var,
  Ident,
  String,
  Number,
  LParen,
  RParen,
  Pipe,
  Declare,
  Assign,
  Comma,
  End
};

struct Token {
  Tok kind;
  std::string text;  // identifier, field name, variable, raw text, or the source of a literal
  nlohmann::json value;
  Pos pos;
  bool spaced = false;  // whitespace before it inside an action
};

[[noreturn]] void error_at(Pos p, const std::string& msg) {
  fail("template: line {}, column {}: {}", p.line, p.col, msg);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  std::vector<Token> run() {
    bool trim_next = false;
    while (i_ < s_.size()) {
      size_t j = s_.find("{{", i_);
      std::string text(
          s_.substr(i_, j == std::string_view::npos ? std::string_view::npos : j - i_));
      Pos text_pos = pos();
      if (j == std::string_view::npos) {
        advance_to(s_.size());
        emit_text(text, trim_next, false, text_pos);
        break;
      }
      bool trim_left = j + 3 < s_.size() && s_[j + 2] == '-' && is_space(s_[j + 3]);
      advance_to(j);
      emit_text(text, trim_next, trim_left, text_pos);
      trim_next = false;
      Pos left = pos();
      advance_to(j + 2 + (trim_left ? 2 : 0));
      trim_next = lex_action(left);
    }
    toks_.push_back({Tok::End, "", nullptr, pos()});
    return std::move(toks_);
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
  Pos p_;
  std::vector<Token> toks_;

  Pos pos() const { return p_; }
  void advance_to(size_t to) {
    for (; i_ < to; ++i_) {
      if (s_[i_] == '\n') {
        ++p_.line;
        p_.col = 1;
      } else {
        ++p_.col;
      }
    }
  }
  char peek(size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }

  void emit_text(std::string text, bool trim_front, bool trim_back, Pos p) {
    if (trim_front) {
      size_t k = 0;
      while (k < text.size() && is_space(text[k])) ++k;
      text.erase(0, k);
    }
    if (trim_back)
      while (!text.empty() && is_space(text.back())) text.pop_back();
    if (!text.empty()) toks_.push_back({Tok::Text, std::move(text), nullptr, p});
  }

  // Lexes one action after its "{{"; true when it ends with a trim marker (" -}}").
  bool lex_action(Pos left) {
    // A comment is the whole action: {{/* ... */}}.
    if (peek() == '/' && peek(1) == '*') {
      size_t e = s_.find("*/", i_ + 2);
      if (e == std::string_view::npos) error_at(left, "unclosed comment");
      advance_to(e + 2);
      bool trim = false;
      if (peek() == ' ' && peek(1) == '-' && peek(2) == '}' && peek(3) == '}') {
        trim = true;
        advance_to(i_ + 2);
      }
      if (peek() != '}' || peek(1) != '}') error_at(pos(), "comment ends before closing delimiter");
      advance_to(i_ + 2);
      return trim;
    }
    toks_.push_back({Tok::Left, "{{", nullptr, left});
    bool spaced = false;
    for (;;) {
      if (i_ >= s_.size()) error_at(left, "unclosed action");
      char c = peek();
      if (is_space(c)) {
        if (peek(1) == '-' && peek(2) == '}' && peek(3) == '}') {
          toks_.push_back({Tok::Right, "}}", nullptr, pos()});
          advance_to(i_ + 4);
          return true;
        }
        advance_to(i_ + 1);
        spaced = true;
        continue;
      }
      Token t{Tok::End, std::string(1, c), nullptr, pos(), spaced};
      spaced = false;
      size_t start = i_;
      if (c == '}' && peek(1) == '}') {
        t.kind = Tok::Right;
        advance_to(i_ + 2);
        toks_.push_back(std::move(t));
        return false;
      } else if (c == '|') {
        t.kind = Tok::Pipe;
        advance_to(i_ + 1);
      } else if (c == '(') {
        t.kind = Tok::LParen;
        advance_to(i_ + 1);
      } else if (c == ')') {
        t.kind = Tok::RParen;
        advance_to(i_ + 1);
      } else if (c == ',') {
        t.kind = Tok::Comma;
        advance_to(i_ + 1);
      } else if (c == ':' && peek(1) == '=') {
        t.kind = Tok::Declare;
        advance_to(i_ + 2);
      } else if (c == '=') {
        t.kind = Tok::Assign;
        advance_to(i_ + 1);
      } else if (c == '"' || c == '`') {
        t.kind = Tok::String;
        t.value = lex_string(c, t.pos);
      } else if (c == '\'') {
        t.kind = Tok::Number;
        t.value = lex_char(t.pos);
      } else if (c == '$') {
        size_t k = i_ + 1;
        while (k < s_.size() && is_ident(s_[k])) ++k;
        t.kind = Tok::Var;
        advance_to(k);
      } else if (c == '.' && is_ident_start(peek(1))) {
        size_t k = i_ + 1;
        while (k < s_.size() && is_ident(s_[k])) ++k;
        t.kind = Tok::Field;
        t.text = std::string(s_.substr(i_ + 1, k - i_ - 1));
        advance_to(k);
        toks_.push_back(std::move(t));
        continue;
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 ((c == '-' || c == '+' || c == '.') &&
                  std::isdigit(static_cast<unsigned char>(peek(1))))) {
        t.kind = Tok::Number;
        t.value = lex_number(t.pos);
      } else if (c == '.') {
        t.kind = Tok::Dot;
        advance_to(i_ + 1);
      } else if (is_ident_start(c)) {
        size_t k = i_;
        while (k < s_.size() && is_ident(s_[k])) ++k;
        t.kind = Tok::Ident;
        advance_to(k);
      } else {
        error_at(t.pos, fmt::format("unexpected character '{}' in action", c));
      }
      if (t.kind != Tok::Field) t.text = std::string(s_.substr(start, i_ - start));
      toks_.push_back(std::move(t));
    }
  }

  nlohmann::json lex_string(char quote, Pos p) {
    std::string out;
    size_t k = i_ + 1;
    for (;; ++k) {
      if (k >= s_.size() || (quote == '"' && s_[k] == '\n')) error_at(p, "unterminated string");
      char c = s_[k];
      if (c == quote) break;
      if (quote == '"' && c == '\\') {
        if (++k >= s_.size()) error_at(p, "unterminated string");
        switch (s_[k]) {
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case '\\':
            out += '\\';
            break;
          case '"':
            out += '"';
            break;
          case '\'':
            out += '\'';
            break;
          case '0':
            out += '\0';
            break;
          default:
            error_at(p, fmt::format("unsupported escape \\{} in string", s_[k]));
        }
        continue;
      }
      out += c;
    }
    advance_to(k + 1);
    return out;
  }

  nlohmann::json lex_char(Pos p) {
    // 'a' or '\n': the character's code, as Go's rune constants.
    if (peek(1) == '\\' && peek(3) == '\'') {
      char e = peek(2);
      int v = e == 'n' ? '\n' : e == 't' ? '\t' : e == '\\' ? '\\' : e == '\'' ? '\'' : -1;
      if (v < 0) error_at(p, "unsupported character constant");
      advance_to(i_ + 4);
      return v;
    }
    if (peek(1) == '\0' || peek(2) != '\'') error_at(p, "unsupported character constant");
    int v = static_cast<unsigned char>(peek(1));
    advance_to(i_ + 3);
    return v;
  }

  nlohmann::json lex_number(Pos p) {
    size_t k = i_;
    if (s_[k] == '-' || s_[k] == '+') ++k;
    while (k < s_.size() &&
           (is_ident(s_[k]) || s_[k] == '.' ||
            ((s_[k] == '-' || s_[k] == '+') && (s_[k - 1] == 'e' || s_[k - 1] == 'E'))))
      ++k;
    std::string num(s_.substr(i_, k - i_));
    advance_to(k);
    try {
      size_t used = 0;
      bool is_float = num.find_first_of(".eE") != std::string::npos &&
                      num.find("0x") == std::string::npos && num.find("0X") == std::string::npos;
      if (is_float) {
        double d = std::stod(num, &used);
        if (used == num.size()) return d;
      } else {
        long long v = std::stoll(num, &used, 0);
        if (used == num.size()) return v;
      }
    } catch (const std::exception&) {
    }
    error_at(p, fmt::format("bad number syntax: {}", num));
  }
};

const std::set<std::string>& functions() {
  static const std::set<std::string> f = {
      "and",    "eq",      "ge",    "gt",    "index", "join",     "json", "le",
      "len",    "lower",   "lt",    "ne",    "not",   "or",       "pad",  "print",
      "printf", "println", "slice", "split", "title", "truncate", "upper"};
  return f;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) { vars_.push_back("$"); }

  Node parse() {
    Node root;
    root.kind = Node::List;
    std::string term;
    Pos term_pos;
    root.list = parse_list(term, term_pos);
    if (!term.empty()) error_at(term_pos, fmt::format("unexpected {{{{{}}}}}", term));
    return root;
  }

 private:
  std::vector<Token> t_;
  size_t i_ = 0;
  std::vector<std::string> vars_;
  int range_depth_ = 0;

  const Token& cur() const { return t_[i_]; }
  const Token& next() { return t_[i_++]; }
  bool at_ident(const char* word) const { return cur().kind == Tok::Ident && cur().text == word; }

  void expect(Tok k, const char* what) {
    if (cur().kind != k)
      error_at(cur().pos, fmt::format("expected {}, found {}", what, describe(cur())));
    ++i_;
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::End:
        return "end of template";
      case Tok::Text:
        return "text";
      case Tok::Right:
        return "\"}}\"";
      default:
        return "\"" + t.text + "\"";
    }
  }

  // Nodes up to {{end}} or {{else}} (left unconsumed after its keyword: `term` names it) or the
  // end of the template (`term` empty).
  std::vector<Node> parse_list(std::string& term, Pos& term_pos) {
    std::vector<Node> out;
    for (;;) {
      const Token& tok = cur();
      if (tok.kind == Tok::End) {
        term.clear();
        return out;
      }
      if (tok.kind == Tok::Text) {
        Node n;
        n.kind = Node::Text;
        n.text = tok.text;
        n.pos = tok.pos;
        ++i_;
        out.push_back(std::move(n));
        continue;
      }
      Pos left = tok.pos;
      expect(Tok::Left, "{{");
      if (at_ident("end") || at_ident("else")) {
        term = cur().text;
        term_pos = left;
        ++i_;
        if (term == "end") expect(Tok::Right, "}} after end");
        return out;
      }
      out.push_back(parse_action(left));
    }
  }

  Node parse_action(Pos left) {
    Node n;
    n.pos = left;
    if (at_ident("if") || at_ident("range") || at_ident("with")) {
      std::string kw = next().text;
      return parse_control(kw == "if" ? Node::If : kw == "range" ? Node::Range : Node::With, left);
    }
    if (at_ident("break") || at_ident("continue")) {
      std::string kw = next().text;
      if (range_depth_ == 0) error_at(left, fmt::format("{{{{{}}}}} outside {{{{range}}}}", kw));
      expect(Tok::Right, "}}");
      n.kind = kw == "break" ? Node::Break : Node::Continue;
      return n;
    }
    if (at_ident("define") || at_ident("template") || at_ident("block"))
      error_at(left, fmt::format("{{{{{}}}}} is not supported", cur().text));
    n.kind = Node::Action;
    n.pipe = parse_pipeline(false, Tok::Right);
    return n;
  }

  Node parse_control(Node::Kind kind, Pos left) {
    Node n;
    n.kind = kind;
    n.pos = left;
    size_t mark = vars_.size();
    n.pipe = parse_pipeline(kind == Node::Range, Tok::Right);
    if (kind == Node::Range) ++range_depth_;
    std::string term;
    Pos term_pos;
    size_t body_mark = vars_.size();
    n.list = parse_list(term, term_pos);
    vars_.resize(body_mark);
    if (kind == Node::Range) --range_depth_;
    const char* name = kind == Node::If ? "if" : kind == Node::Range ? "range" : "with";
    if (term.empty()) error_at(left, fmt::format("{{{{{}}}}} has no matching {{{{end}}}}", name));
    if (term == "else") {
      if ((kind == Node::If && at_ident("if")) || (kind == Node::With && at_ident("with"))) {
        Pos inner = cur().pos;
        ++i_;
        n.else_list.push_back(parse_control(kind, inner));
      } else {
        expect(Tok::Right, "}} after else");
        n.else_list = parse_list(term, term_pos);
        vars_.resize(body_mark);
        if (term != "end")
          error_at(
              term.empty() ? left : term_pos,
              fmt::format("{{{{{}}}}} has no matching {{{{end}}}} after its {{{{else}}}}", name));
      }
    }
    vars_.resize(mark);
    return n;
  }

  bool defined(const std::string& v) const {
    for (const auto& x : vars_)
      if (x == v) return true;
    return false;
  }

  Pipeline parse_pipeline(bool two_vars, Tok close) {
    Pipeline p;
    p.pos = cur().pos;
    // $x := ..., $x = ..., and in range $i, $v := ...
    if (cur().kind == Tok::Var) {
      size_t save = i_;
      std::vector<std::string> names{next().text};
      if (two_vars && cur().kind == Tok::Comma) {
        ++i_;
        if (cur().kind == Tok::Var) names.push_back(next().text);
      }
      if (cur().kind == Tok::Declare || (cur().kind == Tok::Assign && names.size() == 1)) {
        p.assign = cur().kind == Tok::Assign;
        ++i_;
        for (const auto& v : names) {
          if (v == "$") error_at(p.pos, "cannot declare or assign $");
          if (p.assign && !defined(v)) error_at(p.pos, fmt::format("undefined variable \"{}\"", v));
        }
        p.vars = names;
      } else {
        i_ = save;
      }
    }
    for (;;) {
      p.cmds.push_back(parse_command());
      if (cur().kind != Tok::Pipe) break;
      ++i_;
    }
    if (!p.assign)
      for (const auto& v : p.vars) vars_.push_back(v);
    expect(close, close == Tok::Right ? "}}" : "\")\"");
    return p;
  }

  Command parse_command() {
    Command c;
    c.pos = cur().pos;
    while (cur().kind != Tok::Pipe && cur().kind != Tok::Right && cur().kind != Tok::RParen &&
           cur().kind != Tok::End)
      c.args.push_back(parse_operand());
    if (c.args.empty()) error_at(c.pos, "missing value for command");
    return c;
  }

  Arg parse_operand() {
    const Token& tok = next();
    Arg a;
    a.pos = tok.pos;
    a.text = tok.text;
    switch (tok.kind) {
      case Tok::Field:
        a.kind = Arg::Field;
        a.fields.push_back(tok.text);
        a.text = "." + tok.text;
        break;
      case Tok::Dot:
        a.kind = Arg::Dot;
        break;
      case Tok::Var:
        if (!defined(tok.text))
          error_at(tok.pos, fmt::format("undefined variable \"{}\"", tok.text));
        a.kind = Arg::Var;
        a.name = tok.text;
        break;
      case Tok::String:
      case Tok::Number:
        a.kind = Arg::Literal;
        a.literal = tok.value;
        return a;
      case Tok::Ident:
        if (tok.text == "true" || tok.text == "false") {
          a.kind = Arg::Literal;
          a.literal = tok.text == "true";
          return a;
        }
        if (tok.text == "nil") {
          a.kind = Arg::Literal;
          a.literal = nullptr;
          return a;
        }
        if (!functions().count(tok.text))
          error_at(tok.pos, fmt::format("function \"{}\" not defined", tok.text));
        a.kind = Arg::Func;
        a.name = tok.text;
        return a;
      case Tok::LParen:
        a.kind = Arg::Sub;
        a.sub = std::make_shared<Pipeline>(parse_pipeline(false, Tok::RParen));
        a.text = "(...)";
        break;
      default:
        error_at(tok.pos, fmt::format("unexpected {} in command", describe(tok)));
    }
    while (cur().kind == Tok::Field && !cur().spaced) {
      a.fields.push_back(cur().text);
      a.text += "." + cur().text;
      ++i_;
    }
    return a;
  }
};

}  // namespace

Node parse(std::string_view text) { return Parser(Lexer(text).run()).parse(); }

}  // namespace vessel::gotmpl
