// Offsets per series that keep counters monotonic, and retiring the series of vanished subjects.
#include "metrics/counter_guard.h"

#include <algorithm>

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

void set_values(const MetricFamily& f, Metric& m, const std::vector<double>& v) {
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

// A histogram's raw values (counts per slot of from, then the sum) in layout to, of the same
// schema: native buckets keep their index, so a bucket maps onto itself; those now below the range
// go to the zero bucket and those above to the overflow, exactly. An old zero bucket (or overflow)
// that the new range splits goes to the new bucket at its old bound, the nearest one that holds
// such values: no count is lost and every classic bucket that existed before stays exact. (A
// narrower zero bucket is still a counter reset to Prometheus' native histograms.)
std::vector<double> remap(const std::vector<double>& values, const native_buckets::Layout& from,
                          const native_buckets::Layout& to) {
  std::vector<double> out(to.slots() + 1, 0.0);
  out.back() = values.back();
  const int32_t overflow = static_cast<int32_t>(to.nbuckets()) + 1;
  for (uint32_t slot = 0; slot + 1 < values.size() && slot < from.slots(); ++slot) {
    // to.native_index(j) == from.native_index(slot): the slot of the same bucket in to.
    const int32_t j = from.native_index(slot) - to.native_index(0);
    out[static_cast<size_t>(std::clamp(j, 0, overflow))] += values[slot];
  }
  return out;
}

}  // namespace

size_t CounterGuard::tracked_series() const {
  size_t n = 0;
  for (const auto& [_, series] : families_) n += series.size();
  return n;
}

void CounterGuard::fit(Series& s, const MetricFamily& f, const Metric& m, size_t n) {
  const native_buckets::Layout& to = m.histogram.layout;
  const native_buckets::Layout& from = s.last.histogram.layout;
  if (f.type == MetricType::Histogram && !s.last_raw.empty() && from != to && from.schema == to.schema) {
    // Same schema, other range: what was reported goes on in the new layout, none of it lost (a
    // new schema is a restart of bpfex, Reloader's fixed settings).
    s.offset = remap(s.offset, from, to);
    s.last_raw = remap(s.last_raw, from, to);
    std::vector<double> reported(s.offset.size());
    for (size_t i = 0; i < reported.size(); ++i) reported[i] = s.offset[i] + s.last_raw[i];
    s.last.histogram.layout = to;
    s.last.histogram.counts.assign(to.slots(), 0);
    set_values(f, s.last, reported);
  }
  if (s.last_raw.size() != n) {  // new (or another schema: start over)
    s.last_raw.assign(n, 0);
    s.offset.assign(n, 0);
  }
}

void CounterGuard::forget_series(const std::string& family, const std::string& label, const std::string& value) {
  const auto f = families_.find(family);
  if (f == families_.end()) return;
  std::erase_if(f->second, [&](const auto& entry) {
    const auto& labels = entry.second.last.label;
    return std::any_of(labels.begin(), labels.end(),
                       [&](const auto& l) { return l.name == label && l.value == value; });
  });
}

void CounterGuard::restart(const Families& baseline) {
  // The new instance's maps start from zero: every series goes on from what was last reported.
  for (auto& [family, known] : families_) {
    for (auto& [key, s] : known) {
      for (size_t i = 0; i < s.offset.size(); ++i) s.offset[i] += s.last_raw[i];
      std::fill(s.last_raw.begin(), s.last_raw.end(), 0.0);
      s.carried = true;
    }
  }
  // What the new instance counted before the old one's last reading is in those values already.
  std::vector<double> raw;
  for (const auto& f : baseline) {
    if (f.type != MetricType::Counter && f.type != MetricType::Histogram) continue;
    auto& known = families_[f.name];
    for (const auto& m : f.metric) {
      Series& s = known[series_key(m)];
      raw_values(f, m, raw);
      fit(s, f, m, raw.size());
      for (size_t i = 0; i < raw.size(); ++i) {
        s.offset[i] -= raw[i];
        s.last_raw[i] = raw[i];
      }
    }
  }
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
      s.carried = false;
      raw_values(f, m, raw);
      fit(s, f, m, raw.size());
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
      } else if (!retire_vanished || it->second.carried) {
        f.metric.push_back(it->second.last);  // evicted from the map, or not counted since a restart
        ++it;
      } else {
        it = known.erase(it);  // forget the series and its offsets
      }
    }
  }
}

}  // namespace bpfex
