// Text format 0.0.4 through prometheus-cpp's serializer, with bucket bounds rewritten to their shortest form.
#include "exposition/text_format.h"

#include <prometheus/text_serializer.h>

#include <charconv>
#include <sstream>

namespace bpfex {
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
