// What the build makes for people besides the programs: man pages (rendered with man -l, each
// listing every option and command its --help lists) and shell completion (loaded in bash,
// completing a command, a flag and a container name from the store).
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <regex>

#include "harness.h"

namespace itest {
namespace {

std::string build_dir() {
  std::string bin = VESSEL_MANAGER_BIN;  // BUILD/bin/vessel
  bin = bin.substr(0, bin.rfind('/'));
  return bin.substr(0, bin.rfind('/'));
}
std::string bin_dir() { return build_dir() + "/bin"; }

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The option names and commands a --help text lists: "  -d,--detach  …", "  run  …" under
// "Subcommands:".
std::vector<std::string> help_words(const std::string& help) {
  std::vector<std::string> out;
  bool in_subcommands = false;
  static const std::regex opt(R"(^\s+(-[-A-Za-z0-9,]+))");
  for (const auto& line : split_lines(help)) {
    if (line.rfind("Subcommands:", 0) == 0) {
      in_subcommands = true;
      continue;
    }
    if (!line.empty() && line[0] != ' ') in_subcommands = false;
    std::smatch m;
    if (std::regex_search(line, m, opt)) {
      std::string names = m[1];
      size_t start = 0;
      while (start < names.size()) {
        size_t comma = names.find(',', start);
        std::string n =
            names.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!n.empty()) out.push_back(n);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (in_subcommands) {
      std::string t = trim(line);
      std::string word = t.substr(0, t.find(' '));
      if (!word.empty()) out.push_back(word);
    }
  }
  return out;
}

class PackagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "packaging checks run once, with vessel's own runtime";
  }
};

TEST_F(PackagingTest, ManPagesRenderAndListEveryOptionOfHelp) {
  if (access("/usr/bin/man", X_OK) != 0) GTEST_SKIP() << "man-db is not installed";
  struct Section {
    std::string dir, program, suffix;
  };
  size_t pages = 0;
  for (const Section& s : {Section{build_dir() + "/doc/man/man1", "vessel", ".1.gz"},
                           Section{build_dir() + "/doc/man/man8", "vessel-runtime", ".8.gz"}}) {
    auto files = list_dir(s.dir);
    ASSERT_FALSE(files.empty()) << s.dir;
    for (const auto& f : files) {
      ASSERT_TRUE(f.size() > s.suffix.size() && f.substr(f.size() - s.suffix.size()) == s.suffix)
          << f;
      std::string name = f.substr(0, f.size() - s.suffix.size());
      if (s.program == "vessel" && name.rfind("vessel-runtime", 0) == 0) continue;
      if (name.rfind(s.program, 0) != 0) continue;
      // vessel-network-create -> vessel network create --help; a command whose name has a
      // dash (vessel-system-restart-all) is one word where the parent's --help lists it so.
      std::vector<std::string> parts;
      std::string rest = name.substr(s.program.size());
      while (!rest.empty()) {
        rest = rest.substr(1);
        auto dash = rest.find('-');
        parts.push_back(rest.substr(0, dash));
        rest = dash == std::string::npos ? "" : rest.substr(dash);
      }
      std::vector<std::string> argv = {bin_dir() + "/" + s.program};
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i + 1 < parts.size()) {
          std::vector<std::string> parent = argv;
          parent.push_back("--help");
          std::string joined = parts[i] + "-" + parts[i + 1];
          if (contains(run_cmd(parent).out, " " + joined + " ")) {
            argv.push_back(joined);
            ++i;
            continue;
          }
        }
        argv.push_back(parts[i]);
      }
      argv.push_back("--help");
      auto help = run_cmd(argv);
      ASSERT_TRUE(help.ok()) << help.describe();
      auto man =
          run_cmd({"/bin/sh", "-c", "MANWIDTH=200 man -l '" + s.dir + "/" + f + "' 2>&1 | col -b"});
      ASSERT_TRUE(man.ok()) << man.describe();
      auto warnings = run_cmd(
          {"/bin/sh", "-c", "MANWIDTH=200 man -l '" + s.dir + "/" + f + "' 2>&1 >/dev/null"});
      EXPECT_EQ(warnings.out, "") << f << ": man's warnings";
      EXPECT_TRUE(contains(man.out, "NAME")) << f;
      EXPECT_TRUE(contains(man.out, "SYNOPSIS")) << f;
      auto words = help_words(help.out);
      for (const auto& w : words) {
        if (w == "-h" || w == "--help" || w == "-v" || w == "--version") {
          EXPECT_TRUE(contains(man.out, w)) << f << " lacks " << w;
          continue;
        }
        EXPECT_TRUE(contains(man.out, w)) << f << " lacks " << w << " that --help lists";
      }
      ++pages;
    }
  }
  EXPECT_GT(pages, 40u) << "a page for every command of both programs";
}

// Runs the bash completion function on COMP_WORDS and returns COMPREPLY, one per line.
std::string complete_in_bash(const std::vector<std::string>& words) {
  std::string arr;
  for (const auto& w : words) arr += " '" + w + "'";
  std::string script = "export PATH='" + bin_dir() +
                       "':$PATH; source <(vessel completion bash) || exit 9; "
                       "COMP_WORDS=(" +
                       arr +
                       "); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); "
                       "_vessel; printf '%s\\n' \"${COMPREPLY[@]}\"";
  auto r = run_cmd({"bash", "-c", script});
  EXPECT_TRUE(r.ok()) << r.describe();
  return r.out;
}

