// Value conversions and linux.resources parsing: pure, no cgroups needed.
#include <gtest/gtest.h>

#include "cgroups/convert.h"
#include "cgroups/resources.h"
#include "error_of.h"
#include "util/error.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;

TEST(CgroupConvert, SharesToWeight) {
  EXPECT_EQ(cpu_shares_to_weight(2), 1u);
  EXPECT_EQ(cpu_shares_to_weight(1024), 39u);
  EXPECT_EQ(cpu_shares_to_weight(262144), 10000u);
  // Clamped into v1's range first, as the v1 kernel would.
  EXPECT_EQ(cpu_shares_to_weight(1), 1u);
  EXPECT_EQ(cpu_shares_to_weight(1000000), 10000u);
}

TEST(CgroupConvert, BlkioWeightToIoWeight) {
  EXPECT_EQ(blkio_weight_to_io_weight(10), 1u);
  EXPECT_EQ(blkio_weight_to_io_weight(500), 4950u);
  EXPECT_EQ(blkio_weight_to_io_weight(1000), 10000u);
}

TEST(CgroupConvert, CpuMax) {
  EXPECT_EQ(cpu_max(std::nullopt, std::nullopt), std::nullopt);
  EXPECT_EQ(cpu_max(50000, 100000), "50000 100000");
  EXPECT_EQ(cpu_max(50000, std::nullopt), "50000");
  EXPECT_EQ(cpu_max(-1, 100000), "max 100000");
  EXPECT_EQ(cpu_max(-1, std::nullopt), "max");
  EXPECT_EQ(cpu_max(std::nullopt, 250000), "max 250000");
}

TEST(CgroupConvert, MemoryValues) {
  EXPECT_EQ(v1_memory_value(-1), "-1");
  EXPECT_EQ(v1_memory_value(67108864), "67108864");
  EXPECT_EQ(v2_memory_value(-1), "max");
  EXPECT_EQ(v2_memory_value(67108864), "67108864");
}

TEST(CgroupConvert, SwapV2IsSwapMinusLimit) {
  EXPECT_EQ(v2_swap_max(64 << 20, 128 << 20), std::to_string(64 << 20));
  EXPECT_EQ(v2_swap_max(64 << 20, 64 << 20), "0");
  EXPECT_EQ(v2_swap_max(64 << 20, -1), "max");
  EXPECT_EQ(v2_swap_max(-1, std::nullopt), "max");
  EXPECT_EQ(v2_swap_max(64 << 20, std::nullopt), std::nullopt);
  EXPECT_EQ(v2_swap_max(std::nullopt, std::nullopt), std::nullopt);
  EXPECT_NE(error_of([] { v2_swap_max(128 << 20, 64 << 20); }).find("linux.resources.memory.swap"),
            std::string::npos);
  EXPECT_NE(error_of([] { v2_swap_max(std::nullopt, 64 << 20); }).find("memory.limit"),
            std::string::npos);
  EXPECT_NE(error_of([] { v2_swap_max(-1, 64 << 20); }), "");
}

TEST(CgroupConvert, SwapV1) {
  EXPECT_EQ(v1_memsw(64 << 20, 128 << 20), 128 << 20);
  EXPECT_EQ(v1_memsw(-1, std::nullopt), -1);
  EXPECT_EQ(v1_memsw(64 << 20, std::nullopt), std::nullopt);
  EXPECT_EQ(v1_memsw(std::nullopt, 128 << 20), 128 << 20);
  EXPECT_NE(error_of([] { v1_memsw(128 << 20, 64 << 20); }), "");
  EXPECT_TRUE(v1_swap_first(-1, 1 << 20));
  EXPECT_TRUE(v1_swap_first(2 << 20, 1 << 20));
  EXPECT_FALSE(v1_swap_first(1 << 20, 9223372036854771712));
}

TEST(CgroupConvert, PidsMax) {
  EXPECT_EQ(pids_max(-1), "max");
  EXPECT_EQ(pids_max(-5), "max");
  EXPECT_EQ(pids_max(0), "0");
  EXPECT_EQ(pids_max(20), "20");
}

TEST(CgroupConvert, DeviceWrites) {
  std::vector<DeviceRule> rules = {
      {false, 'a', -1, -1, "rwm"},  // deny all
      {true, 'c', 1, 3, "rwm"},     // /dev/null
      {true, 'c', 136, -1, "rw"},   // ptys
      {true, 'a', 10, 200, "rw"},   // "any type" with numbers: split
      {true, 'a', -1, -1, "r"},     // "any device" but only read: split
      {true, 'b', 8, 0, ""},        // grants nothing
  };
  std::vector<DeviceWrite> w = v1_device_writes(rules);
  std::vector<std::pair<std::string, std::string>> got;
  for (const DeviceWrite& x : w) got.emplace_back(x.file, x.line);
  std::vector<std::pair<std::string, std::string>> want = {
      {"devices.deny", "a"},
      {"devices.deny", "a"},
      {"devices.allow", "c 1:3 rwm"},
      {"devices.allow", "c 136:* rw"},
      {"devices.allow", "b 10:200 rw"},
      {"devices.allow", "c 10:200 rw"},
      {"devices.allow", "b *:* r"},
      {"devices.allow", "c *:* r"},
  };
  EXPECT_EQ(got, want);
  EXPECT_EQ(w[0].rule, -1);
  EXPECT_EQ(w[2].rule, 1);
  EXPECT_EQ(w[5].rule, 3);
}

