// The linux.resources fields of issue 3 (hugepageLimits, network, rdma, realtime cpu, burst,
// idle, blockIO per-device settings, memory kernel/kernelTCP/checkBeforeUpdate):
//  - parsing and validation errors, and the pure conversions (no cgroups needed);
//  - the v1 and v2 managers writing into a fake cgroup directory (plain files in /tmp), so both
//    code paths run on any host;
//  - root tests on the real hierarchies with cgroups named vessel-unit-<pid>-<n> at the top of
//    each hierarchy, removed at the end; they skip what the host lacks.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "cgroups/convert.h"
#include "cgroups/detect.h"
#include "cgroups/manager.h"
#include "cgroups/resources.h"
#include "cgroups/v1.h"
#include "cgroups/v2.h"
#include "error_of.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;

Resources parse(const char* text) { return parse_resources(json::parse(text)); }

std::string parse_error(const char* text) {
  return error_of([&] { parse(text); });
}

// ---------------------------------------------------------------------------------------------
// Parsing.

TEST(CgroupResources, ParsesEveryNewField) {
  Resources r = parse(R"({
    "memory": {"kernel": 1048576, "kernelTCP": -1, "checkBeforeUpdate": true,
               "useHierarchy": true},
    "cpu": {"realtimeRuntime": 10000, "realtimePeriod": 100000, "burst": 5000, "idle": 1},
    "blockIO": {"leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 20},
                                 {"major": 8, "minor": 16, "weight": 0}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}, {"pageSize": "1GB", "limit": 0}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
    "rdma": {"mlx4_0": {"hcaHandles": 2, "hcaObjects": 2000}, "mlx5_1": {"hcaHandles": 3}}
  })");
  EXPECT_EQ(r.memory_kernel, 1048576);
  EXPECT_EQ(r.memory_kernel_tcp, -1);
  EXPECT_TRUE(r.memory_check_before_update);
  EXPECT_EQ(r.cpu_rt_runtime, 10000);
  EXPECT_EQ(r.cpu_rt_period, 100000u);
  EXPECT_EQ(r.cpu_burst, 5000u);
  EXPECT_EQ(r.cpu_idle, 1);
  EXPECT_EQ(r.blkio_leaf_weight, 300);
  ASSERT_EQ(r.blkio_weight_device.size(), 2u);
  EXPECT_EQ(r.blkio_weight_device[0].weight, 500);
  EXPECT_EQ(r.blkio_weight_device[0].leaf_weight, 20);
  EXPECT_EQ(r.blkio_weight_device[1].weight, std::nullopt) << "0 is not set";
  ASSERT_EQ(r.throttle_read_bps.size(), 1u);
  EXPECT_EQ(r.throttle_read_bps[0].rate, 1048576u);
  EXPECT_EQ(r.throttle_write_iops[0].rate, 0u) << "0 is kept: it lifts the limit";
  ASSERT_EQ(r.hugepage_limits.size(), 2u);
  EXPECT_EQ(r.hugepage_limits[0].page_size, "2MB");
  EXPECT_EQ(r.hugepage_limits[1].limit, 0u);
  EXPECT_EQ(r.net_class_id, 1048577u);
  ASSERT_EQ(r.net_priorities.size(), 1u);
  EXPECT_EQ(r.net_priorities[0], (std::pair<std::string, uint32_t>{"eth0", 500}));
  ASSERT_EQ(r.rdma.size(), 2u);
  EXPECT_EQ(r.rdma["mlx4_0"].hca_objects, 2000u);
  EXPECT_EQ(r.rdma["mlx5_1"].hca_objects, std::nullopt);
}

TEST(CgroupResources, ZerosFollowRunc) {
  Resources r = parse(R"({"cpu": {"realtimeRuntime": 0, "realtimePeriod": 0, "burst": 0,
                                  "idle": 0},
                          "network": {"classID": 0}, "memory": {"kernel": 0}})");
  EXPECT_EQ(r.cpu_rt_runtime, std::nullopt);
  EXPECT_EQ(r.cpu_rt_period, std::nullopt);
  EXPECT_EQ(r.cpu_burst, 0u);
  EXPECT_EQ(r.cpu_idle, 0);
  EXPECT_EQ(r.net_class_id, std::nullopt);
  EXPECT_EQ(r.memory_kernel, std::nullopt);
}

