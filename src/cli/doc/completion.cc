// Shell completion: the candidates come from the CLI11 tree at the time of the Tab (the
// program answers `PROGRAM __complete WORDS...`), so they cannot drift from --help; the shell
// scripts are only the glue.
#include <algorithm>

#include "cli/doc/cli_doc.h"

namespace vessel::cli::doc {

namespace {

bool visible(const CLI::App* a) { return !a->get_group().empty(); }
bool visible(const CLI::Option* o) { return !o->get_group().empty(); }
bool takes_value(const CLI::Option* o) { return o->get_expected_max() > 0; }  // flags: 0

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

const CLI::Option* find_option(const CLI::App* app, const std::string& word) {
  std::string name = word.substr(0, word.find('='));
  for (const CLI::App* a = app; a; a = a->get_parent()) {
    for (const CLI::Option* o : a->get_options()) {
      if (o->get_positional() && !o->nonpositional()) continue;
      for (const auto& l : o->get_lnames())
        if (name == "--" + l) return o;
      for (const auto& s : o->get_snames())
        if (name == "-" + s) return o;
    }
  }
  return nullptr;
}

const CLI::App* find_sub(const CLI::App* app, const std::string& word) {
  for (const CLI::App* s : app->get_subcommands([](const CLI::App*) { return true; }))
    if (s->check_name(word)) return s;
  return nullptr;
}

// Which names a positional argument takes, from its name (and its command's parent for NAME).
std::string positional_kind(const CLI::App* cmd, const CLI::Option* p) {
  std::string n = p->get_name();
  if (n == "CONTAINER") return "containers";
  if (n == "IMAGE") return "images";
  if (n == "NETWORK") return "networks";
  if (n == "VOLUME") return "volumes";
  if (n == "NAME") {
    const CLI::App* parent = cmd->get_parent();
    std::string group = parent ? parent->get_name() : "";
    if (group == "volume") return "volumes";
    if (group == "network") return "networks";
    if (group == "template") return "";
    return "containers";
  }
  return "";
}

std::string kind_of(const std::string& n) {
  if (n == "CONTAINER") return "containers";
  if (n == "IMAGE") return "images";
  if (n == "NETWORK") return "networks";
  if (n == "VOLUME") return "volumes";
  return "";
}

std::string value_kind(const CLI::Option* o) {
  for (const auto& l : o->get_lnames())
    if (l == "network" || l == "net") return "networks";
  return "";
}

void add_matching(std::vector<std::string>& out, const std::vector<std::string>& names,
                  const std::string& prefix) {
  for (const auto& n : names)
    if (starts_with(n, prefix) && std::find(out.begin(), out.end(), n) == out.end())
      out.push_back(n);
}

}  // namespace

std::vector<std::string> prefix_arguments(const CLI::App& cmd) {
  std::vector<std::string> out;
  const std::string& d = cmd.get_description();
  auto colon = d.rfind(": ");
  if (colon == std::string::npos) return out;
  std::string rest = d.substr(colon + 2), word;
  auto flush = [&] {
    std::string w;
    for (char c : word)
      if (c != '[' && c != ']' && c != '.') w += c;
    bool upper = !w.empty();
    for (char c : w) upper = upper && ((c >= 'A' && c <= 'Z') || c == '_');
    if (upper) out.push_back(w);
    word.clear();
  };
  for (char c : rest) {
    if (c == ' ') {
      flush();
    } else {
      word += c;
    }
  }
  flush();
  return out;
}

std::vector<std::string> complete(const CLI::App& app, const std::vector<std::string>& words,
                                  const DynamicNames& dynamic) {
  std::vector<std::string> out;
  if (words.empty()) return out;
  const std::string& current = words.back();
  const CLI::App* cmd = &app;
  const CLI::Option* pending = nullptr;  // an option whose value comes next
  bool after_dashes = false;
  size_t npos = 0;
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    if (pending) {
      pending = nullptr;
      continue;
    }
    if (!after_dashes && w == "--") {
      after_dashes = true;
      continue;
    }
    if (!after_dashes && w.size() > 1 && w[0] == '-') {
      const CLI::Option* o = find_option(cmd, w);
      bool attached = w.find('=') != std::string::npos || (w[1] != '-' && w.size() > 2);
      if (o && takes_value(o) && !attached) pending = o;
      continue;
    }
    if (npos == 0 && !after_dashes) {
      if (const CLI::App* s = find_sub(cmd, w)) {
        cmd = s;
        continue;
      }
    }
    ++npos;
    if (cmd->get_prefix_command()) after_dashes = true;  // the rest belongs to the command
  }

