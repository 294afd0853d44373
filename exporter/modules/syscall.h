// Pieces of the syscall module with no kernel in them, exposed for unit tests: the bucket layout
// and bucket bound parsing, which are the latency histograms' shared machinery
// (metrics/log2_buckets.h) under the names the syscall module's tests use.
#pragma once

#include "metrics/log2_buckets.h"

namespace bpfex::syscall_latency {

using log2_buckets::Buckets;
using log2_buckets::ceil_log2;
using log2_buckets::parse_bucket_bound_ns;

}  // namespace bpfex::syscall_latency
