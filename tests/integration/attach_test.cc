// Attached terminals: the detach keys of `attach` and `run -it` (ctrl-p,ctrl-q by default,
// --detach-keys, vessel.conf's containers.detach_keys) leave the container running, a lone
// ctrl-p followed by another key goes through to it; --sig-proxy passes the client's signals
// on (or, =false, lets them end the client alone). The terminal is `script`'s pty; what the test
// types goes through a FIFO into script's stdin.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace itest {
namespace {

// Each byte the container reads from its terminal, printed by od as " 61" lines.
const char* kByteEcho =
    "stty raw -echo; echo ready; while true; do dd bs=1 count=1 2>/dev/null | od -An -tx1; done";

class AttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-attachtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
  }
  void TearDown() override {
    if (root_.empty()) return;
    if (typing_ >= 0) ::close(typing_);
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }
  std::vector<std::string> cmd(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    return run_cmd(cmd(args), timeout);
  }
  static std::string quoted(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) {
      std::string q;
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      s += (s.empty() ? "'" : " '") + q + "'";
    }
    return s;
  }
  // `vessel ARGS` on a terminal of its own; type() feeds it, screen() is what it printed.
  Child on_terminal(const std::vector<std::string>& args) {
    std::string fifo = dir_ + "/keys-" + std::to_string(++n_);
    EXPECT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    if (typing_ >= 0) ::close(typing_);
    typing_ =
        ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // a writer first: the open below won't block
    screen_ = dir_ + "/screen-" + std::to_string(n_);
    SpawnOptions o;
    o.stdin_path = fifo;
    o.stdout_path = screen_;
    return spawn({"script", "-qec", quoted(cmd(args)), "/dev/null"}, o);
  }
  // Types `key` until the container's echo of it shows: the first keys may arrive before the
  // client has its terminal in raw mode.
  bool type_until_seen(const std::string& key, const std::string& echo) {
    for (int i = 0; i < 30; ++i) {
      type(key);
      if (wait_until([&] { return contains(read_text(screen_), echo); }, 1s)) return true;
    }
    return false;
  }
  void type(const std::string& keys) {
    ASSERT_EQ(::write(typing_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
  }
  bool screen_shows(const std::string& text) {
    return wait_until([&] { return contains(read_text(screen_), text); }, 15s);
  }
  bool running(const std::string& name) {
    return trim(v({"inspect", "--format", "{{.State.Running}}", name}).out) == "true";
  }

  std::string dir_, root_, screen_;
  int typing_ = -1;
  int n_ = 0;
};

TEST_F(AttachTest, DetachKeysLeaveTheContainerRunningAndALoneCtrlPGoesThrough) {
  auto run = v({"run", "-d", "-it", "--network", "none", "--name", "echo", "busybox", "sh", "-c",
                kByteEcho});
  ASSERT_TRUE(run.ok()) << run.describe();
  ASSERT_TRUE(wait_until([&] { return contains(v({"logs", "echo"}).out, "ready"); }));

  Child attach = on_terminal({"attach", "echo"});
  ASSERT_TRUE(type_until_seen("a", " 61")) << read_text(screen_);
  type("\x10");  // ctrl-p alone: held back until the next key says what it was
  type("b");
  ASSERT_TRUE(screen_shows(" 62")) << read_text(screen_);
  EXPECT_TRUE(contains(read_text(screen_), " 10\n 62")) << read_text(screen_);
  type("\x10\x11");  // ctrl-p,ctrl-q
  Result r = attach.wait(15s);
  EXPECT_EQ(r.exit_code(), 0) << r.describe() << read_text(screen_);
  EXPECT_FALSE(contains(read_text(screen_), " 11")) << "the detach keys reached the container";
  EXPECT_TRUE(running("echo"));

  // Other keys: --detach-keys on attach; the default keys then go through.
  Child again = on_terminal({"attach", "--detach-keys", "ctrl-x,x", "echo"});
  ASSERT_TRUE(type_until_seen("c", " 63")) << read_text(screen_);
  type("\x10\x11");
  ASSERT_TRUE(screen_shows(" 11")) << read_text(screen_);
  type("\x18x");
  r = again.wait(15s);
  EXPECT_EQ(r.exit_code(), 0) << r.describe() << read_text(screen_);
  EXPECT_TRUE(running("echo"));
  // What the container printed went to its log as well.
  EXPECT_TRUE(contains(v({"logs", "echo"}).out, " 10\n 11\n")) << v({"logs", "echo"}).out;
}

TEST_F(AttachTest, RunItDetachesWithItsKeysAndTheConfigFilesKeys) {
  Child run = on_terminal({"run", "-it", "--network", "none", "--name", "r1", "--detach-keys",
                           "ctrl-a", "busybox", "sh", "-c", kByteEcho});
  ASSERT_TRUE(screen_shows("ready")) << read_text(screen_);
  type("d");
  ASSERT_TRUE(screen_shows(" 64")) << read_text(screen_);
  type("\x01");
  Result r = run.wait(15s);
  EXPECT_EQ(r.exit_code(), 0) << r.describe() << read_text(screen_);
  EXPECT_TRUE(running("r1"));

  // containers.detach_keys in vessel.conf, for a `start -a` of a container made with -it.
  write_text(dir_ + "/vessel.conf", "[containers]\ndetach_keys = \"ctrl-e,e\"\n");
  ASSERT_TRUE(
      v({"create", "-it", "--network", "none", "--name", "r2", "busybox", "sh", "-c", kByteEcho})
          .ok());
  Child start = on_terminal({"--config", dir_ + "/vessel.conf", "start", "-a", "r2"});
  ASSERT_TRUE(screen_shows("ready")) << read_text(screen_);
  type("\x05");
  type("e");
  r = start.wait(15s);
  EXPECT_EQ(r.exit_code(), 0) << r.describe() << read_text(screen_);
  EXPECT_TRUE(running("r2"));
}

TEST_F(AttachTest, ExecItDetachesAndTheProcessRunsOn) {
  ASSERT_TRUE(v({"run", "-d", "--network", "none", "--name", "e", "busybox", "sleep", "300"}).ok());
  Child exec = on_terminal({"exec", "-it", "e", "sh", "-c",
                            std::string("trap 'touch /hupped' HUP; ") + kByteEcho, "exec-loop"});
  ASSERT_TRUE(screen_shows("ready")) << read_text(screen_);
  ASSERT_TRUE(type_until_seen("f", " 66")) << read_text(screen_);
  type("\x10\x11");
  Result r = exec.wait(15s);
  EXPECT_EQ(r.exit_code(), 0) << r.describe() << read_text(screen_);
  auto ps = v({"exec", "e", "ps", "-o", "args"});
  EXPECT_TRUE(contains(ps.out, "exec-loop")) << ps.describe();
  EXPECT_FALSE(v({"exec", "e", "test", "-e", "/hupped"}).ok()) << "the process got SIGHUP";
}

TEST_F(AttachTest, BadDetachKeysAreAnErrorAndLeaveNothing) {
  auto r = v({"run", "-it", "--network", "none", "--detach-keys", "ctrl-1", "busybox", "true"});
  EXPECT_EQ(r.exit_code(), 125) << r.describe();
  EXPECT_TRUE(contains(r.err, "invalid detach keys \"ctrl-1\"")) << r.err;
  EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
  write_text(dir_ + "/bad.conf", "[containers]\ndetach_keys = \"ctrl-pp\"\n");
  r = v({"--config", dir_ + "/bad.conf", "ps"});
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "detach_keys")) << r.err;
}

