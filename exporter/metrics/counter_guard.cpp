// Offsets per series that keep counters monotonic, and retiring the series of vanished subjects.
#include "metrics/counter_guard.h"

namespace bpfex {
namespace {

std::string series_key(const prometheus::ClientMetric& m) {
  std::string key;
  for (const auto& l : m.label) {
    key += l.name;
    key.push_back('\x01');
    key += l.value;
    key.push_back('\x02');
  }
  return key;
}

}  // namespace

void CounterGuard::restart(const Families& baseline) {
  for (auto& [key, s] : series_) {
    s.offset += s.last_raw;  // what was last reported
    s.last_raw = 0;
  }
  auto rebase = [&](const std::string& key, double raw) {
    Series& s = series_[key];
    s.offset -= raw;
    s.last_raw = raw;
  };
  for (const auto& f : baseline) {
    for (const auto& m : f.metric) {
      const std::string key = f.name + '\0' + series_key(m);
      if (f.type == prometheus::MetricType::Counter) {
        rebase(key, m.counter.value);
      } else if (f.type == prometheus::MetricType::Histogram) {
        const auto& h = m.histogram;
        rebase(key + "count", static_cast<double>(h.sample_count));
        rebase(key + "sum", h.sample_sum);
        for (size_t i = 0; i < h.bucket.size(); ++i)
          rebase(key + "b" + std::to_string(i), static_cast<double>(h.bucket[i].cumulative_count));
      }
    }
  }
}

double CounterGuard::guard(const std::string& key, double raw) {
  Series& s = series_[key];
  if (raw < s.last_raw) s.offset += s.last_raw;  // the kernel's value restarted: keep what was seen
  s.last_raw = raw;
  return s.offset + raw;
}

void CounterGuard::apply(Families& families, bool retire_vanished) {
  for (auto& f : families) {
    if (f.type != prometheus::MetricType::Counter && f.type != prometheus::MetricType::Histogram) continue;
    auto& last = last_[f.name];
    std::map<std::string, bool> present;
    for (auto& m : f.metric) {
      const std::string key = f.name + '\0' + series_key(m);
      present[series_key(m)] = true;
      if (f.type == prometheus::MetricType::Counter) {
        m.counter.value = guard(key, m.counter.value);
      } else {
        auto& h = m.histogram;
        h.sample_count = static_cast<uint64_t>(guard(key + "count", static_cast<double>(h.sample_count)));
        h.sample_sum = guard(key + "sum", h.sample_sum);
        for (size_t i = 0; i < h.bucket.size(); ++i) {
          h.bucket[i].cumulative_count = static_cast<uint64_t>(
              guard(key + "b" + std::to_string(i), static_cast<double>(h.bucket[i].cumulative_count)));
        }
      }
      last[series_key(m)] = m;
    }
    for (auto it = last.begin(); it != last.end();) {
      if (present.count(it->first)) {
        ++it;
      } else if (!retire_vanished) {
        f.metric.push_back(it->second);  // evicted from the map: keep reporting it
        ++it;
      } else {
        // Forget the series and its offsets ("<family>\0<labels>" is a prefix of all its keys).
        const std::string prefix = f.name + '\0' + it->first;
        for (auto s = series_.lower_bound(prefix); s != series_.end() && s->first.starts_with(prefix);)
          s = series_.erase(s);
        it = last.erase(it);
      }
    }
  }
}

}  // namespace bpfex
