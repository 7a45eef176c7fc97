// The systemd cgroup driver's pure parts: "slice:prefix:name" parsing, slice paths, unit names,
// resource → unit property conversion, CPU masks, and the saved state's driver marker.
#include <gtest/gtest.h>

#include "cgroups/resources.h"
#include "cgroups/systemd.h"
#include "error_of.h"
#include "util/error.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;

const UnitProperty* find(const std::vector<UnitProperty>& props, const std::string& name) {
  for (const UnitProperty& p : props)
    if (p.name == name) return &p;
  return nullptr;
}

template <typename T>
T value_of(const std::vector<UnitProperty>& props, const std::string& name) {
  const UnitProperty* p = find(props, name);
  if (!p) throw std::runtime_error("no property " + name);
  return std::get<T>(p->value);
}

TEST(SystemdPath, ScopeInTheGivenSlice) {
  SystemdUnit u = parse_systemd_cgroups_path("system.slice:vessel:abc", "abc");
  EXPECT_EQ(u.slice, "system.slice");
  EXPECT_EQ(u.name, "vessel-abc.scope");
  EXPECT_EQ(u.cgroup_path, "/system.slice/vessel-abc.scope");
  EXPECT_FALSE(u.is_slice());
}

TEST(SystemdPath, DefaultsLikeRunc) {
  // Empty cgroupsPath: system.slice, our prefix, the container ID.
  SystemdUnit u = parse_systemd_cgroups_path("", "c1");
  EXPECT_EQ(u.name, "vessel-c1.scope");
  EXPECT_EQ(u.cgroup_path, "/system.slice/vessel-c1.scope");
  // Empty slice: system.slice. Empty prefix: just the name.
  u = parse_systemd_cgroups_path(":p:n", "x");
  EXPECT_EQ(u.slice, "system.slice");
  EXPECT_EQ(u.name, "p-n.scope");
  u = parse_systemd_cgroups_path("machine.slice::n", "x");
  EXPECT_EQ(u.name, "n.scope");
  EXPECT_EQ(u.cgroup_path, "/machine.slice/n.scope");
}

TEST(SystemdPath, NestedSliceAndRootSlice) {
  SystemdUnit u = parse_systemd_cgroups_path("a-b.slice:vessel:x", "x");
  EXPECT_EQ(u.cgroup_path, "/a.slice/a-b.slice/vessel-x.scope");
  u = parse_systemd_cgroups_path("-.slice:vessel:x", "x");
  EXPECT_EQ(u.cgroup_path, "/vessel-x.scope");
}

TEST(SystemdPath, NameEndingInSliceMakesASlice) {
  SystemdUnit u = parse_systemd_cgroups_path("system.slice:vessel:pod-a.slice", "x");
  EXPECT_TRUE(u.is_slice());
  EXPECT_EQ(u.name, "pod-a.slice");
  EXPECT_EQ(u.cgroup_path, "/pod.slice/pod-a.slice");
}

TEST(SystemdPath, MalformedPathsNameTheFieldAndValue) {
  for (const char* bad :
       {"/a/b", "a:b", "a:b:c:d", "system.slice:vessel:", "sys:vessel:x", "a--b.slice:p:n",
        "-a.slice:p:n", "a/b.slice:p:n", "system.slice:p:a+b"}) {
    std::string err = error_of([&] { parse_systemd_cgroups_path(bad, "id"); });
    EXPECT_NE(err.find("linux.cgroupsPath"), std::string::npos) << bad << ": " << err;
    EXPECT_NE(err.find(bad), std::string::npos) << bad << ": " << err;
  }
  // An ID systemd cannot take in a unit name (runc's IDs allow '+', unit names do not).
  std::string err = error_of([] { parse_systemd_cgroups_path("", "a+b"); });
  EXPECT_NE(err.find("not a valid systemd unit name"), std::string::npos) << err;
}

TEST(SystemdPath, SlicePaths) {
  EXPECT_EQ(slice_cgroup_path("system.slice"), "/system.slice");
  EXPECT_EQ(slice_cgroup_path("a-b-c.slice"), "/a.slice/a-b.slice/a-b-c.slice");
  EXPECT_EQ(slice_cgroup_path("-.slice"), "/");
  EXPECT_NE(error_of([] { slice_cgroup_path("system.scope"); }), "");
  EXPECT_NE(error_of([] { slice_cgroup_path("a-.slice"); }), "");
}

TEST(SystemdPath, UnitNames) {
  EXPECT_TRUE(valid_unit_name("vessel-a_b.c:d.scope"));
  EXPECT_TRUE(valid_unit_name("x.slice"));
  EXPECT_FALSE(valid_unit_name("x.service"));  // not what the driver makes
  EXPECT_FALSE(valid_unit_name(".scope"));
  EXPECT_FALSE(valid_unit_name("a b.scope"));
  EXPECT_FALSE(valid_unit_name("a/b.scope"));
}

