// Image metadata as archives carry it: an OCI layout's index.json, manifest and config, or a
// docker-archive's manifest.json and config, loaded into a throw-away blob store.
//
// The input is up to three documents separated by a line "---". Mode (first byte, even): an
// OCI layout whose index.json is document 1, its manifest document 2 and its config document
// 3, stored as blobs; "@M" and "@C" in the text stand for the manifest's and the config's
// digest (which the fuzzer cannot compute). Odd: a docker-archive tar with manifest.json
// (document 1, "@C" is the config's file name), layer.tar (2) and the config (3).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "image/archive.h"
#include "image/blob_store.h"
#include "image/digest.h"

namespace {

std::vector<std::string> split_docs(const std::string& s) {
  std::vector<std::string> docs;
  size_t pos = 0;
  while (docs.size() < 2) {
    size_t sep = s.find("\n---\n", pos);
    if (sep == std::string::npos) break;
    docs.push_back(s.substr(pos, sep - pos));
    pos = sep + 5;
  }
  docs.push_back(s.substr(pos));
  while (docs.size() < 3) docs.emplace_back();
  return docs;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

void put(const std::string& path, const std::string& data) {
  vessel::write_file(path, data, O_WRONLY | O_CREAT | O_TRUNC);
}

std::string hex_of(const std::string& digest) { return digest.substr(digest.find(':') + 1); }

void write_tar(const std::string& path,
               const std::vector<std::pair<std::string, std::string>>& files) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) std::abort();
  for (const auto& [name, data] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  std::vector<std::string> docs =
      split_docs(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  fuzz::Scratch scratch;
  vessel::image::BlobStore blobs(scratch.path() + "/store");
  std::string config = docs[2];
  std::string config_digest = vessel::image::sha256_digest(config);
  if (data[0] % 2 == 0) {
    std::string layout = scratch.path() + "/layout";
    ::mkdir(layout.c_str(), 0755);
    ::mkdir((layout + "/blobs").c_str(), 0755);
    ::mkdir((layout + "/blobs/sha256").c_str(), 0755);
    std::string manifest = docs[1];
    replace_all(manifest, "@C", config_digest);
    std::string manifest_digest = vessel::image::sha256_digest(manifest);
    std::string index = docs[0];
    replace_all(index, "@M", manifest_digest);
    replace_all(index, "@C", config_digest);
    put(layout + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    put(layout + "/index.json", index);
    put(layout + "/blobs/sha256/" + hex_of(manifest_digest), manifest);
    put(layout + "/blobs/sha256/" + hex_of(config_digest), config);
    fuzz::expect_clean_errors([&] { vessel::image::load_images(layout, blobs); });
  } else {
    std::string manifest = docs[0];
    replace_all(manifest, "@C", hex_of(config_digest) + ".json");
    std::string tar = scratch.path() + "/image.tar";
    write_tar(tar, {{"manifest.json", manifest},
                    {hex_of(config_digest) + ".json", config},
                    {"layer.tar", docs[1]}});
    fuzz::expect_clean_errors([&] { vessel::image::load_images(tar, blobs); });
  }
  return 0;
}
