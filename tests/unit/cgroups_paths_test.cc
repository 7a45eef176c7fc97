// Host discovery and path resolution from mountinfo and /proc/self/cgroup text.
#include <gtest/gtest.h>

#include "cgroups/detect.h"
#include "cgroups/factory.h"
#include "cgroups/paths.h"
#include "error_of.h"
#include "util/error.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;

// This build host: v1 controllers, a named systemd hierarchy and cgroup2 with hugetlb only.
const char* kHybridMountinfo =
    "22 1 0:20 / /sys rw,nosuid - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
const char* kHybridProcCgroup =
    "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
    "4:memory:/process_api/4038a13307f3b7eca218a750f4a57848\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n"
    "0::/\n";

// A classic systemd v1 host: cpu and cpuacct co-mounted, optional fields in mountinfo.
const char* kV1Mountinfo =
    "25 18 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
    "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup "
    "rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory\n";
const char* kV1ProcCgroup =
    "12:memory:/user.slice\n3:cpu,cpuacct:/user.slice\n2:net_cls:/\n"
    "1:name=systemd:/user.slice/user-0.slice/session-1.scope\n";

const char* kV2Mountinfo =
    "25 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "90 80 0:22 /ctr /tmp/my\\040mount rw - cgroup2 cgroup2 rw\n";
const char* kV2ProcCgroup = "0::/user.slice/user-0.slice/session-3.scope\n";

TEST(CgroupParse, Mountinfo) {
  auto m = parse_mountinfo(kV1Mountinfo);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[1].mount_point, "/sys/fs/cgroup/systemd");
  EXPECT_EQ(m[1].fs_type, "cgroup");
  EXPECT_EQ(m[1].super_options.back(), "name=systemd");
  EXPECT_EQ(m[2].super_options, (std::vector<std::string>{"rw", "cpu", "cpuacct"}));
  auto v2 = parse_mountinfo(kV2Mountinfo);
  EXPECT_EQ(v2[1].mount_point, "/tmp/my mount");
  EXPECT_EQ(v2[1].root, "/ctr");
  EXPECT_EQ(decode_mount_escapes("a\\134b\\011c\\12"), "a\\b\tc\\12");
  EXPECT_NE(error_of([] { parse_mountinfo("1 2 3\n"); }), "");
}

