// Building metric families from absolute kernel numbers, keeping counters monotonic across map
// evictions, and writing the text exposition.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bpfex {

using Families = std::vector<prometheus::MetricFamily>;
using LabelValues = std::vector<std::string>;

// A counter or gauge family. Label values are made valid UTF-8 on the way in; values whose labels
// end up equal (two byte strings repaired to the same text, a comm literally named "other") are
// summed, so the output never has duplicate series and no count is lost.
class ScalarFamily {
 public:
  ScalarFamily(std::string name, std::string help, prometheus::MetricType type, std::vector<std::string> label_names);
  void add(const LabelValues& label_values, double value);
  prometheus::MetricFamily build() const;

 private:
  std::string name_, help_;
  prometheus::MetricType type_;
  std::vector<std::string> label_names_;
  std::map<LabelValues, double> values_;
};

inline ScalarFamily counter_family(std::string name, std::string help, std::vector<std::string> labels = {}) {
  return {std::move(name), std::move(help), prometheus::MetricType::Counter, std::move(labels)};
}
inline ScalarFamily gauge_family(std::string name, std::string help, std::vector<std::string> labels = {}) {
  return {std::move(name), std::move(help), prometheus::MetricType::Gauge, std::move(labels)};
}

// Non-cumulative histogram data as the kernel keeps it.
struct HistogramData {
  std::vector<double> upper_bounds;  // ascending, without +Inf
  std::vector<uint64_t> counts;      // counts[i]: observations in (bound[i-1], bound[i]]; one extra for +Inf
  double sum = 0;
};

class HistogramFamily {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names);
  // Merges into an existing series with the same (repaired) labels.
  void add(const LabelValues& label_values, const HistogramData& data);
  prometheus::MetricFamily build() const;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::map<LabelValues, HistogramData> values_;
};

// Keeps every counter (and histogram count, sum and bucket) that a module reports from ever going
// down while bpfex runs: when a kernel map entry is evicted and re-created, its raw value restarts
// near zero; the guard adds what had been seen before. Series that vanish keep their last value,
// unless retire_vanished is set: then they are dropped and forgotten (a series that comes back
// later starts from its new raw value, which Prometheus sees as a counter reset).
class CounterGuard {
 public:
  void apply(Families& families, bool retire_vanished = false);
  size_t tracked_series() const { return series_.size(); }

 private:
  struct Series {
    double last_raw = 0;
    double offset = 0;
  };
  double guard(const std::string& key, double raw);
  std::map<std::string, Series> series_;
  // Last reported metrics per family, to re-emit series that vanished.
  std::map<std::string, std::map<std::string, prometheus::ClientMetric>> last_;
};

// Text exposition format 0.0.4. HELP text is escaped here (prometheus-cpp does not).
std::string serialize_text(const Families& families);
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace bpfex
