#include "metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>

#include "text.h"

namespace bpfex {
namespace {

LabelValues sanitized(const LabelValues& values) {
  LabelValues out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(sanitize_utf8(v));
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
  return sanitize_utf8(out);
}

std::vector<prometheus::ClientMetric::Label> make_labels(const std::vector<std::string>& names,
                                                         const LabelValues& values) {
  std::vector<prometheus::ClientMetric::Label> out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) out.push_back({names[i], values[i]});
  return out;
}

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

namespace {

// prometheus-cpp prints doubles with 16 significant digits, so a bucket bound such as 2^13 ns in
// seconds comes out as le="8.192000000000001e-06". Rewrites every le label value to the shortest
// spelling that reads back as the same double (le="8.192e-06"): the same bound for Prometheus,
// readable for people. Only sample lines, only a label named exactly le (preceded by '{' or ',').
std::string shortest_le_values(std::string text) {
  std::string out;
  out.reserve(text.size());
  size_t line_start = 0;
  while (line_start < text.size()) {
    size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    std::string_view line(text.data() + line_start, line_end - line_start);
    size_t copied = 0;
    if (!line.starts_with('#')) {
      for (size_t at = line.find("le=\""); at != std::string_view::npos; at = line.find("le=\"", at + 1)) {
        if (at == 0 || (line[at - 1] != '{' && line[at - 1] != ',')) continue;
        const size_t value_start = at + 4, value_end = line.find('"', value_start);
        if (value_end == std::string_view::npos) break;
        const std::string_view value = line.substr(value_start, value_end - value_start);
        double bound = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), bound);
        if (ec != std::errc() || end != value.data() + value.size()) continue;  // "+Inf" stays
        char buf[32];
        auto written = std::to_chars(buf, buf + sizeof buf, bound);
        if (written.ec != std::errc()) continue;
        out.append(line.substr(copied, value_start - copied));
        out.append(buf, written.ptr);
        copied = value_end;
      }
    }
    out.append(line.substr(copied));
    if (line_end < text.size()) out.push_back('\n');
    line_start = line_end + 1;
  }
  return out;
}

}  // namespace

std::string serialize_text(const Families& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return shortest_le_values(out.str());
}

}  // namespace bpfex
