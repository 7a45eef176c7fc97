// The container lifecycle through the CLI: run, create/start/state/kill/delete, list, run -d,
// exit codes, and the errors for unknown or duplicate IDs.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.h"

namespace itest {
namespace {

class LifecycleTest : public ContainerTest {
 protected:
  // A program that records start and SIGTERM in the shared dir and otherwise waits forever.
  json waiting_config() {
    return config({"sh", "-c",
                   "trap 'echo TERM > /shared/term; exit 0' TERM; touch /shared/started; "
                   "while :; do sleep 1 & wait; done"});
  }
  std::string started() const { return shared_dir() + "/started"; }

  // create + start a waiting container and waits until the program runs.
  void start_waiting(const std::string& id, std::string* bundle_out = nullptr) {
    std::string b = write_bundle(waiting_config());
    if (bundle_out) *bundle_out = b;
    Result c = create(id, b);
    ASSERT_TRUE(c.ok()) << c.describe();
    Result s = rt({"start", id});
    ASSERT_TRUE(s.ok()) << s.describe();
    ASSERT_TRUE(wait_until([&] { return exists(started()); })) << "the program never ran";
  }

  bool cgroup_holds(const std::string& cg, pid_t pid) {
    for (const auto& d : cgroup_dirs(cg)) {
      for (const auto& l : split_lines(read_text(d + "/cgroup.procs")))
        if (l == std::to_string(pid)) return true;
    }
    return false;
  }
};

std::vector<std::string> words(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> w;
  std::string x;
  while (is >> x) w.push_back(x);
  return w;
}

// The headline check: PID 1, the configured hostname, the uid map and the rootfs listing.
TEST_F(LifecycleTest, RunShowsPid1HostnameUidMapAndRootfs) {
  Result r = run_container(config({"sh", "-c", "echo $$; hostname; cat /proc/self/uid_map; ls /"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  auto l = split_lines(r.out);
  ASSERT_GE(l.size(), 4u) << r.describe();
  EXPECT_EQ(l[0], "1") << "the program is not PID 1 of its PID namespace" << r.describe();
  EXPECT_EQ(l[1], "vessel-itest") << r.describe();
  EXPECT_EQ(words(l[2]), (std::vector<std::string>{"0", "0", "4294967295"})) << r.describe();
  std::set<std::string> listing(l.begin() + 3, l.end());
  for (const char* want : {"bin", "dev", "etc", "proc", "sys", "tmp", "shared"})
    EXPECT_TRUE(listing.count(want)) << "ls / lacks " << want << r.describe();
}

TEST_F(LifecycleTest, RunReturnsTheExitCode) {
  Result r = run_container(config({"sh", "-c", "exit 7"}));
  EXPECT_TRUE(r.exited()) << r.describe();
  EXPECT_EQ(r.exit_code(), 7) << r.describe();
  Result z = run_container(config({"true"}));
  EXPECT_EQ(z.exit_code(), 0) << z.describe();
}

// Without a PID namespace the shell is not an init and dies of its own SIGKILL/SIGTERM.
// (As PID 1 of a PID namespace it would be immune to signals it sends itself.)
TEST_F(LifecycleTest, RunReturns128PlusSignal) {
  for (auto [sig, code] : {std::pair{"9", 137}, std::pair{"15", 143}}) {
    json cfg = config({"sh", "-c", std::string("kill -") + sig + " $$; sleep 5; exit 3"});
    auto& ns = cfg["linux"]["namespaces"];
    ns.erase(std::remove_if(ns.begin(), ns.end(), [](const json& n) { return n["type"] == "pid"; }),
             ns.end());
    Result r = run_container(cfg);
    EXPECT_EQ(r.exit_code(), code) << "signal " << sig << r.describe();
  }
}

// The init of a PID namespace killed from outside (runtime kill KILL) while `run` waits.
TEST_F(LifecycleTest, RunOfInitKilledFromOutsideReturns137) {
  std::string id = new_id("fg");
  std::string b = write_bundle(config({"sh", "-c", "touch /shared/started; exec sleep 1000"}));
  Child run = rt_spawn({"run", "--bundle", b, id});
  ASSERT_TRUE(wait_until([&] { return exists(started()); })) << "container never started";
  ASSERT_TRUE(wait_status(id, "running", 5s));
  Result k = rt({"kill", id, "KILL"});
  EXPECT_TRUE(k.ok()) << k.describe();
  Result r = run.wait();
  EXPECT_EQ(r.exit_code(), 137) << r.describe();
  // run removes the container when the program exits.
  EXPECT_FALSE(state(id).has_value());
}

TEST_F(LifecycleTest, CreateStartKillDelete) {
  const std::string id = new_id();
  json cfg = waiting_config();
  const std::string cg = cfg["linux"]["cgroupsPath"];
  const std::string b = write_bundle(cfg);
  const std::string pidfile = dir() + "/container.pid";

  Result c = create(id, b, {"--pid-file", pidfile});
  ASSERT_TRUE(c.ok()) << c.describe();

  auto st = state(id);
  ASSERT_TRUE(st.has_value());
  SCOPED_TRACE("state: " + st->dump());
  ASSERT_TRUE((*st)["ociVersion"].is_string());
  EXPECT_FALSE((*st)["ociVersion"].get<std::string>().empty());
  EXPECT_EQ((*st)["id"], id);
  EXPECT_EQ((*st)["status"], "created");
  EXPECT_EQ((*st)["bundle"], b);
  ASSERT_TRUE((*st)["pid"].is_number_integer());
  const pid_t pid = (*st)["pid"].get<pid_t>();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(exists("/proc/" + std::to_string(pid)));
  EXPECT_EQ(trim(read_text(pidfile)), std::to_string(pid)) << "--pid-file";

  // Resources exist, the program does not run yet.
  EXPECT_FALSE(cgroup_dirs(cg).empty()) << "no cgroup " << cg << " after create";
  EXPECT_TRUE(cgroup_holds(cg, pid)) << "the container process is not in " << cg;
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(exists(started())) << "the user program ran before start";

  Result s = rt({"start", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  ASSERT_TRUE(wait_until([&] { return exists(started()); })) << "the program never ran";
  st = state(id);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ((*st)["status"], "running");
  EXPECT_EQ((*st)["pid"], pid) << "the program must run as the process create made";

  // A second start fails and changes nothing.
  Result s2 = rt({"start", id});
  EXPECT_NE(s2.exit_code(), 0) << s2.describe();
  EXPECT_EQ(status(id), "running");

  Result k = rt({"kill", id, "TERM"});
  ASSERT_TRUE(k.ok()) << k.describe();
  ASSERT_TRUE(wait_status(id, "stopped")) << "status: " << status(id);
  EXPECT_EQ(trim(read_text(shared_dir() + "/term")), "TERM");

  // kill of a stopped container is an error.
  Result k2 = rt({"kill", id, "KILL"});
  EXPECT_NE(k2.exit_code(), 0) << k2.describe();

  Result d = rt({"delete", id});
  ASSERT_TRUE(d.ok()) << d.describe();
  Result gone = rt({"state", id});
  EXPECT_NE(gone.exit_code(), 0) << gone.describe();
  EXPECT_TRUE(cgroup_dirs(cg).empty()) << "cgroup " << cg << " left after delete";
  EXPECT_FALSE(exists(state_root() + "/" + id)) << "state dir left after delete";
}

TEST_F(LifecycleTest, KillAcceptsSignalNameWithAndWithoutSigAndNumberAndDefaultsToTerm) {
  for (std::string sig : {"TERM", "SIGTERM", "15", ""}) {
    SCOPED_TRACE("kill signal argument '" + sig + "'");
    ::unlink(started().c_str());
    ::unlink((shared_dir() + "/term").c_str());
    const std::string id = new_id();
    start_waiting(id);
    Result k = sig.empty() ? rt({"kill", id}) : rt({"kill", id, sig});
    ASSERT_TRUE(k.ok()) << k.describe();
    EXPECT_TRUE(wait_status(id, "stopped")) << "status: " << status(id);
    EXPECT_EQ(trim(read_text(shared_dir() + "/term")), "TERM");
    Result d = rt({"delete", id});
    EXPECT_TRUE(d.ok()) << d.describe();
  }
}

TEST_F(LifecycleTest, ProgramThatExitsLeavesContainerStopped) {
  const std::string id = new_id();
  json cfg = config({"sh", "-c", "touch /shared/started"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  EXPECT_TRUE(wait_status(id, "stopped")) << "status: " << status(id);
  EXPECT_TRUE(exists(started()));
  Result d = rt({"delete", id});
  EXPECT_TRUE(d.ok()) << d.describe();
  EXPECT_TRUE(cgroup_dirs(cg).empty());
}

TEST_F(LifecycleTest, DeleteOfRunningContainerNeedsForce) {
  const std::string id = new_id();
  json cfg = waiting_config();
  const std::string cg = cfg["linux"]["cgroupsPath"];
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_until([&] { return exists(started()); }));
  auto st = state(id);
  ASSERT_TRUE(st.has_value());
  const pid_t pid = (*st)["pid"].get<pid_t>();

  Result d = rt({"delete", id});
  EXPECT_NE(d.exit_code(), 0) << "delete of a running container must fail" << d.describe();
  EXPECT_EQ(status(id), "running");
  EXPECT_EQ(::kill(pid, 0), 0) << "delete without --force killed the container";

  Result f = rt({"delete", "--force", id});
  ASSERT_TRUE(f.ok()) << f.describe();
  EXPECT_NE(rt({"state", id}).exit_code(), 0);
  EXPECT_TRUE(wait_until([&] { return !exists("/proc/" + std::to_string(pid)); }, 5s))
      << "container process " << pid << " survived delete --force";
  EXPECT_TRUE(cgroup_dirs(cg).empty());
}

// runc deletes a "created" (never started) container without --force (it kills the init
// that waits for start); engines rely on that to clean up after a failed start.
TEST_F(LifecycleTest, DeleteOfCreatedContainerWorksWithoutForce) {
  const std::string id = new_id();
  json cfg = waiting_config();
  const std::string cg = cfg["linux"]["cgroupsPath"];
  ASSERT_TRUE(create(id, write_bundle(cfg)).ok());
  ASSERT_EQ(status(id), "created");
  Result d = rt({"delete", id});
  EXPECT_TRUE(d.ok()) << d.describe();
  EXPECT_NE(rt({"state", id}).exit_code(), 0);
  EXPECT_TRUE(cgroup_dirs(cg).empty());
  EXPECT_FALSE(exists(started())) << "the program ran although the container never started";
}

TEST_F(LifecycleTest, ListTableQuietAndJson) {
  Result empty = rt({"list"});
  ASSERT_TRUE(empty.ok()) << empty.describe();
  EXPECT_EQ(words(split_lines(empty.out).at(0)),
            (std::vector<std::string>{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}))
      << empty.describe();
  Result ej = rt({"list", "--format", "json"});
  ASSERT_TRUE(ej.ok()) << ej.describe();
  json ejv = json::parse(ej.out, nullptr, false);
  EXPECT_TRUE(ejv.is_null() || (ejv.is_array() && ejv.empty()))
      << "empty list as JSON (runc prints null)" << ej.describe();

  const std::string created_id = new_id("list");
  const std::string running_id = new_id("list");
  std::string b1 = write_bundle(waiting_config());
  ASSERT_TRUE(create(created_id, b1).ok());
  std::string b2;
  start_waiting(running_id, &b2);

  Result t = rt({"list"});
  ASSERT_TRUE(t.ok()) << t.describe();
  auto lines = split_lines(t.out);
  ASSERT_EQ(lines.size(), 3u) << t.describe();
  EXPECT_EQ(words(lines[0]).at(0), "ID");
  std::map<std::string, std::vector<std::string>> rows;
  for (size_t i = 1; i < lines.size(); ++i) rows[words(lines[i]).at(0)] = words(lines[i]);
  ASSERT_TRUE(rows.count(created_id)) << t.describe();
  ASSERT_TRUE(rows.count(running_id)) << t.describe();
  EXPECT_EQ(rows[created_id].at(2), "created") << t.describe();
  EXPECT_EQ(rows[running_id].at(2), "running") << t.describe();
  EXPECT_EQ(rows[running_id].at(3), b2) << t.describe();
  // OWNER is looked up when listed (from the state directory's uid), not stored at create.
  EXPECT_EQ(rows[created_id].at(5), "root") << t.describe();
  EXPECT_EQ(rows[running_id].at(5), "root") << t.describe();

  Result q = rt({"list", "-q"});
  ASSERT_TRUE(q.ok()) << q.describe();
  auto ids = split_lines(q.out);
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> want = {created_id, running_id};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want) << q.describe();

  for (auto flag : {std::vector<std::string>{"list", "--format", "json"},
                    std::vector<std::string>{"list", "-f", "json"}}) {
    Result j = rt(flag);
    ASSERT_TRUE(j.ok()) << j.describe();
    json arr = json::parse(j.out, nullptr, false);
    ASSERT_TRUE(arr.is_array()) << j.describe();
    ASSERT_EQ(arr.size(), 2u) << j.describe();
    for (const auto& e : arr) {
      for (const char* k : {"id", "pid", "status", "bundle", "created"})
        EXPECT_TRUE(e.contains(k)) << "list JSON entry lacks " << k << ": " << e.dump();
      EXPECT_EQ(e.value("owner", ""), "root") << e.dump();
      // RFC 3339 in UTC with nanoseconds, as runc writes it.
      EXPECT_TRUE(std::regex_match(e.value("created", ""),
                                   std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)")))
          << e.dump();
      if (e["id"] == running_id) {
        EXPECT_EQ(e["status"], "running");
        EXPECT_EQ(e["bundle"], b2);
      } else {
        EXPECT_EQ(e["id"], created_id);
        EXPECT_EQ(e["status"], "created");
      }
    }
  }
}

TEST_F(LifecycleTest, DuplicateIdFailsAndLeavesFirstContainerAlone) {
  const std::string id = new_id();
  ASSERT_TRUE(create(id, write_bundle(waiting_config())).ok());
  auto before = state(id);
  ASSERT_TRUE(before.has_value());
  json cfg2 = waiting_config();
  const std::string cg2 = cfg2["linux"]["cgroupsPath"];
  Result dup = create(id, write_bundle(cfg2));
  EXPECT_NE(dup.exit_code(), 0) << "create with a used ID must fail" << dup.describe();
  auto after = state(id);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ((*after)["status"], "created");
  EXPECT_EQ((*after)["pid"], (*before)["pid"]);
  EXPECT_EQ((*after)["bundle"], (*before)["bundle"]);
  EXPECT_TRUE(cgroup_dirs(cg2).empty()) << "the failed duplicate created its cgroup";
}

TEST_F(LifecycleTest, UnknownIdFails) {
  const std::string id = "itest-no-such-container";
  for (auto args : {std::vector<std::string>{"state", id},
                    {"start", id},
                    {"kill", id, "KILL"},
                    {"delete", id}}) {
    Result r = rt(args);
    EXPECT_NE(r.exit_code(), 0) << r.describe();
    EXPECT_FALSE(r.timed_out) << r.describe();
  }
}

// runc: `delete --force` of an ID that does not exist succeeds (exit 0), so engines can clean
// up idempotently.
TEST_F(LifecycleTest, ForceDeleteOfUnknownIdSucceeds) {
  Result r = rt({"delete", "--force", "itest-no-such-container"});
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
}

TEST_F(LifecycleTest, RunDetachedReturnsWhileContainerRuns) {
  const std::string id = new_id("det");
  json cfg = waiting_config();
  const std::string cg = cfg["linux"]["cgroupsPath"];
  std::string b = write_bundle(cfg);
  Result r = rt({"run", "-d", "--bundle", b, id}, {.timeout = 10s});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(wait_until([&] { return exists(started()); })) << "the program never ran";
  auto st = state(id);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ((*st)["status"], "running");
  Result k = rt({"kill", id, "KILL"});
  EXPECT_TRUE(k.ok()) << k.describe();
  EXPECT_TRUE(wait_status(id, "stopped"));
  Result d = rt({"delete", id});
  EXPECT_TRUE(d.ok()) << d.describe();
  EXPECT_TRUE(cgroup_dirs(cg).empty());
}

// Without a terminal the program inherits the runtime's stdio ("pass-through"): what it
// writes after start lands in the files `create` was given as stdout and stderr.
TEST_F(LifecycleTest, CreatePassesStdioThroughToTheProgram) {
  const std::string id = new_id();
  const std::string out = dir() + "/out.txt";
  const std::string err = dir() + "/err.txt";
  std::string b = write_bundle(config({"sh", "-c", "echo to-stdout; echo to-stderr >&2"}));
  Result c = create(id, b, {}, {.stdout_path = out, .stderr_path = err});
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(rt({"start", id}).ok());
  ASSERT_TRUE(wait_status(id, "stopped"));
  EXPECT_TRUE(contains(read_text(out), "to-stdout")) << read_text(out);
  EXPECT_TRUE(contains(read_text(err), "to-stderr")) << read_text(err);
}

}  // namespace
}  // namespace itest
