// gzip for /metrics bodies (zlib), once per poll and format, never per request.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace bpfex {

// A gzip member (RFC 1952) holding data, as `Content-Encoding: gzip` wants it.
std::string gzip(std::string_view data);
// The data of a gzip stream; for tests and tools.
Result<std::string> gunzip(std::string_view compressed);

}  // namespace bpfex