TEST(SystemdProperties, V2Resources) {
  Resources r = parse_resources(json::parse(R"({
    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 42},
    "blockIO": {"weight": 500}})"));
  auto props = resource_unit_properties(r, Layout::v2);
  EXPECT_EQ(value_of<uint64_t>(props, "MemoryMax"), 67108864u);
  EXPECT_EQ(value_of<uint64_t>(props, "MemoryLow"), 33554432u);
  EXPECT_EQ(value_of<uint64_t>(props, "MemorySwapMax"), 134217728u - 67108864u);  // swap alone
  EXPECT_EQ(value_of<uint64_t>(props, "CPUWeight"), 39u);
  EXPECT_EQ(value_of<uint64_t>(props, "CPUQuotaPerSecUSec"), 500000u);
  EXPECT_EQ(value_of<uint64_t>(props, "CPUQuotaPeriodUSec"), 100000u);
  EXPECT_EQ(value_of<std::vector<uint8_t>>(props, "AllowedCPUs"), std::vector<uint8_t>{0x03});
  EXPECT_EQ(value_of<std::vector<uint8_t>>(props, "AllowedMemoryNodes"),
            std::vector<uint8_t>{0x01});
  EXPECT_EQ(value_of<uint64_t>(props, "TasksMax"), 42u);
  EXPECT_EQ(value_of<uint64_t>(props, "IOWeight"), 4950u);
  EXPECT_EQ(find(props, "MemoryLimit"), nullptr);
  EXPECT_EQ(find(props, "CPUShares"), nullptr);
}

TEST(SystemdProperties, V1NamesAndNoCpusets) {
  Resources r = parse_resources(json::parse(R"({
    "memory": {"limit": 1048576}, "cpu": {"shares": 512, "cpus": "0"}, "blockIO": {"weight": 300}})"));
  for (Layout l : {Layout::v1, Layout::hybrid}) {
    auto props = resource_unit_properties(r, l);
    EXPECT_EQ(value_of<uint64_t>(props, "MemoryLimit"), 1048576u);
    EXPECT_EQ(value_of<uint64_t>(props, "CPUShares"), 512u);
    EXPECT_EQ(value_of<uint64_t>(props, "BlockIOWeight"), 300u);
    EXPECT_EQ(find(props, "MemoryMax"), nullptr);
    EXPECT_EQ(find(props, "AllowedCPUs"), nullptr);
  }
}

TEST(SystemdProperties, UnlimitedAndRounding) {
  Resources r = parse_resources(
      json::parse(R"({"memory": {"limit": -1}, "cpu": {"quota": -1}, "pids": {"limit": -1}})"));
  auto props = resource_unit_properties(r, Layout::v2);
  EXPECT_EQ(value_of<uint64_t>(props, "MemoryMax"), kSystemdInfinity);
  EXPECT_EQ(value_of<uint64_t>(props, "MemorySwapMax"), kSystemdInfinity);
  EXPECT_EQ(value_of<uint64_t>(props, "CPUQuotaPerSecUSec"), kSystemdInfinity);
  EXPECT_EQ(value_of<uint64_t>(props, "TasksMax"), kSystemdInfinity);

  // 12345 us per 100 ms = 123450 us/s, up to systemd's 10 ms steps; the default period.
  r = parse_resources(json::parse(R"({"cpu": {"quota": 12345}})"));
  props = resource_unit_properties(r, Layout::v2);
  EXPECT_EQ(value_of<uint64_t>(props, "CPUQuotaPerSecUSec"), 130000u);
  EXPECT_EQ(find(props, "CPUQuotaPeriodUSec"), nullptr);

  // pids.limit 0 is a real limit that systemd's TasksMax refuses: left to the cgroup file.
  r = parse_resources(json::parse(R"({"pids": {"limit": 0}})"));
  EXPECT_EQ(find(resource_unit_properties(r, Layout::v2), "TasksMax"), nullptr);
  EXPECT_TRUE(resource_unit_properties(Resources{}, Layout::v2).empty());
}

