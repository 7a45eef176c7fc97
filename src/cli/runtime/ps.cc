#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/runtime/commands.h"
#include "runtime/container.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"

namespace vessel::cli {
namespace {

// Runs the host's ps with `args` and returns its standard output.
std::string run_ps(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) fail_errno("ps: pipe");
  UniqueFd rd(fds[0]), wr(fds[1]);
  std::vector<char*> argv;
  std::string ps = "ps";
  argv.push_back(ps.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("ps: fork");
  if (pid == 0) {
    ::dup2(wr.get(), STDOUT_FILENO);
    ::execvp("ps", argv.data());
    ::_exit(127);
  }
  wr.reset();
  std::string out = read_fd(rd.get());
  int status = 0;
  if (retry_eintr([&] { return ::waitpid(pid, &status, 0); }) < 0) fail_errno("ps: wait");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("ps {}: exited with status {}", fmt::join(args, " "),
         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return out;
}

}  // namespace

void add_ps(CLI::App& app, Globals& g, Action& action) {
  struct Opts {
    std::string id;
    std::string format = "table";
    std::vector<std::string> ps_args;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "ps", "display the container's processes (host PIDs); ps options follow the ID");
  cmd->add_option("-f,--format", o->format, "table (the host's ps, filtered) or json (PIDs)")
      ->check(CLI::IsMember({"table", "json"}));
  cmd->add_option("id", o->id, "container ID")->required();
  // Everything after the ID belongs to ps(1), dashes included.
  cmd->prefix_command();
  cmd->callback([&g, &action, o, cmd] {
    o->ps_args = cmd->remaining();
    action = [&g, o] {
      std::vector<pid_t> pids = runtime::Runtime(g.root).pids(o->id);
      if (o->format == "json") {
        // As Go encodes runc's empty slice: null.
        std::printf("%s\n", pids.empty() ? "null" : nlohmann::json(pids).dump().c_str());
        return 0;
      }
      std::vector<std::string> args = o->ps_args;
      if (args.empty()) args = {"-ef"};
      std::istringstream in(run_ps(args));
      std::string header;
      std::getline(in, header);
      std::istringstream hs(header);
      std::string col;
      int pid_col = -1;
      for (int i = 0; hs >> col; ++i)
        if (col == "PID") {
          pid_col = i;
          break;
        }
      if (pid_col < 0) fail("ps {}: its output has no PID column", fmt::join(args, " "));
      std::set<pid_t> want(pids.begin(), pids.end());
      std::printf("%s\n", header.c_str());
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string field;
        for (int i = 0; i <= pid_col && ls >> field; ++i) {
        }
        try {
          if (want.count(std::stoi(field))) std::printf("%s\n", line.c_str());
        } catch (const std::exception&) {
          // Not a PID in that column (a continuation line, say): not one of ours.
        }
      }
      return 0;
    };
  });
}

}  // namespace vessel::cli
