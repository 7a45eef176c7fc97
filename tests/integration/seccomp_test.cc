// Seccomp beyond plain filters: the SCMP_ACT_NOTIFY listener hand-off to an agent at
// linux.seccomp.listenerPath, and the default profile `spec` writes.
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "harness_console.h"
#include "util/fd.h"

namespace itest {
namespace {

using vessel::UniqueFd;

// A seccomp agent: accepts connections on a unix socket, receives with each the listener fd
// and the container process state, and answers every notification with `error` (0: a faked
// success, the syscall is not run), until finish() sees it idle or it is destroyed.
class Agent {
 public:
  Agent(const std::string& path, int error) : error_(error) {
    sock_ = listen_unix(path);
    if (!sock_) return;
    thread_ = std::thread([this] { serve(); });
  }
  ~Agent() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Waits until nothing happened for a second, then stops the agent; its results are then
  // safe to read.
  void finish() {
    finish_ = true;
    if (thread_.joinable()) thread_.join();
  }

  std::vector<std::string> payloads;  // the JSON received with each fd
  int fds = 0;                        // listener fds received
  int notifications = 0;              // answered
  std::string error;                  // what went wrong in the agent

 private:
  void take_connection() {
    UniqueFd conn(::accept4(sock_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    char buf[8192];
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl;
    msg.msg_controllen = sizeof ctl;
    ssize_t n = ::recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      error += std::string("recvmsg: ") + strerror(errno) + "\n";
      return;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        notify_.emplace_back(fd);
        ++fds;
      }
    }
    std::string payload(buf, static_cast<size_t>(n));
    // One state per connection: the rest, if any, until EOF.
    while ((n = ::read(conn.get(), buf, sizeof buf)) > 0)
      payload.append(buf, static_cast<size_t>(n));
    payloads.push_back(payload);
  }

