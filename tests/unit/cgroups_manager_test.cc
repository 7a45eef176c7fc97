// Real cgroups on whatever host runs the tests (hybrid on the build host, pure v2 in v2vm).
// Needs root; every cgroup is named vessel-test-<pid>-<n> and removed again, also when a test
// fails, and only processes the test forked are killed.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "cgroups/convert.h"
#include "cgroups/detect.h"
#include "cgroups/manager.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;

std::string slurp(const std::string& path) {
  std::string s = read_file(path);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// rmdir `dir` and everything below it, deepest first (cgroupfs only allows rmdir).
void rmdir_tree(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
  std::string listing;
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> subs;
    while (struct dirent* e = ::readdir(d))
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
        subs.push_back(dir + "/" + e->d_name);
    ::closedir(d);
    for (const auto& s : subs) rmdir_tree(s);
  }
  for (int i = 0; i < 100 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

class CgroupHost : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
    try {
      host_ = probe_host();
    } catch (const Error& e) {
      GTEST_SKIP() << "no usable cgroup hierarchy: " << e.what();
    }
    static int counter = 0;
    prefix_ = "vessel-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  }

  void TearDown() override {
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    for (auto& m : managers_) {
      try {
        m->destroy();
      } catch (const Error& e) {
        ADD_FAILURE() << "cleanup destroy: " << e.what();
      }
    }
    // Whatever a failed test left: only our own prefix, at the top of each hierarchy.
    for (const Hierarchy& h : host_.hierarchies) {
      std::string left = h.mount_point + "/" + prefix_;
      if (path_exists(left)) {
        ADD_FAILURE() << "left behind: " << left;
        rmdir_tree(left);
      }
    }
  }

  Manager& manage(const std::string& cgroups_path, const std::string& id = "ctr") {
    managers_.push_back(make_manager(cgroups_path, id));
    return *managers_.back();
  }

  pid_t spawn(std::vector<const char*> argv) {
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execvp(argv[0], const_cast<char* const*>(argv.data()));
      ::_exit(127);
    }
    children_.push_back(pid);
    return pid;
  }

  // Waits for our child and returns the signal that ended it (0 if it exited).
  int reap(pid_t pid) {
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }

  // The container's directory holding `controller` ("" for the unified one).
  static std::string dir_of(const json& state, const std::string& controller) {
    for (const json& d : state["dirs"]) {
      auto c = d["controllers"].get<std::vector<std::string>>();
      if ((controller.empty() && c.empty()) || std::find(c.begin(), c.end(), controller) != c.end())
        return d["dir"];
    }
    return "";
  }

  static void expect_gone(const json& state) {
    for (const json& d : state["dirs"]) {
      EXPECT_FALSE(path_exists(d["dir"])) << d["dir"];
      for (const json& c : d["created"]) EXPECT_FALSE(path_exists(c)) << c;
    }
  }

  bool v2() const { return host_.layout == Layout::v2; }

  HostCgroups host_;
  std::string prefix_;
  std::vector<std::unique_ptr<Manager>> managers_;
  std::vector<pid_t> children_;
};