TEST(CgroupResources, ValidationErrorsNameTheJsonPath) {
  struct Case {
    const char* json;
    const char* want;
  } cases[] = {
      {R"({"hugepageLimits": [{"pageSize": "3M", "limit": 1}]})",
       R"(linux.resources.hugepageLimits[0].pageSize: expected a size like "2MB", "1GB" or "64KB" (value "3M"))"},
      {R"({"hugepageLimits": [{"pageSize": "2MB"}]})",
       R"(linux.resources.hugepageLimits[0]: "limit" is required)"},
      {R"({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "2048KB", "limit": 2}]})",
       "linux.resources.hugepageLimits[1].pageSize: page size listed twice"},
      {R"({"hugepageLimits": [{"pageSize": "2MB", "limit": -1}]})",
       "linux.resources.hugepageLimits[0].limit: expected an unsigned integer (value -1)"},
      {R"({"hugepageLimits": {}})", "linux.resources.hugepageLimits: expected an array"},
      {R"({"network": {"classID": 4294967296}})",
       "linux.resources.network.classID: out of range for a 32-bit unsigned integer"},
      {R"({"network": {"priorities": [{"name": "a b", "priority": 1}]}})",
       "linux.resources.network.priorities[0].name: expected a network interface name"},
      {R"({"network": {"priorities": [{"name": "eth0"}]}})",
       R"(linux.resources.network.priorities[0]: "priority" is required)"},
      {R"({"rdma": {"mlx4_0": {"hcaHandles": -2}}})",
       "linux.resources.rdma.mlx4_0.hcaHandles: expected an unsigned integer"},
      {R"({"rdma": {"bad name": {}}})",
       "linux.resources.rdma.bad name: the key must be an RDMA device name"},
      {R"({"cpu": {"idle": 2}})", "linux.resources.cpu.idle: expected 0 or 1 (value 2)"},
      {R"({"cpu": {"realtimeRuntime": -5}})",
       "linux.resources.cpu.realtimeRuntime: expected microseconds or -1 for unlimited"},
      {R"({"cpu": {"burst": -1}})", "linux.resources.cpu.burst: expected an unsigned integer"},
      {R"({"blockIO": {"leafWeight": 5}})",
       "linux.resources.blockIO.leafWeight: expected 10-1000 (value 5)"},
      {R"({"blockIO": {"weightDevice": [{"major": 8, "weight": 100}]}})",
       R"(linux.resources.blockIO.weightDevice[0]: "minor" is required)"},
      {R"({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 1001}]}})",
       "linux.resources.blockIO.weightDevice[0].weight: expected 10-1000"},
      {R"({"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}})",
       "linux.resources.blockIO.throttleReadBpsDevice[0].major: expected a device number"},
      {R"({"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": 0}]}})",
       R"(linux.resources.blockIO.throttleWriteIOPSDevice[0]: "rate" is required)"},
      {R"({"memory": {"kernelTCP": -2}})",
       "linux.resources.memory.kernelTCP: expected a number of bytes or -1 for unlimited"},
      {R"({"memory": {"checkBeforeUpdate": 1}})",
       "linux.resources.memory.checkBeforeUpdate: expected true or false"},
  };
  for (const Case& c : cases) {
    std::string msg = parse_error(c.json);
    EXPECT_NE(msg.find(c.want), std::string::npos) << c.json << "\n  got: " << msg;
  }
}

// ---------------------------------------------------------------------------------------------
// Conversions.

TEST(CgroupResources, HugepageSizes) {
  EXPECT_EQ(hugepage_size_kb("2MB"), 2048u);
  EXPECT_EQ(hugepage_size_kb("1GB"), 1048576u);
  EXPECT_EQ(hugepage_size_kb("64KB"), 64u);
  for (const char* bad : {"", "MB", "2mb", "02MB", "2 MB", "2TB", "-2MB", "2M"})
    EXPECT_EQ(hugepage_size_kb(bad), std::nullopt) << bad;
  EXPECT_EQ(hugepage_size_name(2048), "2MB");
  EXPECT_EQ(hugepage_size_name(1048576), "1GB");
  EXPECT_EQ(hugepage_size_name(64), "64KB");
  EXPECT_EQ(hugepage_size_name(32768), "32MB");
  EXPECT_EQ(hugepage_size_name(2048 * 1024 + 1024), "2049MB");
}

