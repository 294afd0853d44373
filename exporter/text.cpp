#include "text.h"

#include <cstdint>

namespace bpfex {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when it is not one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;  // continuation byte, 0xC0/0xC1 (overlong) or 0xF5.. (beyond U+10FFFF)
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    size_t n = utf8_sequence_length(bytes, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view bytes) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 8);
  for (size_t i = 0; i < bytes.size();) {
    size_t n = utf8_sequence_length(bytes, i);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

namespace {

// One <number><unit> term at text[i], in nanoseconds; advances i past it. The units below a
// millisecond (ns, us) only when fine: Prometheus durations do not have them.
std::optional<int64_t> duration_term_ns(std::string_view text, size_t& i, bool fine) {
  uint64_t number = 0;
  size_t digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (number > (UINT64_MAX - 9) / 10) return std::nullopt;
    number = number * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  const size_t unit_start = i;
  while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
  const std::string_view unit = text.substr(unit_start, i - unit_start);
  uint64_t ns_per_unit = 0;
  if (fine && unit == "ns")
    ns_per_unit = 1;
  else if (fine && unit == "us")
    ns_per_unit = 1'000ULL;
  else if (unit == "ms")
    ns_per_unit = 1'000'000ULL;
  else if (unit == "s")
    ns_per_unit = 1'000'000'000ULL;
  else if (unit == "m")
    ns_per_unit = 60ULL * 1'000'000'000ULL;
  else if (unit == "h")
    ns_per_unit = 3600ULL * 1'000'000'000ULL;
  else if (unit == "d")
    ns_per_unit = 86400ULL * 1'000'000'000ULL;
  else
    return std::nullopt;
  if (number > static_cast<uint64_t>(INT64_MAX) / ns_per_unit) return std::nullopt;
  return static_cast<int64_t>(number * ns_per_unit);
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  using std::chrono::nanoseconds;
  if (text.empty()) return std::nullopt;
  nanoseconds total{0};
  size_t i = 0;
  while (i < text.size()) {
    auto part = duration_term_ns(text, i, /*fine=*/false);
    if (!part || total.count() > INT64_MAX - *part) return std::nullopt;
    total += nanoseconds(*part);
  }
  return total;
}

std::optional<std::chrono::nanoseconds> parse_fine_duration(std::string_view text) {
  size_t i = 0;
  auto ns = duration_term_ns(text, i, /*fine=*/true);
  if (!ns || i != text.size()) return std::nullopt;
  return std::chrono::nanoseconds(*ns);
}

std::string format_duration(std::chrono::nanoseconds d) {
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms == 0) return "0s";
  std::string out;
  const std::pair<int64_t, const char*> units[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
  for (auto [size, name] : units) {
    if (ms >= size) {
      out += std::to_string(ms / size) + name;
      ms %= size;
    }
  }
  return out;
}

}  // namespace bpfex

#include <arpa/inet.h>

namespace bpfex {

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p == 0 || p > 65535) return std::nullopt;
  ListenAddress out;
  out.port = p;
  if (host.empty()) return out;
  if (host == "localhost") host = "127.0.0.1";
  std::string h(host);
  unsigned char buf[16];
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
    if (inet_pton(AF_INET6, h.c_str(), buf) != 1) return std::nullopt;
    out.ipv6 = true;
  } else if (inet_pton(AF_INET, h.c_str(), buf) != 1) {
    return std::nullopt;
  }
  out.host = h;
  return out;
}

}  // namespace bpfex
