// exec --cgroup's argument parsing and directory choice (cgroups/sub_cgroups.h), and the
// device access letters that runc ignores.
#include <gtest/gtest.h>

#include "cgroups/manager.h"
#include "cgroups/resources.h"
#include "cgroups/sub_cgroups.h"
#include "error_of.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;
using Paths = std::map<std::string, std::string>;

std::unique_ptr<Manager> fake_manager(const std::string& layout, const json& dirs) {
  return load_manager({{"version", 1}, {"layout", layout}, {"path", "/c"}, {"dirs", dirs}});
}

json dir(std::vector<std::string> controllers, const std::string& mount) {
  return {{"controllers", controllers},
          {"mount", mount},
          {"dir", mount + "/c"},
          {"created", json::array()}};
}

std::unique_ptr<Manager> v1_manager() {
  return fake_manager("v1", {dir({"cpu", "cpuacct"}, "/sys/fs/cgroup/cpu,cpuacct"),
                             dir({"memory"}, "/sys/fs/cgroup/memory"),
                             dir({"name=systemd"}, "/sys/fs/cgroup/systemd")});
}

TEST(SubCgroupArgs, ParsesRuncsForms) {
  EXPECT_EQ(parse_sub_cgroup_args({}), Paths{});
  EXPECT_EQ(parse_sub_cgroup_args({"sub"}), (Paths{{"", "sub"}}));
  EXPECT_EQ(parse_sub_cgroup_args({"cpu,cpuacct:a", "memory:/b"}),
            (Paths{{"cpu", "a"}, {"cpuacct", "a"}, {"memory", "/b"}}));
}

TEST(SubCgroupArgs, RefusesMalformedLists) {
  EXPECT_NE(error_of([] {
              parse_sub_cgroup_args({"a", "b"});
            }).find("missing <controller>: prefix"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_sub_cgroup_args({"a:b:c"}); }).find("invalid --cgroup argument"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_sub_cgroup_args({":x"}); }).find("empty <controller>"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_sub_cgroup_args({"cpu:a", "cpu:b"});
            }).find("controller cpu specified multiple times"),
            std::string::npos);
}

TEST(SubCgroupDirs, StaysBelowTheContainersCgroup) {
  EXPECT_EQ(join_below("/m/c", "a/b"), "/m/c/a/b");
  EXPECT_EQ(join_below("/m/c", "/"), "/m/c");
  EXPECT_EQ(join_below("/m/c", "a/../b/./"), "/m/c/b");
  EXPECT_EQ(join_below("/m/c", ".."), "");
  EXPECT_EQ(join_below("/m/c", "a/../../c"), "");  // back into the same name, but from above
}

TEST(SubCgroupDirs, ChoosesPerHierarchy) {
  auto m = v1_manager();
  EXPECT_EQ(sub_cgroup_dirs(*m, {{"", "s"}}),
            (std::vector<std::string>{"/sys/fs/cgroup/cpu,cpuacct/c/s", "/sys/fs/cgroup/memory/c/s",
                                      "/sys/fs/cgroup/systemd/c/s"}));
  EXPECT_EQ(sub_cgroup_dirs(*m, {{"memory", "m"}, {"name=systemd", "/x/y"}}),
            (std::vector<std::string>{"/sys/fs/cgroup/cpu,cpuacct/c", "/sys/fs/cgroup/memory/c/m",
                                      "/sys/fs/cgroup/systemd/c/x/y"}));
  EXPECT_EQ(sub_cgroup_dirs(*m, {{"cpuacct", "a"}}).front(), "/sys/fs/cgroup/cpu,cpuacct/c/a");
}

TEST(SubCgroupDirs, RefusesEscapesUnknownControllersAndConflicts) {
  auto m = v1_manager();
  EXPECT_NE(error_of([&] {
              sub_cgroup_dirs(*m, {{"", ".."}});
            }).find(".. is not a sub cgroup path"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              sub_cgroup_dirs(*m, {{"whaaat", "/"}});
            }).find("unknown controller whaaat"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              sub_cgroup_dirs(*m, {{"cpu", "a"}, {"cpuacct", "b"}});
            }).find("same hierarchy"),
            std::string::npos);
  auto v2 = fake_manager("v2", json::array({dir({}, "/sys/fs/cgroup")}));
  EXPECT_EQ(sub_cgroup_dirs(*v2, {{"", "s"}}), std::vector<std::string>{"/sys/fs/cgroup/c/s"});
  EXPECT_NE(error_of([&] {
              sub_cgroup_dirs(*v2, {{"memory", "s"}});
            }).find("unknown controller memory"),
            std::string::npos);
}

TEST(DeviceAccess, LettersOtherThanRwmAreIgnored) {
  Resources r = parse_resources(json::parse(R"({"devices": [
      {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rxwz"},
      {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "x"}]})"));
  ASSERT_TRUE(r.devices);
  EXPECT_EQ((*r.devices)[0].access, "rw");
  EXPECT_EQ((*r.devices)[1].access, "");
}

}  // namespace
}  // namespace vessel::cgroups
