#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "runtime/hooks.h"
#include "util/error.h"

namespace vessel::runtime {
namespace {

class HooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-hooks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }

  // Writes an executable /bin/sh script and returns its path.
  std::string script(const std::string& name, const std::string& body) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), 0755);
    return path;
  }

  std::string slurp(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string error_of(const oci::Hook& hook, const std::string& phase = "createRuntime",
                       const std::string& state = kState) {
    try {
      run_hook(hook, phase, 0, state);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  static constexpr const char* kState =
      R"({"ociVersion":"1.3.0","id":"c1","status":"creating","pid":42,"bundle":"/b"})";
  std::string dir_;
};

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "\"" << part << "\" not in: " << text;
}

// Every hook must have been reaped by the time run_hook returns.
void expect_no_children() {
  int status;
  EXPECT_EQ(waitpid(-1, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(HooksTest, StateArrivesOnStdin) {
  oci::Hook h{script("h", "/bin/cat > \"$1\""), {}, {}, {}};
  h.args = {h.path, dir_ + "/state"};
  run_hook(h, "prestart", 0, kState);
  EXPECT_EQ(slurp("state"), kState);
  expect_no_children();
}

TEST_F(HooksTest, LargeStateIsDeliveredWhole) {
  // Bigger than a pipe buffer, so writing and the hook's reading must interleave.
  std::string state =
      std::string(R"({"annotations":{"big":")") + std::string(1 << 20, 'x') + "\"}}";
  oci::Hook h{script("h", "/bin/cat > \"$1\""), {}, {}, {}};
  h.args = {h.path, dir_ + "/state"};
  run_hook(h, "createRuntime", 0, state);
  EXPECT_EQ(slurp("state"), state);
}

TEST_F(HooksTest, HookThatIgnoresStdinIsFine) {
  std::string state(1 << 20, 'y');
  oci::Hook h{script("h", "exit 0"), {}, {}, {}};
  EXPECT_EQ(error_of(h, "poststart", state), "");
  // Our SIGPIPE handling leaves neither a pending signal nor a changed mask behind.
  sigset_t pending, mask;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  EXPECT_FALSE(sigismember(&mask, SIGPIPE));
}

TEST_F(HooksTest, EnvIsExactlyTheHooksEnv) {
  setenv("VESSEL_TEST_LEAK", "1", 1);
  oci::Hook h{script("h", "/usr/bin/env > \"$1\""), {}, {"FOO=bar", "EMPTY="}, {}};
  h.args = {h.path, dir_ + "/env"};
  run_hook(h, "createContainer", 0, kState);
  std::string env = slurp("env");
  expect_contains(env, "FOO=bar\n");
  expect_contains(env, "EMPTY=\n");
  EXPECT_EQ(env.find("VESSEL_TEST_LEAK"), std::string::npos) << env;
  unsetenv("VESSEL_TEST_LEAK");
}

TEST_F(HooksTest, ArgsAreApplied) {
  oci::Hook h{script("h", "printf '%s|%s|%s' \"$#\" \"$1\" \"$2\" > \"$3\""), {}, {}, {}};
  h.args = {"ignored-argv0", "one", "two words", dir_ + "/args"};
  run_hook(h, "poststart", 0, kState);
  EXPECT_EQ(slurp("args"), "3|one|two words");
}

TEST_F(HooksTest, ArgsZeroIsArgv0) {
  // sh -c reports its own argv[0] as $0.
  oci::Hook h{"/bin/sh", {"custom-argv0", "-c", "printf '%s' \"$0\" > " + dir_ + "/argv0"}, {}, {}};
  run_hook(h, "poststart", 0, kState);
  EXPECT_EQ(slurp("argv0"), "custom-argv0");
}

TEST_F(HooksTest, NoArgsRunsThePath) {
  oci::Hook h{script("h", "exit 0"), {}, {}, {}};
  EXPECT_EQ(error_of(h), "");
}

TEST_F(HooksTest, NonZeroExitIsAnError) {
  oci::Hook h{script("failing", "echo 'some diagnostics' >&2\nexit 3"), {}, {}, {}};
  std::string err = error_of(h, "createRuntime");
  expect_contains(err, "createRuntime hook [0]");
  expect_contains(err, h.path);
  expect_contains(err, "error running hook #0: exit status 3");
  expect_contains(err, "some diagnostics");
  expect_no_children();
}

// runc 1.1's order and words: "exit status 3, stdout: ..., stderr: ...".
TEST_F(HooksTest, BothStreamsFollowTheExitStatusInRuncsOrder) {
  oci::Hook h{script("failing", "echo out-text\necho err-text >&2\nexit 3"), {}, {}, {}};
  std::string err;
  try {
    run_hook(h, "startContainer", 1, kState);
  } catch (const Error& e) {
    err = e.what();
  }
  expect_contains(err, "startContainer hook [1] " + h.path +
                           ": error running hook #1: exit status 3, stdout: out-text, "
                           "stderr: err-text");
}

TEST_F(HooksTest, StdoutShownWhenStderrIsEmpty) {
  oci::Hook h{script("failing", "echo 'from stdout'\nexit 1"), {}, {}, {}};
  expect_contains(error_of(h), "stdout: from stdout");
}

TEST_F(HooksTest, SignalIsAnError) {
  oci::Hook h{script("h", "kill -9 $$"), {}, {}, {}};
  std::string err = error_of(h, "poststop");
  expect_contains(err, "poststop hook [0]");
  expect_contains(err, "killed by signal 9");
}

TEST_F(HooksTest, TimeoutKillsTheHookAndItsHelpers) {
  oci::Hook h{script("slow", "/bin/sleep 30 &\necho $! > \"$1\"\nwait"), {}, {}, 1};
  h.args = {h.path, dir_ + "/helper"};
  auto start = std::chrono::steady_clock::now();
  std::string err = error_of(h, "startContainer");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  expect_contains(err, "startContainer hook [0]");
  expect_contains(err, h.path);
  expect_contains(err, "timed out after 1 s");
  EXPECT_GE(secs, 0.9);
  EXPECT_LT(secs, 4.0);  // generous: the machine may be busy
  expect_no_children();

  // The backgrounded sleep shared the hook's process group and died with it.
  pid_t helper = std::atoi(slurp("helper").c_str());
  ASSERT_GT(helper, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(helper) + "/stat");
    std::string content((std::istreambuf_iterator<char>(stat)), {});
    // Absent, or a zombie waiting for whoever adopted it.
    gone = content.empty() || content.find(") Z") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "helper " << helper << " survived the timeout";
}

TEST_F(HooksTest, FastHookWithinTimeoutSucceeds) {
  oci::Hook h{script("h", "exit 0"), {}, {}, 5};
  EXPECT_EQ(error_of(h), "");
}

TEST_F(HooksTest, HelperHoldingOutputDoesNotBlock) {
  // The hook exits at once but leaves a helper holding its stdout and stderr open.
  oci::Hook h{script("h", "/bin/sleep 5 &\nexit 0"), {}, {}, {}};
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of(h), "");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 4.0);
}

TEST_F(HooksTest, MissingBinaryIsAnError) {
  oci::Hook h{dir_ + "/does-not-exist", {}, {}, {}};
  std::string err = error_of(h, "prestart");
  expect_contains(err, "prestart hook [0]");
  expect_contains(err, "exec " + h.path + ": No such file or directory");
  expect_no_children();
}

TEST_F(HooksTest, NonExecutableIsAnError) {
  std::string path = script("noexec", "exit 0");
  chmod(path.c_str(), 0644);
  expect_contains(error_of(oci::Hook{path, {}, {}, {}}), "exec " + path + ": Permission denied");
}

TEST_F(HooksTest, RunHooksStopsAtTheFirstFailure) {
  std::vector<oci::Hook> hooks = {
      {script("a", "/usr/bin/touch \"$1\""), {}, {}, {}},
      {script("b", "exit 2"), {}, {}, {}},
      {script("c", "/usr/bin/touch \"$1\""), {}, {}, {}},
  };
  hooks[0].args = {hooks[0].path, dir_ + "/a-ran"};
  hooks[2].args = {hooks[2].path, dir_ + "/c-ran"};
  try {
    run_hooks(hooks, "createRuntime", kState);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    expect_contains(e.what(), "createRuntime hook [1]");
  }
  EXPECT_EQ(access((dir_ + "/a-ran").c_str(), F_OK), 0);
  EXPECT_NE(access((dir_ + "/c-ran").c_str(), F_OK), 0);
}

TEST_F(HooksTest, CollectingRunsEveryHook) {
  std::vector<oci::Hook> hooks = {
      {script("a", "exit 4"), {}, {}, {}},
      {dir_ + "/missing", {}, {}, {}},
      {script("c", "/usr/bin/touch \"$1\""), {}, {}, {}},
  };
  hooks[2].args = {hooks[2].path, dir_ + "/c-ran"};
  auto errors = run_hooks_collecting(hooks, "poststop", kState);
  ASSERT_EQ(errors.size(), 2u);
  expect_contains(errors[0], "poststop hook [0]");
  expect_contains(errors[0], "status 4");
  expect_contains(errors[1], "poststop hook [1]");
  EXPECT_EQ(access((dir_ + "/c-ran").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace vessel::runtime