TEST(CgroupResources, HostHugepageSizesFromSysfs) {
  char tmpl[] = "/tmp/vessel-unit-hp-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  for (const char* sub : {"hugepages-1048576kB", "hugepages-2048kB", "hugepages-64kB", "junk"})
    ASSERT_EQ(::mkdir((dir + "/" + sub).c_str(), 0755), 0);
  EXPECT_EQ(host_hugepage_sizes(dir), (std::vector<std::string>{"64KB", "2MB", "1GB"}));
  for (const char* sub : {"hugepages-1048576kB", "hugepages-2048kB", "hugepages-64kB", "junk"})
    ::rmdir((dir + "/" + sub).c_str());
  ::rmdir(dir.c_str());
  EXPECT_TRUE(host_hugepage_sizes("/nonexistent/vessel").empty());
}

TEST(CgroupResources, HugepageSizeMustExistOnTheHost) {
  std::vector<HugepageLimit> ok = {{"2MB", 1}, {"2048KB", 2}};
  EXPECT_NO_THROW(check_hugepage_sizes(ok, {"2MB"}));
  std::string msg = error_of([&] {
    check_hugepage_sizes({{"2MB", 1}, {"3MB", 1}}, {"2MB", "1GB"});
  });
  EXPECT_EQ(msg,
            "linux.resources.hugepageLimits[1].pageSize: not a huge page size of this host "
            "(available: 2MB, 1GB) (value \"3MB\")");
  msg = error_of([&] { check_hugepage_sizes({{"2MB", 1}}, {}); });
  EXPECT_NE(msg.find("(available: none)"), std::string::npos) << msg;
}

TEST(CgroupResources, ThrottleListsToIoMax) {
  Resources r = parse(R"({"blockIO": {
      "throttleReadBpsDevice": [{"major": 8, "minor": 16, "rate": 100}, {"major": 8, "minor": 0, "rate": 1048576}],
      "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
      "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}],
      "throttleWriteIOPSDevice": [{"major": 253, "minor": 1, "rate": 50}]}})");
  EXPECT_EQ(v2_io_max_lines(r), (std::vector<std::string>{
                                    "8:0 rbps=1048576 wbps=2097152 riops=max",
                                    "8:16 rbps=100",
                                    "253:1 wiops=50",
                                }));
  EXPECT_TRUE(v2_io_max_lines(Resources{}).empty());
}

