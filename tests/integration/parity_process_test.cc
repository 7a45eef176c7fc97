// Parity with runc 1.1 for the container's process: who owns its stdio, where it changes
// directory, how a proxied terminal treats newlines, the words of a failed exec (engines map
// them to exit codes), and joining a user namespace that does not map the overflow ids.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "harness.h"
#include "util/fd.h"

namespace itest {
namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string shell_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) line += (line.empty() ? "" : " ") + shell_quote(a);
  return line;
}

class ParityProcessTest : public ContainerTest {
 protected:
  // create + start a container running `sleep 1000`.
  std::string start_sleeper() {
    std::string id = new_id("sleeper");
    Result c = create(id, write_bundle(config({"sleep", "1000"})));
    EXPECT_TRUE(c.ok()) << c.describe();
    Result s = rt({"start", id});
    EXPECT_TRUE(s.ok()) << s.describe();
    EXPECT_TRUE(wait_status(id, "running"));
    return id;
  }

  // The runtime command line `args` run under script(1), which gives it a terminal of its own
  // as stdin/stdout/stderr (the way an engine's `-t` or a user's shell does) and copies what
  // the terminal shows to our stdout.
  // With `stdout_file`, the runtime's stdout goes there instead (stdin stays the terminal).
  Result under_a_terminal(const std::vector<std::string>& args,
                          const std::string& stdout_file = "") {
    std::vector<std::string> argv = {runtime_path(), "--root", state_root()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string line = shell_line(argv);
    if (!stdout_file.empty()) line += " > " + shell_quote(stdout_file);
    // script's own input is a FIFO we keep open, never at EOF: at EOF, script types its
    // terminal's EOF character, which the runtime passes on and the container's pty echoes
    // ("^@") into the output being compared.
    const std::string input = dir() + "/terminal-input";
    if (::mkfifo(input.c_str(), 0600) < 0 && errno != EEXIST)
      ADD_FAILURE() << "mkfifo " << input << ": " << strerror(errno);
    vessel::UniqueFd writer(::open(input.c_str(), O_RDWR | O_CLOEXEC));
    SpawnOptions so;
    so.stdin_path = input;
    return run_cmd({"/usr/bin/script", "-qec", line, "/dev/null"}, kTimeout, so);
  }

  // Runs `args` as uid 1000 with the given terminal setting.
  json as_user_1000(std::vector<std::string> args) {
    json cfg = config(std::move(args));
    cfg["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
    return cfg;
  }

  // A WORKDIR only root may enter: a tmpfs of mode 0700 at /data.
  json with_root_only_cwd(json cfg) {
    cfg["mounts"].push_back(mount_entry("/data", "tmpfs", "tmpfs", {"mode=700"}));
    cfg["process"]["cwd"] = "/data";
    return cfg;
  }
};

// ---------------------------------------------------------------------------------------------
// 1. stdio belongs to process.user, so a non-root program can reopen /dev/stdout and
// /dev/stderr (`echo x > /dev/stdout` under docker), whatever stdio is.

constexpr const char* kReopenStdio =
    "echo out >> /dev/stdout && echo err >> /dev/stderr && echo reopened";

TEST_F(ParityProcessTest, NonRootUserCanReopenStdioFiles) {
  Result r = run_container(as_user_1000({"sh", "-c", kReopenStdio}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "out\n")) << r.describe();
  EXPECT_TRUE(contains(r.out, "reopened")) << r.describe();
  EXPECT_TRUE(contains(r.err, "err\n")) << r.describe();
}

TEST_F(ParityProcessTest, NonRootUserCanReopenStdioPipes) {
  std::string bundle = write_bundle(as_user_1000({"sh", "-c", kReopenStdio}));
  std::string line = shell_line(
      {runtime_path(), "--root", state_root(), "run", "--bundle", bundle, new_id("pipe")});
  // stdin, stdout and stderr are all pipes.
  Result r = run_cmd({"/bin/sh", "-c", "echo | { " + line + "; echo runtime-rc=$?; } 2>&1 | cat"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "runtime-rc=0")) << r.describe();
  EXPECT_TRUE(contains(r.out, "out\n")) << r.describe();
  EXPECT_TRUE(contains(r.out, "err\n")) << r.describe();
  EXPECT_TRUE(contains(r.out, "reopened")) << r.describe();
}

TEST_F(ParityProcessTest, ExecNonRootUserCanReopenStdio) {
  std::string id = start_sleeper();
  Result r = rt({"exec", "--user", "1000:1000", id, "sh", "-c", kReopenStdio});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "out\n")) << r.describe();
  EXPECT_TRUE(contains(r.out, "reopened")) << r.describe();
  EXPECT_TRUE(contains(r.err, "err\n")) << r.describe();
}

