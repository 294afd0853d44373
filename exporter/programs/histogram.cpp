// Bucket keys to bounds, one rule per bucket type.
#include "programs/histogram.h"

#include <algorithm>
#include <cmath>

namespace bpfex::programs {
namespace {

// The map keys of the buckets, in order.
std::vector<uint64_t> bucket_keys(const Metric& m) {
  std::vector<uint64_t> keys;
  if (m.bucket_type == BucketType::fixed) {
    for (double k : m.bucket_keys) keys.push_back(static_cast<uint64_t>(k));
  } else {
    for (int64_t k = m.bucket_min; k <= m.bucket_max; ++k) keys.push_back(static_cast<uint64_t>(k));
  }
  return keys;
}

double bound_of(uint64_t key, const Metric& m) {
  const auto k = static_cast<double>(key);
  switch (m.bucket_type) {
    case BucketType::exp2: return std::exp2(k) * m.bucket_multiplier;
    case BucketType::exp2zero: return key == 0 ? 0 : std::exp2(k - 1) * m.bucket_multiplier;
    case BucketType::linear:
    case BucketType::fixed: return k * m.bucket_multiplier;
  }
  return k;
}

}  // namespace

std::vector<double> bucket_bounds(const Metric& metric) {
  std::vector<double> bounds;
  for (uint64_t k : bucket_keys(metric)) bounds.push_back(bound_of(k, metric));
  return bounds;
}

HistogramData histogram_of(const std::map<uint64_t, uint64_t>& buckets, const Metric& metric) {
  const std::vector<uint64_t> keys = bucket_keys(metric);
  HistogramData h;
  h.upper_bounds = bucket_bounds(metric);
  h.counts.assign(keys.size() + 1, 0);
  const uint64_t sum_key = keys.back() + 1;
  for (const auto& [key, count] : buckets) {
    if (key == sum_key) {
      h.sum = static_cast<double>(count) * metric.bucket_multiplier;
      continue;
    }
    // The first bucket whose key is at least this one (fixed keys between two buckets count in the
    // upper one); past the last, +Inf.
    const size_t i = std::lower_bound(keys.begin(), keys.end(), key) - keys.begin();
    h.counts[i] += count;
  }
  return h;
}

}  // namespace bpfex::programs