TEST(CgroupResources, LineFormats) {
  EXPECT_EQ(device_value_line(8, 0, 500), "8:0 500");
  EXPECT_EQ(rdma_line("mlx4_0", {2, 2000}), "mlx4_0 hca_handle=2 hca_object=2000");
  EXPECT_EQ(rdma_line("mlx4_0", {std::nullopt, 7}), "mlx4_0 hca_object=7");
  EXPECT_EQ(rdma_line("mlx4_0", {}), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// The managers on a fake cgroup directory: plain files, so every write is checked on any host.
// Each file below is written once (write(2) at offset 0 without truncation, like cgroupfs).

class FakeCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-unit-fake-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) ::unlink((dir_ + "/" + f).c_str());
    ::rmdir(dir_.c_str());
  }
  void touch(const std::string& name, const std::string& content = "") {
    std::ofstream(dir_ + "/" + name) << content;
    files_.push_back(name);
  }
  std::string read(const std::string& name) {
    std::string s = read_file(dir_ + "/" + name);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  CgroupV1Manager v1(const std::vector<std::string>& controllers) {
    return CgroupV1Manager(Layout::v1, "/fake", {{controllers, "/", dir_, {}}});
  }
  CgroupV2Manager v2() { return CgroupV2Manager(Layout::v2, "/fake", {{{}, "/", dir_, {}}}); }
  static bool host_has_2mb() {
    auto sizes = host_hugepage_sizes();
    return std::find(sizes.begin(), sizes.end(), "2MB") != sizes.end();
  }

  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(FakeCgroup, V1WritesEveryFile) {
  for (const char* f :
       {"net_cls.classid", "net_prio.ifpriomap", "rdma.max", "blkio.leaf_weight",
        "blkio.weight_device", "blkio.leaf_weight_device", "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device", "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle",
        "memory.kmem.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes", "memory.limit_in_bytes"})
    touch(f);
  touch("cpu.cfs_burst_us", "0");
  touch("memory.usage_in_bytes", "1000");
  auto m = v1({"net_cls", "net_prio", "rdma", "blkio", "cpu", "memory"});
  m.apply(json::parse(R"({
    "memory": {"kernel": 1048576, "kernelTCP": 2097152, "limit": 4096, "checkBeforeUpdate": true},
    "cpu": {"realtimeRuntime": 10000, "realtimePeriod": 100000, "burst": 5000, "idle": 1},
    "blockIO": {"leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 20}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    "rdma": {"mlx4_0": {"hcaHandles": 2, "hcaObjects": 2000}}})"));
  EXPECT_EQ(read("net_cls.classid"), "1048577");
  EXPECT_EQ(read("net_prio.ifpriomap"), "eth0 5");
  EXPECT_EQ(read("rdma.max"), "mlx4_0 hca_handle=2 hca_object=2000");
  EXPECT_EQ(read("blkio.leaf_weight"), "300");
  EXPECT_EQ(read("blkio.weight_device"), "8:0 500");
  EXPECT_EQ(read("blkio.leaf_weight_device"), "8:0 20");
  EXPECT_EQ(read("blkio.throttle.read_bps_device"), "8:0 1048576");
  EXPECT_EQ(read("blkio.throttle.write_bps_device"), "8:0 2097152");
  EXPECT_EQ(read("blkio.throttle.read_iops_device"), "8:16 100");
  EXPECT_EQ(read("blkio.throttle.write_iops_device"), "8:0 0");
  EXPECT_EQ(read("cpu.rt_period_us"), "100000");
  EXPECT_EQ(read("cpu.rt_runtime_us"), "10000");
  EXPECT_EQ(read("cpu.cfs_burst_us"), "5000");
  EXPECT_EQ(read("cpu.idle"), "1");
  EXPECT_EQ(read("memory.kmem.limit_in_bytes"), "1048576");
  EXPECT_EQ(read("memory.kmem.tcp.limit_in_bytes"), "2097152");
  EXPECT_EQ(read("memory.limit_in_bytes"), "4096");
}

TEST_F(FakeCgroup, V1CheckBeforeUpdateRefusesALimitBelowUsage) {
  touch("memory.limit_in_bytes");
  touch("memory.usage_in_bytes", "1048576");
  auto m = v1({"memory"});
  std::string msg = error_of(
      [&] { m.apply(json::parse(R"({"memory": {"limit": 4096, "checkBeforeUpdate": true}})")); });
  EXPECT_NE(msg.find("linux.resources.memory.limit: 4096 is below the current usage 1048576 ("),
            std::string::npos)
      << msg;
  EXPECT_EQ(read("memory.limit_in_bytes"), "") << "nothing written";
  // Without the flag the kernel decides (it reclaims).
  m.apply(json::parse(R"({"memory": {"limit": 4096}})"));
  EXPECT_EQ(read("memory.limit_in_bytes"), "4096");
}

TEST_F(FakeCgroup, V1HugetlbFiles) {
  if (!host_has_2mb()) GTEST_SKIP() << "no 2MB huge pages on this host";
  touch("hugetlb.2MB.limit_in_bytes");
  touch("hugetlb.2MB.rsvd.limit_in_bytes");
  auto m = v1({"hugetlb"});
  m.apply(json::parse(R"({"hugepageLimits": [{"pageSize": "2048KB", "limit": 4194304}]})"));
  EXPECT_EQ(read("hugetlb.2MB.limit_in_bytes"), "4194304");
  EXPECT_EQ(read("hugetlb.2MB.rsvd.limit_in_bytes"), "4194304");
  std::string msg = error_of(
      [&] { m.apply(json::parse(R"({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]})")); });
  EXPECT_NE(msg.find("linux.resources.hugepageLimits[0].pageSize: not a huge page size of this "
                     "host (available: "),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("(value \"3MB\")"), std::string::npos) << msg;
}

TEST_F(FakeCgroup, V1MissingControllersAndFilesAreClearErrors) {
  auto m = v1({"cpu"});
  EXPECT_NE(error_of([&] {
              m.apply(json::parse(R"({"network": {"classID": 1}})"));
            }).find("linux.resources.network.classID: the net_cls controller is not mounted"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              m.apply(json::parse(R"({"rdma": {"mlx4_0": {"hcaHandles": 1}}})"));
            }).find("linux.resources.rdma: the rdma controller is not available"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              m.apply(json::parse(R"({"cpu": {"burst": 1}})"));
            }).find("linux.resources.cpu.burst: "),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              m.apply(json::parse(R"({"cpu": {"realtimeRuntime": 1}})"));
            }).find("CONFIG_RT_GROUP_SCHED"),
            std::string::npos);
  // idle 0 where the kernel has no cpu.idle is what the kernel does anyway: nothing to write.
  EXPECT_NO_THROW(m.apply(json::parse(R"({"cpu": {"idle": 0}})")));
  EXPECT_NE(error_of([&] {
              m.apply(json::parse(R"({"cpu": {"idle": 1}})"));
            }).find("linux.resources.cpu.idle: "),
            std::string::npos);
}

