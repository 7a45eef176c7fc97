// The fixture of the Docker Engine API tests: a `vessel system service` of its own (store,
// socket) per test, and the clients (docker CLI, curl) pointed at it.
#pragma once

#include <signal.h>
#include <unistd.h>

#include "harness.h"

namespace itest {

inline bool have(const std::string& prog) {
  return run_cmd({"sh", "-c", "command -v " + prog}).ok();
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (runtime_is_runc()) GTEST_SKIP() << "API tests run once, with vessel's own runtime";
    char tmpl[] = "/tmp/vessel-apitest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
    sock_ = dir_ + "/api.sock";
    mkdirs(dir_ + "/docker-config");
    service_ = spawn({VESSEL_MANAGER_BIN, "--root", root_, "system", "service", "--socket",
                      "unix://" + sock_, "--timeout", "0"},
                     {dir_ + "/service.out", dir_ + "/service.err", ""});
    ASSERT_TRUE(wait_until([&] { return curl({"/_ping"}).out == "OK"; }))
        << read_text(dir_ + "/service.err");
  }
  void TearDown() override {
    if (root_.empty()) return;
    for (const auto& id : split_lines(v({"ps", "-aq", "--no-trunc"}).out))
      if (!trim(id).empty()) v({"rm", "-f", trim(id)});
    service_.kill_group(SIGTERM);
    service_.wait();
    EXPECT_EQ(trim(v({"ps", "-aq"}).out), "");
    // (Mounts under this test's directory: other tests may run beside this one.)
    std::string left;
    for (const auto& m : parse_mountinfo(read_text("/proc/self/mountinfo")))
      if (m.mount_point.rfind(dir_ + "/", 0) == 0) left += m.mount_point + " ";
    EXPECT_EQ(left, "") << "mounts left behind";
    if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir_);
  }

  Result v(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    std::vector<std::string> argv = {VESSEL_MANAGER_BIN, "--root", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, timeout);
  }
  std::vector<std::string> docker_argv(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"env", "DOCKER_HOST=unix://" + sock_,
                                     "DOCKER_CONFIG=" + dir_ + "/docker-config", "docker"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  Result docker(const std::vector<std::string>& args, Millis timeout = kTimeout) {
    return run_cmd(docker_argv(args), timeout);
  }
  // curl on the socket: {path, [method], [body]}; -w appends the status on its own line.
  Result curl(const std::vector<std::string>& a) {
    std::vector<std::string> argv = {"curl", "-s", "--unix-socket", sock_, "-w", "\n%{http_code}"};
    if (a.size() > 1) argv.insert(argv.end(), {"-X", a[1]});
    if (a.size() > 2) argv.insert(argv.end(), {"-H", "Content-Type: application/json", "-d", a[2]});
    argv.push_back("http://localhost" + a[0]);
    auto r = run_cmd(argv);
    // Split "body\nstatus": keep the body in out, the status in err.
    auto nl = r.out.rfind('\n');
    if (nl != std::string::npos) {
      r.err = r.out.substr(nl + 1);
      r.out = r.out.substr(0, nl);
    }
    return r;
  }

  std::string dir_, root_, sock_;
  Child service_;
};

}  // namespace itest
