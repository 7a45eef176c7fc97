// GoTemplate's evaluator and functions, and the docker-style table output around it.
#include "util/go_template.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>

#include "util/error.h"
#include "util/go_template_ast.h"

namespace vessel {

namespace gotmpl {
Node parse(std::string_view text);
}

using nlohmann::json;
using namespace gotmpl;

namespace {

struct BreakSignal {};
struct ContinueSignal {};

[[noreturn]] void exec_error(Pos p, const std::string& what, const std::string& msg) {
  if (what.empty()) fail("template: line {}, column {}: {}", p.line, p.col, msg);
  fail("template: line {}, column {}: at <{}>: {}", p.line, p.col, what, msg);
}

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "nil";
    case json::value_t::object:
      return "map";
    case json::value_t::array:
      return "list";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::number_float:
      return "float";
    default:
      return "int";
  }
}

// A float as Go's %v prints it: shortest digits, exponent form below 1e-4 or from 1e21.
std::string float_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  auto e = sci.find('e');
  int exp = std::stoi(sci.substr(e + 1));
  if (exp < -4 || exp >= 21) {
    std::string mant = sci.substr(0, e);
    char sign = exp < 0 ? '-' : '+';
    int a = std::abs(exp);
    return mant + "e" + sign + (a < 10 ? "0" : "") + std::to_string(a);
  }
  r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

// A value as Go's fmt prints it with %v.
std::string text_of(const json& v) {
  switch (v.type()) {
    case json::value_t::discarded:
      return "<no value>";  // a map's missing key
    case json::value_t::null:
      return "<nil>";
    case json::value_t::string:
      return v.get<std::string>();
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float:
      return float_text(v.get<double>());
    case json::value_t::array: {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + text_of(v[i]);
      return s + "]";
    }
    case json::value_t::object: {
      std::string s = "map[";
      bool first = true;
      for (const auto& [k, x] : v.items()) {
        s += (first ? "" : " ") + k + ":" + text_of(x);
        first = false;
      }
      return s + "]";
    }
    default:
      return v.dump();
  }
}

bool truth(const json& v) {
  switch (v.type()) {
    case json::value_t::discarded:
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::number_integer:
      return v.get<int64_t>() != 0;
    case json::value_t::number_unsigned:
      return v.get<uint64_t>() != 0;
    case json::value_t::number_float:
      return v.get<double>() != 0;
    case json::value_t::string:
      return !v.get<std::string>().empty();
    default:
      return !v.empty();
  }
}

class Exec {
 public:
  Exec(bool header, const json& dot) : header_(header) { vars_.push_back({"$", dot}); }
  std::string out;

  void walk_list(const std::vector<Node>& list, const json& dot) {
    for (const auto& n : list) walk(n, dot);
  }

 private:
  bool header_;
  std::vector<std::pair<std::string, json>> vars_;

  void walk(const Node& n, const json& dot) {
    switch (n.kind) {
      case Node::List:
        walk_list(n.list, dot);
        break;
      case Node::Text:
        out += n.text;
        break;
      case Node::Action: {
        json v = pipeline(n.pipe, dot);
        if (n.pipe.vars.empty()) out += text_of(v);
        break;
      }
      case Node::Break:
        throw BreakSignal{};
      case Node::Continue:
        throw ContinueSignal{};
      case Node::If:
      case Node::With: {
        size_t mark = vars_.size();
        json v = pipeline(n.pipe, dot);
        if (truth(v)) {
          size_t inner = vars_.size();
          walk_list(n.list, n.kind == Node::With ? v : dot);
          vars_.resize(inner);
        } else {
          walk_list(n.else_list, dot);
        }
        vars_.resize(mark);
        break;
      }
      case Node::Range:
        range(n, dot);
        break;
    }
  }

