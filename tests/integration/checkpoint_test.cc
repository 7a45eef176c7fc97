// checkpoint and restore through CRIU. Where `criu check` fails (this host's 6.18 kernel: the
// vDSO), the tests that need CRIU skip with its reason; `make test-criu-vm` runs them in the
// pure cgroup v2 VM (Debian's 6.1 kernel). The bad-input tests need no working CRIU.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <thread>

#include "harness_console.h"
#include "harness_criu.h"
#include "util/fd.h"

namespace itest {
namespace {

using vessel::UniqueFd;

void type_line(int master, const std::string& line) {
  std::string l = line + "\n";
  ASSERT_EQ(::write(master, l.data(), l.size()), static_cast<ssize_t>(l.size()));
}

// Lines 1, 2, 3... with no gap or restart: what a counter that kept its memory wrote.
::testing::AssertionResult consecutive_from_one(const std::string& text) {
  int want = 1;
  for (const auto& line : split_lines(text)) {
    if (trim(line).empty()) continue;
    if (trim(line) != std::to_string(want))
      return ::testing::AssertionFailure() << "line " << want << " is \"" << line << "\" in:\n"
                                           << text;
    ++want;
  }
  return ::testing::AssertionSuccess();
}

int line_count(const std::string& text) {
  int n = 0;
  for (const auto& line : split_lines(text))
    if (!trim(line).empty()) ++n;
  return n;
}

class CheckpointTest : public ContainerTest {
 protected:
  // A counter in a shell variable (memory), appended to /shared/<file> (an external bind
  // mount) every 0.1 s; stdio are the container's own /dev/null.
  json counter(const std::string& file) {
    return config({"sh", "-c",
                   "exec </dev/null >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i >> "
                   "/shared/" +
                       file + "; sleep 0.1; done"});
  }
  std::string log_of(const std::string& file) { return read_text(shared_dir() + "/" + file); }
  bool grows_past(const std::string& file, int n) {
    return wait_until([&] { return line_count(log_of(file)) > n; }, 60s);
  }
};

TEST_F(CheckpointTest, CounterContinuesAfterRestore) {
  SKIP_WITHOUT_CRIU();
  std::string id = new_id("ckpt");
  std::string bundle = write_bundle(counter("count"));
  ASSERT_TRUE(rt({"run", "-d", "--bundle", bundle, id}).ok());
  ASSERT_TRUE(grows_past("count", 3));
  std::string image = dir() + "/image";
  Result c = rt({"checkpoint", "--image-path", image, id}, {60s});
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_EQ(status(id), "") << "a checkpoint without --leave-running removes the container";
  EXPECT_TRUE(exists(image + "/inventory.img"));
  int at_dump = line_count(log_of("count"));

  Result r = rt({"restore", "-d", "--image-path", image, "--bundle", bundle, id}, {60s});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(status(id), "running");
  ASSERT_TRUE(grows_past("count", at_dump + 3));
  EXPECT_TRUE(consecutive_from_one(log_of("count")));
  // A normal container again: exec, kill, delete.
  Result e = rt({"exec", id, "cat", "/proc/1/cmdline"});
  EXPECT_TRUE(e.ok() && contains(e.out, "while true")) << e.describe();
  EXPECT_TRUE(rt({"kill", id, "KILL"}).ok());
  EXPECT_TRUE(wait_status(id, "stopped"));
  EXPECT_TRUE(rt({"delete", id}).ok());
  EXPECT_EQ(status(id), "");
}

TEST_F(CheckpointTest, LeaveRunningThenRestoreUnderNewId) {
  SKIP_WITHOUT_CRIU();
  std::string id = new_id("ckpt");
  std::string bundle = write_bundle(counter("count"));
  ASSERT_TRUE(rt({"run", "-d", "--bundle", bundle, id}).ok());
  ASSERT_TRUE(grows_past("count", 2));
  std::string image = dir() + "/image";
  Result c = rt({"checkpoint", "--leave-running", "--image-path", image, id}, {60s});
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_EQ(status(id), "running");
  int at_dump = line_count(log_of("count"));
  EXPECT_TRUE(grows_past("count", at_dump + 2)) << "the original keeps counting";
  ASSERT_TRUE(rt({"delete", "--force", id}).ok());

  // The copy counts on in a file of its own from the dumped value: its memory came back.
  std::string id2 = new_id("copy");
  Result r = rt({"restore", "-d", "--image-path", image, "--bundle", bundle, id2}, {60s});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(status(id2), "running");
  auto st = state(id2);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ((*st)["id"], id2);
  Result e = rt({"exec", id2, "sh", "-c", "echo $$"});
  EXPECT_TRUE(e.ok()) << e.describe();
  ASSERT_TRUE(rt({"delete", "--force", id2}).ok());
  EXPECT_EQ(status(id2), "");
}

TEST_F(CheckpointTest, PreDumpThenFinalDump) {
  SKIP_WITHOUT_CRIU();
  std::string id = new_id("ckpt");
  std::string bundle = write_bundle(counter("count"));
  ASSERT_TRUE(rt({"run", "-d", "--bundle", bundle, id}).ok());
  ASSERT_TRUE(grows_past("count", 2));
  std::string base = dir() + "/images";
  Result p = rt({"checkpoint", "--pre-dump", "--image-path", base + "/pre", id}, {60s});
  ASSERT_TRUE(p.ok()) << p.describe();
  EXPECT_EQ(status(id), "running") << "a pre-dump leaves the container running";
  int at_pre = line_count(log_of("count"));
  ASSERT_TRUE(grows_past("count", at_pre + 2));
  Result f =
      rt({"checkpoint", "--image-path", base + "/final", "--parent-path", "../pre", id}, {60s});
  ASSERT_TRUE(f.ok()) << f.describe();
  EXPECT_EQ(status(id), "");
  int at_dump = line_count(log_of("count"));
  Result r = rt({"restore", "-d", "--image-path", base + "/final", "--bundle", bundle, id}, {60s});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(grows_past("count", at_dump + 2));
  EXPECT_TRUE(consecutive_from_one(log_of("count")));
}

// A container with a terminal (process.terminal, --console-socket): its pty's master is held
// outside, so CRIU dumps the slave alone; restore gets a new master over --console-socket
// (detached). The shell reading the terminal answers on the new one, and the counter beside it
// kept its memory.
TEST_F(CheckpointTest, TerminalRestoresWithNewMasterOnConsoleSocket) {
  SKIP_WITHOUT_CRIU();
  json cfg =
      config({"sh", "-c",
              "(exec </dev/null >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i "
              ">> /shared/count; sleep 0.1; done) & while read l; do echo \"got:$l:$(tty)\"; "
              "done"});
  cfg["process"]["terminal"] = true;
  std::string bundle = write_bundle(cfg);
  std::string id = new_id("tty");
  ConsoleListener sock1(dir() + "/c1.sock");
  UniqueFd master1;
  std::thread t1([&] { master1 = sock1.accept_master(60s); });
  Result c = rt({"run", "-d", "--console-socket", dir() + "/c1.sock", "--bundle", bundle, id});
  t1.join();
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(master1.valid()) << "no pty master on the console socket";
  ASSERT_NO_FATAL_FAILURE(type_line(master1.get(), "one"));
  std::string out1 = read_pty_until(master1.get(), "got:one:/dev/pts/", 60s);
  ASSERT_TRUE(contains(out1, "got:one:/dev/pts/")) << out1;
  ASSERT_TRUE(grows_past("count", 2));

  std::string image = dir() + "/image";
  Result k = rt({"checkpoint", "--image-path", image, id}, {60s});
  ASSERT_TRUE(k.ok()) << k.describe();
  EXPECT_EQ(status(id), "");
  int at_dump = line_count(log_of("count"));
  master1.reset();

  // A detached restore of a terminal container needs --console-socket: refused, nothing made.
  Result no_sock = rt({"restore", "-d", "--image-path", image, "--bundle", bundle, id}, {60s});
  EXPECT_NE(no_sock.exit_code(), 0);
  EXPECT_TRUE(contains(no_sock.err, "--console-socket")) << no_sock.describe();
  EXPECT_EQ(status(id), "");

  ConsoleListener sock2(dir() + "/c2.sock");
  UniqueFd master2;
  std::thread t2([&] { master2 = sock2.accept_master(120s); });
  Result r = rt({"restore", "-d", "--console-socket", dir() + "/c2.sock", "--image-path", image,
                 "--bundle", bundle, id},
                {120s});
  t2.join();
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(master2.valid()) << "no pty master on the console socket after restore";
  unsigned int ptn = 0;
  EXPECT_EQ(::ioctl(master2.get(), TIOCGPTN, &ptn), 0) << "the fd received is not a pty master";
  EXPECT_EQ(status(id), "running");
  ASSERT_NO_FATAL_FAILURE(type_line(master2.get(), "two"));
  std::string out2 = read_pty_until(master2.get(), "got:two:/dev/pts/", 60s);
  EXPECT_TRUE(contains(out2, "got:two:/dev/pts/")) << out2;
  ASSERT_TRUE(grows_past("count", at_dump + 2));
  EXPECT_TRUE(consecutive_from_one(log_of("count")));
  // The init's stdio is the pty CRIU made; exec sees it.
  Result e = rt({"exec", id, "readlink", "/proc/1/fd/0"});
  EXPECT_TRUE(e.ok() && contains(e.out, "/dev/pts/")) << e.describe();
  EXPECT_TRUE(rt({"delete", "--force", id}).ok());
  EXPECT_EQ(status(id), "");
}

// The restored container is a normal container: state (annotations, bundle), list (owner), ps,
// events, exec, kill and delete; --pid-file, --no-pivot and --no-subreaper are honoured.
TEST_F(CheckpointTest, RestoredContainerIsNormalForEveryCommand) {
  SKIP_WITHOUT_CRIU();
  json cfg = counter("count");
  cfg["annotations"] = {{"org.vessel.test", "ckpt16"}};
  std::string bundle = write_bundle(cfg);
  std::string id = new_id("ckpt");
  ASSERT_TRUE(rt({"run", "-d", "--bundle", bundle, id}).ok());
  ASSERT_TRUE(grows_past("count", 2));
  std::string image = dir() + "/image";
  Result c = rt({"checkpoint", "--image-path", image, id}, {60s});
  ASSERT_TRUE(c.ok()) << c.describe();

  std::string pid_file = dir() + "/restored.pid";
  Result r = rt({"restore", "-d", "--no-pivot", "--no-subreaper", "--pid-file", pid_file,
                 "--image-path", image, "--bundle", bundle, id},
                {120s});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto st = state(id);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ((*st)["status"], "running");
  EXPECT_EQ((*st)["id"], id);
  EXPECT_EQ((*st)["bundle"], bundle);
  // runc's `state` leaves the owner empty; `list` names it.
  EXPECT_EQ((*st).value("owner", "-"), "") << st->dump();
  EXPECT_EQ((*st)["annotations"].value("org.vessel.test", ""), "ckpt16") << st->dump();
  int pid = (*st).value("pid", 0);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(trim(read_text(pid_file)), std::to_string(pid));
  // ps lists the restored init; events reads the container's cgroup.
  Result p = rt({"ps", "--format", "json", id});
  ASSERT_TRUE(p.ok()) << p.describe();
  json pids = json::parse(p.out, nullptr, false);
  ASSERT_TRUE(pids.is_array()) << p.describe();
  EXPECT_NE(std::find(pids.begin(), pids.end(), json(pid)), pids.end()) << p.describe();
  Result ev = rt({"events", "--stats", id});
  ASSERT_TRUE(ev.ok()) << ev.describe();
  json evj = json::parse(ev.out, nullptr, false);
  ASSERT_TRUE(evj.is_object()) << ev.describe();
  EXPECT_EQ(evj.value("id", ""), id);
  EXPECT_GE(evj["data"]["pids"].value("current", 0ull), 2ull) << ev.describe();
  // The list shows it; exec runs in its namespaces (pid 1 is the restored shell).
  Result l = rt({"list", "--format", "json"});
  json listed = json::parse(l.out, nullptr, false);
  bool found = false;
  for (const auto& c : listed.is_array() ? listed : json::array())
    if (c.value("id", "") == id) {
      found = true;
      EXPECT_EQ(c.value("owner", ""), "root") << l.describe();
      EXPECT_EQ(c.value("status", ""), "running") << l.describe();
    }
  EXPECT_TRUE(found) << l.describe();
  Result e = rt({"exec", id, "cat", "/proc/1/cmdline"});
  EXPECT_TRUE(e.ok() && contains(e.out, "while true")) << e.describe();
  // kill, then delete; nothing of it is left.
  EXPECT_TRUE(rt({"kill", id, "KILL"}).ok());
  EXPECT_TRUE(wait_status(id, "stopped", 60s));
  auto stopped = state(id);
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ((*stopped).value("pid", -1), 0);
  EXPECT_TRUE(rt({"delete", id}).ok());
  EXPECT_EQ(status(id), "");
  EXPECT_FALSE(exists("/sys/fs/cgroup" + cfg["linux"]["cgroupsPath"].get<std::string>()));
}

// A paused container (containerd pauses before it checkpoints) is dumped through its frozen
// cgroup and stays paused; its stdin is the host's /dev/null (a file outside the container, as
// conmon gives it), which CRIU takes as an external file and restore replaces with its own.
TEST_F(CheckpointTest, PausedContainerWithHostStdinCheckpoints) {
  SKIP_WITHOUT_CRIU();
  std::string bundle = write_bundle(config(
      {"sh", "-c",
       "exec >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i >> /shared/count; sleep "
       "0.1; done"}));
  std::string id = new_id("ckpt");
  ASSERT_TRUE(rt({"run", "-d", "--bundle", bundle, id}).ok());
  ASSERT_TRUE(grows_past("count", 2));
  ASSERT_TRUE(rt({"pause", id}).ok());
  ASSERT_EQ(status(id), "paused");
  std::string image = dir() + "/image";
  Result c = rt({"checkpoint", "--leave-running", "--image-path", image, id}, {60s});
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_EQ(status(id), "paused") << "CRIU leaves the cgroup frozen as it found it";
  json desc = json::parse(read_text(image + "/descriptors.json"), nullptr, false);
  ASSERT_TRUE(desc.is_object());
  EXPECT_TRUE(contains(desc["stdio"][0].get<std::string>(), "file[")) << desc.dump();
  ASSERT_TRUE(rt({"resume", id}).ok());
  int n = line_count(log_of("count"));
  EXPECT_TRUE(grows_past("count", n + 2)) << "the original counts on after resume";
  ASSERT_TRUE(rt({"delete", "--force", id}).ok());

  std::string id2 = new_id("copy");
  Result r = rt({"restore", "-d", "--image-path", image, "--bundle", bundle, id2}, {120s});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(status(id2), "running");
  Result e = rt({"exec", id2, "readlink", "/proc/1/fd/0"});
  EXPECT_TRUE(e.ok() && contains(e.out, "/dev/null")) << e.describe();
  n = line_count(log_of("count"));
  EXPECT_TRUE(grows_past("count", n + 2)) << "the copy counts";
  ASSERT_TRUE(rt({"delete", "--force", id2}).ok());
}

// Bad input: one line, non-zero, nothing changed or left behind. No working CRIU needed.
TEST_F(CheckpointTest, BadFlagsFailCleanly) {
  std::string id = new_id("ckpt");
  json cfg = config({"sleep", "1000"});
  std::string bundle = write_bundle(cfg);
  ASSERT_TRUE(rt({"run", "-d", "--bundle", bundle, id}).ok());
  std::string image = dir() + "/image";
  Result a = rt({"checkpoint", "--image-path", image, "--parent-path", "/abs/pre", id});
  EXPECT_NE(a.exit_code(), 0);
  EXPECT_TRUE(contains(a.err, "--parent-path")) << a.describe();
  Result m = rt({"checkpoint", "--image-path", image, "--manage-cgroups-mode", "bogus", id});
  EXPECT_NE(m.exit_code(), 0);
  EXPECT_TRUE(contains(m.err, "--manage-cgroups-mode")) << m.describe();
  Result n = rt({"checkpoint", "--image-path", image, "--empty-ns", "pid", id});
  EXPECT_NE(n.exit_code(), 0);
  EXPECT_TRUE(contains(n.err, "--empty-ns")) << n.describe();
  EXPECT_FALSE(exists(image)) << "no image directory for a refused checkpoint";
  EXPECT_EQ(status(id), "running");
  ASSERT_TRUE(rt({"delete", "--force", id}).ok());

  // A restore from a path without a checkpoint leaves no container, cgroup or mount.
  HostSnapshot before = snapshot();
  std::string id2 = new_id("rst");
  Result r =
      rt({"restore", "-d", "--image-path", dir() + "/no-such-image", "--bundle", bundle, id2});
  EXPECT_NE(r.exit_code(), 0);
  EXPECT_TRUE(contains(r.err, "no-such-image")) << r.describe();
  EXPECT_EQ(split_lines(trim(log_messages(r.err))).size(), 1u) << r.describe();
  expect_nothing_left(before, id2, cfg["linux"]["cgroupsPath"]);
}

// Without a working CRIU: the reason in one line, and the container left alone.
TEST_F(CheckpointTest, UnusableCriuSaysWhyAndChangesNothing) {
  if (criu_unusable().empty()) GTEST_SKIP() << "CRIU works here";
  std::string id = new_id("ckpt");
  std::string bundle = write_bundle(config({"sleep", "1000"}));
  ASSERT_TRUE(rt({"run", "-d", "--bundle", bundle, id}).ok());
  std::string image = dir() + "/image";
  Result c = rt({"checkpoint", "--image-path", image, id}, {60s});
  EXPECT_NE(c.exit_code(), 0);
  EXPECT_TRUE(contains(c.err, "CRIU cannot work here")) << c.describe();
  EXPECT_FALSE(exists(image));
  EXPECT_EQ(status(id), "running");
}

// A TCP connection between two containers in a network namespace the test creates survives
// the client's checkpoint and restore with --tcp-established.
TEST_F(CheckpointTest, TcpConnectionSurvivesWithTcpEstablished) {
  SKIP_WITHOUT_CRIU();
  std::string ns = "criu16-" + std::to_string(::getpid());
  ASSERT_TRUE(run_cmd({"ip", "netns", "add", ns}).ok());
  defer([ns] { run_cmd({"ip", "netns", "del", ns}); });
  ASSERT_TRUE(run_cmd({"ip", "-n", ns, "link", "set", "lo", "up"}).ok());
  auto in_ns = [&](json cfg) {
    for (auto& n : cfg["linux"]["namespaces"])
      if (n["type"] == "network") n["path"] = "/run/netns/" + ns;
    return cfg;
  };
  std::string server = new_id("srv");
  ASSERT_TRUE(
      rt({"run", "-d", "--bundle",
          write_bundle(in_ns(config(
              {"sh", "-c",
               // nc ends the connection at EOF on its stdin: give it one that stays open.
               "exec </dev/null 2>/dev/null; sleep 1000000 | nc -l -p 5000 > /shared/tcp"}))),
          server})
          .ok());
  std::string client = new_id("cli");
  std::string cbundle = write_bundle(in_ns(config(
      {"sh", "-c",
       "exec </dev/null >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; "
       "done | nc 127.0.0.1 5000"})));
  // The server may not listen yet: retry the client until lines arrive.
  ASSERT_TRUE(wait_until(
      [&] {
        if (line_count(log_of("tcp")) > 0) return true;
        if (status(client) != "running") {
          rt({"delete", "--force", client});
          rt({"run", "-d", "--bundle", cbundle, client});
        }
        return false;
      },
      60s, 300ms));
  ASSERT_TRUE(grows_past("tcp", 3));
  std::string image = dir() + "/image";
  Result c = rt({"checkpoint", "--tcp-established", "--image-path", image, client}, {60s});
  ASSERT_TRUE(c.ok()) << c.describe();
  int at_dump = line_count(log_of("tcp"));
  Result r =
      rt({"restore", "-d", "--tcp-established", "--image-path", image, "--bundle", cbundle, client},
         {60s});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(grows_past("tcp", at_dump + 3)) << "the connection carries data after restore";
  EXPECT_TRUE(consecutive_from_one(log_of("tcp")));
  EXPECT_EQ(status(server), "running") << "the server never saw the connection end";
}

}  // namespace
}  // namespace itest