TEST_F(FakeCgroup, V1KernelMemoryWithoutTheFileIsAWarning) {
  auto m = v1({"memory"});
  EXPECT_NO_THROW(m.apply(json::parse(R"({"memory": {"kernel": 1048576, "kernelTCP": 4096}})")));
}

TEST_F(FakeCgroup, V2WritesEveryFile) {
  touch("cgroup.controllers", "cpu io memory hugetlb rdma pids");
  for (const char* f : {"cpu.idle", "cpu.max", "io.weight", "io.max", "rdma.max", "memory.max",
                        "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"})
    touch(f);
  touch("cpu.max.burst", "0");
  touch("memory.current", "100");
  auto m = v2();
  json res = json::parse(R"({
    "memory": {"kernel": 1048576, "kernelTCP": 2097152, "limit": 4096, "checkBeforeUpdate": true},
    "cpu": {"burst": 5000, "idle": 1, "shares": 1024, "quota": 50000, "period": 100000},
    "blockIO": {"leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 20}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
    "network": {"classID": 1048577},
    "rdma": {"mlx4_0": {"hcaHandles": 2, "hcaObjects": 2000}}})");
  if (host_has_2mb())
    res["hugepageLimits"] = json::parse(R"([{"pageSize": "2MB", "limit": 4194304}])");
  m.apply(res);
  EXPECT_EQ(read("cpu.idle"), "1");
  EXPECT_EQ(read("cpu.max"), "50000 100000");
  EXPECT_EQ(read("cpu.max.burst"), "5000");
  EXPECT_EQ(read("io.weight"), "8:0 " + std::to_string(blkio_weight_to_io_weight(500)));
  EXPECT_EQ(read("io.max"), "8:0 rbps=1048576 wiops=max");
  EXPECT_EQ(read("rdma.max"), "mlx4_0 hca_handle=2 hca_object=2000");
  EXPECT_EQ(read("memory.max"), "4096");
  if (host_has_2mb()) {
    EXPECT_EQ(read("hugetlb.2MB.max"), "4194304");
    EXPECT_EQ(read("hugetlb.2MB.rsvd.max"), "4194304");
  }
}

TEST_F(FakeCgroup, V2BfqWeightDeviceKeepsTheBlkioScale) {
  touch("cgroup.controllers", "io");
  touch("io.bfq.weight");
  auto m = v2();
  m.apply(
      json::parse(R"({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 500}]}})"));
  EXPECT_EQ(read("io.bfq.weight"), "8:0 500");
}

