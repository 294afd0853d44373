// zlib's deflate with a gzip wrapper (windowBits 15 + 16).
#include "exposition/compression.h"

#include <zlib.h>

namespace bpfex {
namespace {

// Level 6 (zlib's default) compresses bpfex's text about 12x; bodies are compressed once per poll,
// so the scrape path never pays for it (bench/scrape measures both).
constexpr int kLevel = 6;
constexpr int kGzipWindow = 15 + 16;  // 32 KiB window, gzip header and trailer

}  // namespace

std::string gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, kLevel, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);  // deflateBound: one call always finishes
  out.resize(rc == Z_STREAM_END ? z.total_out : 0);
  deflateEnd(&z);
  return out;
}

Result<std::string> gunzip(std::string_view compressed) {
  z_stream z{};
  if (inflateInit2(&z, kGzipWindow) != Z_OK) return Error{EINVAL, "gunzip: inflateInit2 failed"};
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // truncated input
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return Error{EINVAL, "gunzip: not a complete gzip stream"};
  return out;
}

}  // namespace bpfex
