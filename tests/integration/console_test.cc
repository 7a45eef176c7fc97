// Terminals: `create --console-socket` with process.terminal=true sends the pty master over a
// unix socket (SCM_RIGHTS); the program's output is read from the master.
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "harness_console.h"
#include "util/fd.h"

namespace itest {
namespace {

using vessel::UniqueFd;

class ConsoleTest : public ContainerTest {};

TEST_F(ConsoleTest, ConsoleSocketReceivesPtyMaster) {
  const std::string sock = dir() + "/console.sock";
  ConsoleListener listener(sock);
  json cfg = config({"sh", "-c",
                     "echo hello-from-tty; tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] &&"
                     " echo all-tty; echo \"console $(stat -c %t:%T /dev/console)"
                     " $(stat -L -c %t:%T /proc/self/fd/0)\"; echo @@END@@; sleep 2"});
  cfg["process"]["terminal"] = true;
  cfg["process"]["consoleSize"] = {{"height", 30}, {"width", 100}};
  const std::string id = new_id("tty");

  UniqueFd master;
  std::thread acceptor([&] { master = listener.accept_master(kTimeout); });
  Result c = create(id, write_bundle(cfg), {"--console-socket", sock});
  acceptor.join();
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(master.valid()) << "no fd received on the console socket";

  unsigned int ptn = 0;
  EXPECT_EQ(::ioctl(master.get(), TIOCGPTN, &ptn), 0) << "the received fd is not a pty master";

  Result s = rt({"start", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  std::string out = read_pty_until(master.get(), "@@END@@", kTimeout);
  SCOPED_TRACE("terminal output: " + out);
  auto lines = split_lines(out);
  auto has = [&](const std::string& l) {
    return std::find(lines.begin(), lines.end(), l) != lines.end();
  };
  EXPECT_TRUE(has("hello-from-tty"));
  EXPECT_TRUE(has("/dev/pts/" + std::to_string(ptn))) << "tty is not the received pty";
  EXPECT_TRUE(has("30 100")) << "consoleSize not applied";
  EXPECT_TRUE(has("all-tty")) << "stdin/stdout/stderr are not the terminal";
  // /dev/console is the container's pty (pts major 136 = 0x88).
  std::string console_line;
  for (const auto& l : lines)
    if (l.rfind("console ", 0) == 0) console_line = l;
  std::string want = "88:" + [&] {
    char b[16];
    snprintf(b, sizeof b, "%x", ptn);
    return std::string(b);
  }();
  EXPECT_EQ(console_line, "console " + want + " " + want);
  Result k = rt({"kill", id, "KILL"});
  EXPECT_TRUE(k.ok()) << k.describe();
  EXPECT_TRUE(wait_status(id, "stopped"));
}

TEST_F(ConsoleTest, TerminalWithoutConsoleSocketFailsCreate) {
  json cfg = config({"true"});
  cfg["process"]["terminal"] = true;
  const std::string id = new_id("tty");
  HostSnapshot before = snapshot();
  Result c = create(id, write_bundle(cfg));
  EXPECT_NE(c.exit_code(), 0) << c.describe();
  EXPECT_FALSE(c.timed_out);
  expect_nothing_left(before, id, cfg["linux"]["cgroupsPath"]);
}

}  // namespace
}  // namespace itest
