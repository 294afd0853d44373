// A user program's histogram map as Prometheus buckets: ebpf_exporter's exporter/histogram.go rules.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "metrics/families.h"
#include "programs/program_config.h"

namespace bpfex::programs {

// The upper bounds of a histogram's buckets, ascending: exp2 2^k, exp2zero 0 then 2^(k-1), linear k,
// fixed each of bucket_keys, times bucket_multiplier, for k from bucket_min to bucket_max (inclusive).
std::vector<double> bucket_bounds(const Metric& metric);

// The map's bucket key -> count turned into a histogram. The sum is the value at key bucket_max + 1
// (fixed: the last bucket key + 1) times the multiplier. Unlike ebpf_exporter, which drops them, keys
// outside the range are counted: below it in the first bucket, above it in +Inf (they are
// observations all the same; the count stays the number of observations).
HistogramData histogram_of(const std::map<uint64_t, uint64_t>& buckets, const Metric& metric);

}  // namespace bpfex::programs
