// The parsers behind `events --stats`: cgroup statistic files as text in, values out.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>

#include "cgroups/convert.h"
#include "cgroups/stats.h"
#include "cgroups/v1.h"
#include "cgroups/v2.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;

TEST(CgroupStats, FlatKeyed) {
  auto m = parse_flat_keyed("cache 9560064\nrss 5853184\n\nbogus\nname x\nnr_periods 0\n");
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m["cache"], 9560064u);
  EXPECT_EQ(m["rss"], 5853184u);
  EXPECT_EQ(m["nr_periods"], 0u);
  EXPECT_FALSE(m.count("name"));
  EXPECT_TRUE(parse_flat_keyed("").empty());
}

TEST(CgroupStats, NumberList) {
  EXPECT_EQ(parse_number_list("4419457156555 4564308761897 \n"),
            (std::vector<uint64_t>{4419457156555u, 4564308761897u}));
  EXPECT_TRUE(parse_number_list("").empty());
}

TEST(CgroupStats, Limit) {
  EXPECT_EQ(parse_limit("max\n"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parse_limit("67108864\n"), 67108864u);
  EXPECT_EQ(parse_limit("-1"), std::nullopt);
  EXPECT_EQ(parse_limit(""), std::nullopt);
  EXPECT_EQ(parse_limit("12abc"), std::nullopt);
}

TEST(CgroupStats, BlkioV1) {
  json j = parse_blkio_v1("8:0 Read 4096\n8:0 Write 8192\n8:16 Total 12288\nTotal 12288\n");
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0], (json{{"major", 8}, {"minor", 0}, {"op", "Read"}, {"value", 4096}}));
  EXPECT_EQ(j[1]["op"], "Write");
  EXPECT_EQ(j[2]["minor"], 16);
  // blkio.time has no op column.
  json t = parse_blkio_v1("253:1 77\n");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["op"], "");
  EXPECT_EQ(t[0]["value"], 77);
  EXPECT_TRUE(parse_blkio_v1("").empty());
}

TEST(CgroupStats, IoStatV2) {
  json j = parse_io_stat_v2(
      "8:0 rbytes=1024 wbytes=2048 rios=3 wios=4 dbytes=0 dios=0\n"
      "253:2 rbytes=5 wbytes=6 rios=7 wios=8\n");
  ASSERT_EQ(j["ioServiceBytesRecursive"].size(), 4u);
  ASSERT_EQ(j["ioServicedRecursive"].size(), 4u);
  EXPECT_EQ(j["ioServiceBytesRecursive"][1],
            (json{{"major", 8}, {"minor", 0}, {"op", "Write"}, {"value", 2048}}));
  EXPECT_EQ(j["ioServicedRecursive"][2],
            (json{{"major", 253}, {"minor", 2}, {"op", "Read"}, {"value", 7}}));
  EXPECT_TRUE(parse_io_stat_v2("")["ioServiceBytesRecursive"].empty());
}

TEST(CgroupStats, Rdma) {
  json j =
      parse_rdma("mlx4_0 hca_handle=2 hca_object=2000\nocrdma1 hca_handle=max hca_object=max\n");
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0], (json{{"device", "mlx4_0"}, {"hca_handles", 2}, {"hca_objects", 2000}}));
  // "max" is reported as runc does, the largest 32-bit value.
  EXPECT_EQ(j[1], (json{{"device", "ocrdma1"},
                        {"hca_handles", std::numeric_limits<uint32_t>::max()},
                        {"hca_objects", std::numeric_limits<uint32_t>::max()}}));
  // rdma.current lists every device, with zeros when nothing is in use.
  EXPECT_EQ(parse_rdma("mlx5_1 hca_handle=0 hca_object=0")[0]["hca_objects"], 0);
  EXPECT_TRUE(parse_rdma("").empty());
  EXPECT_TRUE(parse_rdma("\n").empty());
}

// Statistics read from a directory of plain files standing in for a cgroup.
class FakeStatsDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-unit-stats-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) ::unlink(f.c_str());
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) ::rmdir(it->c_str());
    ::rmdir(dir_.c_str());
  }
  // A subdirectory of the fake root (another hierarchy's cgroup).
  std::string subdir(const std::string& name) {
    std::string d = dir_ + "/" + name;
    ::mkdir(d.c_str(), 0755);
    dirs_.push_back(d);
    return d;
  }
  void put(const std::string& dir, const std::string& name, const std::string& content) {
    std::ofstream(dir + "/" + name) << content;
    files_.push_back(dir + "/" + name);
  }

  std::string dir_;
  std::vector<std::string> dirs_, files_;
};

TEST_F(FakeStatsDir, HugetlbV1) {
  put(dir_, "hugetlb.2MB.usage_in_bytes", "4194304\n");
  put(dir_, "hugetlb.2MB.max_usage_in_bytes", "8388608\n");
  put(dir_, "hugetlb.2MB.failcnt", "3\n");
  put(dir_, "hugetlb.2MB.limit_in_bytes", "9223372036854771712\n");
  // 1GB is a host size whose files are missing here: left out rather than reported as zeros.
  json j = hugetlb_stats(dir_, {"2MB", "1GB"}, HugetlbFiles::v1);
  EXPECT_EQ(j, (json{{"2MB",
                      {{"usage", 4194304},
                       {"max", 8388608},
                       {"failcnt", 3},
                       {"limit", 9223372036854771712ull}}}}));
}