TEST(SystemdProperties, StartPropertiesForScopeAndSlice) {
  SystemdUnit scope = parse_systemd_cgroups_path("", "c1");
  Resources r = parse_resources(json::parse(R"({"pids": {"limit": 5}})"));
  auto props = start_unit_properties(scope, 1234, r, Layout::v2);
  EXPECT_EQ(value_of<std::string>(props, "Slice"), "system.slice");
  EXPECT_TRUE(value_of<bool>(props, "Delegate"));
  EXPECT_EQ(value_of<std::vector<uint32_t>>(props, "PIDs"), std::vector<uint32_t>{1234});
  EXPECT_FALSE(value_of<bool>(props, "DefaultDependencies"));
  EXPECT_TRUE(value_of<bool>(props, "MemoryAccounting"));
  EXPECT_TRUE(value_of<bool>(props, "CPUAccounting"));
  EXPECT_TRUE(value_of<bool>(props, "TasksAccounting"));
  EXPECT_TRUE(value_of<bool>(props, "IOAccounting"));
  EXPECT_EQ(value_of<uint64_t>(props, "TasksMax"), 5u);
  EXPECT_NE(value_of<std::string>(props, "Description").find("vessel-c1.scope"), std::string::npos);
  EXPECT_TRUE(
      value_of<bool>(start_unit_properties(scope, 1, r, Layout::hybrid), "BlockIOAccounting"));

  SystemdUnit slice = parse_systemd_cgroups_path("::ctr.slice", "c1");
  props = start_unit_properties(slice, 1234, r, Layout::v2);
  EXPECT_EQ(find(props, "PIDs"), nullptr);
  EXPECT_EQ(find(props, "Delegate"), nullptr);
  EXPECT_EQ(find(props, "Slice"), nullptr);
}

TEST(SystemdProperties, CpuMasks) {
  EXPECT_EQ(cpu_list_to_mask("0", "f"), std::vector<uint8_t>{0x01});
  EXPECT_EQ(cpu_list_to_mask("0-2,7", "f"), std::vector<uint8_t>{0x87});
  EXPECT_EQ(cpu_list_to_mask("9", "f"), (std::vector<uint8_t>{0x00, 0x02}));
  EXPECT_EQ(cpu_list_to_mask(" 1 , 3-4 ", "f"), std::vector<uint8_t>{0x1a});
  for (const char* bad : {"a", "1-", "3-1", "1,,2", "99999"}) {
    std::string err = error_of([&] { cpu_list_to_mask(bad, "linux.resources.cpu.cpus"); });
    EXPECT_NE(err.find("linux.resources.cpu.cpus"), std::string::npos) << bad << ": " << err;
  }
  // A bad list fails the conversion, so create fails before systemd is asked anything.
  Resources r = parse_resources(json::parse(R"({"cpu": {"cpus": "x"}})"));
  EXPECT_NE(error_of([&] { resource_unit_properties(r, Layout::v2); }), "");
}

TEST(SystemdState, DriverMarkerAndValidation) {
  EXPECT_TRUE(is_systemd_json(json{{"driver", "systemd"}}));
  EXPECT_FALSE(is_systemd_json(json{{"version", 1}, {"layout", "v2"}}));
  EXPECT_FALSE(is_systemd_json(json()));

  json fs = {{"version", 1},
             {"layout", "v2"},
             {"path", "/system.slice/vessel-c1.scope"},
             {"dirs",
              {{{"controllers", json::array()},
                {"mount", "/sys/fs/cgroup"},
                {"dir", "/sys/fs/cgroup/system.slice/vessel-c1.scope"},
                {"created", json::array()}}}}};
  enable_systemd_driver();
  json saved = {{"driver", "systemd"},
                {"unit", "vessel-c1.scope"},
                {"slice", "system.slice"},
                {"cgroupPath", "/system.slice/vessel-c1.scope"},
                {"fs", fs}};
  auto m = load_manager(saved);
  EXPECT_EQ(m->path(), "/system.slice/vessel-c1.scope");
  EXPECT_EQ(m->to_json(), saved);

  json bad = saved;
  bad["unit"] = "../x.scope";
  EXPECT_NE(error_of([&] { load_manager(bad); }), "");
  bad = saved;
  bad["cgroupPath"] = "/system.slice/other.scope";
  EXPECT_NE(error_of([&] { load_manager(bad); }), "");
  bad = saved;
  bad.erase("fs");
  EXPECT_NE(error_of([&] { load_manager(bad); }), "");
}

TEST(SystemdDriver, SelectedDriverOnlyChangesMakeManager) {
  enable_systemd_driver();
  EXPECT_EQ(driver(), Driver::cgroupfs);
  set_driver(Driver::systemd);
  // A cgroupfs-style path is refused by the systemd driver with the field named.
  std::string err = error_of([] { make_manager("/a/b", "c1"); });
  set_driver(Driver::cgroupfs);
  EXPECT_NE(err.find("linux.cgroupsPath"), std::string::npos) << err;
  EXPECT_NE(err.find("slice:prefix:name"), std::string::npos) << err;
}

TEST(SystemdDriver, ProgramsWithoutTheDriverSayso) {
  register_systemd_driver({});
  json saved = {{"driver", "systemd"}, {"unit", "vessel-c1.scope"}};
  std::string err = error_of([&] { load_manager(saved); });
  enable_systemd_driver();
  EXPECT_NE(err.find("not part of this program"), std::string::npos) << err;
}

}  // namespace
}  // namespace vessel::cgroups
