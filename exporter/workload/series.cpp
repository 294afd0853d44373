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

std::vector<double> histogram_values(const uint64_t* counts, size_t slots, double sum) {
  std::vector<double> v(counts, counts + slots);
  v.push_back(sum);
  return v;
}

double add_rollup(HistogramFamily& family, const Workloads::Rollup& rollup, const native_buckets::Layout& layout) {
  double capped = 0;
  HistogramData data;
  data.layout = layout;
  for (const auto& s : rollup.series) {
    if (s.values.empty()) continue;
    data.counts.clear();
    for (auto v = s.values.begin(); v + 1 < s.values.end(); ++v) data.counts.push_back(static_cast<uint64_t>(*v));
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
