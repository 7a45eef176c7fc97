// Parsing /proc/self/mountinfo for the mounts around the container's root.
#include <gtest/gtest.h>

#include "linux/mount_table.h"

namespace vessel::linux {
namespace {

TEST(MountTable, ParsesIdsOptionalFieldsAndEscapes) {
  const char* text =
      "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "90 27 254:0 /srv/a\\040b /mnt/a\\040b rw master:3 shared:7 - ext4 /dev/vda rw\n"
      "garbage line\n";
  auto t = parse_mount_table(text);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].id, 27u);
  EXPECT_EQ(t[0].mount_point, "/");
  EXPECT_EQ(t[0].optional, "shared:1");
  EXPECT_EQ(t[0].fstype, "ext4");
  EXPECT_EQ(t[1].fstype, "proc");
  EXPECT_EQ(t[1].optional, "");
  EXPECT_EQ(t[2].root, "/srv/a b");
  EXPECT_EQ(t[2].mount_point, "/mnt/a b");
  EXPECT_EQ(t[2].optional, "master:3 shared:7");
}

TEST(MountTable, MountIdOfRootIsInTheTable) {
  uint64_t id = mount_id_of("/");
  if (id == 0) GTEST_SKIP() << "kernel without STATX_MNT_ID";
  bool found = false;
  for (const auto& e : read_mount_table()) found = found || e.id == id;
  EXPECT_TRUE(found);
  EXPECT_EQ(mount_id_of("/nonexistent-path-for-the-test"), 0u);
}

}  // namespace
}  // namespace vessel::linux
