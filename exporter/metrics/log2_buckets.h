// Latency histograms with log2 buckets, as every latency module exports them (syscall, runqueue,
// block): the bucket layout, whose index rule is the BPF side's own (kernel/log2_histogram.h), and
// the min_bucket/max_bucket options that choose it. One machinery, so that every latency family has
// the same bounds (schema 0 of Prometheus native histograms) and the same option rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bpfex::log2_buckets {

// "1us", "1024ns", "500ms", "17s": one number and unit (parse_fine_duration). nullopt when
// malformed or zero.
std::optional<uint64_t> parse_bucket_bound_ns(std::string_view text);

// Smallest k with 2^k >= ns: the log2 bucket a configured bound rounds up to (bpfex_log2_ceil).
uint32_t ceil_log2(uint64_t ns);

// Latency buckets le=2^min_shift ns .. le=2^(min_shift+count-1) ns, then +Inf.
struct Buckets {
  uint32_t min_shift = 10;
  uint32_t count = 25;

  // Index of the bucket holding a latency of ns: 0 for ns <= 2^min_shift (below range folds into
  // the first bucket), count (+Inf) above 2^(min_shift+count-1). The BPF side's function itself.
  uint32_t index_of(uint64_t ns) const;
  // Upper bounds in seconds, ascending, without +Inf.
  std::vector<double> upper_bounds_seconds() const;
};

// Bounds above this are refused: 2^40 ns, about 18 minutes.
inline constexpr uint32_t kMaxShift = 40;

// Checks for the options: a min_bucket value; a max_bucket value given the module's min_bucket
// text and how many finite buckets its kernel rows hold.
std::optional<std::string> check_bucket_bound(const std::string& text);
std::optional<std::string> check_max_bucket(const std::string& min_bucket, const std::string& max_bucket,
                                            uint32_t max_buckets);

// The layout of valid min_bucket and max_bucket values (after the checks above passed).
Buckets buckets_of(const std::string& min_bucket, const std::string& max_bucket);

}  // namespace bpfex::log2_buckets
