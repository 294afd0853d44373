// Duration parsing and formatting: one term parser for both the Prometheus and the fine forms.
#include "base/duration.h"

#include <cstdint>

namespace bpfex {
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