// The pty slave too: devpts makes it root's, mode 0620.
TEST_F(ParityProcessTest, NonRootUserCanReopenItsTerminal) {
  if (!exists("/usr/bin/script")) GTEST_SKIP() << "script(1) is not installed";
  json cfg = as_user_1000({"sh", "-c", "echo out >> /dev/stdout && echo reopened"});
  cfg["process"]["terminal"] = true;
  Result r = under_a_terminal({"run", "--bundle", write_bundle(cfg), new_id("tty")});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "out")) << r.describe();
  EXPECT_TRUE(contains(r.out, "reopened")) << r.describe();
}

TEST_F(ParityProcessTest, ExecNonRootUserCanReopenItsTerminal) {
  if (!exists("/usr/bin/script")) GTEST_SKIP() << "script(1) is not installed";
  std::string id = start_sleeper();
  Result r = under_a_terminal(
      {"exec", "-t", "--user", "1000:1000", id, "sh", "-c", "echo out >> /dev/stdout && echo ok"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "out")) << r.describe();
  EXPECT_TRUE(contains(r.out, "ok")) << r.describe();
}

// ---------------------------------------------------------------------------------------------
// 6. cwd is entered as root; as the user only when root may not (root_squash, user namespaces).

TEST_F(ParityProcessTest, NonRootUserStartsInARootOnlyCwd) {
  json cfg = with_root_only_cwd(config({"sh", "-c", "pwd; id -u"}));
  cfg["process"]["user"] = {{"uid", 42}, {"gid", 42}};
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(split_lines(r.out), (std::vector<std::string>{"/data", "42"})) << r.describe();
}

TEST_F(ParityProcessTest, ExecNonRootUserStartsInARootOnlyCwd) {
  std::string id = new_id("cwd");
  Result c = create(id, write_bundle(with_root_only_cwd(config({"sleep", "1000"}))));
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(rt({"start", id}).ok());
  Result r = rt({"exec", "--user", "42:42", "--cwd", "/data", id, "sh", "-c", "pwd; id -u"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(split_lines(r.out), (std::vector<std::string>{"/data", "42"})) << r.describe();
}

// ---------------------------------------------------------------------------------------------
// 7b. A foreground terminal proxied by the runtime passes the program's "\n" on as it is (runc
// clears ONLCR on the console it proxies), so `run -t ... | od -c` or `> file` sees the
// program's bytes; the caller's own terminal still shows "\r\n" (runc's raw mode keeps OPOST).

constexpr const char* kTwoLines = "echo a; echo b; [ -t 1 ] && echo is-a-tty";
// For exec: runc 1.1 clears ONLCR on an exec's console only once it has received it, racing the
// program's first writes; the pause keeps the comparison with runc about the result.
constexpr const char* kTwoLinesAfterAPause = "sleep 0.5; echo a; echo b; [ -t 1 ] && echo is-a-tty";

TEST_F(ParityProcessTest, ForegroundRunTerminalPassesNewlinesOnUnchanged) {
  if (!exists("/usr/bin/script")) GTEST_SKIP() << "script(1) is not installed";
  json cfg = config({"sh", "-c", kTwoLines});
  cfg["process"]["terminal"] = true;
  const std::string out = dir() + "/run.out";
  Result r = under_a_terminal({"run", "--bundle", write_bundle(cfg), new_id("tty")}, out);
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string got = read_text(out);
  EXPECT_TRUE(contains(got, "a\nb\nis-a-tty\n")) << "[" << got << "]";
  EXPECT_FALSE(contains(got, "\r")) << "[" << got << "]";
}

TEST_F(ParityProcessTest, ForegroundExecTerminalPassesNewlinesOnUnchanged) {
  if (!exists("/usr/bin/script")) GTEST_SKIP() << "script(1) is not installed";
  std::string id = start_sleeper();
  const std::string out = dir() + "/exec.out";
  Result r = under_a_terminal({"exec", "-t", id, "sh", "-c", kTwoLinesAfterAPause}, out);
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string got = read_text(out);
  EXPECT_TRUE(contains(got, "a\nb\nis-a-tty\n")) << "[" << got << "]";
  EXPECT_FALSE(contains(got, "\r")) << "[" << got << "]";
}

// On the caller's terminal, each "\n" still shows as "\r\n": once, not twice, not never.
TEST_F(ParityProcessTest, ForegroundRunTerminalStillShowsLinesOnTheCallersTerminal) {
  if (!exists("/usr/bin/script")) GTEST_SKIP() << "script(1) is not installed";
  json cfg = config({"sh", "-c", kTwoLines});
  cfg["process"]["terminal"] = true;
  Result r = under_a_terminal({"run", "--bundle", write_bundle(cfg), new_id("tty")});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "a\r\nb\r\nis-a-tty\r\n")) << r.describe();
  EXPECT_FALSE(contains(r.out, "\r\r")) << r.describe();
}

