// One file fetched over HTTP(S) with libcurl (ADD of a URL in vessel build).
#pragma once

#include <cstdint>
#include <string>

namespace vessel::image {

struct Download {
  std::string digest;  // sha256:... of the content
  uint64_t size = 0;
  int64_t mtime = -1;  // the Last-Modified header, seconds since the epoch; -1 if none
};

// GETs `url` (http or https only, redirects followed) into the new file `path` (mode 0600).
// A status that is not 2xx, or a transfer error, fails naming the URL and the status or the
// error; the file is removed then.
Download http_download(const std::string& url, const std::string& path);

// The file name a URL's path ends in ("" when it ends in "/" or has no path): query and
// fragment left out, percent-escapes decoded.
std::string url_file_name(const std::string& url);

}  // namespace vessel::image
