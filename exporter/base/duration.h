// Durations in configuration values: parsing (Prometheus style, and one finer term for histogram
// bounds) and the shortest spelling back.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace bpfex {

// Prometheus-style duration: one or more <number><unit> with units ms, s, m, h, d ("1s", "1m30s",
// "250ms"). nullopt when malformed.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);
// One <number><unit> with units ns, us, ms, s, m, h, d ("1us", "17s"), for bounds finer than a
// millisecond. nullopt when malformed or past INT64_MAX ns.
std::optional<std::chrono::nanoseconds> parse_fine_duration(std::string_view text);
// The shortest Prometheus-style spelling: 1500ms -> "1s500ms", 60s -> "1m".
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace bpfex
