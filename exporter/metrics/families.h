// Metric families built from absolute kernel numbers: what a module's read() returns, what the
// poller guards and what every exposition format (exposition/) writes. Label values are repaired to
// valid UTF-8 on the way in, series that end up with the same labels are summed, HELP is kept as
// text (each format escapes it its own way).
//
// Histograms are kept as the kernel keeps them, one count per bucket slot of a native bucket layout
// (metrics/native_buckets.h); the classic cumulative `le` buckets and the native spans are views of
// those counts, computed when a format is written.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/native_buckets.h"

namespace bpfex {

enum class MetricType { Counter, Gauge, Histogram };

struct Label {
  std::string name;
  std::string value;
};

struct Histogram {
  native_buckets::Layout layout;
  std::vector<uint64_t> counts;  // per slot of layout: zero bucket, native buckets, overflow
  double sample_sum = 0;         // seconds
  uint64_t sample_count = 0;     // the sum of counts
  // User programs' histograms (ebpf_exporter's linear, fixed, multiplied exp2 buckets) fit no native
  // schema: when these classic bounds (ascending, +Inf implied) are given, counts are per bucket of
  // them and then +Inf, layout is unused, and no native buckets are exported.
  std::vector<double> upper_bounds;

  struct Bucket {
    uint64_t cumulative_count = 0;
    double upper_bound = 0;  // seconds; +Inf last
  };
  // Classic buckets, cumulative: le = 2^min_exp .. 2^max_exp seconds, then +Inf.
  std::vector<Bucket> classic_buckets() const;
  // The classic bucket of upper bound 2^k seconds (k in min_exp..max_exp), cumulative.
  uint64_t cumulative_at_exp(int k) const;
};

struct Metric {
  std::vector<Label> label;
  double value = 0;     // counters and gauges
  Histogram histogram;  // histograms
};

struct MetricFamily {
  std::string name;
  std::string help;  // valid UTF-8, unescaped
  MetricType type = MetricType::Gauge;
  std::vector<Metric> metric;
};

using Families = std::vector<MetricFamily>;
using LabelValues = std::vector<std::string>;

// A counter or gauge family. Label values are made valid UTF-8 on the way in; values whose labels
// end up equal (two byte strings repaired to the same text, a comm literally named "other") are
// summed, so the output never has duplicate series and no count is lost.
class ScalarFamily {
 public:
  ScalarFamily(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);
  void add(const LabelValues& label_values, double value);
  MetricFamily build() const;

 private:
  std::string name_, help_;
  MetricType type_;
  std::vector<std::string> label_names_;
  std::map<LabelValues, double> values_;
};

inline ScalarFamily counter_family(std::string name, std::string help, std::vector<std::string> labels = {}) {
  return {std::move(name), std::move(help), MetricType::Counter, std::move(labels)};
}
inline ScalarFamily gauge_family(std::string name, std::string help, std::vector<std::string> labels = {}) {
  return {std::move(name), std::move(help), MetricType::Gauge, std::move(labels)};
}

// One series' histogram as the kernel keeps it: a count per slot of layout, the sum in seconds.
struct HistogramData {
  native_buckets::Layout layout;
  std::vector<uint64_t> counts;  // slots() of them (missing ones count 0)
  double sum = 0;
  std::vector<double> upper_bounds;  // classic bounds instead of layout (Histogram::upper_bounds)
  size_t slots() const { return upper_bounds.empty() ? layout.slots() : upper_bounds.size() + 1; }
};

class HistogramFamily {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names = {});
  // Merges into an existing series with the same (repaired) labels.
  void add(const LabelValues& label_values, const HistogramData& data);
  MetricFamily build() const;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::map<LabelValues, HistogramData> values_;
};

// Families of the same name from different modules (each user program exports its own
// bpfex_program_* series) become one family, so that the exposition has each name once.
void merge_same_name(Families& families);

}  // namespace bpfex
