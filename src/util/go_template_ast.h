// The parsed form of a GoTemplate (util/go_template.h), shared by its parser and evaluator.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vessel::gotmpl {

struct Pos {
  int line = 1, col = 1;
};

struct Pipeline;

// One operand: a field chain on dot, a variable (with fields), a function name, a literal, or a
// parenthesised pipeline (with fields).
struct Arg {
  enum Kind { Field, Dot, Var, Func, Literal, Sub } kind = Literal;
  std::string name;                 // variable ("$x", "$") or function name
  std::vector<std::string> fields;  // .A.B after the operand (or on dot for Field)
  nlohmann::json literal;
  std::shared_ptr<Pipeline> sub;
  Pos pos;
  std::string text;  // as written, for error messages
};

struct Command {
  std::vector<Arg> args;
  Pos pos;
};

struct Pipeline {
  std::vector<std::string> vars;  // declared or assigned variables
  bool assign = false;            // `=` rather than `:=`
  std::vector<Command> cmds;
  Pos pos;
};

struct Node {
  enum Kind { List, Text, Action, If, Range, With, Break, Continue } kind = List;
  std::string text;
  Pipeline pipe;
  std::vector<Node> list, else_list;
  Pos pos;
};

}  // namespace vessel::gotmpl
