// Text format 0.0.4 through prometheus-cpp's serializer, with bucket bounds rewritten to their shortest form.
#include "exposition/text_format.h"

#include <prometheus/text_serializer.h>

#include <charconv>
#include <cmath>
#include <sstream>
#include <vector>

namespace bpfex {
namespace {

// The finite bucket bounds of every histogram, in the order prometheus-cpp writes them (family by
// family, series by series, bucket by bucket).
std::vector<double> finite_bounds(const Families& families) {
  std::vector<double> out;
  for (const auto& family : families) {
    if (family.type != prometheus::MetricType::Histogram) continue;
    for (const auto& metric : family.metric)
      for (const auto& bucket : metric.histogram.bucket)
        if (std::isfinite(bucket.upper_bound)) out.push_back(bucket.upper_bound);
  }
  return out;
}

// prometheus-cpp prints doubles with 16 significant digits, so a bucket bound such as 2^13 ns in
// seconds comes out as le="8.192000000000001e-06", and some bounds do not come back from those 16
// digits at all (found by tests/fuzz/exposition: 1.4959368854761124e-08 was written as a different
// double, 1.495936885476112e-08). Rewrites every le label value to the shortest spelling that reads
// back as the bound itself (le="8.192e-06"): the same bound for Prometheus, readable for people.
// Only sample lines, and there the last le label (prometheus-cpp writes it last; a label value
// cannot hold an unescaped '"', so an earlier `,le="` is inside a value).
std::string shortest_le_values(const std::string& text, const std::vector<double>& bounds) {
  std::string out;
  out.reserve(text.size());
  size_t line_start = 0, next_bound = 0;
  while (line_start < text.size()) {
    size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    const std::string_view line(text.data() + line_start, line_end - line_start);
    size_t copied = 0;
    size_t at = line.starts_with('#') ? std::string_view::npos : line.rfind("le=\"");
    while (at != std::string_view::npos && at != 0 && line[at - 1] != '{' && line[at - 1] != ',')
      at = line.rfind("le=\"", at - 1);
    if (at != std::string_view::npos && at != 0) {
      const size_t value_start = at + 4, value_end = line.find('"', value_start);
      const std::string_view value =
          line.substr(value_start, value_end == std::string_view::npos ? 0 : value_end - value_start);
      double printed = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), printed);
      if (value_end != std::string_view::npos && ec == std::errc() && end == value.data() + value.size()) {
        // The bound this line is for: 16 digits are within a few units in the last place of it.
        double bound = printed;
        if (next_bound < bounds.size() &&
            std::fabs(bounds[next_bound] - printed) <= 1e-15 * std::fabs(bounds[next_bound]))
          bound = bounds[next_bound++];
        char buf[32];
        auto written = std::to_chars(buf, buf + sizeof buf, bound);
        if (written.ec == std::errc()) {
          out.append(line.substr(0, value_start));
          out.append(buf, written.ptr);
          copied = value_end;
        }
      }  // "+Inf" stays
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
  return shortest_le_values(out.str(), finite_bounds(families));
}

}  // namespace bpfex
