// What the fuzz targets share: properties that abort with a message when they fail (libFuzzer then
// keeps the input as a crash), a reader that cuts one input into the fields a target needs, and the
// checks every message shown to a person must pass.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "labels/utf8.h"

// A property of the code under test. A failure is a bug: it prints what failed and aborts, which
// libFuzzer reports as a crash and saves the input for (crash-<sha1> in the artifact directory).
#define FUZZ_CHECK(cond, detail)                                                                   \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      const std::string& fuzz_detail_ = (detail); /* a temporary lives as long as the reference */ \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n  %s\n", __FILE__, __LINE__, #cond,   \
                   fuzz_detail_.c_str());                                                          \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

namespace bpfex::fuzz {

// Bytes as a C-like literal, for failure messages (inputs may hold NULs and invalid UTF-8).
inline std::string show(std::string_view s, size_t max = 200) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  out += s.size() > max ? "\"... (" + std::to_string(s.size()) + " bytes)" : "\"";
  return out;
}

// A message bpfex prints (an error, a log value): valid UTF-8, no control bytes (outside text is
// quoted with its control bytes escaped), and short: outside values are cut, never echoed whole.
inline void check_message(std::string_view message, size_t max_bytes = 1024) {
  FUZZ_CHECK(!message.empty(), "empty message");
  FUZZ_CHECK(labels::is_valid_utf8(message), "message is not valid UTF-8: " + show(message));
  for (char c : message) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u != 0x7f, "message has a control byte: " + show(message));
  }
  FUZZ_CHECK(message.size() <= max_bytes, "message of " + std::to_string(message.size()) + " bytes: " + show(message));
}

// Cuts one fuzz input into fields, front to back; an exhausted input yields zeros and empty strings.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }
  uint8_t byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
    return v;
  }
  double f64() {
    const uint64_t bits = u64();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  // A string of up to max bytes, its length taken from one byte.
  std::string string(size_t max) {
    const size_t n = std::min<size_t>(byte(), max);
    const std::string_view s = rest_.substr(0, n);
    rest_.remove_prefix(s.size());
    return std::string(s);
  }
  // The bytes up to the next delimiter (dropped) or to the end.
  std::string until(char delimiter) {
    const size_t at = rest_.find(delimiter);
    const std::string_view s = rest_.substr(0, at);
    rest_.remove_prefix(at == std::string_view::npos ? rest_.size() : at + 1);
    return std::string(s);
  }
  std::string rest() {
    std::string s(rest_);
    rest_ = {};
    return s;
  }

 private:
  std::string_view rest_;
};

}  // namespace bpfex::fuzz
