// The delimited protobuf exposition format (io.prometheus.client.MetricFamily, metrics.proto), the
// one that carries native histograms: what Prometheus asks for with native histograms on.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/families.h"

namespace bpfex {

// Every family as a length-delimited MetricFamily message, encoded by libprotobuf(-lite).
// Histograms carry both their classic buckets (le = powers of two of seconds, +Inf left out as
// client_golang does) and their native buckets: schema, zero threshold 2^min_exp s and its count,
// positive spans and deltas (consecutive buckets in one span across gaps of at most two empty
// buckets, which costs less than a new span).
std::string serialize_protobuf(const Families& families);
inline constexpr std::string_view kProtobufContentType =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

// Native buckets as spans and deltas, exposed for tests: (offset, length) pairs and deltas.
struct NativeSpans {
  std::vector<std::pair<int32_t, uint32_t>> spans;
  std::vector<int64_t> deltas;
};
NativeSpans native_spans(const Histogram& h);

}  // namespace bpfex