TEST_F(FakeCgroup, V2RefusesWhatItCannotDo) {
  touch("cgroup.controllers", "cpu memory");
  touch("memory.current", "1048576");
  touch("memory.max");
  auto m = v2();
  EXPECT_EQ(error_of([&] { m.apply(json::parse(R"({"cpu": {"realtimeRuntime": 1000}})")); }),
            "config.json: linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime CPU "
            "bandwidth control (value 1000)");
  EXPECT_NE(error_of([&] {
              m.apply(json::parse(R"({"cpu": {"realtimePeriod": 1000}})"));
            }).find("linux.resources.cpu.realtimePeriod: cgroup v2 has no realtime"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              m.apply(json::parse(R"({"rdma": {"mlx4_0": {"hcaHandles": 1}}})"));
            }).find("linux.resources.rdma.mlx4_0: the rdma controller is not enabled"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] {
        m.apply(json::parse(
            R"({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]}})"));
      }).find("the io controller is not enabled"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              m.apply(json::parse(R"({"memory": {"limit": 4096, "checkBeforeUpdate": true}})"));
            }).find("linux.resources.memory.limit: 4096 is below the current usage 1048576"),
            std::string::npos);
  EXPECT_EQ(read("memory.max"), "");
  // v1-only settings that runc ignores on v2 are ignored (with a warning or a debug note).
  EXPECT_NO_THROW(m.apply(
      json::parse(R"({"network": {"classID": 1, "priorities": [{"name": "lo", "priority": 1}]},
                                          "memory": {"kernel": 4096, "kernelTCP": 4096},
                                          "blockIO": {"leafWeight": 100}})")));
}

// Every error of apply() names config.json and the field first, like the spec's errors, and
// keeps the errno of a failed write.
TEST_F(FakeCgroup, ApplyErrorsStartWithConfigJsonAndTheField) {
  auto starts = [](const std::string& msg, const std::string& prefix) {
    return msg.rfind(prefix, 0) == 0;
  };
  auto v1m = v1({"cpu", "cpuset"});
  std::string msg = error_of([&] { v1m.apply(json::parse(R"({"cpu": {"idle": 5}})")); });
  EXPECT_EQ(msg, "config.json: linux.resources.cpu.idle: expected 0 or 1 (value 5)");
  msg = error_of([&] { v1m.apply(json::parse(R"({"network": {"classID": 1048577}})")); });
  EXPECT_TRUE(starts(msg, "config.json: linux.resources.network.classID: ")) << msg;
  msg = error_of([&] { v1m.apply(json::parse(R"({"unified": {"memory.high": "1"}})")); });
  EXPECT_TRUE(starts(msg,
                     "config.json: linux.resources.unified: invalid configuration: cannot use "
                     "unified on cgroup v1"))
      << msg;
  // A write the kernel refuses: the field, the value, the file and the errno's text.
  try {
    v1m.apply(json::parse(R"({"cpu": {"cpus": "0-3"}})"));  // no cpuset.cpus file here
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(starts(
        e.what(), "config.json: linux.resources.cpu.cpus: write 0-3 to " + dir_ + "/cpuset.cpus: "))
        << e.what();
    EXPECT_EQ(e.error_code(), ENOENT);
  }

  touch("cgroup.controllers", "rdma memory");
  auto v2m = v2();
  msg = error_of([&] { v2m.apply(json::parse(R"({"rdma": {"nodev0": {"hcaHandles": 1}}})")); });
  EXPECT_TRUE(starts(msg, "config.json: linux.resources.rdma.nodev0: write nodev0 hca_handle=1 "))
      << msg;
  EXPECT_NE(msg.find("no such RDMA device"), std::string::npos) << msg;
  msg = error_of([&] { v2m.apply(json::parse(R"({"unified": {"memory.nosuch": "1"}})")); });
  EXPECT_TRUE(starts(msg, "config.json: linux.resources.unified.memory.nosuch: write 1 to "))
      << msg;
}

TEST(CgroupResources, ConfigErrorPrefix) {
  auto rethrown = [](const Error& e) {
    try {
      rethrow_as_config_error(e);
    } catch (const Error& out) {
      return std::pair<std::string, int>(out.what(), out.error_code());
    }
    return std::pair<std::string, int>("not thrown", 0);
  };
  EXPECT_EQ(
      rethrown(Error("linux.resources.pids.limit: write 5 to /x: Invalid argument", EINVAL)),
      (std::pair<std::string, int>(
          "config.json: linux.resources.pids.limit: write 5 to /x: Invalid argument", EINVAL)));
  EXPECT_EQ(rethrown(Error("linux.resources: expected an object (value 1)")).first,
            "config.json: linux.resources: expected an object (value 1)");
  // A message that names no field (a read that failed on the way) gets the object's path.
  EXPECT_EQ(rethrown(Error("open /x/memory.usage_in_bytes: Permission denied", EACCES)),
            (std::pair<std::string, int>(
                "config.json: linux.resources: open /x/memory.usage_in_bytes: Permission denied",
                EACCES)));
  EXPECT_EQ(rethrown(Error("linux.resourcesX: y")).first,
            "config.json: linux.resources: linux.resourcesX: y");
}