TEST_F(AttachTest, SigProxyPassesSignalsOnOrLetsThemEndOnlyTheClient) {
  const char* script =
      "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 7' TERM; echo ready; "
      "while true; do sleep 0.1; done";
  SpawnOptions o;
  o.stdout_path = dir_ + "/proxy.out";
  Child proxied =
      spawn(cmd({"run", "--network", "none", "--name", "p", "busybox", "sh", "-c", script}), o);
  ASSERT_TRUE(wait_until([&] { return contains(read_text(o.stdout_path), "ready"); }));
  ::kill(proxied.pid(), SIGUSR1);
  EXPECT_TRUE(wait_until([&] { return contains(read_text(o.stdout_path), "got-usr1"); }))
      << read_text(o.stdout_path);
  ::kill(proxied.pid(), SIGTERM);
  Result r = proxied.wait(15s);
  EXPECT_EQ(r.exit_code(), 7) << r.describe();
  EXPECT_TRUE(contains(r.out, "got-term")) << r.out;

  o.stdout_path = dir_ + "/noproxy.out";
  Child alone = spawn(cmd({"run", "--sig-proxy=false", "--network", "none", "--name", "q",
                           "busybox", "sh", "-c", script}),
                      o);
  ASSERT_TRUE(wait_until([&] { return contains(read_text(o.stdout_path), "ready"); }));
  ::kill(alone.pid(), SIGTERM);
  r = alone.wait(15s);
  EXPECT_EQ(r.exit_code(), 128 + SIGTERM) << r.describe();
  EXPECT_TRUE(running("q"));
  EXPECT_FALSE(contains(v({"logs", "q"}).out, "got-term"));
}

}  // namespace
}  // namespace itest