  void range(const Node& n, const json& dot) {
    size_t mark = vars_.size();
    Pipeline p = n.pipe;
    std::vector<std::string> names = p.vars;
    p.vars.clear();
    json v = pipeline(p, dot);
    if (header_ && v.is_string()) v = json::array();  // a title has no elements
    if (!v.is_array() && !v.is_object() && !v.is_null())
      exec_error(n.pos, "",
                 fmt::format("range can't iterate over {} ({})", text_of(v), type_name(v)));
    bool any = false;
    auto body = [&](const json& key, const json& elem) {
      any = true;
      size_t m = vars_.size();
      if (names.size() == 1) vars_.push_back({names[0], elem});
      if (names.size() == 2) {
        vars_.push_back({names[0], key});
        vars_.push_back({names[1], elem});
      }
      try {
        walk_list(n.list, elem);
      } catch (const ContinueSignal&) {
      }
      vars_.resize(m);
    };
    try {
      if (v.is_array())
        for (size_t i = 0; i < v.size(); ++i) body(static_cast<int64_t>(i), v[i]);
      else if (v.is_object())
        for (const auto& [k, x] : v.items()) body(k, x);
    } catch (const BreakSignal&) {
    }
    if (!any) walk_list(n.else_list, dot);
    vars_.resize(mark);
  }

  json pipeline(const Pipeline& p, const json& dot) {
    json v;
    bool have = false;
    for (const auto& c : p.cmds) {
      v = command(c, dot, have ? &v : nullptr);
      have = true;
    }
    if (!p.vars.empty()) {
      if (p.assign) {
        for (auto it = vars_.rbegin(); it != vars_.rend(); ++it)
          if (it->first == p.vars[0]) {
            it->second = v;
            break;
          }
      } else {
        for (const auto& name : p.vars) vars_.push_back({name, v});
      }
    }
    return v;
  }

  json fields(json v, const std::vector<std::string>& names, const Arg& a) {
    std::string path = a.kind == Arg::Field ? "" : a.kind == Arg::Var ? a.name : "";
    for (const auto& f : names) {
      path += "." + f;
      if (header_ && v.is_string()) continue;  // a column title stands for its sub-fields
      if (v.is_object()) {
        auto it = v.find(f);
        if (it == v.end())
          if (it == v.end() && is_map(v)) {
            v = json(json::value_t::discarded);
            continue;
          }
        if (it == v.end())
          exec_error(a.pos, path,
                     fmt::format("no field \"{}\" (the fields here: {})", f, field_list(v)));
        json next = *it;
        v = std::move(next);
      } else if (v.is_discarded()) {
        continue;  // as Go: a missing map key's fields are missing too
      } else {
        exec_error(a.pos, path,
                   fmt::format("can't evaluate field {} in {} value", f, type_name(v)));
      }
    }
    return v;
  }

  // A Go struct has only exported, capitalised fields: an object with another key, or none,
  // is a map, where a missing key is "<no value>" rather than an error.
  static bool is_map(const json& obj) {
    if (obj.empty()) return true;
    for (const auto& [k, x] : obj.items())
      if (k.empty() || !std::isupper(static_cast<unsigned char>(k[0]))) return true;
    return false;
  }

  static std::string field_list(const json& obj) {
    std::string s;
    for (const auto& [k, x] : obj.items()) s += (s.empty() ? "" : ", ") + k;
    return s.empty() ? "none" : s;
  }

