// write_tree_tar (the tar side of `vessel cp` and `vessel export`) and the parsing of cp's
// endpoints.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

#include "image/tree_tar.h"
#include "image_test_util.h"
#include "manager/copy.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"

namespace vessel::image {
namespace {

using testing::ScratchDir;
using testing::write_text;

struct Listed {
  char type = '?';  // f, d, l (symlink), h (hard link)
  std::string target;
  std::string content;
};

// name -> what the tar at `path` holds.
std::map<std::string, Listed> read_tar(const std::string& path) {
  std::map<std::string, Listed> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 1 << 16), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Listed l;
    if (archive_entry_hardlink(e)) {
      l.type = 'h';
      l.target = archive_entry_hardlink(e);
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      l.type = 'l';
      l.target = archive_entry_symlink(e);
    } else if (archive_entry_filetype(e) == AE_IFDIR) {
      l.type = 'd';
    } else {
      l.type = 'f';
      char buf[256];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) l.content.append(buf, n);
    }
    out[archive_entry_pathname(e)] = l;
  }
  archive_read_free(a);
  return out;
}

std::map<std::string, Listed> tar_of(int src, const std::string& name, const std::string& out) {
  UniqueFd fd = open_or_throw(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  write_tree_tar(src, name, fd.get());
  return read_tar(out);
}

TEST(TreeTar, SymlinksAreStoredNeverFollowed) {
  ScratchDir s;
  std::string t = s / "tree";
  mkdir_p(t + "/sub");
  write_text(t + "/sub/f", "F\n");
  ASSERT_EQ(::link((t + "/sub/f").c_str(), (t + "/sub/g").c_str()), 0);
  ASSERT_EQ(::symlink("/etc", (t + "/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../../../..", (t + "/up").c_str()), 0);
  UniqueFd root = open_or_throw(t, O_PATH | O_DIRECTORY);

  auto named = tar_of(root.get(), "top", s / "a.tar");
  EXPECT_EQ(named["top/"].type, 'd');
  EXPECT_EQ(named["top/abs"].type, 'l');
  EXPECT_EQ(named["top/abs"].target, "/etc");
  EXPECT_EQ(named["top/up"].target, "../../../..");
  EXPECT_EQ(named["top/sub/f"].content, "F\n");
  EXPECT_EQ(named["top/sub/g"].type, 'h');
  EXPECT_EQ(named["top/sub/g"].target, "top/sub/f");
  EXPECT_EQ(named.count("top/abs/passwd"), 0u);
  EXPECT_EQ(named.size(), 6u);

  auto contents = tar_of(root.get(), "", s / "b.tar");  // contents only
  EXPECT_EQ(contents.count("sub/"), 1u);
  EXPECT_EQ(contents.count("abs"), 1u);
  EXPECT_EQ(contents.size(), 5u);

  // A symlink opened as itself (O_PATH|O_NOFOLLOW) is one symlink entry.
  UniqueFd link(::open((t + "/abs").c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  ASSERT_TRUE(link);
  auto one = tar_of(link.get(), "renamed", s / "c.tar");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one["renamed"].type, 'l');
  EXPECT_EQ(one["renamed"].target, "/etc");

  // A file, renamed.
  UniqueFd file(::open((t + "/sub/f").c_str(), O_PATH | O_CLOEXEC));
  auto f = tar_of(file.get(), "copy", s / "d.tar");
  EXPECT_EQ(f["copy"].content, "F\n");
  EXPECT_THROW(tar_of(file.get(), "", s / "e.tar"), Error);
}

TEST(CopyEndpoint, ParsesContainerHostAndStream) {
  using manager::CopyEndpoint;
  auto c = CopyEndpoint::parse("web:/etc/hosts");
  EXPECT_EQ(c.container, "web");
  EXPECT_EQ(c.path, "/etc/hosts");
  EXPECT_EQ(CopyEndpoint::parse("web:").path, "/");
  EXPECT_TRUE(CopyEndpoint::parse("-").stream);
  for (const char* host : {"/a:b", "./x:y", "dir/a:b", "plain", "."}) {
    auto h = CopyEndpoint::parse(host);
    EXPECT_EQ(h.container, "") << host;
    EXPECT_EQ(h.path, host);
  }
  EXPECT_THROW(CopyEndpoint::parse(":/x"), Error);
}

}  // namespace
}  // namespace vessel::image