// ---------------------------------------------------------------------------------------------
// Real cgroups (root).

std::string slurp(const std::string& path) {
  std::string s = read_file(path);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

void rmdir_tree(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
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

// The whole-disk block device that holds "/", as "maj:min", or nullopt.
std::optional<std::pair<unsigned, unsigned>> root_disk() {
  struct stat st;
  if (::stat("/", &st) != 0) return std::nullopt;
  unsigned maj = major(st.st_dev), min = minor(st.st_dev);
  std::string sys = "/sys/dev/block/" + std::to_string(maj) + ":" + std::to_string(min);
  if (!path_exists(sys)) return std::nullopt;
  // A partition: its parent directory is the disk.
  if (path_exists(sys + "/partition")) {
    std::string dev = slurp(sys + "/../dev");
    if (::sscanf(dev.c_str(), "%u:%u", &maj, &min) != 2) return std::nullopt;
  }
  return std::pair{maj, min};
}

class RealCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
    try {
      host_ = probe_host();
    } catch (const Error& e) {
      GTEST_SKIP() << "no usable cgroup hierarchy: " << e.what();
    }
    static int counter = 0;
    name_ = "vessel-unit-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    m_ = make_manager("/" + name_, "ctr");
    m_->create();
  }
  void TearDown() override {
    if (m_) {
      try {
        m_->destroy();
      } catch (const Error& e) {
        ADD_FAILURE() << "destroy: " << e.what();
      }
    }
    for (const Hierarchy& h : host_.hierarchies) {
      std::string left = h.mount_point + "/" + name_;
      if (!name_.empty() && path_exists(left)) {
        ADD_FAILURE() << "left behind: " << left;
        rmdir_tree(left);
      }
    }
  }
  // The container's directory with `file`, or "".
  std::string file(const std::string& name) {
    json state = m_->to_json();  // kept: a range-for over a temporary's member would dangle
    for (const json& d : state["dirs"])
      if (path_exists(d["dir"].get<std::string>() + "/" + name))
        return d["dir"].get<std::string>() + "/" + name;
    return "";
  }
  bool v2() const { return host_.layout == Layout::v2; }

  HostCgroups host_;
  std::string name_;
  std::unique_ptr<Manager> m_;
};

TEST_F(RealCgroup, BlkioThrottleOnTheRootDisk) {
  auto disk = root_disk();
  if (!disk) GTEST_SKIP() << "no block device behind /";
  std::string dev = std::to_string(disk->first) + ":" + std::to_string(disk->second);
  json res = {{"blockIO",
               {{"throttleReadBpsDevice",
                 {{{"major", disk->first}, {"minor", disk->second}, {"rate", 1048576}}}},
                {"throttleWriteIOPSDevice",
                 {{{"major", disk->first}, {"minor", disk->second}, {"rate", 120}}}}}}};
  if (v2()) {
    if (file("io.max").empty()) GTEST_SKIP() << "no io controller";
    m_->apply(res);
    std::string io = slurp(file("io.max"));
    EXPECT_NE(io.find(dev + " rbps=1048576 wbps=max riops=max wiops=120"), std::string::npos) << io;
    return;
  }
  if (file("blkio.throttle.read_bps_device").empty()) GTEST_SKIP() << "no blkio throttling";
  m_->apply(res);
  EXPECT_EQ(slurp(file("blkio.throttle.read_bps_device")), dev + " 1048576");
  EXPECT_EQ(slurp(file("blkio.throttle.write_iops_device")), dev + " 120");
  // A rate of 0 lifts the limit again.
  res["blockIO"]["throttleReadBpsDevice"][0]["rate"] = 0;
  m_->apply(res);
  EXPECT_EQ(slurp(file("blkio.throttle.read_bps_device")), "");
  // A device that does not exist is an error naming the entry.
  std::string msg = error_of([&] {
    m_->apply(json::parse(
        R"({"blockIO": {"throttleReadBpsDevice": [{"major": 4000, "minor": 7, "rate": 1}]}})"));
  });
  EXPECT_NE(msg.find("linux.resources.blockIO.throttleReadBpsDevice[0]: write 4000:7 1 to "),
            std::string::npos)
      << msg;
}

