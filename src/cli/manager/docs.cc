// vessel completion bash|zsh, and the hidden helpers behind it and the man pages:
// `vessel __complete WORDS...` (what the shell offers for the last word) and
// `vessel __generate-man DIR` (the build writes the man pages with it).
#include <unistd.h>

#include <cstdio>

#include "cli/doc/cli_doc.h"
#include "cli/manager/commands.h"

namespace vessel::cli {

namespace {

// The store the typed words point at (--root/--runroot before the command), or the default.
manager::StorePaths completion_store(const std::vector<std::string>& words, const Globals& base) {
  Globals g;
  g.root = base.root;  // the flags' defaults, with vessel.conf applied
  g.runroot = base.runroot;
  // Global flags come before the command: stop at the first word that is not one.
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.empty() || w[0] != '-') break;
    for (auto [flag, target] : {std::pair{"--root", &g.root}, std::pair{"--runroot", &g.runroot}}) {
      std::string f = flag;
      if (w == f && i + 2 < words.size()) {
        *target = words[++i];
        break;
      }
      if (w.rfind(f + "=", 0) == 0) *target = w.substr(f.size() + 1);
    }
  }
  manager::StorePaths p;
  p.root = g.root;
  p.runroot = !g.runroot.empty()            ? g.runroot
              : g.root == "/var/lib/vessel" ? "/run/vessel"
                                            : g.root + "/run";
  return p;
}

std::vector<std::string> store_names(const manager::StorePaths& paths, const std::string& kind) {
  std::vector<std::string> out;
  // A Tab must not create a store: only an existing one is opened.
  if (::access(paths.root.c_str(), R_OK) != 0) return out;
  try {
    manager::Store store(paths);
    if (kind == "containers") {
      for (const auto& c : store.containers()) {
        out.push_back(c.name);
        out.push_back(c.id.substr(0, 12));
      }
    } else if (kind == "images") {
      for (const auto& i : store.images()) {
        for (const auto& t : i.tags) {
          out.push_back(t);
          // What people type: "busybox" for localhost/busybox:latest (the template).
          for (const char* prefix : {"localhost/", "docker.io/library/"})
            if (t.rfind(prefix, 0) == 0) {
              std::string s = t.substr(std::string(prefix).size());
              out.push_back(s);
              if (s.size() > 7 && s.substr(s.size() - 7) == ":latest")
                out.push_back(s.substr(0, s.size() - 7));
            }
        }
        out.push_back(i.id.substr(0, 12));
      }
    } else if (kind == "volumes") {
      for (const auto& v : store.volumes()) out.push_back(v.name);
    } else if (kind == "networks") {
      out = {"none", "host"};
      for (const auto& n : store.networks()) out.push_back(n.name);
    }
  } catch (const std::exception&) {
    // No names: completion stays quiet (a user without access to the store, say).
  }
  return out;
}

}  // namespace

void add_docs(CLI::App& app, Globals& g, Action& action) {
  auto* completion = app.add_subcommand(
      "completion",
      "print the shell completion script: bash or zsh (e.g. source <(vessel completion bash))");
  auto shell = std::make_shared<std::string>();
  completion->add_option("SHELL", *shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  completion->callback([&action, shell] {
    action = [shell]() -> int {
      std::fputs(doc::completion_script("vessel", *shell).c_str(), stdout);
      return 0;
    };
  });

  auto* comp =
      app.add_subcommand("__complete", "completion candidates for the last word")->group("");
  comp->set_help_flag();
  // The shell passes "--" first, so that every word, flags included, lands in WORDS.
  auto typed = std::make_shared<std::vector<std::string>>();
  comp->add_option("WORDS", *typed);
  comp->callback([&app, &g, &action, typed] {
    std::vector<std::string> words = *typed;
    action = [&app, &g, words]() -> int {
      auto paths = completion_store(words, g);
      auto out = doc::complete(app, words,
                               [&](const std::string& kind) { return store_names(paths, kind); });
      for (const auto& w : out) std::printf("%s\n", w.c_str());
      return 0;
    };
  });

  auto* man = app.add_subcommand("__generate-man", "write the man pages into DIR")->group("");
  auto dir = std::make_shared<std::string>();
  man->add_option("DIR", *dir)->required();
  man->callback([&app, &action, dir] {
    action = [&app, dir]() -> int {
      doc::write_man_pages(app, "vessel", 1, VESSEL_VERSION, *dir);
      return 0;
    };
  });
}

}  // namespace vessel::cli
