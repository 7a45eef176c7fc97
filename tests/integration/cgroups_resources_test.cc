// The linux.resources fields of issue 3 on real containers: blockIO throttling on the disk of
// "/", cpu burst, net_cls classid and hugetlb limits, read back from the container's cgroup
// files after create and after `update -r`; plus the JSON-path errors of bad values. Each test
// skips when the host lacks what it needs (controller, file, block device, huge page size).
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "harness.h"

namespace itest {
namespace {

class CgroupsResourcesTest : public ContainerTest {
 protected:
  json sleeper() { return config({"sh", "-c", "touch /shared/started; exec sleep 1000"}); }

  // create + start; waits until the program runs.
  void start(const std::string& id, const json& cfg) {
    Result c = create(id, write_bundle(cfg));
    ASSERT_TRUE(c.ok()) << c.describe();
    Result s = rt({"start", id});
    ASSERT_TRUE(s.ok()) << s.describe();
    ASSERT_TRUE(wait_until([&] { return exists(shared_dir() + "/started"); }))
        << "the program never ran";
  }

  // The container's file `name` in whichever hierarchy has it, or "".
  std::string cgroup_file(const std::string& cgroups_path, const std::string& name) {
    for (const auto& d : cgroup_dirs(cgroups_path))
      if (exists(d + "/" + name)) return d + "/" + name;
    return "";
  }

  // Whether the root of some cgroup mount has `name` (a controller file the host offers).
  static bool host_has(const std::string& name) {
    for (const auto& m : cgroup_mount_points())
      if (exists(m + "/" + name)) return true;
    return false;
  }

  Result update_from(const std::string& id, const json& res) {
    write_text(dir() + "/res.json", res.dump());
    return rt({"update", "-r", dir() + "/res.json", id});
  }
};

// The whole disk behind "/" as {major, minor}, or nullopt.
std::optional<std::pair<unsigned, unsigned>> root_disk() {
  struct stat st;
  if (::stat("/", &st) != 0) return std::nullopt;
  unsigned maj = major(st.st_dev), min = minor(st.st_dev);
  std::string sys = "/sys/dev/block/" + std::to_string(maj) + ":" + std::to_string(min);
  if (!exists(sys)) return std::nullopt;
  if (exists(sys + "/partition")) {
    std::string dev = trim(read_text(sys + "/../dev"));
    if (::sscanf(dev.c_str(), "%u:%u", &maj, &min) != 2) return std::nullopt;
  }
  return std::pair{maj, min};
}

std::vector<std::string> hugepage_sizes() {
  std::vector<std::string> out;
  if (DIR* d = ::opendir("/sys/kernel/mm/hugepages")) {
    while (struct dirent* e = ::readdir(d)) {
      unsigned long kb = 0;
      if (::sscanf(e->d_name, "hugepages-%lukB", &kb) != 1) continue;
      if (kb % (1024 * 1024) == 0)
        out.push_back(std::to_string(kb / (1024 * 1024)) + "GB");
      else if (kb % 1024 == 0)
        out.push_back(std::to_string(kb / 1024) + "MB");
      else
        out.push_back(std::to_string(kb) + "KB");
    }
    ::closedir(d);
  }
  return out;
}

TEST_F(CgroupsResourcesTest, BlockIOThrottleOnTheRootDisk) {
  auto disk = root_disk();
  if (!disk) GTEST_SKIP() << "no block device behind /";
  bool v1 = host_has("blkio.throttle.read_bps_device");
  if (!v1 && !host_has("io.max") && !host_has("cgroup.controllers"))
    GTEST_SKIP() << "no blkio throttling on this host";
  std::string dev = std::to_string(disk->first) + ":" + std::to_string(disk->second);
  json cfg = sleeper();
  std::string cg = cfg["linux"]["cgroupsPath"];
  json entry = {{"major", disk->first}, {"minor", disk->second}, {"rate", 2097152}};
  cfg["linux"]["resources"]["blockIO"] = {{"throttleReadBpsDevice", {entry}},
                                          {"throttleWriteBpsDevice", {entry}}};
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));

