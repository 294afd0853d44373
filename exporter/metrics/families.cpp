// Scalar and histogram families: UTF-8 repaired labels and help, merged duplicates, classic views.
#include "metrics/families.h"

#include <cmath>
#include <limits>

#include "labels/utf8.h"

namespace bpfex {
namespace {

LabelValues sanitized(const LabelValues& values) {
  LabelValues out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(labels::sanitize_utf8(v));
  return out;
}

std::vector<Label> make_labels(const std::vector<std::string>& names, const LabelValues& values) {
  std::vector<Label> out;
  out.reserve(names.size());
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) out.push_back({names[i], values[i]});
  return out;
}

}  // namespace

uint64_t Histogram::cumulative_at_exp(int k) const {
  const size_t last = static_cast<size_t>(k - layout.min_exp) << layout.schema;
  uint64_t sum = 0;
  for (size_t i = 0; i <= last && i < counts.size(); ++i) sum += counts[i];
  return sum;
}

std::vector<Histogram::Bucket> Histogram::classic_buckets() const {
  std::vector<Bucket> out;
  if (!upper_bounds.empty()) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < upper_bounds.size(); ++i) {
      cumulative += i < counts.size() ? counts[i] : 0;
      out.push_back({cumulative, upper_bounds[i]});
    }
    out.push_back({sample_count, std::numeric_limits<double>::infinity()});
    return out;
  }
  out.reserve(static_cast<size_t>(layout.max_exp - layout.min_exp) + 2);
  const size_t step = size_t{1} << layout.schema;
  uint64_t cumulative = counts.empty() ? 0 : counts[0];  // the zero bucket: le = 2^min_exp
  size_t slot = 1;
  for (int k = layout.min_exp; k <= layout.max_exp; ++k) {
    if (k > layout.min_exp)
      for (size_t end = slot + step; slot < end; ++slot) cumulative += slot < counts.size() ? counts[slot] : 0;
    out.push_back({cumulative, std::ldexp(1.0, k)});
  }
  out.push_back({sample_count, std::numeric_limits<double>::infinity()});
  return out;
}

ScalarFamily::ScalarFamily(std::string name, std::string help, MetricType type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

void ScalarFamily::add(const LabelValues& label_values, double value) { values_[sanitized(label_values)] += value; }

MetricFamily ScalarFamily::build() const {
  MetricFamily f;
  f.name = name_;
  f.help = labels::sanitize_utf8(help_);
  f.type = type_;
  f.metric.reserve(values_.size());
  for (const auto& [labels, value] : values_) {
    Metric m;
    m.label = make_labels(label_names_, labels);
    m.value = value;
    f.metric.push_back(std::move(m));
  }
  return f;
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void HistogramFamily::add(const LabelValues& label_values, const HistogramData& data) {
  auto [it, inserted] = values_.try_emplace(sanitized(label_values), data);
  HistogramData& h = it->second;
  h.counts.resize(h.slots(), 0);
  if (inserted) return;
  for (size_t i = 0; i < h.counts.size() && i < data.counts.size(); ++i) h.counts[i] += data.counts[i];
  h.sum += data.sum;
}

MetricFamily HistogramFamily::build() const {
  MetricFamily f;
  f.name = name_;
  f.help = labels::sanitize_utf8(help_);
  f.type = MetricType::Histogram;
  f.metric.reserve(values_.size());
  for (const auto& [labels, h] : values_) {
    Metric m;
    m.label = make_labels(label_names_, labels);
    m.histogram.layout = h.layout;
    m.histogram.upper_bounds = h.upper_bounds;
    m.histogram.counts = h.counts;
    m.histogram.sample_sum = h.sum;
    for (uint64_t c : h.counts) m.histogram.sample_count += c;
    f.metric.push_back(std::move(m));
  }
  return f;
}

void merge_same_name(Families& families) {
  std::map<std::string, size_t> first;
  Families out;
  out.reserve(families.size());
  for (auto& f : families) {
    auto [it, inserted] = first.try_emplace(f.name, out.size());
    if (inserted) {
      out.push_back(std::move(f));
      continue;
    }
    auto& into = out[it->second].metric;
    into.insert(into.end(), std::make_move_iterator(f.metric.begin()), std::make_move_iterator(f.metric.end()));
  }
  families = std::move(out);
}

}  // namespace bpfex
