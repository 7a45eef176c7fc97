// Hooks: order, the state on stdin, env and args, and what a failing or hanging hook does.
#include <chrono>

#include "harness.h"

namespace itest {
namespace {

class HooksTest : public ContainerTest {
 protected:
  void SetUp() override {
    ContainerTest::SetUp();
    hooks_ = dir() + "/hooks";
    mkdirs(hooks_, 0777);
    log_ = hooks_ + "/log";
    // A host shell script (also run inside the container for startContainer, where
    // /hooks is this directory and /bin/sh is busybox).
    write_text(hooks_ + "/hook.sh",
               "#!/bin/sh\n"
               "name=\"$1\"; log=\"$2\"\n"
               "cat > \"$log.$name.stdin\"\n"
               "env > \"$log.$name.env\"\n"
               "echo \"$0 $*\" > \"$log.$name.args\"\n"
               "echo \"$name\" >> \"$log\"\n",
               0755);
  }

  // A hook that logs under its own name; inside=true for hooks whose path resolves in the
  // container (startContainer).
  json hook(const std::string& name, bool inside = false) const {
    const std::string script = inside ? "/hooks/hook.sh" : hooks_ + "/hook.sh";
    const std::string log = inside ? "/hooks/log" : log_;
    return {{"path", "/bin/sh"},
            {"args", {"sh", script, name, log}},
            {"env", {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOOK_VAR=value of " + name}}};
  }

  json config_with_hooks(std::vector<std::string> args) {
    json cfg = config(std::move(args));
    cfg["mounts"].push_back(mount_entry("/hooks", "bind", hooks_, {"rbind", "rw"}));
    return cfg;
  }

  std::vector<std::string> logged() const { return split_lines(read_text(log_)); }

  std::string hooks_, log_;
};

TEST_F(HooksTest, HooksRunInSpecOrderWithStateOnStdinAndEnv) {
  const std::string id = new_id("hooks");
  json cfg = config_with_hooks({"sh", "-c", "touch /shared/started"});
  cfg["hooks"] = {{"prestart", {hook("prestart")}},
                  {"createRuntime", {hook("createRuntime")}},
                  {"createContainer", {hook("createContainer")}},
                  {"startContainer", {hook("startContainer", true)}},
                  {"poststop", {hook("poststop")}}};
  const std::string b = write_bundle(cfg);

  Result c = create(id, b);
  ASSERT_TRUE(c.ok()) << c.describe();
  EXPECT_EQ(logged(), (std::vector<std::string>{"prestart", "createRuntime", "createContainer"}))
      << "after create";
  EXPECT_FALSE(exists(shared_dir() + "/started"));

  Result s = rt({"start", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  ASSERT_TRUE(wait_status(id, "stopped"));
  EXPECT_TRUE(exists(shared_dir() + "/started"));
  EXPECT_EQ(logged(), (std::vector<std::string>{"prestart", "createRuntime", "createContainer",
                                                "startContainer"}))
      << "after start";

  Result d = rt({"delete", id});
  ASSERT_TRUE(d.ok()) << d.describe();
  EXPECT_EQ(logged(), (std::vector<std::string>{"prestart", "createRuntime", "createContainer",
                                                "startContainer", "poststop"}))
      << "after delete";

  for (const char* name :
       {"prestart", "createRuntime", "createContainer", "startContainer", "poststop"}) {
    SCOPED_TRACE(name);
    const std::string in = read_text(log_ + "." + name + ".stdin");
    json st = json::parse(in, nullptr, false);
    ASSERT_TRUE(st.is_object()) << "stdin of the hook is not the state JSON: " << in;
    EXPECT_EQ(st["id"], id) << in;
    EXPECT_EQ(st["bundle"], b) << in;
    EXPECT_TRUE(st.contains("ociVersion")) << in;
    EXPECT_TRUE(st["status"].is_string()) << in;
    if (std::string(name) != "poststop") {
      EXPECT_TRUE(st["pid"].is_number_integer() && st["pid"].get<int>() > 0) << in;
    }
    const std::string env = read_text(log_ + "." + name + ".env");
    EXPECT_TRUE(contains(env, std::string("HOOK_VAR=value of ") + name + "\n")) << env;
    const bool inside = std::string(name) == "startContainer";
    EXPECT_EQ(read_text(log_ + "." + name + ".args"),
              (inside ? "/hooks/hook.sh " : hooks_ + "/hook.sh ") + name + " " +
                  (inside ? "/hooks/log" : log_) + "\n");
  }
  json pst = json::parse(read_text(log_ + ".poststop.stdin"), nullptr, false);
  EXPECT_EQ(pst["status"], "stopped") << pst.dump();
}

// Spec: poststart hooks run after the user program started (after startContainer), before
// `start` returns, and see a running container.
TEST_F(HooksTest, PoststartRunsDuringStartAfterStartContainer) {
  const std::string id = new_id("hooks");
  json cfg = config_with_hooks({"sleep", "1000"});
  cfg["hooks"] = {{"startContainer", {hook("startContainer", true)}},
                  {"poststart", {hook("poststart")}}};
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  if (runtime_is_runc() && logged() == std::vector<std::string>{"poststart"})
    GTEST_SKIP() << "runc 1.1 runs poststart hooks during create, before startContainer "
                    "(a known runc deviation from the runtime-spec)";
  EXPECT_TRUE(logged().empty()) << "hooks ran during create";
  Result s = rt({"start", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  EXPECT_EQ(logged(), (std::vector<std::string>{"startContainer", "poststart"}));
  json ps = json::parse(read_text(log_ + ".poststart.stdin"), nullptr, false);
  EXPECT_EQ(ps["id"], id) << ps.dump();
  EXPECT_EQ(ps["status"], "running") << ps.dump();
}

// args are passed as given, with args[0] as the program's $0 (execv semantics).
TEST_F(HooksTest, ArgsAreExecvStyle) {
  json cfg = config_with_hooks({"true"});
  json h = hook("createRuntime");
  h["args"] = {"sh", hooks_ + "/hook.sh", "createRuntime", log_, "extra arg", ""};
  cfg["hooks"] = {{"createRuntime", {h}}};
  Result r = run_container(cfg);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(read_text(log_ + ".createRuntime.args"),
            hooks_ + "/hook.sh createRuntime " + log_ + " extra arg \n");
}

// Hooks in the runtime namespace see the host; startContainer runs in the container.
TEST_F(HooksTest, HookNamespaces) {
  json cfg = config_with_hooks({"true"});
  auto ns_hook = [&](const std::string& name, bool inside) {
    const std::string dirp = inside ? "/hooks" : hooks_;
    return json{{"path", "/bin/sh"},
                {"args",
                 {"sh", "-c",
                  "readlink /proc/self/ns/mnt > " + dirp + "/" + name +
                      ".mnt; readlink /proc/self/ns/uts > " + dirp + "/" + name + ".uts"}}};
  };
  cfg["hooks"] = {{"createRuntime", {ns_hook("createRuntime", false)}},
                  {"createContainer", {ns_hook("createContainer", false)}},
                  {"startContainer", {ns_hook("startContainer", true)}},
                  {"poststart", {ns_hook("poststart", false)}}};
  const std::string id = new_id();
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  auto st = state(id);
  ASSERT_TRUE(st.has_value());
  const std::string pid = std::to_string((*st)["pid"].get<int>());
  char buf[128];
  ssize_t n = ::readlink(("/proc/" + pid + "/ns/mnt").c_str(), buf, sizeof buf - 1);
  ASSERT_GT(n, 0);
  const std::string container_mnt(buf, static_cast<size_t>(n));
  ASSERT_TRUE(rt({"start", id}).ok());
  EXPECT_EQ(trim(read_text(hooks_ + "/createRuntime.mnt")), host_ns("mnt"));
  EXPECT_EQ(trim(read_text(hooks_ + "/poststart.mnt")), host_ns("mnt"));
  EXPECT_EQ(trim(read_text(hooks_ + "/createContainer.mnt")), container_mnt)
      << "createContainer must run in the container's mount namespace";
  EXPECT_EQ(trim(read_text(hooks_ + "/startContainer.mnt")), container_mnt);
  EXPECT_NE(trim(read_text(hooks_ + "/startContainer.uts")), host_ns("uts"));
}

TEST_F(HooksTest, FailingCreateRuntimeHookFailsCreateAndLeavesNothing) {
  json cfg = config_with_hooks({"touch", "/shared/started"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["hooks"] = {
      {"createRuntime",
       {hook("createRuntime"), {{"path", "/bin/sh"}, {"args", {"sh", "-c", "exit 3"}}}}},
      {"createContainer", {hook("createContainer")}}};
  const std::string id = new_id();
  const std::string b = write_bundle(cfg);
  HostSnapshot before = snapshot();
  Result c = create(id, b);
  EXPECT_NE(c.exit_code(), 0) << c.describe();
  EXPECT_FALSE(c.timed_out);
  EXPECT_EQ(logged(), (std::vector<std::string>{"createRuntime"}))
      << "hooks after the failing one must not run";
  EXPECT_NE(rt({"state", id}).exit_code(), 0) << "the container exists after a failed create";
  expect_nothing_left(before, id, cg);
  EXPECT_FALSE(exists(shared_dir() + "/started"));
}

TEST_F(HooksTest, HookTimeoutFailsCreate) {
  json cfg = config_with_hooks({"true"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["hooks"] = {
      {"createRuntime", {{{"path", "/bin/sleep"}, {"args", {"sleep", "30"}}, {"timeout", 1}}}}};
  const std::string id = new_id();
  const std::string b = write_bundle(cfg);
  HostSnapshot before = snapshot();
  auto t0 = std::chrono::steady_clock::now();
  Result c = create(id, b);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(c.exit_code(), 0) << c.describe();
  EXPECT_FALSE(c.timed_out) << "the runtime ignored the hook timeout";
  EXPECT_LT(secs, 10.0);
  expect_nothing_left(before, id, cg);
}

// Spec: a failing poststop hook is a warning; the delete succeeds.
TEST_F(HooksTest, FailingPoststopHookDoesNotFailDelete) {
  json cfg = config_with_hooks({"true"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["hooks"] = {{"poststop", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "exit 1"}}}}}};
  const std::string id = new_id();
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  Result d = rt({"delete", id});
  EXPECT_TRUE(d.ok()) << d.describe();
  EXPECT_NE(rt({"state", id}).exit_code(), 0);
  EXPECT_TRUE(cgroup_dirs(cg).empty());
}

// Spec: after a failing poststop hook the remaining poststop hooks still run.
TEST_F(HooksTest, FailingPoststopHookDoesNotStopLaterHooks) {
  json cfg = config_with_hooks({"true"});
  cfg["hooks"] = {
      {"poststop", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "exit 1"}}}, hook("poststop")}}};
  const std::string id = new_id();
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  Result d = rt({"delete", id});
  EXPECT_TRUE(d.ok()) << d.describe();
  if (runtime_is_runc() && logged().empty())
    GTEST_SKIP() << "runc 1.1 stops running poststop hooks at the first failing one "
                    "(spec: warn and run the rest)";
  EXPECT_EQ(logged(), (std::vector<std::string>{"poststop"}));
}

}  // namespace
}  // namespace itest