  json var(const Arg& a) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it)
      if (it->first == a.name) return it->second;
    exec_error(a.pos, a.name, "undefined variable");
  }

  json operand(const Arg& a, const json& dot) {
    switch (a.kind) {
      case Arg::Field:
        return fields(dot, a.fields, a);
      case Arg::Dot:
        return fields(dot, a.fields, a);
      case Arg::Var:
        return fields(var(a), a.fields, a);
      case Arg::Literal:
        return a.literal;
      case Arg::Sub:
        return fields(pipeline(*a.sub, dot), a.fields, a);
      case Arg::Func:
        return call(a, {}, a.pos);
    }
    return nullptr;
  }

  json command(const Command& c, const json& dot, const json* final_arg) {
    const Arg& first = c.args[0];
    if (first.kind == Arg::Func) {
      std::vector<json> args;
      for (size_t i = 1; i < c.args.size(); ++i) args.push_back(operand(c.args[i], dot));
      if (final_arg) args.push_back(*final_arg);
      return call(first, args, first.pos);
    }
    size_t extra = c.args.size() - 1 + (final_arg ? 1 : 0);
    if (extra == 0) return operand(first, dot);
    // docker's row methods with one argument ({{.Label "k"}}): a field holding a map, indexed.
    if ((first.kind == Arg::Field || first.kind == Arg::Var) && !first.fields.empty() &&
        extra == 1) {
      json m = operand(first, dot);
      json key = c.args.size() > 1 ? operand(c.args[1], dot) : *final_arg;
      if (header_ && m.is_string()) return m;
      if (m.is_object() && key.is_string()) {
        auto it = m.find(key.get<std::string>());
        return it == m.end() ? json("") : *it;
      }
    }
    exec_error(first.pos, first.text, "can't give arguments to a non-function");
  }

  // ----- functions -----

  static void want(const Arg& f, const std::vector<json>& a, size_t lo, size_t hi) {
    if (a.size() < lo || a.size() > hi) {
      std::string n = lo == hi ? std::to_string(lo) : fmt::format("{} to {}", lo, hi);
      if (hi == SIZE_MAX) n = fmt::format("at least {}", lo);
      exec_error(
          f.pos, f.name,
          fmt::format("wrong number of arguments for {}: want {}, got {}", f.name, n, a.size()));
    }
  }
  static std::string str(const Arg& f, const json& v, const char* what) {
    if (!v.is_string())
      exec_error(
          f.pos, f.name,
          fmt::format("{} wants a string {}, got {} ({})", f.name, what, text_of(v), type_name(v)));
    return v.get<std::string>();
  }
  static int64_t integer(const Arg& f, const json& v, const char* what) {
    if (!v.is_number_integer() && !v.is_number_unsigned())
      exec_error(f.pos, f.name,
                 fmt::format("{} wants an integer {}, got {} ({})", f.name, what, text_of(v),
                             type_name(v)));
    return v.get<int64_t>();
  }

  // A padding or width: 0 to kMaxWidth (a template cannot ask for gigabytes of spaces).
  static constexpr int64_t kMaxWidth = 4096;
  static size_t count(const Arg& f, const json& v) {
    int64_t k = integer(f, v, "count");
    if (k < 0 || k > kMaxWidth)
      exec_error(f.pos, f.name, fmt::format("count {} out of range (0 to {})", k, kMaxWidth));
    return static_cast<size_t>(k);
  }

  json call(const Arg& f, const std::vector<json>& a, Pos) {
    const std::string& n = f.name;
    if (header_ && a.size() >= 1 && n != "and" && n != "or" && n != "not" && n != "eq" &&
        n != "ne" && n != "lt" && n != "le" && n != "gt" && n != "ge" && n != "len")
      return text_of(a[0].is_string() ? a[0] : json(text_of(a[0])));
    if (n == "json") {
      want(f, a, 1, 1);
      if (a[0].is_discarded()) return "null";
      return a[0].dump(-1, ' ', false, json::error_handler_t::replace);
    }
    if (n == "upper" || n == "lower" || n == "title") {
      want(f, a, 1, 1);
      std::string s = str(f, a[0], "argument");
      bool start = true;
      for (auto& ch : s) {
        auto u = static_cast<unsigned char>(ch);
        if (n == "upper") ch = static_cast<char>(std::toupper(u));
        if (n == "lower") ch = static_cast<char>(std::tolower(u));
        if (n == "title") {
          if (start && std::isalpha(u)) ch = static_cast<char>(std::toupper(u));
          start = !std::isalnum(u) && ch != '_' && ch != '\'';
        }
      }
      return s;
    }
    if (n == "len") {
      want(f, a, 1, 1);
      if (a[0].is_string()) return static_cast<int64_t>(a[0].get<std::string>().size());
      if (a[0].is_array() || a[0].is_object()) return static_cast<int64_t>(a[0].size());
      if (a[0].is_null()) return 0;
      exec_error(f.pos, n, fmt::format("len of {} ({})", text_of(a[0]), type_name(a[0])));
    }
    if (n == "join") {
      want(f, a, 2, 2);
      std::string sep = str(f, a[1], "separator");
      if (a[0].is_null()) return "";
      if (!a[0].is_array())
        exec_error(f.pos, n,
                   fmt::format("join wants a list, got {} ({})", text_of(a[0]), type_name(a[0])));
      std::string s;
      for (size_t i = 0; i < a[0].size(); ++i) s += (i ? sep : "") + text_of(a[0][i]);
      return s;
    }
    if (n == "split") {
      want(f, a, 2, 2);
      std::string s = str(f, a[0], "argument"), sep = str(f, a[1], "separator");
      json out = json::array();
      if (sep.empty()) {
        for (char ch : s) out.push_back(std::string(1, ch));
        return out;
      }
      size_t from = 0;
      for (size_t at; (at = s.find(sep, from)) != std::string::npos; from = at + sep.size())
        out.push_back(s.substr(from, at - from));
      out.push_back(s.substr(from));
      return out;
    }
    if (n == "index") {
      want(f, a, 1, SIZE_MAX);
      json v = a[0];
      for (size_t i = 1; i < a.size(); ++i) {
        if (v.is_array()) {
          int64_t k = integer(f, a[i], "index");
          if (k < 0 || static_cast<size_t>(k) >= v.size())
            exec_error(f.pos, n, fmt::format("index out of range: {}", k));
          json next = v[static_cast<size_t>(k)];
          v = std::move(next);
        } else if (v.is_object()) {
          std::string k = str(f, a[i], "key");
          auto it = v.find(k);
          if (it == v.end()) {
            bool all_strings =
                std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_string(); });
            v = all_strings ? json("") : json(nullptr);
          } else {
            json next = *it;
            v = std::move(next);
          }
        } else if (v.is_null()) {
          return nullptr;
        } else {
          exec_error(f.pos, n, fmt::format("can't index item of type {}", type_name(v)));
        }
      }
      return v;
    }
    if (n == "slice") {
      want(f, a, 1, 3);
      size_t size = a[0].is_string()  ? a[0].get<std::string>().size()
                    : a[0].is_array() ? a[0].size()
                                      : SIZE_MAX;
      if (size == SIZE_MAX)
        exec_error(f.pos, n, fmt::format("can't slice item of type {}", type_name(a[0])));
      int64_t lo = a.size() > 1 ? integer(f, a[1], "index") : 0;
      int64_t hi = a.size() > 2 ? integer(f, a[2], "index") : static_cast<int64_t>(size);
      if (lo < 0 || hi < lo || static_cast<size_t>(hi) > size)
        exec_error(f.pos, n, fmt::format("slice indexes out of range: {}:{}", lo, hi));
      if (a[0].is_string()) return a[0].get<std::string>().substr(lo, hi - lo);
      return json(std::vector<json>(a[0].begin() + lo, a[0].begin() + hi));
    }
    if (n == "pad") {
      want(f, a, 3, 3);
      return std::string(count(f, a[1]), ' ') + text_of(a[0]) + std::string(count(f, a[2]), ' ');
    }
    if (n == "truncate") {
      want(f, a, 2, 2);
      std::string s = text_of(a[0]);
      int64_t k = integer(f, a[1], "length");
      return k >= 0 && static_cast<size_t>(k) < s.size() ? s.substr(0, k) : s;
    }
    if (n == "print" || n == "println") {
      std::string s;
      for (size_t i = 0; i < a.size(); ++i) {
        if (i && (n == "println" || (!a[i - 1].is_string() && !a[i].is_string()))) s += ' ';
        s += text_of(a[i]);
      }
      return n == "println" ? s + "\n" : s;
    }
    if (n == "printf") {
      want(f, a, 1, SIZE_MAX);
      return printf(f, str(f, a[0], "format"), a);
    }
    if (n == "not") {
      want(f, a, 1, 1);
      return !truth(a[0]);
    }
    if (n == "and" || n == "or") {
      want(f, a, 1, SIZE_MAX);
      for (const auto& x : a)
        if (truth(x) == (n == "or")) return x;
      return a.back();
    }
    if (n == "eq") {
      want(f, a, 2, SIZE_MAX);
      for (size_t i = 1; i < a.size(); ++i)
        if (compare(f, a[0], a[i]) == 0) return true;
      return false;
    }
    want(f, a, 2, 2);
    int c = compare(f, a[0], a[1]);
    if (n == "ne") return c != 0;
    if (n == "lt") return c < 0;
    if (n == "le") return c <= 0;
    if (n == "gt") return c > 0;
    return c >= 0;  // ge
  }

  static int compare(const Arg& f, const json& x, const json& y) {
    if (x.is_number() && y.is_number()) {
      if (x.is_number_float() || y.is_number_float()) {
        double a = x.get<double>(), b = y.get<double>();
        return a < b ? -1 : a > b ? 1 : 0;
      }
      int64_t a = x.get<int64_t>(), b = y.get<int64_t>();
      return a < b ? -1 : a > b ? 1 : 0;
    }
    if (x.is_string() && y.is_string()) return x.get<std::string>().compare(y.get<std::string>());
    if (x.is_boolean() && y.is_boolean() && (f.name == "eq" || f.name == "ne"))
      return x.get<bool>() == y.get<bool>() ? 0 : 1;
    if (x.is_null() && y.is_null() && (f.name == "eq" || f.name == "ne")) return 0;
    exec_error(
        f.pos, f.name,
        fmt::format("incompatible types for comparison: {} and {}", type_name(x), type_name(y)));
  }

  // printf with %v %s %d %q %x %X %f %e %g %t %c %%, flags - + 0 space, width and precision.
  static std::string printf(const Arg& f, const std::string& fmtstr, const std::vector<json>& a) {
    std::string out;
    size_t argi = 1;
    for (size_t i = 0; i < fmtstr.size(); ++i) {
      if (fmtstr[i] != '%') {
        out += fmtstr[i];
        continue;
      }
      std::string spec = "%";
      size_t j = i + 1;
      while (j < fmtstr.size() && std::string("-+ 0#").find(fmtstr[j]) != std::string::npos)
        spec += fmtstr[j++];
      // [width][.precision], each at most kMaxWidth.
      for (int part = 0; part < 2; ++part) {
        if (part == 1) {
          if (j >= fmtstr.size() || fmtstr[j] != '.') break;
          spec += fmtstr[j++];
        }
        size_t from = j;
        while (j < fmtstr.size() && std::isdigit(static_cast<unsigned char>(fmtstr[j]))) ++j;
        if (j - from > 4 || (j > from && std::stoll(fmtstr.substr(from, j - from)) > kMaxWidth))
          exec_error(f.pos, "printf",
                     fmt::format("width or precision {} out of range (0 to {})",
                                 fmtstr.substr(from, j - from), kMaxWidth));
        spec += fmtstr.substr(from, j - from);
      }
      if (j >= fmtstr.size()) exec_error(f.pos, "printf", "format ends inside a verb");
      char verb = fmtstr[j];
      i = j;
      if (verb == '%') {
        out += '%';
        continue;
      }
      if (argi >= a.size())
        exec_error(f.pos, "printf", fmt::format("missing argument for %{}", verb));
      const json& v = a[argi++];
      // Width and precision at most kMaxWidth: twice that holds any number (a double's 309
      // integer digits included).
      char buf[2 * kMaxWidth];
      auto pad_text = [&](const std::string& s) {
        // width and precision apply to text through %s; the text itself may be any length
        // (and hold NULs), so only the padding goes through snprintf.
        std::string sp = spec;
        std::string text = s;
        if (size_t dot = sp.find('.'); dot != std::string::npos) {
          size_t prec = dot + 1 < sp.size() ? std::stoul(sp.substr(dot + 1)) : 0;
          if (prec < text.size()) text.resize(prec);
          sp.resize(dot);
        }
        size_t width = 0;
        size_t digits = sp.find_first_of("0123456789");
        if (digits != std::string::npos) width = std::stoul(sp.substr(digits));
        if (text.size() >= width) return text;
        std::string fill(width - text.size(), ' ');
        return sp.find('-') != std::string::npos ? text + fill : fill + text;
      };
      switch (verb) {
        case 'v':
        case 's':
          out += pad_text(text_of(v));
          break;
        case 'q':
          out += pad_text(v.is_string() ? v.dump(-1, ' ', false, json::error_handler_t::replace)
                                        : text_of(v));
          break;
        case 't':
          if (!v.is_boolean()) goto bad;
          out += pad_text(text_of(v));
          break;
        case 'c': {
          if (!v.is_number_integer() && !v.is_number_unsigned()) goto bad;
          int64_t cp = v.get<int64_t>();
          if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
          std::string u;  // UTF-8, as Go's %c
          auto c = static_cast<uint32_t>(cp);
          if (c < 0x80) {
            u += static_cast<char>(c);
          } else if (c < 0x800) {
            u += static_cast<char>(0xC0 | (c >> 6));
            u += static_cast<char>(0x80 | (c & 0x3F));
          } else if (c < 0x10000) {
            u += static_cast<char>(0xE0 | (c >> 12));
            u += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            u += static_cast<char>(0x80 | (c & 0x3F));
          } else {
            u += static_cast<char>(0xF0 | (c >> 18));
            u += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            u += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            u += static_cast<char>(0x80 | (c & 0x3F));
          }
          out += pad_text(u);
          break;
        }
        case 'd':
        case 'x':
        case 'X':
        case 'o':
          if (verb == 'x' && v.is_string()) {
            std::string h;
            for (unsigned char ch : v.get<std::string>()) h += fmt::format("{:02x}", ch);
            out += pad_text(h);
            break;
          }
          if (!v.is_number_integer() && !v.is_number_unsigned()) goto bad;
          std::snprintf(buf, sizeof buf, (spec + "ll" + verb).c_str(),
                        static_cast<long long>(v.get<int64_t>()));
          out += buf;
          break;
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
          if (!v.is_number()) goto bad;
          std::snprintf(buf, sizeof buf, (spec + verb).c_str(), v.get<double>());
          out += buf;
          break;
        default:
          exec_error(f.pos, "printf", fmt::format("unsupported verb %{}", verb));
      }
      continue;
    bad:
      exec_error(f.pos, "printf",
                 fmt::format("%{} does not fit {} ({})", verb, text_of(v), type_name(v)));
    }
    if (argi < a.size())
      exec_error(f.pos, "printf", fmt::format("{} arguments left over", a.size() - argi));
    return out;
  }
};

}  // namespace