TEST_F(ParityProcessTest, ForegroundExecTerminalStillShowsLinesOnTheCallersTerminal) {
  if (!exists("/usr/bin/script")) GTEST_SKIP() << "script(1) is not installed";
  std::string id = start_sleeper();
  Result e = under_a_terminal({"exec", "-t", id, "sh", "-c", kTwoLinesAfterAPause});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_TRUE(contains(e.out, "a\r\nb\r\nis-a-tty\r\n")) << e.describe();
  EXPECT_FALSE(contains(e.out, "\r\r")) << e.describe();
}

// ---------------------------------------------------------------------------------------------
// 9. A program that cannot be run is reported in runc's (Go's) words: docker turns "executable
// file not found" and "no such file or directory" into exit code 127, "permission denied"
// into 126.

// runc's log lines quote the message (logrus: msg="... \"x\" ..."); engines read it unquoted
// from the JSON log.
std::string unquoted(const std::string& err) {
  std::string out;
  for (size_t i = 0; i < err.size(); ++i) {
    if (err[i] == '\\' && i + 1 < err.size() && err[i + 1] == '"') continue;
    out += err[i];
  }
  return out;
}

struct BadProgram {
  std::vector<std::string> args;
  std::string runc_says;
};

const std::vector<BadProgram>& bad_programs() {
  static const std::vector<BadProgram> cases = {
      {{"nosuchprog"}, "exec: \"nosuchprog\": executable file not found in $PATH"},
      {{"/no/such"}, "exec: \"/no/such\": stat /no/such: no such file or directory"},
      {{"/etc/passwd"}, "exec: \"/etc/passwd\": permission denied"},
      {{"/bin"}, "exec: \"/bin\": permission denied"},
  };
  return cases;
}

TEST_F(ParityProcessTest, CreateReportsAProgramThatCannotRunInRuncWords) {
  for (const auto& bad : bad_programs()) {
    SCOPED_TRACE(bad.args[0]);
    Result c = create(new_id("bad"), write_bundle(config(bad.args)));
    EXPECT_NE(c.exit_code(), 0) << c.describe();
    EXPECT_TRUE(contains(unquoted(c.err), bad.runc_says)) << c.describe();
  }
}

TEST_F(ParityProcessTest, RunReportsAProgramThatCannotRunInRuncWords) {
  for (const auto& bad : bad_programs()) {
    SCOPED_TRACE(bad.args[0]);
    Result r = run_container(config(bad.args));
    EXPECT_NE(r.exit_code(), 0) << r.describe();
    EXPECT_TRUE(contains(unquoted(r.err), bad.runc_says)) << r.describe();
  }
}