  auto names = [&](const std::string& kind) {
    if (kind.empty() || !dynamic) return std::vector<std::string>{};
    return dynamic(kind);
  };
  if (pending) {
    std::string kind = value_kind(pending);
    if (kind.empty()) return {":files"};
    add_matching(out, names(kind), current);
    return out;
  }
  if (!after_dashes && starts_with(current, "-")) {
    for (const CLI::Option* o : cmd->get_options()) {
      if (!visible(o) || (o->get_positional() && !o->nonpositional())) continue;
      std::vector<std::string> n;
      for (const auto& l : o->get_lnames()) n.push_back("--" + l);
      for (const auto& s : o->get_snames()) n.push_back("-" + s);
      add_matching(out, n, current);
    }
    return out;
  }
  auto subs = cmd->get_subcommands([](const CLI::App* a) { return visible(a); });
  if (!subs.empty() && npos == 0) {
    std::vector<std::string> n;
    for (const CLI::App* s : subs) n.push_back(s->get_name());
    add_matching(out, n, current);
    return out;
  }
  if (cmd->get_prefix_command()) {
    // IMAGE [COMMAND...]: the arguments a prefix command names in its description.
    auto args = prefix_arguments(*cmd);
    if (!args.empty()) {
      std::string kind = kind_of(args[std::min(npos, args.size() - 1)]);
      if (kind.empty()) return {":files"};
      add_matching(out, names(kind), current);
      return out;
    }
  }
  auto positionals = cmd->get_options(
      [](const CLI::Option* o) { return o->get_positional() && !o->nonpositional(); });
  size_t index = 0;
  for (const CLI::Option* p : positionals) {
    int max = p->get_expected_max();
    size_t takes = max < 0 || max > 1000 ? 1000000 : static_cast<size_t>(std::max(max, 1));
    if (npos < index + takes) {
      std::string kind = positional_kind(cmd, p);
      if (kind.empty()) return {":files"};
      add_matching(out, names(kind), current);
      return out;
    }
    index += takes;
  }
  return out;
}

std::string completion_script(const std::string& program, const std::string& shell) {
  std::string fn = "_" + program;
  std::replace(fn.begin(), fn.end(), '-', '_');
  if (shell == "bash") {
    return "# bash completion for " + program + " (generated by `" + program +
           " completion bash`)\n" + fn +
           "() {\n"
           "  local cur=${COMP_WORDS[COMP_CWORD]} out IFS=$'\\n'\n"
           "  out=$(" +
           program +
           " __complete -- \"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null) || return 0\n"
           "  if [[ $out == :files ]]; then\n"
           "    compopt -o filenames 2>/dev/null\n"
           "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
           "    return 0\n"
           "  fi\n"
           "  COMPREPLY=($(compgen -W \"$out\" -- \"$cur\"))\n"
           "}\n"
           "complete -F " +
           fn + " " + program + "\n";
  }
  if (shell == "zsh") {
    return "#compdef " + program + "\n# zsh completion for " + program + " (generated by `" +
           program + " completion zsh`)\n" + fn +
           "() {\n"
           "  local -a out\n"
           "  out=(\"${(@f)$(" +
           program +
           " __complete -- \"${(@)words[2,CURRENT]}\" 2>/dev/null)}\")\n"
           "  out=(${out:#})\n"
           "  if [[ ${out[1]} == :files ]]; then _files; return; fi\n"
           "  compadd -a out\n"
           "}\n"
           "if [[ ${funcstack[1]} == " +
           fn + " ]]; then " + fn + " \"$@\"; else compdef " + fn + " " + program + "; fi\n";
  }
  throw std::invalid_argument("completion: unknown shell \"" + shell + "\" (bash or zsh)");
}

}  // namespace vessel::cli::doc