  if (v1) {
    EXPECT_EQ(trim(read_text(cgroup_file(cg, "blkio.throttle.read_bps_device"))), dev + " 2097152");
    EXPECT_EQ(trim(read_text(cgroup_file(cg, "blkio.throttle.write_bps_device"))),
              dev + " 2097152");
  } else {
    std::string io = read_text(cgroup_file(cg, "io.max"));
    EXPECT_TRUE(contains(io, dev + " rbps=2097152 wbps=2097152")) << io;
  }

  json iops = {{"major", disk->first}, {"minor", disk->second}, {"rate", 300}};
  Result u = update_from(id, {{"blockIO", {{"throttleReadIOPSDevice", {iops}}}}});
  ASSERT_TRUE(u.ok()) << u.describe();
  if (v1) {
    EXPECT_EQ(trim(read_text(cgroup_file(cg, "blkio.throttle.read_iops_device"))), dev + " 300");
  } else {
    std::string io = read_text(cgroup_file(cg, "io.max"));
    EXPECT_TRUE(contains(io, "riops=300")) << io;
  }
}

TEST_F(CgroupsResourcesTest, CpuBurst) {
  bool v1 = host_has("cpu.cfs_burst_us");
  if (!v1 && !host_has("cpu.max.burst") && !exists("/sys/fs/cgroup/cgroup.controllers"))
    GTEST_SKIP() << "no CFS burst (cpu.cfs_burst_us / cpu.max.burst) on this host";
  json cfg = sleeper();
  std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["linux"]["resources"]["cpu"] = {{"quota", 50000}, {"period", 100000}, {"burst", 20000}};
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));
  std::string file = cgroup_file(cg, v1 ? "cpu.cfs_burst_us" : "cpu.max.burst");
  if (file.empty()) GTEST_SKIP() << "the container's cgroup has no burst file";
  EXPECT_EQ(trim(read_text(file)), "20000");

  Result u = update_from(id, {{"cpu", {{"burst", 10000}}}});
  ASSERT_TRUE(u.ok()) << u.describe();
  EXPECT_EQ(trim(read_text(file)), "10000");
}

TEST_F(CgroupsResourcesTest, NetClsClassId) {
  if (!host_has("net_cls.classid")) GTEST_SKIP() << "net_cls is not mounted on this host";
  json cfg = sleeper();
  std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["linux"]["resources"]["network"] = {{"classID", 0x100001}};
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));
  EXPECT_EQ(trim(read_text(cgroup_file(cg, "net_cls.classid"))), std::to_string(0x100001));
}

TEST_F(CgroupsResourcesTest, HugetlbLimit) {
  std::vector<std::string> sizes = hugepage_sizes();
  if (sizes.empty()) GTEST_SKIP() << "no huge page sizes in /sys/kernel/mm/hugepages";
  std::string size = sizes.front();
  bool v1 = host_has("hugetlb." + size + ".limit_in_bytes");
  if (!v1 && !host_has("hugetlb." + size + ".max") &&
      !contains(read_text("/sys/fs/cgroup/unified/cgroup.controllers") +
                    read_text("/sys/fs/cgroup/cgroup.controllers"),
                "hugetlb"))
    GTEST_SKIP() << "no hugetlb controller on this host";
  json cfg = sleeper();
  std::string cg = cfg["linux"]["cgroupsPath"];
  cfg["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", size}, {"limit", 0}}};
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));
  std::string file = cgroup_file(cg, "hugetlb." + size + (v1 ? ".limit_in_bytes" : ".max"));
  if (file.empty() && runtime_is_runc())
    GTEST_SKIP() << "runc leaves hugetlb on the unified hierarchy of a hybrid host alone";
  ASSERT_FALSE(file.empty()) << "no hugetlb file for " << cg;
  EXPECT_EQ(trim(read_text(file)), "0");

  // A limit of two pages through update -r, in bytes.
  unsigned long kb = 0;
  char unit[3] = {};
  ASSERT_EQ(::sscanf(size.c_str(), "%lu%2s", &kb, unit), 2);
  unsigned long bytes = kb * (unit[0] == 'G' ? 1UL << 30 : unit[0] == 'M' ? 1UL << 20 : 1UL << 10);
  Result u = update_from(id, {{"hugepageLimits", {{{"pageSize", size}, {"limit", 2 * bytes}}}}});
  ASSERT_TRUE(u.ok()) << u.describe();
  EXPECT_EQ(trim(read_text(file)), std::to_string(2 * bytes));
}