TEST_F(FakeStatsDir, HugetlbV2) {
  put(dir_, "hugetlb.2MB.current", "2097152\n");
  put(dir_, "hugetlb.2MB.max", "4194304\n");
  put(dir_, "hugetlb.2MB.events", "max 7\n");
  put(dir_, "hugetlb.1GB.current", "0\n");
  put(dir_, "hugetlb.1GB.max", "max\n");
  put(dir_, "hugetlb.1GB.events", "max 0\n");
  json j = hugetlb_stats(dir_, {"2MB", "1GB"}, HugetlbFiles::v2);
  EXPECT_EQ(j["2MB"], (json{{"usage", 2097152}, {"max", 0}, {"failcnt", 7}, {"limit", 4194304}}));
  EXPECT_EQ(j["1GB"]["limit"], std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(j["1GB"]["failcnt"], 0);
  EXPECT_EQ(hugetlb_stats(dir_, {}, HugetlbFiles::v2), json::object());
}

TEST_F(FakeStatsDir, RdmaFromDirectory) {
  EXPECT_EQ(rdma_stats(dir_), std::nullopt) << "no rdma files: no rdma controller";
  put(dir_, "rdma.max", "mlx4_0 hca_handle=2 hca_object=max\n");
  put(dir_, "rdma.current", "mlx4_0 hca_handle=1 hca_object=10\n");
  std::optional<json> j = rdma_stats(dir_);
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["rdma_limit"],
            (json::array({{{"device", "mlx4_0"},
                           {"hca_handles", 2},
                           {"hca_objects", std::numeric_limits<uint32_t>::max()}}})));
  EXPECT_EQ((*j)["rdma_current"],
            (json::array({{{"device", "mlx4_0"}, {"hca_handles", 1}, {"hca_objects", 10}}})));
}

// Hybrid hosts: hugetlb and rdma bound to the unified hierarchy are read there, in v2's files,
// by the v1 manager; v2 reads them where cgroup.controllers lists them.
TEST_F(FakeStatsDir, ManagersReportHugetlbAndRdma) {
  std::vector<std::string> sizes = host_hugepage_sizes();
  if (sizes.empty()) GTEST_SKIP() << "no huge page sizes on this host";
  const std::string& size = sizes.front();
  std::string pids = subdir("pids"), unified = subdir("unified");
  put(pids, "pids.current", "1");
  put(unified, "cgroup.controllers", "hugetlb rdma\n");
  put(unified, "hugetlb." + size + ".current", "0");
  put(unified, "hugetlb." + size + ".max", "4194304");
  put(unified, "hugetlb." + size + ".events", "max 1");
  put(unified, "rdma.max", "");
  put(unified, "rdma.current", "");
  json want_hugetlb = {{size, {{"usage", 0}, {"max", 0}, {"failcnt", 1}, {"limit", 4194304}}}};
  json want_rdma = {{"rdma_limit", json::array()}, {"rdma_current", json::array()}};

  CgroupV1Manager hybrid(Layout::hybrid, "/fake",
                         {{{"pids"}, "/", pids, {}}, {{}, "/", unified, {}}});
  json data = hybrid.stats();
  EXPECT_EQ(data["hugetlb"], want_hugetlb) << data.dump();
  EXPECT_EQ(data["rdma"], want_rdma) << data.dump();
  EXPECT_EQ(data["pids"]["current"], 1);

  CgroupV2Manager v2(Layout::v2, "/fake", {{{}, "/", unified, {}}});
  data = v2.stats();
  EXPECT_EQ(data["hugetlb"], want_hugetlb) << data.dump();
  EXPECT_EQ(data["rdma"], want_rdma) << data.dump();

  // Without the controllers in cgroup.controllers, neither is reported.
  put(unified, "cgroup.controllers", "pids\n");
  data = v2.stats();
  EXPECT_FALSE(data.contains("hugetlb")) << data.dump();
  EXPECT_FALSE(data.contains("rdma")) << data.dump();
  CgroupV1Manager plain_v1(Layout::v1, "/fake", {{{"pids"}, "/", pids, {}}});
  data = plain_v1.stats();
  EXPECT_FALSE(data.contains("hugetlb")) << data.dump();
  EXPECT_FALSE(data.contains("rdma")) << data.dump();
}

// oom_kills() reads the one file stats()'s memory.oom_kill comes from, and agrees with it: v1's
// memory.oom_control, v2's memory.events; 0 without a memory controller.
TEST_F(FakeStatsDir, OomKillsAgreesWithStats) {
  std::string mem = subdir("memory"), unified = subdir("unified2");
  put(mem, "memory.stat", "cache 0\n");
  put(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  CgroupV1Manager v1(Layout::v1, "/fake", {{{"memory"}, "/", mem, {}}});
  EXPECT_EQ(v1.oom_kills(), 3u);
  EXPECT_EQ(v1.stats()["memory"]["oom_kill"], 3);

  put(unified, "memory.current", "4096\n");
  put(unified, "memory.stat", "file 0\n");
  put(unified, "memory.events", "low 0\nhigh 0\nmax 2\noom 2\noom_kill 2\n");
  CgroupV2Manager v2(Layout::v2, "/fake", {{{}, "/", unified, {}}});
  EXPECT_EQ(v2.oom_kills(), 2u);
  EXPECT_EQ(v2.stats()["memory"]["oom_kill"], 2);

  std::string pids = subdir("pids2");
  put(pids, "pids.current", "1");
  CgroupV1Manager no_memory(Layout::v1, "/fake", {{{"pids"}, "/", pids, {}}});
  EXPECT_EQ(no_memory.oom_kills(), 0u);
}

}  // namespace
}  // namespace vessel::cgroups
