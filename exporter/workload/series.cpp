// Family plumbing for attributed series, the capped-label set.
#include "workload/series.h"

#include "labels/overflow.h"

namespace bpfex::workload {

std::vector<std::string> with_workload_labels(std::vector<std::string> names) {
  names.insert(names.end(), kWorkloadLabelNames.begin(), kWorkloadLabelNames.end());
  return names;
}

LabelValues with_other_workload(LabelValues values) {
  for (const char* v : {"", "", "", "other"}) values.emplace_back(v);
  return values;
}

double add_rollup(ScalarFamily& family, const Workloads::Rollup& rollup) {
  double capped = 0;
  for (const auto& s : rollup.series) {
    family.add(s.labels, s.values.empty() ? 0 : s.values[0]);
    if (!s.capped.empty()) capped += s.capped[0];
  }
  return capped;
}

std::vector<double> histogram_values(const unsigned long long* counts, size_t buckets, double sum) {
  std::vector<double> v(counts, counts + buckets);
  v.push_back(sum);
  return v;
}

double add_rollup(HistogramFamily& family, const Workloads::Rollup& rollup, const std::vector<double>& upper_bounds) {
  double capped = 0;
  HistogramData data;
  data.upper_bounds = upper_bounds;
  for (const auto& s : rollup.series) {
    if (s.values.empty()) continue;
    data.counts.assign(s.values.begin(), s.values.end() - 1);
    data.sum = s.values.back();
    family.add(s.labels, data);
    for (size_t i = 0; i + 1 < s.capped.size(); ++i) capped += s.capped[i];
  }
  return capped;
}

std::string CappedLabels::label(const std::string& value) {
  if (named_.count(value)) return value;
  if (named_.size() >= cap_) return std::string(labels::kOverflowLabel);
  named_.insert(value);
  return value;
}

}  // namespace bpfex::workload