GoTemplate::GoTemplate(std::string_view text)
    : root_(std::make_unique<Node>(gotmpl::parse(text))) {}
GoTemplate::~GoTemplate() = default;
GoTemplate::GoTemplate(GoTemplate&&) noexcept = default;
GoTemplate& GoTemplate::operator=(GoTemplate&&) noexcept = default;

std::string GoTemplate::render(const json& dot) const {
  Exec e(false, dot);
  e.walk_list(root_->list, dot);
  return std::move(e.out);
}

std::string GoTemplate::render_header(const json& headers) const {
  Exec e(true, headers);
  e.walk_list(root_->list, headers);
  return std::move(e.out);
}

FormatSpec parse_format(std::string_view format) {
  FormatSpec s;
  std::string f(format);
  if (f.rfind("table", 0) == 0 &&
      (f.size() == 5 || std::isspace(static_cast<unsigned char>(f[5])))) {
    s.table = true;
    f.erase(0, 5);
  }
  size_t b = f.find_first_not_of(' ');
  size_t e = f.find_last_not_of(' ');
  f = b == std::string::npos ? "" : f.substr(b, e - b + 1);
  for (size_t i = 0; i + 1 < f.size(); ++i)
    if (f[i] == '\\' && (f[i + 1] == 't' || f[i + 1] == 'n'))
      f.replace(i, 2, f[i + 1] == 't' ? "\t" : "\n");
  s.text = f;
  return s;
}