TEST_F(CgroupsResourcesTest, BadValuesNameTheJsonPath) {
  if (runtime_is_runc()) GTEST_SKIP() << "vessel's messages";
  struct Case {
    json resources;
    std::string want;
  } cases[] = {
      {{{"hugepageLimits", {{{"pageSize", "3MB"}, {"limit", 1}}}}},
       R"(linux.resources.hugepageLimits[0].pageSize: not a huge page size of this host)"},
      {{{"hugepageLimits", {{{"pageSize", "3M"}, {"limit", 1}}}}},
       R"(linux.resources.hugepageLimits[0].pageSize: expected a size like)"},
      {{{"cpu", {{"idle", 5}}}}, "linux.resources.cpu.idle: expected 0 or 1 (value 5)"},
      {{{"blockIO", {{"throttleReadBpsDevice", {{{"major", 8}, {"rate", 1}}}}}}},
       R"(linux.resources.blockIO.throttleReadBpsDevice[0]: "minor" is required)"},
  };
  for (const Case& c : cases) {
    json cfg = sleeper();
    cfg["linux"]["resources"] = c.resources;
    std::string id = new_id();
    Result r = create(id, write_bundle(cfg));
    EXPECT_FALSE(r.ok()) << c.resources.dump() << r.describe();
    const std::string err = log_messages(r.err);
    EXPECT_TRUE(contains(err, c.want)) << "want: " << c.want << r.describe();
    if (contains(c.resources.dump(), "\"3MB\"")) {
      EXPECT_TRUE(contains(err, "(value \"3MB\")")) << r.describe();
    }
  }
}

TEST_F(CgroupsResourcesTest, CheckBeforeUpdateRefusesALimitBelowUsage) {
  json cfg = sleeper();
  std::string cg = cfg["linux"]["cgroupsPath"];
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));
  std::string usage = cgroup_file(cg, "memory.usage_in_bytes");
  if (usage.empty()) usage = cgroup_file(cg, "memory.current");
  if (usage.empty()) GTEST_SKIP() << "no memory controller";
  if (std::stoll("0" + trim(read_text(usage))) < 8192) GTEST_SKIP() << "usage too small to test";
  Result u = update_from(id, {{"memory", {{"limit", 4096}, {"checkBeforeUpdate", true}}}});
  EXPECT_FALSE(u.ok()) << u.describe();
  if (!runtime_is_runc()) {
    // Named after the resources file, not config.json.
    EXPECT_TRUE(contains(
        u.err, dir() + "/res.json: linux.resources.memory.limit: 4096 is below the current usage"))
        << u.describe();
    EXPECT_FALSE(contains(u.err, "config.json")) << u.describe();
  }
}

// update's errors name where the value came from: the flag, or the --resources file.
TEST_F(CgroupsResourcesTest, UpdateErrorsNameTheFlagOrTheFile) {
  if (runtime_is_runc()) GTEST_SKIP() << "vessel's messages";
  json cfg = sleeper();
  std::string id = new_id();
  ASSERT_NO_FATAL_FAILURE(start(id, cfg));
  if (cgroup_file(cfg["linux"]["cgroupsPath"], "cpuset.cpus").empty())
    GTEST_SKIP() << "no cpuset controller";
  Result flag = rt({"update", "--cpuset-cpus", "99999", id});
  EXPECT_FALSE(flag.ok()) << flag.describe();
  EXPECT_TRUE(contains(flag.err, "--cpuset-cpus: linux.resources.cpu.cpus: write 99999 to "))
      << flag.describe();
  Result file = update_from(id, {{"cpu", {{"cpus", "99999"}}}});
  EXPECT_FALSE(file.ok()) << file.describe();
  EXPECT_TRUE(contains(file.err, dir() + "/res.json: linux.resources.cpu.cpus: write 99999 to "))
      << file.describe();
  for (const Result* r : {&flag, &file})
    EXPECT_FALSE(contains(r->err, "config.json")) << r->describe();
  EXPECT_EQ(status(id), "running");
}

}  // namespace
}  // namespace itest