TEST_F(PackagingTest, BashCompletionCompletesCommandsFlagsAndContainerNames) {
  char tmpl[] = "/tmp/vessel-ptest-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, root = dir + "/store";
  auto v = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, 60s);
  };
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  auto c = v({"create", "--network", "none", "--name", "webcompl", "busybox", "true"});
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(v({"network", "create", "netcompl"}).ok());

  EXPECT_EQ(complete_in_bash({"vessel", "netw"}), "network\n");
  EXPECT_EQ(complete_in_bash({"vessel", "network", "cr"}), "create\n");
  EXPECT_EQ(complete_in_bash({"vessel", "run", "--det"}), "--detach\n--detach-keys\n");
  EXPECT_TRUE(contains(complete_in_bash({"vessel", "run", "-"}), "--memory\n"));
  EXPECT_EQ(complete_in_bash({"vessel", "--root", root, "rm", "webc"}), "webcompl\n");
  EXPECT_EQ(complete_in_bash({"vessel", "--root", root, "rm", "-f", "webc"}), "webcompl\n");
  EXPECT_EQ(complete_in_bash({"vessel", "--root", root, "run", "--network", "netc"}), "netcompl\n");
  auto images = complete_in_bash({"vessel", "--root", root, "run", "busy"});
  EXPECT_TRUE(contains(images, "busybox\n")) << images;
  EXPECT_TRUE(contains(complete_in_bash({"vessel", "--root", root, "exec", "webc"}), "webcompl"));
  // After the image, the command: file names, not images.
  EXPECT_FALSE(
      contains(complete_in_bash({"vessel", "--root", root, "run", "busybox", "busy"}), "busybox"));
  // (An empty COMPREPLY prints one empty line.)
  EXPECT_EQ(complete_in_bash({"vessel", "__comp"}), "\n") << "hidden commands are not offered";

  auto zsh = run_cmd({VESSEL_MANAGER_BIN, "completion", "zsh"});
  ASSERT_TRUE(zsh.ok()) << zsh.describe();
  EXPECT_EQ(zsh.out.rfind("#compdef vessel\n", 0), 0u);
  if (access("/usr/bin/zsh", X_OK) == 0 || access("/bin/zsh", X_OK) == 0) {
    auto z = run_cmd({"zsh", "-fc",
                      "autoload -U compinit && compinit -u && source <(" +
                          std::string(VESSEL_MANAGER_BIN) + " completion zsh)"});
    EXPECT_TRUE(z.ok()) << z.describe();
  }
  auto bad = run_cmd({VESSEL_MANAGER_BIN, "completion", "fish"});
  EXPECT_NE(bad.exit_code(), 0);
  v({"rm", "-f", "webcompl"});
  if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir);
}

// zsh itself, interactive in a pty (zsh/zpty): `vessel completion zsh` loaded through compinit,
// Tab after "rm webc" completes the container's name, and Enter runs the completed command
// (which removes it: the container is gone only if the name was completed).
TEST_F(PackagingTest, ZshCompletionCompletesAContainerNameInZsh) {
  if (access("/usr/bin/zsh", X_OK) != 0 && access("/bin/zsh", X_OK) != 0)
    GTEST_SKIP() << "zsh is not installed (Makefile DEB_PACKAGES)";
  char tmpl[] = "/tmp/vessel-zsh-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, root = dir + "/store";
  auto v = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, 60s);
  };
  ASSERT_TRUE(v({"template", "build", "busybox"}).ok());
  auto c = v({"create", "--network", "none", "--name", "zshcompl", "busybox", "true"});
  ASSERT_TRUE(c.ok()) << c.describe();
  std::string script =
      "zmodload zsh/zpty || exit 9\n"
      "zpty z zsh -f -i\n"
      "zpty -w z \"PS1='%% '; export PATH=" +
      bin_dir() +
      ":\\$PATH; autoload -U compinit && compinit -u -D && source <(vessel completion zsh) && "
      "print RE''ADY\"\n"
      "zpty -r z out '*READY*' || exit 8\n"
      "zpty -w -n z $'vessel --root " +
      root +
      " rm zshc\\t'\n"
      "zpty -r z out '*ompl*' || exit 7\n"
      "print -r -- \"$out\"\n"
      "zpty -w -n z $'\\r'\n"
      "zpty -w z \"print DO''NE\"\n"
      "zpty -r z out '*DONE*' || exit 6\n"
      "print -r -- \"$out\"\n"
      "zpty -d z\n";
  write_text(dir + "/drive.zsh", script);
  auto z = run_cmd({"zsh", "-f", dir + "/drive.zsh"}, 60s);
  EXPECT_TRUE(z.ok()) << z.describe();
  EXPECT_TRUE(contains(z.out, "rm zshcompl")) << "Tab completed the name: " << z.out;
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "") << "the completed command ran: " << z.out;
  v({"rm", "-f", "zshcompl"});
  if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir);
}

}  // namespace
}  // namespace itest