TEST_F(RealCgroup, CpuBurstIdleAndRealtime) {
  std::string burst = file(v2() ? "cpu.max.burst" : "cpu.cfs_burst_us");
  if (burst.empty()) GTEST_SKIP() << "no CFS burst in this kernel";
  m_->apply(json::parse(R"({"cpu": {"quota": 50000, "period": 100000, "burst": 20000}})"));
  EXPECT_EQ(slurp(burst), "20000");
  // Shrinking quota and burst together works in either order.
  m_->apply(json::parse(R"({"cpu": {"quota": 10000, "burst": 5000}})"));
  EXPECT_EQ(slurp(burst), "5000");
  std::string msg = error_of([&] { m_->apply(json::parse(R"({"cpu": {"burst": 999999999}})")); });
  EXPECT_NE(msg.find("linux.resources.cpu.burst: write 999999999 to "), std::string::npos) << msg;

  if (std::string idle = file("cpu.idle"); !idle.empty()) {
    m_->apply(json::parse(R"({"cpu": {"idle": 1, "shares": 512}})"));
    EXPECT_EQ(slurp(idle), "1");
    m_->apply(json::parse(R"({"cpu": {"idle": 0}})"));
    EXPECT_EQ(slurp(idle), "0");
  }

  if (v2()) return;
  std::string rt = file("cpu.rt_runtime_us");
  if (rt.empty()) return;
  m_->apply(json::parse(R"({"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 10000}})"));
  EXPECT_EQ(slurp(file("cpu.rt_period_us")), "500000");
  EXPECT_EQ(slurp(rt), "10000");
  msg = error_of([&] { m_->apply(json::parse(R"({"cpu": {"realtimeRuntime": 600000}})")); });
  EXPECT_NE(msg.find("linux.resources.cpu.realtimeRuntime: write 600000 to "), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("realtime budget"), std::string::npos) << msg;
}

TEST_F(RealCgroup, Hugetlb) {
  auto sizes = host_hugepage_sizes();
  if (sizes.empty()) GTEST_SKIP() << "no huge page sizes in /sys/kernel/mm/hugepages";
  std::string size = sizes.front();
  std::string max = file("hugetlb." + size + ".max");
  std::string limit = file("hugetlb." + size + ".limit_in_bytes");
  if (max.empty() && limit.empty()) GTEST_SKIP() << "no hugetlb controller for the container";
  json res = {
      {"hugepageLimits", {{{"pageSize", size}, {"limit", 4 * *hugepage_size_kb(size) * 1024}}}}};
  m_->apply(res);
  std::string want = std::to_string(4 * *hugepage_size_kb(size) * 1024);
  EXPECT_EQ(slurp(max.empty() ? limit : max), want);
  std::string rsvd = file("hugetlb." + size + (max.empty() ? ".rsvd.limit_in_bytes" : ".rsvd.max"));
  if (!rsvd.empty()) {
    EXPECT_EQ(slurp(rsvd), want);
  }
}

TEST_F(RealCgroup, KernelTcpOnV1) {
  if (v2()) GTEST_SKIP() << "v1 only";
  std::string tcp = file("memory.kmem.tcp.limit_in_bytes");
  if (tcp.empty()) GTEST_SKIP() << "no memory.kmem.tcp.limit_in_bytes";
  // kernel (kmem.limit_in_bytes) may be refused by the kernel (5.16+): a warning, not an error.
  m_->apply(json::parse(R"({"memory": {"kernel": 67108864, "kernelTCP": 16777216}})"));
  EXPECT_EQ(slurp(tcp), "16777216");
}

TEST_F(RealCgroup, CheckBeforeUpdate) {
  std::string usage = file(v2() ? "memory.current" : "memory.usage_in_bytes");
  if (usage.empty()) GTEST_SKIP() << "no memory controller";
  // An empty cgroup uses (almost) nothing: a 64 MiB limit passes the check.
  m_->apply(json::parse(R"({"memory": {"limit": 67108864, "checkBeforeUpdate": true}})"));
  EXPECT_EQ(slurp(file(v2() ? "memory.max" : "memory.limit_in_bytes")), "67108864");
}

}  // namespace
}  // namespace vessel::cgroups
