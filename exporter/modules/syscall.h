// Pieces of the syscall module with no kernel in them, exposed for unit tests: the bucket layout
// (which must agree with bucket_of() in bpf/syscall.bpf.c), bucket bound parsing and errno labels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bpfex::syscall_latency {

// "1us", "1024ns", "500ms", "17s": one number and unit (parse_fine_duration). nullopt when
// malformed or zero.
std::optional<uint64_t> parse_bucket_bound_ns(std::string_view text);

// Smallest k with 2^k >= ns: the log2 bucket a configured bound rounds up to.
uint32_t ceil_log2(uint64_t ns);

// Latency buckets le=2^min_shift ns .. le=2^(min_shift+count-1) ns, then +Inf.
struct Buckets {
  uint32_t min_shift = 10;
  uint32_t count = 25;

  // Index of the bucket holding a latency of ns: 0 for ns <= 2^min_shift (below range folds into
  // the first bucket), count (+Inf) above 2^(min_shift+count-1). Mirrors the BPF side.
  uint32_t index_of(uint64_t ns) const;
  // Upper bounds in seconds, ascending, without +Inf.
  std::vector<double> upper_bounds_seconds() const;
};

// errno label for a positive errno as a syscall returns it at exit: the C library's name, or the
// kernel's name for the internal restart codes (ERESTARTSYS...) that the sys_exit tracepoint
// still sees before signal handling rewrites them.
std::string errno_label(uint32_t err);

}  // namespace bpfex::syscall_latency
