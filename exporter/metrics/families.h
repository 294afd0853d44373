// Metric families built from absolute kernel numbers: what a module's read() returns. Label values
// are repaired to valid UTF-8 on the way in, series that end up with the same labels are summed, and
// HELP text is escaped for the text format (prometheus-cpp does neither).
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

// Families of the same name from different modules (each user program exports its own
// bpfex_program_* series) become one family, so that the exposition has each name once.
void merge_same_name(Families& families);

}  // namespace bpfex