TEST(CgroupResources, ParsesEverythingItKnows) {
  json j = json::parse(R"({
    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
               "swappiness": 10, "disableOOMKiller": true, "kernel": -1},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0",
            "realtimeRuntime": 1},
    "pids": {"limit": 20},
    "blockIO": {"weight": 500},
    "devices": [{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3}],
    "unified": {"memory.high": "1000000"},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 1}]
  })");
  Resources r = parse_resources(j);
  EXPECT_EQ(r.memory_limit, 67108864);
  EXPECT_EQ(r.memory_reservation, 33554432);
  EXPECT_EQ(r.memory_swap, 134217728);
  EXPECT_EQ(r.memory_swappiness, 10u);
  EXPECT_EQ(r.disable_oom_killer, true);
  EXPECT_EQ(r.cpu_shares, 512u);
  EXPECT_EQ(r.cpu_quota, 50000);
  EXPECT_EQ(r.cpu_period, 100000u);
  EXPECT_EQ(r.cpu_cpus, "0-1");
  EXPECT_EQ(r.cpu_mems, "0");
  EXPECT_EQ(r.pids_limit, 20);
  EXPECT_EQ(r.blkio_weight, 500);
  ASSERT_TRUE(r.devices);
  ASSERT_EQ(r.devices->size(), 2u);
  EXPECT_EQ((*r.devices)[0].type, 'a');
  EXPECT_EQ((*r.devices)[0].major, -1);
  EXPECT_EQ((*r.devices)[1].type, 'c');
  EXPECT_EQ((*r.devices)[1].access, "rwm");  // unset access means all
  EXPECT_EQ(r.unified.at("memory.high"), "1000000");
}

TEST(CgroupResources, ZeroAndAbsentMeanUnset) {
  Resources r = parse_resources(json::parse(
      R"({"memory": {"limit": 0, "swap": 0, "swappiness": -1}, "cpu": {"shares": 0, "quota": 0},
          "blockIO": {"weight": 0}, "pids": {"limit": 0}})"));
  EXPECT_FALSE(r.memory_limit);
  EXPECT_FALSE(r.memory_swap);
  EXPECT_FALSE(r.memory_swappiness);
  EXPECT_FALSE(r.cpu_shares);
  EXPECT_FALSE(r.cpu_quota);
  EXPECT_FALSE(r.blkio_weight);
  EXPECT_EQ(r.pids_limit, 0);  // a real limit since runtime-spec #1279
  EXPECT_FALSE(r.devices);
  Resources none = parse_resources(json());
  EXPECT_FALSE(none.memory_limit);
  EXPECT_EQ(parse_resources(json::parse(R"({"devices": []})")).devices->size(), 0u);
  EXPECT_EQ(parse_resources(json::parse(R"({"cpu": {"quota": -100}})")).cpu_quota, -1);
}

TEST(CgroupResources, ErrorsNameTheField) {
  auto err = [](const char* text) { return error_of([&] { parse_resources(json::parse(text)); }); };
  EXPECT_NE(err(R"({"memory": {"limit": "64M"}})").find("linux.resources.memory.limit"),
            std::string::npos);
  EXPECT_NE(err(R"({"memory": {"limit": -2}})").find("linux.resources.memory.limit"),
            std::string::npos);
  EXPECT_NE(err(R"({"memory": {"swappiness": 101}})").find("linux.resources.memory.swappiness"),
            std::string::npos);
  EXPECT_NE(err(R"({"cpu": {"shares": -1}})").find("linux.resources.cpu.shares"),
            std::string::npos);
  EXPECT_NE(err(R"({"blockIO": {"weight": 5}})").find("linux.resources.blockIO.weight"),
            std::string::npos);
  EXPECT_NE(
      err(R"({"devices": [{"allow": true}, {"type": "c"}]})").find("linux.resources.devices[1]"),
      std::string::npos);
  EXPECT_NE(
      err(R"({"devices": [{"allow": true, "type": "u"}]})").find("linux.resources.devices[0].type"),
      std::string::npos);
  EXPECT_NE(err(R"({"devices": [{"allow": true, "access": 7}]})")
                .find("linux.resources.devices[0].access"),
            std::string::npos);
  EXPECT_NE(err(R"({"unified": {"../x": "1"}})").find("linux.resources.unified"),
            std::string::npos);
  EXPECT_NE(err(R"({"unified": {"memory.high": 5}})").find("linux.resources.unified.memory.high"),
            std::string::npos);
  EXPECT_NE(err(R"([1])").find("linux.resources"), std::string::npos);
}

}  // namespace
}  // namespace vessel::cgroups
