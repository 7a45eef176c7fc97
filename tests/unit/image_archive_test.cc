#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "image/archive.h"
#include "image/digest.h"
#include "image/layer.h"
#include "image_test_util.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::image {
namespace {

using json = nlohmann::json;
using testing::ScratchDir;
using testing::TarEntry;
using testing::write_tar;
using testing::write_text;

std::string host_arch() {
#if defined(__aarch64__)
  return "arm64";
#else
  return "amd64";
#endif
}

class ImageArchive : public ::testing::Test {
 protected:
  void SetUp() override {
    // Layer 1: packed (tar+gzip). Layer 2: an uncompressed tar.
    mkdir_p(s_ / "rootfs/bin");
    write_text(s_ / "rootfs/bin/hello", "hello");
    ::chmod((s_ / "rootfs/bin/hello").c_str(), 0755);
    std::string l1 = blobs_.tmp_dir() + "/l1";
    PackedLayer p = pack_layer(s_ / "rootfs", l1);
    EXPECT_EQ(blobs_.adopt_file(l1, p.digest), p.digest);
    write_tar(s_ / "l2.tar", {{.path = "etc/", .type = AE_IFDIR, .perm = 0755},
                              {.path = "etc/motd", .data = "hi"}});
    std::string l2 = blobs_.put_file(s_ / "l2.tar");
    json config = {{"architecture", host_arch()},
                   {"os", "linux"},
                   {"config", {{"Cmd", {"/bin/hello"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {p.diff_id, l2}}}}};
    image_ = store_image(config,
                         {{.digest = p.digest,
                           .media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
                           .diff_id = p.diff_id},
                          {.digest = l2, .media_type = "application/vnd.oci.image.layer.v1.tar"}},
                         blobs_);
  }

  // Loads `path` into a fresh store and checks it is the image we saved.
  StoredImage load_back(const std::string& path, bool same_manifest) {
    BlobStore other(s_ / ("other-" + std::to_string(++loads_)));
    std::vector<StoredImage> imgs = load_images(path, other);
    EXPECT_EQ(imgs.size(), 1u);
    if (imgs.empty()) return {};
    const StoredImage& img = imgs[0];
    EXPECT_EQ(img.config_digest, image_.config_digest);
    EXPECT_EQ(img.config, image_.config);
    if (same_manifest) {
      EXPECT_EQ(img.manifest_digest, image_.manifest_digest);
    }
    EXPECT_TRUE(other.has(img.manifest_digest));
    EXPECT_TRUE(other.has(img.config_digest));
    EXPECT_EQ(img.layers.size(), image_.layers.size());
    for (size_t i = 0; i < img.layers.size() && i < image_.layers.size(); ++i) {
      EXPECT_EQ(img.layers[i].diff_id, image_.layers[i].diff_id);
      EXPECT_TRUE(other.has(img.layers[i].digest));
      EXPECT_EQ(img.layers[i].size, other.size(img.layers[i].digest));
      // Every layer unpacks to its diff_id.
      std::string dst = s_ / ("unpacked-" + std::to_string(loads_) + "-" + std::to_string(i));
      mkdir_p(dst);
      EXPECT_EQ(unpack_layer(other.path(img.layers[i].digest), dst).diff_id, img.layers[i].diff_id);
    }
    json manifest = json::parse(other.read(img.manifest_digest));
    EXPECT_EQ(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    return img;
  }

  ScratchDir s_;
  BlobStore blobs_{s_ / "store"};
  StoredImage image_;
  int loads_ = 0;
};

TEST_F(ImageArchive, StoreImageWritesOciManifest) {
  json m = json::parse(blobs_.read(image_.manifest_digest));
  EXPECT_EQ(m["schemaVersion"], 2);
  EXPECT_EQ(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(m["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
  EXPECT_EQ(m["config"]["digest"], image_.config_digest);
  EXPECT_EQ(m["config"]["size"], blobs_.size(image_.config_digest));
  ASSERT_EQ(m["layers"].size(), 2u);
  EXPECT_EQ(m["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(m["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(m["layers"][1]["digest"], image_.layers[1].digest);
  EXPECT_EQ(image_.layers[1].diff_id, image_.layers[1].digest);  // filled from the config
  EXPECT_EQ(m["layers"][0]["size"], blobs_.size(image_.layers[0].digest));
  EXPECT_THROW(store_image(image_.config, {{.digest = sha256_digest("nope")}}, blobs_), Error);
}

TEST_F(ImageArchive, OciArchiveRoundTrip) {
  save_image(image_, {"example.com/app:1.0", "latest"}, "oci-archive", s_ / "img.tar", blobs_);
  StoredImage img = load_back(s_ / "img.tar", true);
  EXPECT_EQ(img.names, (std::vector<std::string>{"example.com/app:1.0", "latest"}));
  EXPECT_EQ(img.layers[0].digest, image_.layers[0].digest);
  EXPECT_EQ(img.layers[0].media_type, image_.layers[0].media_type);
  // The temporary extraction is gone.
  EXPECT_TRUE(testing::list_tree(s_ / "other-1/tmp").empty());
}

TEST_F(ImageArchive, OciDirRoundTripAndMerge) {
  save_image(image_, {"app:1"}, "oci-dir", s_ / "layout", blobs_);
  EXPECT_TRUE(path_exists(s_ / "layout/oci-layout"));
  StoredImage img = load_back(s_ / "layout", true);
  EXPECT_EQ(img.names, (std::vector<std::string>{"app:1"}));
  // A second save adds a name, a repeated name is not duplicated.
  save_image(image_, {"app:2"}, "oci-dir", s_ / "layout", blobs_);
  save_image(image_, {"app:2"}, "oci-dir", s_ / "layout", blobs_);
  img = load_back(s_ / "layout", true);
  EXPECT_EQ(img.names, (std::vector<std::string>{"app:1", "app:2"}));
}

TEST_F(ImageArchive, DockerArchiveRoundTrip) {
  save_image(image_, {"docker.io/library/app:latest"}, "docker-archive", s_ / "d.tar", blobs_);
  // Check the docker-specific files by unpacking the archive.
  mkdir_p(s_ / "d");
  UnpackOptions plain;
  plain.interpret_whiteouts = false;
  unpack_layer(s_ / "d.tar", s_ / "d", plain);
  json manifest = json::parse(read_file(s_ / "d/manifest.json"));
  ASSERT_EQ(manifest.size(), 1u);
  EXPECT_EQ(manifest[0]["RepoTags"], json({"docker.io/library/app:latest"}));
  EXPECT_EQ(manifest[0]["Config"], digest_hex(image_.config_digest) + ".json");
  ASSERT_EQ(manifest[0]["Layers"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    std::string rel = manifest[0]["Layers"][i];
    // docker load wants uncompressed layers matching the diff_ids.
    EXPECT_EQ(sha256_file_digest(s_ / ("d/" + rel)), image_.layers[i].diff_id) << rel;
  }
  json repos = json::parse(read_file(s_ / "d/repositories"));
  EXPECT_EQ(repos["docker.io/library/app"]["latest"], digest_hex(image_.layers[1].diff_id));

  StoredImage img = load_back(s_ / "d.tar", false);
  EXPECT_EQ(img.names, (std::vector<std::string>{"docker.io/library/app:latest"}));
  for (const auto& l : img.layers) {
    EXPECT_EQ(l.media_type, "application/vnd.oci.image.layer.v1.tar");
    EXPECT_EQ(l.digest, l.diff_id);
  }
}

TEST_F(ImageArchive, DockerArchiveWithGzipLayersAndBlobPaths) {
  // Newer docker writes blobs/sha256/<hex> paths; some tools keep layers compressed.
  std::string gz = blobs_.path(image_.layers[0].digest);
  std::string cfg = blobs_.path(image_.config_digest);
  std::string l2 = blobs_.path(image_.layers[1].digest);
  mkdir_p(s_ / "dk/blobs/sha256");
  std::string h0 = digest_hex(image_.layers[0].digest), h1 = digest_hex(image_.layers[1].digest);
  std::string hc = digest_hex(image_.config_digest);
  write_text(s_ / ("dk/blobs/sha256/" + h0), read_file(gz));
  write_text(s_ / ("dk/blobs/sha256/" + h1), read_file(l2));
  write_text(s_ / ("dk/blobs/sha256/" + hc), read_file(cfg));
  json manifest = json::array({{{"Config", "blobs/sha256/" + hc},
                                {"RepoTags", {"x:1"}},
                                {"Layers", {"blobs/sha256/" + h0, "blobs/sha256/" + h1}}}});
  write_text(s_ / "dk/manifest.json", manifest.dump());
  ASSERT_EQ(std::system(("tar -C " + s_.path() + "/dk -cf " + s_.path() + "/dk.tar .").c_str()), 0);
  StoredImage img = load_back(s_ / "dk.tar", false);
  EXPECT_EQ(img.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(img.layers[0].digest, image_.layers[0].digest);
  EXPECT_EQ(img.names, (std::vector<std::string>{"x:1"}));
}

TEST_F(ImageArchive, CorruptBlobIsRejected) {
  save_image(image_, {"app:1"}, "oci-dir", s_ / "layout", blobs_);
  std::string victim = s_ / ("layout/blobs/sha256/" + digest_hex(image_.layers[1].digest));
  std::string data = read_file(victim);
  data[600] ^= 1;
  ::unlink(victim.c_str());  // it may be a hard link to the store's blob
  write_text(victim, data);
  BlobStore other(s_ / "other");
  try {
    load_images(s_ / "layout", other);
    FAIL() << "corrupt blob accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("digest mismatch"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(other.has(image_.layers[1].digest));
  EXPECT_FALSE(other.has(sha256_digest(data)));
}

// A layout written by hand with docker media types, a nested index, and an index entry for
// another architecture.
TEST_F(ImageArchive, DockerMediaTypesAndNestedIndex) {
  std::string lay = s_ / "dl";
  mkdir_p(lay + "/blobs/sha256");
  auto put = [&](const std::string& data) {
    std::string d = sha256_digest(data);
    write_text(lay + "/blobs/sha256/" + digest_hex(d), data);
    return d;
  };
  auto copy = [&](const std::string& digest) { return put(blobs_.read(digest)); };
  std::string cfg = copy(image_.config_digest);
  std::string l0 = copy(image_.layers[0].digest), l1 = copy(image_.layers[1].digest);
  auto size = [&](const std::string& d) { return blobs_.size(d); };
  json dm = {{"schemaVersion", 2},
             {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
             {"config",
              {{"mediaType", "application/vnd.docker.container.image.v1+json"},
               {"digest", cfg},
               {"size", size(cfg)}}},
             {"layers",
              {{{"mediaType", "application/vnd.docker.image.rootfs.diff.tar.gzip"},
                {"digest", l0},
                {"size", size(l0)}},
               {{"mediaType", "application/vnd.docker.image.rootfs.diff.tar"},
                {"digest", l1},
                {"size", size(l1)}}}}};
  std::string dm_s = dm.dump();
  std::string dmd = put(dm_s);
  json other_cfg = image_.config;
  other_cfg["architecture"] = "s390x";
  other_cfg["rootfs"]["diff_ids"] = json::array();
  std::string ocfg = put(other_cfg.dump());
  json om = {{"schemaVersion", 2},
             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
             {"config",
              {{"mediaType", "application/vnd.oci.image.config.v1+json"},
               {"digest", ocfg},
               {"size", other_cfg.dump().size()}}},
             {"layers", json::array()}};
  std::string om_s = om.dump();
  std::string omd = put(om_s);
  json list = {{"schemaVersion", 2},
               {"mediaType", "application/vnd.docker.distribution.manifest.list.v2+json"},
               {"manifests",
                {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                  {"digest", omd},
                  {"size", om_s.size()},
                  {"platform", {{"os", "linux"}, {"architecture", "s390x"}}}},
                 {{"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                  {"digest", dmd},
                  {"size", dm_s.size()},
                  {"platform", {{"os", "linux"}, {"architecture", host_arch()}}}}}}};
  std::string list_s = list.dump();
  std::string listd = put(list_s);
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                   {"digest", listd},
                   {"size", list_s.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", "latest"}}}}}}};
  write_text(lay + "/index.json", index.dump());
  write_text(lay + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");

  StoredImage img = load_back(lay, false);
  EXPECT_EQ(img.names, (std::vector<std::string>{"latest"}));
  EXPECT_EQ(img.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(img.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(img.layers[0].digest, image_.layers[0].digest);
}

TEST_F(ImageArchive, RejectsWhatIsNotAnImage) {
  write_tar(s_ / "junk.tar", {{.path = "hello", .data = "x"}});
  BlobStore other(s_ / "other");
  EXPECT_THROW(load_images(s_ / "junk.tar", other), Error);
  mkdir_p(s_ / "emptydir");
  EXPECT_THROW(load_images(s_ / "emptydir", other), Error);
  EXPECT_THROW(load_images(s_ / "missing", other), Error);
  EXPECT_THROW(save_image(image_, {}, "qcow2", s_ / "x", blobs_), Error);
  // A docker-archive whose layer path climbs out of the archive.
  write_tar(s_ / "evil.tar",
            {{.path = "manifest.json",
              .data = R"([{"Config":"../../etc/passwd","RepoTags":[],"Layers":[]}])"}});
  EXPECT_THROW(load_images(s_ / "evil.tar", other), Error);
}

TEST_F(ImageArchive, SkopeoReadsOurOciArchive) {
  if (std::system("command -v skopeo >/dev/null 2>&1") != 0) GTEST_SKIP() << "skopeo not installed";
  save_image(image_, {"app:1"}, "oci-archive", s_ / "img.tar", blobs_);
  std::string cmd = "skopeo copy --quiet oci-archive:" + s_.path() + "/img.tar oci:" + s_.path() +
                    "/sk:app:1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  BlobStore other(s_ / "other");
  std::vector<StoredImage> imgs = load_images(s_ / "sk", other);
  ASSERT_EQ(imgs.size(), 1u);
  EXPECT_EQ(imgs[0].config_digest, image_.config_digest);
  EXPECT_EQ(imgs[0].names, (std::vector<std::string>{"app:1"}));
}

}  // namespace
}  // namespace vessel::image
