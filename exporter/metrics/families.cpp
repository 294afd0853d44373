// Scalar and histogram families: UTF-8 repaired labels, merged duplicates, cumulative buckets.
#include "metrics/families.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>

#include "labels/utf8.h"

namespace bpfex {
namespace {

LabelValues sanitized(const LabelValues& values) {
  LabelValues out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(labels::sanitize_utf8(v));
  return out;
}

// HELP may not contain raw newlines or backslashes in the text format.
std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return labels::sanitize_utf8(out);
}

std::vector<prometheus::ClientMetric::Label> make_labels(const std::vector<std::string>& names,
                                                         const LabelValues& values) {
  std::vector<prometheus::ClientMetric::Label> out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) out.push_back({names[i], values[i]});
  return out;
}

}  // namespace

ScalarFamily::ScalarFamily(std::string name, std::string help, prometheus::MetricType type,
                           std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

void ScalarFamily::add(const LabelValues& label_values, double value) { values_[sanitized(label_values)] += value; }

prometheus::MetricFamily ScalarFamily::build() const {
  prometheus::MetricFamily f;
  f.name = name_;
  f.help = escape_help(help_);
  f.type = type_;
  for (const auto& [labels, value] : values_) {
    prometheus::ClientMetric m;
    m.label = make_labels(label_names_, labels);
    if (type_ == prometheus::MetricType::Counter)
      m.counter.value = value;
    else
      m.gauge.value = value;
    f.metric.push_back(std::move(m));
  }
  return f;
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void HistogramFamily::add(const LabelValues& label_values, const HistogramData& data) {
  auto [it, inserted] = values_.try_emplace(sanitized(label_values), data);
  if (inserted) return;
  HistogramData& h = it->second;
  for (size_t i = 0; i < h.counts.size() && i < data.counts.size(); ++i) h.counts[i] += data.counts[i];
  h.sum += data.sum;
}

prometheus::MetricFamily HistogramFamily::build() const {
  prometheus::MetricFamily f;
  f.name = name_;
  f.help = escape_help(help_);
  f.type = prometheus::MetricType::Histogram;
  for (const auto& [labels, h] : values_) {
    prometheus::ClientMetric m;
    m.label = make_labels(label_names_, labels);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.upper_bounds.size(); ++i) {
      cumulative += i < h.counts.size() ? h.counts[i] : 0;
      m.histogram.bucket.push_back({cumulative, h.upper_bounds[i]});
    }
    for (size_t i = h.upper_bounds.size(); i < h.counts.size(); ++i) cumulative += h.counts[i];
    m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = h.sum;
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
