// Offsets per series that keep counters monotonic, and retiring the series of vanished subjects.
#include "metrics/counter_guard.h"

namespace bpfex {
namespace {

std::string series_key(const Metric& m) {
  std::string key;
  for (const auto& l : m.label) {
    key += l.name;
    key.push_back('\x01');
    key += l.value;
    key.push_back('\x02');
  }
  return key;
}

// The raw values of a series: a counter's value, or a histogram's counts and then its sum.
void raw_values(const MetricFamily& f, const Metric& m, std::vector<double>& out) {
  out.clear();
  if (f.type == MetricType::Counter) {
    out.push_back(m.value);
    return;
  }
  for (uint64_t c : m.histogram.counts) out.push_back(static_cast<double>(c));
  out.push_back(m.histogram.sample_sum);
}

void set_values(MetricFamily& f, Metric& m, const std::vector<double>& v) {
  if (f.type == MetricType::Counter) {
    m.value = v[0];
    return;
  }
  Histogram& h = m.histogram;
  h.sample_count = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    h.counts[i] = static_cast<uint64_t>(v[i]);
    h.sample_count += h.counts[i];
  }
  h.sample_sum = v.back();
}

}  // namespace

size_t CounterGuard::tracked_series() const {
  size_t n = 0;
  for (const auto& [_, series] : families_) n += series.size();
  return n;
}

void CounterGuard::apply(Families& families, bool retire_vanished) {
  std::vector<double> raw, guarded;
  for (auto& f : families) {
    if (f.type != MetricType::Counter && f.type != MetricType::Histogram) continue;
    auto& known = families_[f.name];
    for (auto& [_, s] : known) s.present = false;
    for (auto& m : f.metric) {
      Series& s = known[series_key(m)];
      s.present = true;
      raw_values(f, m, raw);
      if (s.last_raw.size() != raw.size()) {  // new (or a different shape: start over)
        s.last_raw.assign(raw.size(), 0);
        s.offset.assign(raw.size(), 0);
      }
      bool restarted = false;
      for (size_t i = 0; i < raw.size(); ++i) restarted = restarted || raw[i] < s.last_raw[i];
      guarded.resize(raw.size());
      for (size_t i = 0; i < raw.size(); ++i) {
        if (restarted) s.offset[i] += s.last_raw[i];  // the kernel's values restarted: keep what was seen
        s.last_raw[i] = raw[i];
        guarded[i] = s.offset[i] + raw[i];
      }
      set_values(f, m, guarded);
      s.last = m;
    }
    for (auto it = known.begin(); it != known.end();) {
      if (it->second.present) {
        ++it;
      } else if (!retire_vanished) {
        f.metric.push_back(it->second.last);  // evicted from the map: keep reporting it
        ++it;
      } else {
        it = known.erase(it);  // forget the series and its offsets
      }
    }
  }
}

}  // namespace bpfex
