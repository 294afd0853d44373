// The log2 bucket layout and its options, for every latency histogram.
#include "metrics/log2_buckets.h"

#include <cmath>

#include "base/duration.h"
#include "base/quote.h"
#include "kernel/log2_histogram.h"

namespace bpfex::log2_buckets {

std::optional<uint64_t> parse_bucket_bound_ns(std::string_view text) {
  auto d = parse_fine_duration(text);
  if (!d || d->count() <= 0) return std::nullopt;
  return static_cast<uint64_t>(d->count());
}

uint32_t ceil_log2(uint64_t ns) { return bpfex_log2_ceil(ns); }

uint32_t Buckets::index_of(uint64_t ns) const { return bpfex_bucket_index(ns, min_shift, count); }

std::vector<double> Buckets::upper_bounds_seconds() const {
  std::vector<double> bounds;
  bounds.reserve(count);
  for (uint32_t i = 0; i < count; ++i) bounds.push_back(std::ldexp(1.0, static_cast<int>(min_shift + i)) / 1e9);
  return bounds;
}

std::optional<std::string> check_bucket_bound(const std::string& text) {
  auto ns = parse_bucket_bound_ns(text);
  if (!ns) return "invalid bucket bound " + quote_value(text) + " (a number and a unit: ns, us, ms or s; e.g. 1us)";
  if (ceil_log2(*ns) > kMaxShift)
    return "bucket bound " + quote_value(text) + " is above the limit of 2^40ns (about 18m)";
  return std::nullopt;
}

std::optional<std::string> check_max_bucket(const std::string& min_bucket, const std::string& max_bucket,
                                            uint32_t max_buckets) {
  if (auto problem = check_bucket_bound(max_bucket)) return problem;
  auto min = parse_bucket_bound_ns(min_bucket);
  if (!min) return std::nullopt;  // min_bucket's own error says it
  const uint32_t lo = ceil_log2(*min), hi = ceil_log2(*parse_bucket_bound_ns(max_bucket));
  if (hi < lo) return "max_bucket must not be below min_bucket (" + min_bucket + ")";
  if (hi - lo + 1 > max_buckets)
    return "at most " + std::to_string(max_buckets) + " buckets: max_bucket may be at most 2^" +
           std::to_string(lo + max_buckets - 1) + "ns for this min_bucket";
  return std::nullopt;
}

Buckets buckets_of(const std::string& min_bucket, const std::string& max_bucket) {
  const uint32_t lo = ceil_log2(parse_bucket_bound_ns(min_bucket).value_or(1024));
  const uint32_t hi = ceil_log2(parse_bucket_bound_ns(max_bucket).value_or(uint64_t{1} << 34));
  return Buckets{lo, hi - lo + 1};
}

}  // namespace bpfex::log2_buckets