TEST(CgroupParse, ProcSelfCgroup) {
  auto e = parse_proc_cgroup("3:cpu,cpuacct:/a:b\n1:name=systemd:/x\n0::/y\n");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].id, 3);
  EXPECT_EQ(e[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ(e[0].path, "/a:b");
  EXPECT_EQ(e[1].controllers, (std::vector<std::string>{"name=systemd"}));
  EXPECT_TRUE(e[2].controllers.empty());
  EXPECT_EQ(e[2].path, "/y");
  EXPECT_NE(error_of([] { parse_proc_cgroup("garbage\n"); }), "");
}

TEST(CgroupParse, HybridHierarchies) {
  HostCgroups h = find_hierarchies(Layout::hybrid, kHybridMountinfo, kHybridProcCgroup);
  ASSERT_EQ(h.hierarchies.size(), 10u);  // nine v1 (named systemd included) + unified
  EXPECT_EQ(h.hierarchies[0].controllers, (std::vector<std::string>{"name=systemd"}));
  EXPECT_EQ(h.hierarchies[0].mount_point, "/sys/fs/cgroup/systemd");
  const Hierarchy& mem = h.hierarchies[5];
  EXPECT_TRUE(mem.has("memory"));
  EXPECT_EQ(mem.mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(mem.own_path, "/process_api/4038a13307f3b7eca218a750f4a57848");
  EXPECT_TRUE(h.hierarchies.back().unified());
  EXPECT_EQ(h.hierarchies.back().mount_point, "/sys/fs/cgroup/unified");
  // The same text read as v1 ignores cgroup2.
  EXPECT_EQ(find_hierarchies(Layout::v1, kHybridMountinfo, kHybridProcCgroup).hierarchies.size(),
            9u);
}

TEST(CgroupParse, V1CoMountedAndUnmounted) {
  HostCgroups h = find_hierarchies(Layout::v1, kV1Mountinfo, kV1ProcCgroup);
  // net_cls is in /proc/self/cgroup but not mounted: left out.
  ASSERT_EQ(h.hierarchies.size(), 3u);
  EXPECT_EQ(h.hierarchies[0].mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(h.hierarchies[1].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_TRUE(h.hierarchies[1].has("cpu"));
  EXPECT_TRUE(h.hierarchies[1].has("cpuacct"));
  EXPECT_EQ(h.hierarchies[2].own_path, "/user.slice/user-0.slice/session-1.scope");
  EXPECT_NE(error_of([] { find_hierarchies(Layout::v1, kV2Mountinfo, kV2ProcCgroup); }), "");
}

TEST(CgroupParse, V2PrefersTheProbedMount) {
  HostCgroups h = find_hierarchies(Layout::v2, kV2Mountinfo, kV2ProcCgroup);
  ASSERT_EQ(h.hierarchies.size(), 1u);
  EXPECT_EQ(h.hierarchies[0].mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(h.hierarchies[0].own_path, "/user.slice/user-0.slice/session-3.scope");
  EXPECT_NE(error_of([] { find_hierarchies(Layout::v2, kV1Mountinfo, kV1ProcCgroup); }), "");
}

TEST(CgroupPaths, Normalize) {
  EXPECT_EQ(normalize_cgroups_path("", "abc"), "/abc");
  EXPECT_EQ(normalize_cgroups_path("/vessel/abc", "x"), "/vessel/abc");
  EXPECT_EQ(normalize_cgroups_path("//vessel/./abc/", "x"), "/vessel/abc");
  EXPECT_EQ(normalize_cgroups_path("vessel/abc", "x"), "vessel/abc");
  EXPECT_EQ(normalize_cgroups_path("./a", "x"), "a");
  EXPECT_EQ(normalize_cgroups_path("system.slice:docker:abc", "x"), "system.slice:docker:abc");
  std::string e = error_of([] { normalize_cgroups_path("/a/../../etc", "x"); });
  EXPECT_NE(e.find("linux.cgroupsPath"), std::string::npos);
  EXPECT_NE(e.find(".."), std::string::npos);
  EXPECT_NE(error_of([] { normalize_cgroups_path("a/..", "x"); }), "");
  EXPECT_NE(error_of([] { normalize_cgroups_path("..", "x"); }), "");
  EXPECT_EQ(normalize_cgroups_path("/a..b/..c", "x"), "/a..b/..c");  // only whole components
  EXPECT_NE(error_of([] { normalize_cgroups_path("/", "x"); }), "");
  EXPECT_NE(error_of([] { normalize_cgroups_path(".", "x"); }), "");
  EXPECT_NE(error_of([] { normalize_cgroups_path("", "a/b"); }), "");
  EXPECT_NE(error_of([] { normalize_cgroups_path("", ".."); }), "");
}

TEST(CgroupPaths, PathWithin) {
  EXPECT_TRUE(path_within("/a/b", "/a"));
  EXPECT_TRUE(path_within("/a", "/a"));
  EXPECT_TRUE(path_within("/a", "/a/"));
  EXPECT_FALSE(path_within("/ab", "/a"));
  EXPECT_TRUE(path_within("/x", "/"));
  EXPECT_FALSE(path_within("x", "/"));
}

TEST(CgroupPaths, InHierarchy) {
  Hierarchy mem{{"memory"}, "/sys/fs/cgroup/memory", "/", "/process_api/42"};
  EXPECT_EQ(cgroup_path_in("/vessel/c", mem), "/vessel/c");
  EXPECT_EQ(cgroup_path_in("vessel/c", mem), "/process_api/42/vessel/c");
  Hierarchy root_own{{"cpu"}, "/sys/fs/cgroup/cpu", "/", "/"};
  EXPECT_EQ(cgroup_path_in("vessel/c", root_own), "/vessel/c");
  // Only /ctr of the hierarchy is mounted: paths are taken from what the mount shows.
  Hierarchy sub{{}, "/sys/fs/cgroup", "/ctr", "/ctr/inner"};
  EXPECT_EQ(cgroup_path_in("c", sub), "/inner/c");
  EXPECT_EQ(cgroup_path_in("/c", sub), "/c");
  Hierarchy outside{{}, "/sys/fs/cgroup", "/other", "/ctr"};
  EXPECT_NE(error_of([&] { cgroup_path_in("c", outside); }).find("relative"), std::string::npos);
}

TEST(CgroupPaths, ManagerDirsOnHybrid) {
  HostCgroups host = find_hierarchies(Layout::hybrid, kHybridMountinfo, kHybridProcCgroup);
  auto m = make_manager_on(host, "", "ctr1");
  EXPECT_EQ(m->path(), "/ctr1");
  json j = m->to_json();
  EXPECT_EQ(j["layout"], "hybrid");
  ASSERT_EQ(j["dirs"].size(), 10u);
  EXPECT_EQ(j["dirs"][0]["dir"], "/sys/fs/cgroup/systemd/ctr1");
  EXPECT_EQ(j["dirs"][9]["dir"], "/sys/fs/cgroup/unified/ctr1");
  EXPECT_TRUE(j["dirs"][9]["controllers"].empty());
  EXPECT_TRUE(j["dirs"][0]["created"].empty());

  // Relative: below our own cgroup, which only differs in the memory hierarchy here.
  auto rel = make_manager_on(host, "vessel/c", "x");
  json r = rel->to_json();
  EXPECT_EQ(r["dirs"][5]["dir"],
            "/sys/fs/cgroup/memory/process_api/4038a13307f3b7eca218a750f4a57848/vessel/c");
  EXPECT_EQ(r["dirs"][6]["dir"], "/sys/fs/cgroup/cpuset/vessel/c");
  EXPECT_EQ(rel->path(), "/vessel/c");  // the freezer's view
}

TEST(CgroupPaths, ManagerDirsOnV2) {
  HostCgroups host = find_hierarchies(Layout::v2, kV2Mountinfo, kV2ProcCgroup);
  auto m = make_manager_on(host, "rel/c", "x");
  EXPECT_EQ(m->path(), "/user.slice/user-0.slice/session-3.scope/rel/c");
  json j = m->to_json();
  ASSERT_EQ(j["dirs"].size(), 1u);
  EXPECT_EQ(j["dirs"][0]["dir"], "/sys/fs/cgroup/user.slice/user-0.slice/session-3.scope/rel/c");
  EXPECT_EQ(j["layout"], "v2");
}

TEST(CgroupPaths, LoadManagerRoundTripAndChecks) {
  HostCgroups host = find_hierarchies(Layout::hybrid, kHybridMountinfo, kHybridProcCgroup);
  json j = make_manager_on(host, "/a/b", "x")->to_json();
  j["dirs"][2]["created"] = {"/sys/fs/cgroup/blkio/a", "/sys/fs/cgroup/blkio/a/b"};
  auto loaded = load_manager(json::parse(j.dump()));
  EXPECT_EQ(loaded->to_json(), j);
  EXPECT_EQ(loaded->path(), "/a/b");

  auto bad = [&](auto&& change) {
    json k = j;
    change(k);
    return error_of([&] { load_manager(k); });
  };
  EXPECT_NE(bad([](json& k) { k["dirs"][0]["created"] = {"/etc"}; }), "");
  EXPECT_NE(bad([](json& k) { k["dirs"][0]["created"] = {"/sys/fs/cgroup/systemd"}; }), "");
  EXPECT_NE(bad([](json& k) { k["dirs"][0]["dir"] = "/sys/fs/cgroup/systemd/../../x"; }), "");
  EXPECT_NE(bad([](json& k) { k["dirs"][0]["created"] = {"/sys/fs/cgroup/systemd/other"}; }), "");
  EXPECT_NE(bad([](json& k) { k["layout"] = "v3"; }), "");
  EXPECT_NE(bad([](json& k) { k.erase("dirs"); }).find("saved cgroup state"), std::string::npos);
  EXPECT_NE(bad([](json& k) { k["layout"] = "v2"; }), "");  // v2 has exactly one dir
}

}  // namespace
}  // namespace vessel::cgroups