TEST_F(CgroupHost, Lifecycle) {
  Manager& m = manage("/" + prefix_ + "/ctr");
  EXPECT_EQ(m.path(), "/" + prefix_ + "/ctr");
  m.create();
  json state = m.to_json();
  EXPECT_EQ(state["layout"], layout_name(host_.layout));
  for (const json& d : state["dirs"]) {
    EXPECT_TRUE(path_exists(d["dir"])) << d["dir"];
    EXPECT_EQ(d["created"].size(), 2u) << "parent and leaf are both ours";
  }

  pid_t child = spawn({"sleep", "100"});
  m.add_process(child);
  std::vector<pid_t> pids = m.pids();
  EXPECT_EQ(pids, std::vector<pid_t>{child});

  json res = {
      {"memory", {{"limit", 64 << 20}, {"swap", 128 << 20}}},
      {"pids", {{"limit", 20}}},
      {"cpu",
       {{"shares", 512}, {"quota", 50000}, {"period", 100000}, {"cpus", "0"}, {"mems", "0"}}}};
  m.apply(res);
  if (v2()) {
    std::string d = dir_of(state, "");
    EXPECT_EQ(slurp(d + "/memory.max"), "67108864");
    if (path_exists(d + "/memory.swap.max")) {
      EXPECT_EQ(slurp(d + "/memory.swap.max"), "67108864");
    }
    EXPECT_EQ(slurp(d + "/pids.max"), "20");
    EXPECT_EQ(slurp(d + "/cpu.max"), "50000 100000");
    EXPECT_EQ(slurp(d + "/cpu.weight"), std::to_string(cpu_shares_to_weight(512)));
    EXPECT_EQ(slurp(d + "/cpuset.cpus"), "0");
  } else {
    std::string mem = dir_of(state, "memory");
    EXPECT_EQ(slurp(mem + "/memory.limit_in_bytes"), "67108864");
    if (path_exists(mem + "/memory.memsw.limit_in_bytes")) {
      EXPECT_EQ(slurp(mem + "/memory.memsw.limit_in_bytes"), "134217728");
    }
    EXPECT_EQ(slurp(dir_of(state, "pids") + "/pids.max"), "20");
    std::string cpu = dir_of(state, "cpu");
    EXPECT_EQ(slurp(cpu + "/cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(slurp(cpu + "/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(slurp(cpu + "/cpu.shares"), "512");
    EXPECT_EQ(slurp(dir_of(state, "cpuset") + "/cpuset.cpus"), "0");
  }

  m.freeze();
  if (v2()) {
    EXPECT_NE(slurp(dir_of(state, "") + "/cgroup.events").find("frozen 1"), std::string::npos);
  } else {
    EXPECT_EQ(slurp(dir_of(state, "freezer") + "/freezer.state"), "FROZEN");
  }
  m.thaw();
  if (!v2()) {
    EXPECT_EQ(slurp(dir_of(state, "freezer") + "/freezer.state"), "THAWED");
  }

  m.kill_all(SIGKILL);
  EXPECT_EQ(reap(child), SIGKILL);
  m.destroy();
  expect_gone(state);
  EXPECT_NO_THROW(m.destroy());  // idempotent
}

TEST_F(CgroupHost, DestroyKillsWhatIsLeftIncludingForks) {
  Manager& m = manage("/" + prefix_);
  m.create();
  json state = m.to_json();
  // A shell that keeps forking: freezing (or cgroup.kill) must catch the children too.
  pid_t child = spawn({"sh", "-c", "while :; do sleep 100 & sleep 0.01; done"});
  m.add_process(child);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_GT(m.pids().size(), 1u);
  m.destroy();
  EXPECT_EQ(reap(child), SIGKILL);
  expect_gone(state);
}

TEST_F(CgroupHost, SharedParentStaysWhileInUse) {
  std::string parent = "/" + prefix_;
  Manager& a = manage(parent + "/a", "a");
  Manager& b = manage(parent + "/b", "b");
  a.create();
  b.create();
  json sa = a.to_json(), sb = b.to_json();
  EXPECT_EQ(sa["dirs"][0]["created"].size(), 2u);
  EXPECT_EQ(sb["dirs"][0]["created"].size(), 1u);  // the parent was a's
  std::string parent_dir = sa["dirs"][0]["created"][0];

  // b first: the parent is empty when a goes, and a made it, so it goes with a.
  b.destroy();
  EXPECT_TRUE(path_exists(parent_dir));
  a.destroy();
  expect_gone(sa);
  expect_gone(sb);

  // a first: the parent still holds b, so it stays (b did not make it, so it stays after b
  // too; whoever runs these tests cleans it).
  Manager& c = manage(parent + "/c", "c");
  Manager& d = manage(parent + "/d", "d");
  c.create();
  d.create();
  c.destroy();
  std::string leaf_d = d.to_json()["dirs"][0]["dir"];
  EXPECT_TRUE(path_exists(leaf_d));
  EXPECT_TRUE(path_exists(parent_dir));
  d.destroy();
  EXPECT_FALSE(path_exists(leaf_d));
  for (const Hierarchy& h : host_.hierarchies) rmdir_tree(h.mount_point + parent);
}

TEST_F(CgroupHost, LoadedManagerFindsAndRemovesTheSameCgroup) {
  Manager& m = manage("/" + prefix_ + "/x/y");
  m.create();
  pid_t child = spawn({"sleep", "100"});
  m.add_process(child);
  std::string saved = m.to_json().dump();

  std::unique_ptr<Manager> loaded = load_manager(json::parse(saved));
  EXPECT_EQ(loaded->path(), m.path());
  EXPECT_EQ(loaded->pids(), std::vector<pid_t>{child});
  loaded->destroy();
  EXPECT_EQ(reap(child), SIGKILL);
  expect_gone(json::parse(saved));
}

TEST_F(CgroupHost, PreexistingParentIsNotRemoved) {
  Manager& outer = manage("/" + prefix_);
  outer.create();
  Manager& inner = manage("/" + prefix_ + "/inner");
  inner.create();
  json s = inner.to_json();
  for (const json& d : s["dirs"]) EXPECT_EQ(d["created"].size(), 1u);
  inner.destroy();
  expect_gone(s);
  json outer_state = outer.to_json();
  for (const json& d : outer_state["dirs"]) EXPECT_TRUE(path_exists(d["dir"]));
  outer.destroy();
  expect_gone(outer.to_json());
}

// The record written before create(): a process killed part-way through create() (some
// hierarchies made, others not) leaves it, and destroy() from it removes what was made.
TEST_F(CgroupHost, PlannedRecordCleansUpAHalfMadeCgroup) {
  Manager& m = manage("/" + prefix_ + "/a/b");
  json planned = m.planned_json();
  for (const json& d : planned["dirs"]) EXPECT_EQ(d["created"].size(), 3u) << d.dump();
  // Only the first hierarchy gets its directories, as if killed there.
  const json& first = planned["dirs"][0];
  for (const json& c : first["created"]) ASSERT_EQ(::mkdir(c.get<std::string>().c_str(), 0755), 0);
  load_manager(planned)->destroy();
  expect_gone(planned);
  // And from a finished create() the plan is what to_json() says afterwards.
  json before = m.planned_json();
  m.create();
  EXPECT_EQ(before, m.to_json());
  m.destroy();
  expect_gone(before);
}

TEST_F(CgroupHost, PlannedRecordLeavesPreexistingParentsAlone) {
  Manager& outer = manage("/" + prefix_);
  outer.create();
  Manager& inner = manage("/" + prefix_ + "/inner");
  json planned = inner.planned_json();
  for (const json& d : planned["dirs"]) EXPECT_EQ(d["created"].size(), 1u) << d.dump();
  load_manager(planned)->destroy();  // nothing made yet: nothing to remove, no error
  json outer_record =
      outer.to_json();  // a named object: a range-for over a temporary's member dangles
  for (const json& d : outer_record["dirs"]) EXPECT_TRUE(path_exists(d["dir"]));
}

TEST_F(CgroupHost, ErrorsNameFieldFileAndValue) {
  Manager& m = manage("/" + prefix_);
  m.create();
  try {
    m.apply(json::parse(R"({"cpu": {"cpus": "999999"}})"));
    ADD_FAILURE() << "no error for a CPU that does not exist";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("linux.resources.cpu.cpus: write 999999 to "), std::string::npos) << msg;
    EXPECT_NE(msg.find("/cpuset.cpus: "), std::string::npos) << msg;
  }
}

TEST_F(CgroupHost, Unified) {
  Manager& m = manage("/" + prefix_);
  m.create();
  json res = json::parse(R"({"unified": {"memory.high": "67108864"}})");
  if (!v2()) {
    try {
      m.apply(res);
      ADD_FAILURE() << "unified accepted on " << layout_name(host_.layout);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("linux.resources.unified"), std::string::npos);
    }
    return;
  }
  m.apply(res);
  EXPECT_EQ(slurp(dir_of(m.to_json(), "") + "/memory.high"), "67108864");
  try {
    m.apply(json::parse(R"({"unified": {"nosuchctl.max": "1"}})"));
    ADD_FAILURE() << "unknown controller accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linux.resources.unified.nosuchctl.max"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(CgroupHost, DevicesV1) {
  if (v2()) GTEST_SKIP() << "v2 devices are an eBPF program, not applied yet";
  Manager& m = manage("/" + prefix_);
  m.create();
  m.apply(json::parse(R"({"devices": [
      {"allow": false, "access": "rwm"},
      {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
      {"allow": true, "type": "c", "major": 136, "access": "rw"}]})"));
  EXPECT_EQ(slurp(dir_of(m.to_json(), "devices") + "/devices.list"), "c 1:3 rwm\nc 136:* rw");
}

TEST_F(CgroupHost, KillAllWithOtherSignals) {
  Manager& m = manage("/" + prefix_);
  m.create();
  pid_t child = spawn({"sleep", "100"});
  m.add_process(child);
  m.kill_all(SIGTERM);
  EXPECT_EQ(reap(child), SIGTERM);
  EXPECT_TRUE(m.pids().empty());
}

TEST_F(CgroupHost, DestroyRemovesSubCgroupsTheContainerMade) {
  Manager& m = manage("/" + prefix_);
  m.create();
  json state = m.to_json();
  // What a container with its own cgroup namespace might do: a child cgroup of its own
  // (in every hierarchy), with a process in it.
  for (const json& d : state["dirs"]) mkdir_p(d["dir"].get<std::string>() + "/inner/deeper");
  pid_t child = spawn({"sleep", "100"});
  std::string into = dir_of(state, v2() ? "" : "freezer") + "/inner/deeper/cgroup.procs";
  write_file(into, std::to_string(child));
  EXPECT_EQ(m.pids(), std::vector<pid_t>{child});
  m.destroy();
  EXPECT_EQ(reap(child), SIGKILL);
  expect_gone(state);
}

TEST_F(CgroupHost, V2SaysWhyAControllerIsMissing) {
  if (!v2()) GTEST_SKIP() << "v2 only";
  // A parent with a process of its own cannot hand domain controllers such as memory down
  // (no internal processes); threaded ones like pids still go through.
  Manager& busy = manage("/" + prefix_);
  busy.create();
  pid_t child = spawn({"sleep", "100"});
  busy.add_process(child);
  Manager& m = manage("/" + prefix_ + "/ctr");
  m.create();
  try {
    m.apply(json::parse(R"({"pids": {"limit": 5}, "memory": {"limit": 67108864}})"));
    ADD_FAILURE() << "memory.max written without the memory controller";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("linux.resources.memory.limit: the memory controller is not enabled"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("holds processes"), std::string::npos) << msg;
  }
}

TEST_F(CgroupHost, RelativePathIsBelowOwnCgroup) {
  for (const Hierarchy& h : host_.hierarchies)
    if (h.own_path != "/")
      GTEST_SKIP() << "this process's cgroup " << h.own_path << " (mounted at " << h.mount_point
                   << ") is not ours to create children in";
  Manager& m = manage(prefix_ + "/rel");
  m.create();
  json state = m.to_json();
  for (const json& d : state["dirs"])
    EXPECT_EQ(d["dir"], d["mount"].get<std::string>() + "/" + prefix_ + "/rel");
  m.destroy();
  expect_gone(state);
}

TEST_F(CgroupHost, BadPathsAreRefusedBeforeAnythingIsMade) {
  try {
    make_manager("/" + prefix_ + "/../escape", "x");
    ADD_FAILURE() << "accepted ..";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linux.cgroupsPath"), std::string::npos);
  }
}

}  // namespace
}  // namespace vessel::cgroups
