// Pieces of the syscall module with no kernel in them, exposed for unit tests: the bucket layout
// (whose index rule is the BPF side's own, kernel/log2_histogram.h) and bucket bound parsing.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace bpfex::syscall_latency {

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

}  // namespace bpfex::syscall_latency
