// MetricFamily messages from the families, through the code protoc generates from metrics.proto.
#include "exposition/protobuf_format.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cmath>

#include "gen/proto/metrics.pb.h"

namespace bpfex {
namespace {

namespace pb = io::prometheus::client;

// Gaps of up to this many empty buckets stay inside a span (a zero delta each) instead of opening
// a new span (two varints).
constexpr uint32_t kMaxGapInSpan = 2;

void set_labels(pb::Metric& out, const Metric& m) {
  for (const auto& l : m.label) {
    pb::LabelPair* p = out.add_label();
    p->set_name(l.name);
    p->set_value(l.value);
  }
}

void set_histogram(pb::Histogram& out, const Histogram& h) {
  out.set_sample_count(h.sample_count);
  out.set_sample_sum(h.sample_sum);
  for (const auto& b : h.classic_buckets()) {
    if (std::isinf(b.upper_bound)) continue;  // implied by sample_count
    pb::Bucket* bucket = out.add_bucket();
    bucket->set_cumulative_count(b.cumulative_count);
    bucket->set_upper_bound(b.upper_bound);
  }
  if (!h.upper_bounds.empty()) return;  // classic buckets only (a user program's)
  out.set_schema(static_cast<int32_t>(h.layout.schema));
  out.set_zero_threshold(h.layout.zero_threshold_seconds());
  out.set_zero_count(h.counts.empty() ? 0 : h.counts[0]);
  const NativeSpans native = native_spans(h);
  for (const auto& [offset, length] : native.spans) {
    pb::BucketSpan* span = out.add_positive_span();
    span->set_offset(offset);
    span->set_length(length);
  }
  for (int64_t d : native.deltas) out.add_positive_delta(d);
  // No bucket yet: an empty span says "native" to every Prometheus version (the zero threshold
  // alone does to 2.40-2.4x).
  if (native.spans.empty()) {
    pb::BucketSpan* span = out.add_positive_span();
    span->set_offset(0);
    span->set_length(0);
  }
}

}  // namespace

NativeSpans native_spans(const Histogram& h) {
  NativeSpans out;
  int64_t previous_count = 0;
  int32_t next_index = 0;  // the index just after the current span's last bucket
  bool open = false;
  for (uint32_t slot = 1; slot < h.counts.size(); ++slot) {
    if (h.counts[slot] == 0) continue;
    const int32_t index = h.layout.native_index(slot);
    if (open && static_cast<uint32_t>(index - next_index) <= kMaxGapInSpan) {
      for (; next_index < index; ++next_index) {  // empty buckets inside the span
        out.deltas.push_back(-previous_count);
        previous_count = 0;
        ++out.spans.back().second;
      }
    } else {
      out.spans.emplace_back(open ? index - next_index : index, 0);
      open = true;
    }
    const auto count = static_cast<int64_t>(h.counts[slot]);
    out.deltas.push_back(count - previous_count);
    previous_count = count;
    ++out.spans.back().second;
    next_index = index + 1;
  }
  return out;
}

std::string serialize_protobuf(const Families& families) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    pb::MetricFamily family;
    for (const auto& f : families) {
      family.Clear();
      family.set_name(f.name);
      family.set_help(f.help);
      family.set_type(f.type == MetricType::Counter ? pb::COUNTER
                      : f.type == MetricType::Gauge ? pb::GAUGE
                                                    : pb::HISTOGRAM);
      for (const Metric& m : f.metric) {
        pb::Metric* metric = family.add_metric();
        set_labels(*metric, m);
        if (f.type == MetricType::Counter)
          metric->mutable_counter()->set_value(m.value);
        else if (f.type == MetricType::Gauge)
          metric->mutable_gauge()->set_value(m.value);
        else
          set_histogram(*metric->mutable_histogram(), m.histogram);
      }
      // The length-delimited framing Prometheus reads (a varint, then the message).
      coded.WriteVarint32(static_cast<uint32_t>(family.ByteSizeLong()));
      family.SerializeWithCachedSizes(&coded);
    }
  }  // the streams flush into out when they go
  return out;
}

}  // namespace bpfex