std::string tabwrite(const std::string& text, size_t min_width, size_t padding) {
  std::vector<std::vector<std::string>> lines;
  std::stringstream in(text);
  std::string line;
  bool trailing_newline = !text.empty() && text.back() == '\n';
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    size_t from = 0;
    for (size_t at; (at = line.find('\t', from)) != std::string::npos; from = at + 1)
      cells.push_back(line.substr(from, at - from));
    cells.push_back(line.substr(from));
    lines.push_back(std::move(cells));
  }
  std::vector<size_t> widths;
  for (const auto& cells : lines)
    for (size_t i = 0; i + 1 < cells.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], cells[i].size() + padding);
    }
  std::string out;
  for (size_t l = 0; l < lines.size(); ++l) {
    const auto& cells = lines[l];
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size())
        out += std::string(std::max(widths[i], min_width) - cells[i].size(), ' ');
    }
    if (l + 1 < lines.size() || trailing_newline) out += '\n';
  }
  return out;
}

std::string format_rows(const FormatSpec& spec, const json& rows, const json& headers) {
  GoTemplate t(spec.text);
  std::string out;
  if (spec.table) out += t.render_header(headers) + "\n";
  for (const auto& r : rows) out += t.render(r) + "\n";
  return spec.table ? tabwrite(out) : out;
}

}  // namespace vessel
