// Leaks: many create/start/delete cycles (VESSEL_TEST_CYCLES, default 200) leave no mount,
// cgroup, state dir, process or file descriptor behind.
#include <dirent.h>
#include <stdlib.h>

#include <algorithm>

#include "harness.h"

namespace itest {
namespace {

int cycles() {
  const char* e = getenv("VESSEL_TEST_CYCLES");
  int n = e ? atoi(e) : 200;
  return n > 0 ? n : 1;
}

size_t open_fds() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
  }
  return out;
}

class LeaksTest : public ContainerTest {
 protected:
  void expect_clean(const HostSnapshot& before, size_t fds_before, const std::string& cg) {
    EXPECT_EQ(host_mount_count(), before.mounts) << read_text("/proc/self/mountinfo");
    auto left = entries(state_root());
    std::string names;
    for (const auto& n : left) names += " " + n;
    EXPECT_TRUE(left.empty()) << "state left under --root:" << names;
    auto dirs = cgroup_dirs(cg);
    EXPECT_TRUE(dirs.empty()) << "cgroup left: " << (dirs.empty() ? "" : dirs[0]);
    auto strays = stray_children(3s);
    EXPECT_EQ(strays, before.children) << describe_pids(strays);
    EXPECT_EQ(open_fds(), fds_before) << "file descriptors leaked into the test process";
  }
};

// Alternates a program that exits by itself (then delete) with one that runs until
// delete --force.
TEST_F(LeaksTest, CreateStartDeleteCycles) {
  const int n = cycles();
  json cfg = config({"true"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  const std::string b_exit = write_bundle(cfg);
  cfg["process"]["args"] = {"sleep", "1000"};
  const std::string b_run = write_bundle(cfg);

  // A first cycle outside the measurement: lazily created host state (the --root dir, the
  // cgroup parent) is not a leak.
  const std::string warm = new_id("leak");
  ASSERT_TRUE(create(warm, b_exit).ok());
  ASSERT_TRUE(rt({"delete", "--force", warm}).ok());

  HostSnapshot before = snapshot();
  const size_t fds = open_fds();
  for (int i = 0; i < n; ++i) {
    const bool exits = i % 2 == 0;
    const std::string id = "itest-leak-" + std::to_string(getpid()) + "-" + std::to_string(i);
    SCOPED_TRACE("cycle " + std::to_string(i) + " (" + id + ")");
    auto bail = [&](const Result& r) {
      rt({"delete", "--force", id});
      ADD_FAILURE() << r.describe();
    };
    Result c = create(id, exits ? b_exit : b_run);
    if (!c.ok()) {
      bail(c);
      break;
    }
    Result s = rt({"start", id});
    if (!s.ok()) {
      bail(s);
      break;
    }
    Result d;
    if (exits) {
      if (!wait_status(id, "stopped", 10s)) {
        bail(rt({"state", id}));
        break;
      }
      d = rt({"delete", id});
    } else {
      d = rt({"delete", "--force", id});
    }
    if (!d.ok()) {
      bail(d);
      break;
    }
  }
  expect_clean(before, fds, cg);
}

TEST_F(LeaksTest, RunCycles) {
  const int n = std::max(1, cycles() / 4);
  json cfg = config({"sh", "-c", "exit 3"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  const std::string b = write_bundle(cfg);
  ASSERT_EQ(rt({"run", "--bundle", b, new_id("leak")}).exit_code(), 3);
  HostSnapshot before = snapshot();
  const size_t fds = open_fds();
  for (int i = 0; i < n; ++i) {
    const std::string id = "itest-leakrun-" + std::to_string(getpid()) + "-" + std::to_string(i);
    Result r = rt({"run", "--bundle", b, id});
    if (r.exit_code() != 3) {
      rt({"delete", "--force", id});
      ADD_FAILURE() << "cycle " << i << r.describe();
      break;
    }
  }
  expect_clean(before, fds, cg);
}

// Creates that fail late (a bind source that does not exist: namespaces and cgroup are
// already made by then) must undo everything, every time.
TEST_F(LeaksTest, FailedCreateCycles) {
  const int n = std::max(1, cycles() / 4);
  json cfg = config({"true"});
  const std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["mounts"].push_back(mount_entry("/mnt", "bind", dir() + "/no-such-source", {"rbind"}));
  const std::string b = write_bundle(cfg);
  ASSERT_NE(create(new_id("leak"), b).exit_code(), 0);
  HostSnapshot before = snapshot();
  const size_t fds = open_fds();
  for (int i = 0; i < n; ++i) {
    const std::string id = "itest-leakfail-" + std::to_string(getpid()) + "-" + std::to_string(i);
    Result r = create(id, b);
    if (r.exit_code() == 0 || r.timed_out) {
      rt({"delete", "--force", id});
      ADD_FAILURE() << "cycle " << i << ": create should fail" << r.describe();
      break;
    }
  }
  expect_clean(before, fds, cg);
}

}  // namespace
}  // namespace itest
