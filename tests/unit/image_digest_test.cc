#include <gtest/gtest.h>
#include <sys/stat.h>

#include "image/blob_store.h"
#include "image/digest.h"
#include "image_test_util.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::image {
namespace {

using testing::list_tree;
using testing::ScratchDir;
using testing::write_text;

constexpr char kEmpty[] = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbc[] = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(ImageDigest, KnownVectors) {
  EXPECT_EQ(sha256_digest(""), kEmpty);
  EXPECT_EQ(sha256_digest("abc"), kAbc);
  Sha256 h;
  h.update("a");
  h.update("");
  h.update("bc");
  EXPECT_EQ(h.digest(), kAbc);
}

TEST(ImageDigest, FileDigest) {
  ScratchDir dir;
  write_text(dir / "f", "abc");
  EXPECT_EQ(sha256_file_digest(dir / "f"), kAbc);
  EXPECT_THROW(sha256_file_digest(dir / "missing"), Error);
}

TEST(ImageDigest, Validation) {
  EXPECT_TRUE(is_valid_digest(kEmpty));
  EXPECT_FALSE(is_valid_digest("sha256:abc"));
  EXPECT_FALSE(is_valid_digest(std::string(kEmpty).replace(7, 1, "E")));
  EXPECT_FALSE(is_valid_digest(std::string("sha512:") + std::string(kEmpty).substr(7)));
  EXPECT_FALSE(is_valid_digest(std::string("sha256:../") + std::string(kEmpty).substr(10)));
  EXPECT_EQ(digest_hex(kAbc), std::string(kAbc).substr(7));
  EXPECT_THROW(digest_hex("sha256:zz"), Error);
}

TEST(ImageBlobStore, PutAndRead) {
  ScratchDir dir;
  BlobStore store(dir.path());
  std::string d = store.put("abc");
  EXPECT_EQ(d, kAbc);
  EXPECT_TRUE(store.has(d));
  EXPECT_EQ(store.path(d), dir.path() + "/blobs/sha256/" + std::string(kAbc).substr(7));
  EXPECT_EQ(store.read(d), "abc");
  EXPECT_EQ(store.size(d), 3u);
  EXPECT_EQ(store.put("abc"), d);  // idempotent
  store.remove(d);
  EXPECT_FALSE(store.has(d));
  EXPECT_THROW(store.read(d), Error);
  EXPECT_FALSE(store.has("not-a-digest"));
}

TEST(ImageBlobStore, PutFileVerifiesDigest) {
  ScratchDir dir;
  BlobStore store(dir / "store");
  write_text(dir / "src", "abc");
  try {
    store.put_file(dir / "src", kEmpty);
    FAIL() << "mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("digest mismatch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(kEmpty), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store.has(kEmpty));
  EXPECT_FALSE(store.has(kAbc));
  EXPECT_TRUE(list_tree(dir / "store/blobs/sha256").empty()) << "temporary file left behind";

  EXPECT_EQ(store.put_file(dir / "src", kAbc), kAbc);
  EXPECT_EQ(store.read(kAbc), "abc");
  struct stat st;
  ASSERT_EQ(::stat(store.path(kAbc).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_TRUE(path_exists(dir / "src"));  // copied, not moved
}

TEST(ImageBlobStore, AdoptFileMovesAfterVerifying) {
  ScratchDir dir;
  BlobStore store(dir / "store");
  write_text(dir / "src", "abc");
  EXPECT_THROW(store.adopt_file(dir / "src", kEmpty), Error);
  EXPECT_TRUE(path_exists(dir / "src"));
  EXPECT_FALSE(store.has(kAbc));
  EXPECT_EQ(store.adopt_file(dir / "src"), kAbc);
  EXPECT_FALSE(path_exists(dir / "src"));
  EXPECT_EQ(store.read(kAbc), "abc");
}

}  // namespace
}  // namespace vessel::image
