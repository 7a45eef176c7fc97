// The parsers behind `events --stats`: cgroup statistic files as text in, values out.
#include <gtest/gtest.h>

#include <limits>

#include "cgroups/stats.h"

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

}  // namespace
}  // namespace vessel::cgroups
