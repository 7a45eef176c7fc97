// Containerfile (Dockerfile) parsing: lines into instructions (directives, comments,
// continuations, JSON exec form), and the word processing the instructions use (quotes,
// escapes, $VAR / ${VAR} / ${VAR:-default} / ${VAR:+alt} substitution). What the
// instructions mean is manager/build.cc's business.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vessel::image::dockerfile {

struct Instruction {
  std::string keyword;  // upper case: FROM, RUN, COPY...
  std::string text;     // the instruction as written, continuations joined by a space
  std::string args;     // what follows the keyword and its --flags, trimmed
  // --name=value flags in front of the arguments (FROM, COPY, ADD, RUN, HEALTHCHECK).
  std::vector<std::pair<std::string, std::string>> flags;
  // The JSON exec form (RUN, CMD, ENTRYPOINT, SHELL, VOLUME, COPY, ADD): args is a JSON
  // array of strings, here.
  std::optional<std::vector<std::string>> json;
  int line = 0;  // first line, counting from 1

  std::optional<std::string> flag(const std::string& name) const;
};

struct File {
  std::string name;  // for messages: "Containerfile"
  char escape = '\\';
  std::vector<Instruction> instructions;
};

// Parses a whole file. Errors name the file and line: `Containerfile:3: unknown instruction
// "FOO"`, heredocs (`RUN <<EOF`) are refused, and so are files with no FROM.
File parse(const std::string& text, const std::string& name = "Containerfile");

// Looks a variable up: its value, or nullopt when it is not set.
using Lookup = std::function<std::optional<std::string>(const std::string&)>;

// Word processing: splits on unquoted white space, removes quotes and escapes, substitutes
// variables (not inside single quotes). `split` false: one word, spaces kept.
std::vector<std::string> words(const std::string& s, const Lookup& lookup, char escape = '\\');
std::string expand(const std::string& s, const Lookup& lookup, char escape = '\\');

// KEY=VALUE pairs (ENV, LABEL, ARG): "K=V K2='a b'", or the old single form "K V W" (ENV,
// LABEL: the rest of the line is the value). For ARG, a KEY without "=" has no value.
std::vector<std::pair<std::string, std::optional<std::string>>> key_values(
    const std::string& keyword, const std::string& args, const Lookup& lookup, char escape = '\\');

// The command of RUN/CMD/ENTRYPOINT: the JSON form as is, or `shell` + the line.
std::vector<std::string> command(const Instruction& ins, const std::vector<std::string>& shell);

}  // namespace vessel::image::dockerfile