  void answer(int fd) {
    seccomp_notif req{};
    if (::ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return;  // the caller went away
    seccomp_notif_resp resp{};
    resp.id = req.id;
    resp.error = -error_;
    resp.val = 0;
    if (::ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0) ++notifications;
  }

  void serve() {
    int idle = 0;
    while (!stop_) {
      std::vector<pollfd> p{{sock_.get(), POLLIN, 0}};
      for (const auto& n : notify_) p.push_back({n.get(), POLLIN, 0});
      int r = ::poll(p.data(), p.size(), 100);
      if (r <= 0) {
        if (finish_ && (idle += 100) >= 1000) return;
        continue;
      }
      idle = 0;
      if (p[0].revents & POLLIN) take_connection();
      for (size_t i = 1; i < p.size(); ++i)
        if (p[i].revents & POLLIN) answer(p[i].fd);
      // A listener whose filter no process uses any more reports POLLHUP: drop it.
      for (size_t i = p.size(); i-- > 1;)
        if ((p[i].revents & POLLHUP) && !(p[i].revents & POLLIN))
          notify_.erase(notify_.begin() + static_cast<long>(i - 1));
    }
  }

  UniqueFd sock_;
  int error_;
  std::vector<UniqueFd> notify_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finish_{false};
};

json parse_or_fail(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "payload is not JSON: " << e.what() << "\n" << text;
    return json::object();
  }
}

json notify_profile(const std::string& listener, const std::string& metadata) {
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"listenerPath", listener},
          {"listenerMetadata", metadata},
          {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
}

class SeccompTest : public ContainerTest {};

// The agent fakes success for mkdir: the program sees 0, yet no directory exists (the syscall
// never ran). Both load orders: with noNewPrivileges the filter comes last, without it before
// the capability drop, so the init's own later syscalls run under the filter.
TEST_F(SeccompTest, NotifyListenerGetsTheFdAndAnswers) {
  for (bool nnp : {true, false}) {
    SCOPED_TRACE(nnp ? "noNewPrivileges" : "without noNewPrivileges");
    std::string sock = dir() + (nnp ? "/agent1.sock" : "/agent2.sock");
    Agent agent(sock, 0);
    json cfg = config({"sh", "-c",
                       "mkdir /tmp/notified && echo made; "
                       "if [ -d /tmp/notified ]; then echo exists; else echo absent; fi"});
    cfg["process"]["noNewPrivileges"] = nnp;
    cfg["mounts"].push_back({{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
    cfg["linux"]["seccomp"] = notify_profile(sock, "meta-" + std::to_string(nnp));
    std::string id;
    Result r = run_container(cfg, {}, &id);
    agent.finish();
    if (runtime_is_runc() && !r.ok()) GTEST_SKIP() << "runc 1.1 without notify: " << r.describe();
    ASSERT_TRUE(r.ok()) << r.describe() << "\nagent: " << agent.error;
    EXPECT_TRUE(contains(r.out, "made")) << r.describe();
    EXPECT_TRUE(contains(r.out, "absent"))
        << "the agent's fake success must not run mkdir" << r.describe();
    EXPECT_EQ(agent.fds, 1);
    EXPECT_GE(agent.notifications, 1);
    ASSERT_EQ(agent.payloads.size(), 1u);
    json st = parse_or_fail(agent.payloads[0]);
    EXPECT_TRUE(st.contains("ociVersion")) << st.dump();
    EXPECT_EQ(st["fds"], json({"seccompFd"})) << st.dump();
    EXPECT_GT(st.value("pid", 0), 0) << st.dump();
    EXPECT_EQ(st["metadata"], "meta-" + std::to_string(nnp)) << st.dump();
    EXPECT_EQ(st["state"]["id"], id) << st.dump();
    EXPECT_EQ(st["state"]["status"], "creating") << st.dump();
    EXPECT_EQ(st["state"]["pid"], st["pid"]) << st.dump();
  }
}

// An errno answer reaches the program as that errno; an exec'd process gets a hand-off of
// its own (a second connection, state "running").
TEST_F(SeccompTest, NotifyErrnoAnswerAndExec) {
  std::string sock = dir() + "/agent.sock";
  Agent agent(sock, EACCES);
  json cfg = config({"sleep", "1000"});
  cfg["mounts"].push_back({{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
  cfg["linux"]["seccomp"] = notify_profile(sock, "exec-meta");
  std::string id = new_id("notify-exec");
  Result c = create(id, write_bundle(cfg));
  if (runtime_is_runc() && !c.ok()) GTEST_SKIP() << "runc 1.1 without notify: " << c.describe();
  ASSERT_TRUE(c.ok()) << c.describe() << "\nagent: " << agent.error;
  ASSERT_TRUE(rt({"start", id}).ok());
  Result e = rt({"exec", id, "sh", "-c", "mkdir /tmp/x; echo rc=$?; ls /tmp"});
  ASSERT_TRUE(rt({"kill", id, "KILL"}).ok());
  EXPECT_TRUE(wait_status(id, "stopped"));
  agent.finish();
  ASSERT_TRUE(e.ok()) << e.describe() << "\nagent: " << agent.error;
  EXPECT_TRUE(contains(e.out, "rc=1")) << e.describe();
  EXPECT_TRUE(contains(e.err, "Permission denied")) << e.describe();
  EXPECT_GE(agent.notifications, 1);
  ASSERT_EQ(agent.payloads.size(), 2u) << agent.error;
  json init = parse_or_fail(agent.payloads[0]);
  json exec = parse_or_fail(agent.payloads[1]);
  EXPECT_EQ(init["state"]["status"], "creating") << init.dump();
  EXPECT_EQ(exec["state"]["status"], "running") << exec.dump();
  EXPECT_EQ(exec["metadata"], "exec-meta") << exec.dump();
  EXPECT_NE(exec["pid"], init["pid"]) << "the exec'd process's own PID";
  EXPECT_EQ(exec["state"]["pid"], init["pid"]) << "the container's state names its init";
}

// listenerPath that nobody listens on: create fails and leaves nothing behind.
TEST_F(SeccompTest, UnreachableListenerFailsCreateCleanly) {
  HostSnapshot before = snapshot();
  json cfg = config({"true"});
  cfg["linux"]["seccomp"] = notify_profile(dir() + "/nobody-listens.sock", "x");
  std::string cg = cfg["linux"]["cgroupsPath"];
  std::string id = new_id("notify-unreachable");
  Result r = rt({"create", "-b", write_bundle(cfg), id});
  EXPECT_FALSE(r.ok()) << r.describe();
  if (!runtime_is_runc()) {
    EXPECT_TRUE(contains(r.err, "listenerPath")) << r.describe();
  }
  expect_nothing_left(before, id, cg);
}

// `features` now claims SCMP_ACT_NOTIFY.
TEST_F(SeccompTest, FeaturesListNotify) {
  const auto& f = runtime_features();
  if (!f) GTEST_SKIP() << "no features command";
  if (runtime_is_runc()) GTEST_SKIP() << "vessel-only";
  const json& actions = (*f)["linux"]["seccomp"]["actions"];
  EXPECT_NE(std::find(actions.begin(), actions.end(), "SCMP_ACT_NOTIFY"), actions.end())
      << actions.dump();
}

// A container made from `spec --seccomp-default`'s config, default seccomp profile: ordinary
// commands work; mount and unshare fail with EPERM even with CAP_SYS_ADMIN (the profile,
// not the capability, refuses them); without the profile the same mount works, which shows
// the test can tell.
TEST_F(SeccompTest, SpecDefaultProfile) {
  if (runtime_is_runc()) GTEST_SKIP() << "runc's spec has no seccomp profile";
  std::string bundle = dir() + "/spec-bundle";
  mkdirs(bundle);
  Result s = run_cmd({runtime_path(), "spec", "--seccomp-default", "-b", bundle});
  ASSERT_TRUE(s.ok()) << s.describe();
  json cfg = json::parse(read_text(bundle + "/config.json"));
  ASSERT_TRUE(cfg["linux"].contains("seccomp")) << "spec wrote no linux.seccomp";
  const json& prof = cfg["linux"]["seccomp"];
  EXPECT_EQ(prof["defaultAction"], "SCMP_ACT_ERRNO");
  std::string allowed = prof["syscalls"].dump();
  for (const char* bad :
       {"\"kexec_load\"", "\"init_module\"", "\"keyctl\"", "\"add_key\"", "\"bpf\"",
        "\"perf_event_open\"", "\"userfaultfd\"", "\"open_by_handle_at\"", "\"reboot\"",
        "\"swapon\"", "\"mount\"", "\"umount2\"", "\"pivot_root\"", "\"unshare\"", "\"setns\"",
        "\"settimeofday\"", "\"clock_settime\"", "\"acct\""})
    EXPECT_FALSE(contains(allowed, bad)) << bad << " is allowed by the default profile";

  Result rl = run_cmd({runtime_path(), "spec", "--seccomp-default", "--rootless", "-b", dir()});
  ASSERT_TRUE(rl.ok()) << rl.describe();
  EXPECT_EQ(json::parse(read_text(dir() + "/config.json"))["linux"]["seccomp"], prof);

  cfg["root"] = {{"path", shared_rootfs()}, {"readonly", true}};
  cfg["process"]["terminal"] = false;
  cfg["linux"]["cgroupsPath"] = new_cgroup_path();
  cfg["process"]["args"] = {
      "sh", "-c",
      "echo hello; ls / >/dev/null && echo ls-ok; cat /etc/passwd >/dev/null && echo cat-ok; "
      "sleep 0 && echo sleep-ok; (echo sub) && echo fork-ok; grep Seccomp: /proc/self/status; "
      "mount -t tmpfs t /mnt && echo MOUNTED; unshare -m true && echo UNSHARED; "
      "ps >/dev/null && echo ps-ok; echo done"};
  for (auto* set : {"bounding", "effective", "permitted"})
    cfg["process"]["capabilities"][set].push_back("CAP_SYS_ADMIN");
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  for (const char* want :
       {"hello", "ls-ok", "cat-ok", "sleep-ok", "fork-ok", "ps-ok", "done", "Seccomp:\t2"})
    EXPECT_TRUE(contains(r.out, want)) << want << r.describe();
  EXPECT_FALSE(contains(r.out, "MOUNTED")) << r.describe();
  EXPECT_FALSE(contains(r.out, "UNSHARED")) << r.describe();
  EXPECT_TRUE(contains(r.err, "Operation not permitted") || contains(r.err, "permission denied"))
      << r.describe();

  cfg["linux"].erase("seccomp");
  cfg["linux"]["cgroupsPath"] = new_cgroup_path();
  Result open = run_container(cfg);
  ASSERT_TRUE(open.ok()) << open.describe();
  EXPECT_TRUE(contains(open.out, "MOUNTED"))
      << "without the profile CAP_SYS_ADMIN may mount" << open.describe();
}

}  // namespace
}  // namespace itest
