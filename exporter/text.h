// Text helpers with no dependencies: UTF-8 repair for label values, durations.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace bpfex {

// Returns bytes as valid UTF-8: every byte that is not part of a well-formed sequence (overlong,
// surrogate, truncated, > U+10FFFF) becomes U+FFFD. Valid input is returned unchanged.
std::string sanitize_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

// Prometheus-style duration: one or more <number><unit> with units ms, s, m, h, d ("1s", "1m30s",
// "250ms"). nullopt when malformed.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);
// One <number><unit> with units ns, us, ms, s, m, h, d ("1us", "17s"), for bounds finer than a
// millisecond. nullopt when malformed or past INT64_MAX ns.
std::optional<std::chrono::nanoseconds> parse_fine_duration(std::string_view text);
// The shortest Prometheus-style spelling: 1500ms -> "1s500ms", 60s -> "1m".
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace bpfex

namespace bpfex {

// A --web.listen-address: ":9650" (all addresses), "127.0.0.1:9650", "[::1]:9650", "localhost:9650".
struct ListenAddress {
  std::string host;  // "" for all addresses; IPv6 without brackets
  unsigned port = 0;
  bool ipv6 = false;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace bpfex
