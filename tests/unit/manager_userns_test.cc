// The pure parts of manager/userns.h and manager/rootless.h: /etc/subuid lines, --userns
// values, and the spec changes a user namespace brings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "manager/rootfs_rootless.h"
#include "manager/rootless.h"
#include "manager/userns.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {
namespace {

using nlohmann::json;

TEST(SubordinateRange, ByNameOrUidFirstEntryWins) {
  std::string text = "# comment\nalice:100000:65536\n1001:200000:1000\nalice:300000:5\n";
  EXPECT_EQ(subordinate_range(text, "alice", 1000), (std::pair<uint32_t, uint32_t>{100000, 65536}));
  EXPECT_EQ(subordinate_range(text, "bob", 1001), (std::pair<uint32_t, uint32_t>{200000, 1000}));
  EXPECT_EQ(subordinate_range(text, "carol", 1002), (std::pair<uint32_t, uint32_t>{0, 0}));
}

TEST(SubordinateRange, BrokenLinesAreSkipped) {
  std::string text = "alice\nalice:x:1\nalice:5:0\nalice:4294967295:2\nalice:7:9\n";
  EXPECT_EQ(subordinate_range(text, "alice", 1000), (std::pair<uint32_t, uint32_t>{7, 9}));
}

TEST(FuseAllowOther, UserAllowOtherLineInFuseConf) {
  char tmpl[] = "/tmp/vessel-fuseconf-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string path = tmpl;
  write_file_atomic(path, "# user_allow_other\nmount_max = 1000\n", 0644);
  EXPECT_FALSE(fuse_allows_other(path));
  write_file_atomic(path, "mount_max = 1000\n  user_allow_other \n", 0644);
  EXPECT_TRUE(fuse_allows_other(path));
  ::unlink(path.c_str());
  EXPECT_FALSE(fuse_allows_other(path));  // no file: no allow_other
  EXPECT_TRUE(is_root_user(""));
  EXPECT_TRUE(is_root_user("root"));
  EXPECT_TRUE(is_root_user("0:1000"));
  EXPECT_FALSE(is_root_user("1000"));
  EXPECT_FALSE(is_root_user("nobody:0"));
  // Without allow_other FUSE serves only the user's host ids: container root and its group;
  // a keep-id container's root is a subordinate id.
  EXPECT_TRUE(fuse_serves_user("", false));
  EXPECT_TRUE(fuse_serves_user("root:0", false));
  EXPECT_FALSE(fuse_serves_user("0:1000", false));
  EXPECT_FALSE(fuse_serves_user("1001:1002", false));
  EXPECT_FALSE(fuse_serves_user("", true));
  EXPECT_FALSE(fuse_serves_user("1001:1002", true));
}

TEST(KeepIdMapping, OwnIdInPlaceTheRestFromTheSubordinateRange) {
  auto m = keep_id_mapping(1001, 100000, 65536);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].container_id, 0u);
  EXPECT_EQ(m[0].host_id, 100000u);
  EXPECT_EQ(m[0].size, 1001u);
  EXPECT_EQ(m[1].container_id, 1001u);
  EXPECT_EQ(m[1].host_id, 1001u);
  EXPECT_EQ(m[1].size, 1u);
  EXPECT_EQ(m[2].container_id, 1002u);
  EXPECT_EQ(m[2].host_id, 101001u);
  EXPECT_EQ(m[2].size, 64535u);
  // A range smaller than the ids below the user's cannot cover them.
  EXPECT_TRUE(keep_id_mapping(70000, 100000, 65536).empty());
  // The user's own id 0 (not rootless in practice) needs no range below.
  EXPECT_EQ(keep_id_mapping(0, 100000, 10).front().container_id, 0u);
}

TEST(UsernsMode, HostAutoOrAClearError) {
  EXPECT_EQ(resolve_userns_mode("auto"), "auto");
  EXPECT_EQ(resolve_userns_mode("host"), "host");
  EXPECT_EQ(resolve_userns_mode(""), "host");
  set_default_userns("auto");
  EXPECT_EQ(resolve_userns_mode(""), "auto");
  set_default_userns("");
  EXPECT_THROW(resolve_userns_mode("keep-id"), Error);
}

TEST(UsernsSpec, MappingsUserNamespaceIdmappedVolumesAndSys) {
  json spec = {
      {"linux",
       {{"namespaces", json::array({{{"type", "pid"}}, {{"type", "network"}, {"path", "/x"}}})}}},
      {"mounts", json::array({{{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}},
                              {{"destination", "/v"},
                               {"type", "bind"},
                               {"source", "/store/volumes/v1"},
                               {"options", {"rbind", "rw"}}},
                              {{"destination", "/h"},
                               {"type", "bind"},
                               {"source", "/store/volumes-not"},
                               {"options", {"rbind", "rw"}}}})}};
  apply_userns_to_spec(spec, IdRange{1u << 30, 65536}, "/store/volumes");
  EXPECT_EQ(spec["linux"]["namespaces"][0]["type"], "user");
  EXPECT_EQ(spec["linux"]["uidMappings"][0]["hostID"], 1u << 30);
  EXPECT_EQ(spec["linux"]["gidMappings"][0]["size"], 65536);
  EXPECT_EQ(spec["mounts"][0]["type"], "bind");  // the netns is joined: no sysfs of its own
  EXPECT_EQ(spec["mounts"][1]["options"].back(), "idmap");
  EXPECT_EQ(spec["mounts"][2]["options"].back(), "rw");
}

}  // namespace
}  // namespace vessel::manager