TEST_F(ParityProcessTest, ExecReportsAProgramThatCannotRunInRuncWords) {
  std::string id = start_sleeper();
  for (const auto& bad : bad_programs()) {
    SCOPED_TRACE(bad.args[0]);
    std::vector<std::string> args = {"exec", id};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    Result r = rt(args);
    EXPECT_NE(r.exit_code(), 0) << r.describe();
    EXPECT_TRUE(contains(unquoted(r.err), bad.runc_says)) << r.describe();
  }
  EXPECT_EQ(status(id), "running");
}

// execve() itself fails: a script whose interpreter does not exist.
TEST_F(ParityProcessTest, FailedExecveIsReportedInRuncWords) {
  write_text(shared_dir() + "/badinterp", "#!/no/interp\n", 0755);
  const std::string runc_says = "exec /shared/badinterp: no such file or directory";

  Result r = run_container(config({"/shared/badinterp"}));
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(contains(unquoted(r.err), runc_says)) << r.describe();

  std::string id = start_sleeper();
  Result e = rt({"exec", id, "/shared/badinterp"});
  EXPECT_NE(e.exit_code(), 0) << e.describe();
  EXPECT_TRUE(contains(unquoted(e.err), runc_says)) << e.describe();
}

// ---------------------------------------------------------------------------------------------
// 5b. Joining (by path) a user namespace whose mapping lacks the overflow uid/gid 65534, with a
// new pid namespace.

TEST_F(ParityProcessTest, JoinsAUserNamespaceWithoutTheOverflowIds) {
  if (!exists("/usr/bin/unshare")) GTEST_SKIP() << "unshare(1) is not installed";
  Child holder = spawn({"/usr/bin/unshare", "--user", "sleep", "1000"});
  std::string ns = "/proc/" + std::to_string(holder.pid()) + "/ns/user";
  ASSERT_TRUE(wait_until([&] {
    return read_text("/proc/" + std::to_string(holder.pid()) + "/comm") == "sleep\n";
  })) << "the user namespace holder did not start";
  ASSERT_NE(host_ns("user"), [&] {
    char buf[128];
    ssize_t n = ::readlink(ns.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }());
  // Ids 0..999 on host ids 100000..: neither 65534 nor the host's root (the runtime's own
  // credentials until it becomes root in there) is mapped.
  const std::string map = "0 100000 1000\n";
  write_text("/proc/" + std::to_string(holder.pid()) + "/uid_map", map);
  write_text("/proc/" + std::to_string(holder.pid()) + "/gid_map", map);
  ASSERT_EQ(trim(read_text("/proc/" + std::to_string(holder.pid()) + "/uid_map")),
            "0     100000       1000");

  json cfg = config({"sh", "-c", "id -u; cat /proc/self/uid_map; echo joined"});
  cfg["linux"]["namespaces"].push_back({{"type", "user"}, {"path", ns}});
  // runc 1.1 wants the mappings of a joined namespace spelled out too.
  json mapping = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 1000}}});
  cfg["linux"]["uidMappings"] = mapping;
  cfg["linux"]["gidMappings"] = mapping;
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  auto lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.describe();
  EXPECT_EQ(lines[0], "0");
  EXPECT_EQ(trim(lines[1]), "0     100000       1000");
  EXPECT_EQ(lines[2], "joined");

  // exec joins it too.
  std::string id = new_id("userns");
  cfg["process"]["args"] = {"sleep", "1000"};
  Result c = create(id, write_bundle(cfg));
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(rt({"start", id}).ok());
  Result e = rt({"exec", id, "sh", "-c", "id -u; cat /proc/self/uid_map"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_EQ(split_lines(e.out).size(), 2u) << e.describe();
  EXPECT_TRUE(contains(e.out, "0\n")) << e.describe();
  EXPECT_TRUE(contains(e.out, "100000")) << e.describe();
  holder.kill_group(SIGKILL);
  holder.wait();
}

}  // namespace
}  // namespace itest
