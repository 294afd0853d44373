// Label values and HELP text of any bytes (a task name is any 15 bytes, an interface name nearly
// any 15) through ScalarFamily/HistogramFamily and serialize_text: the output is valid UTF-8, parses
// back under the text format's rules (a strict parser below), and says what went in: each label
// value as its UTF-8 repair, series whose repaired labels are equal summed into one, every value
// and bucket bound as given.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include "exposition/text_format.h"
#include "fuzz.h"
#include "labels/utf8.h"
#include "metrics/families.h"

using bpfex::fuzz::show;

namespace {

constexpr const char* kLabelNames[] = {"comm", "interface", "cgroup", "errno"};
constexpr size_t kMaxFamilies = 4, kMaxSeries = 12, kMaxLabelBytes = 40, kMaxHelpBytes = 80, kMaxBuckets = 8;

// ---------------------------------------------------------------- what went in
struct Expected {
  std::string name, help, type;
  std::vector<std::string> label_names;
  std::map<std::vector<std::string>, double> scalars;
  std::vector<double> bounds;
  struct Histogram {
    std::vector<uint64_t> counts;  // per bucket and +Inf, not cumulative
    double sum = 0;
  };
  std::map<std::vector<std::string>, Histogram> histograms;
};

// ---------------------------------------------------------------- what came out, parsed strictly
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped
  double value = 0;
};

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

size_t parse_name(std::string_view line, size_t at) {
  size_t end = at;
  while (end < line.size() && name_char(line[end], end == at)) ++end;
  return end;
}

// Prometheus reads sample values with Go's ParseFloat: NaN and Inf in any case, with a sign.
// A sample value as the fuzzer gives it, kept within 1e307 in magnitude (sums of a few stay short of DBL_MAX).
// bpfex's values come from u64 counters (at most about 1.8e19): sums of values near DBL_MAX, which
// no module produces, stay out of the way (the input that found it: 1.7976931348623157e308 as a _sum).
double writable(double v) { return std::isfinite(v) && std::fabs(v) > 1e307 ? std::copysign(1e307, v) : v; }

std::optional<double> parse_value(std::string_view s) {
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "nan") return std::nan("");
  if (lower == "+inf" || lower == "inf") return HUGE_VAL;
  if (lower == "-inf") return -HUGE_VAL;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

Sample parse_sample(std::string_view line) {
  Sample s;
  size_t at = parse_name(line, 0);
  FUZZ_CHECK(at > 0, "sample line without a metric name: " + show(line));
  s.name = std::string(line.substr(0, at));
  if (at < line.size() && line[at] == '{') {
    ++at;
    while (at < line.size() && line[at] != '}') {
      const size_t name_end = parse_name(line, at);
      FUZZ_CHECK(name_end > at && name_end + 1 < line.size() && line[name_end] == '=' && line[name_end + 1] == '"',
                 "bad label in " + show(line));
      std::string name(line.substr(at, name_end - at)), value;
      at = name_end + 2;
      for (;; ++at) {
        FUZZ_CHECK(at < line.size(), "unterminated label value in " + show(line));
        if (line[at] == '"') break;
        if (line[at] == '\\') {
          FUZZ_CHECK(at + 1 < line.size(), "escape at the end of " + show(line));
          const char e = line[++at];
          FUZZ_CHECK(e == '\\' || e == '"' || e == 'n', "unknown escape in " + show(line));
          value.push_back(e == 'n' ? '\n' : e);
        } else {
          value.push_back(line[at]);
        }
      }
      s.labels.emplace_back(std::move(name), std::move(value));
      ++at;  // the closing quote
      if (at < line.size() && line[at] == ',') ++at;
    }
    FUZZ_CHECK(at < line.size(), "unterminated label set in " + show(line));
    ++at;  // '}'
  }
  FUZZ_CHECK(at < line.size() && line[at] == ' ', "no space before the value in " + show(line));
  const std::string_view rest = line.substr(at + 1);
  const auto value = parse_value(rest.substr(0, rest.find(' ')));
  FUZZ_CHECK(value.has_value(), "unreadable value in " + show(line));
  s.value = *value;
  return s;
}

// HELP text escapes only backslash and newline.
std::string unescape_help(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    FUZZ_CHECK(i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == 'n'), "bad escape in HELP " + show(s));
    out.push_back(s[++i] == 'n' ? '\n' : '\\');
  }
  return out;
}

// A double as printf's %.17g: enough digits to tell any two apart.
std::string exact(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

bool same_value(double got, double want) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  // Values are written in their shortest round-trip form; a tolerance still for sums of many.
  return std::fabs(got - want) <= 1e-15 * std::max(std::fabs(got), std::fabs(want)) || std::fabs(got - want) < 1e-300;
}

std::string label_value(const Sample& s, std::string_view name) {
  for (const auto& [k, v] : s.labels)
    if (k == name) return v;
  FUZZ_CHECK(false, "sample " + s.name + " has no label " + std::string(name));
  return {};
}

std::vector<std::string> values_of(const Sample& s, const Expected& f) {
  std::vector<std::string> out;
  for (const auto& n : f.label_names) out.push_back(label_value(s, n));
  return out;
}

void compare(const Expected& f, const std::string& help, const std::string& type, const std::vector<Sample>& samples) {
  FUZZ_CHECK(help == f.help, "HELP of " + f.name + ": " + show(help) + ", want " + show(f.help));
  FUZZ_CHECK(type == f.type, "TYPE of " + f.name + ": " + type);
  if (f.type != "histogram") {
    std::map<std::vector<std::string>, double> got;
    for (const auto& s : samples) {
      FUZZ_CHECK(s.name == f.name, "sample " + s.name + " under family " + f.name);
      FUZZ_CHECK(s.labels.size() == f.label_names.size(), "labels of a sample of " + f.name);
      FUZZ_CHECK(got.emplace(values_of(s, f), s.value).second, "duplicate series in " + f.name);
    }
    FUZZ_CHECK(got.size() == f.scalars.size(),
               f.name + ": " + std::to_string(got.size()) + " series, want " + std::to_string(f.scalars.size()));
    for (const auto& [labels, value] : f.scalars) {
      const auto it = got.find(labels);
      FUZZ_CHECK(it != got.end(),
                 f.name + ": a series is missing (first label " + show(labels.empty() ? "" : labels.front()) + ")");
      FUZZ_CHECK(same_value(it->second, value),
                 f.name + ": " + std::to_string(it->second) + ", want " + std::to_string(value));
    }
    return;
  }
  struct Got {
    std::map<double, double> buckets;  // le -> cumulative count
    std::optional<double> sum, count;
  };
  std::map<std::vector<std::string>, Got> got;
  for (const auto& s : samples) {
    Got& g = got[values_of(s, f)];
    if (s.name == f.name + "_bucket") {
      FUZZ_CHECK(s.labels.size() == f.label_names.size() + 1, "labels of a bucket of " + f.name);
      const std::string le = label_value(s, "le");
      const auto bound = parse_value(le);
      FUZZ_CHECK(bound.has_value() && !std::isnan(*bound), "le=" + show(le));
      FUZZ_CHECK(g.buckets.emplace(*bound, s.value).second, "duplicate bucket le=" + show(le));
    } else if (s.name == f.name + "_sum") {
      g.sum = s.value;
    } else {
      FUZZ_CHECK(s.name == f.name + "_count", "sample " + s.name + " under histogram " + f.name);
      g.count = s.value;
    }
  }
  FUZZ_CHECK(got.size() == f.histograms.size(),
             f.name + ": " + std::to_string(got.size()) + " histograms, want " + std::to_string(f.histograms.size()));
  for (const auto& [labels, h] : f.histograms) {
    const auto it = got.find(labels);
    FUZZ_CHECK(it != got.end(), f.name + ": a histogram is missing");
    const Got& g = it->second;
    FUZZ_CHECK(g.sum && g.count && g.buckets.size() == f.bounds.size() + 1, f.name + ": incomplete histogram");
    uint64_t cumulative = 0;
    size_t i = 0;
    for (const auto& [le, count] : g.buckets) {
      // Bounds are written in their shortest form and must read back as the same double.
      const double want_le = i < f.bounds.size() ? f.bounds[i] : HUGE_VAL;
      FUZZ_CHECK(le == want_le,
                 f.name + ": bucket " + std::to_string(i) + " le " + exact(le) + ", want " + exact(want_le));
      cumulative += h.counts[i];  // one count per bound and one for +Inf
      FUZZ_CHECK(count == static_cast<double>(cumulative), f.name + ": bucket " + std::to_string(i));
      ++i;
    }
    FUZZ_CHECK(*g.count == static_cast<double>(cumulative), f.name + ": _count");
    FUZZ_CHECK(same_value(*g.sum, h.sum), f.name + ": _sum");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bpfex::fuzz::Input in(data, size);
  bpfex::Families families;
  std::vector<Expected> expected;
  const size_t nfamilies = 1 + in.byte() % kMaxFamilies;
  for (size_t fi = 0; fi < nfamilies; ++fi) {
    Expected f;
    const uint8_t shape = in.byte();
    f.type = shape % 3 == 0 ? "counter" : shape % 3 == 1 ? "gauge" : "histogram";
    f.name = "bpfex_fuzz_" + std::to_string(fi) + (f.type == "counter" ? "_total" : "");
    const std::string help = in.string(kMaxHelpBytes);
    f.help = bpfex::labels::sanitize_utf8(help);
    for (size_t k = 0; k < (shape / 3) % 4 && k < std::size(kLabelNames); ++k)
      f.label_names.emplace_back(kLabelNames[k]);
    const size_t nseries = in.byte() % (kMaxSeries + 1);
    if (f.type == "histogram") {
      // Ascending bounds, powers of two of seconds plus any mantissa: (1 + m/256) * 2^e. At least
      // one: no bounds means the native layout's buckets (HistogramData::upper_bounds), and a user
      // program's histogram always has one (program_config rejects an empty bucket list).
      const size_t nbounds = 1 + in.byte() % kMaxBuckets;
      int exponent = -40;
      for (size_t b = 0; b < nbounds; ++b) {
        exponent += 1 + in.byte() % 8;
        f.bounds.push_back(std::ldexp(1.0 + in.byte() / 256.0, exponent));
      }
      bpfex::HistogramFamily family(f.name, help, f.label_names);
      for (size_t s = 0; s < nseries; ++s) {
        std::vector<std::string> raw;
        for (size_t k = 0; k < f.label_names.size(); ++k) raw.push_back(in.string(kMaxLabelBytes));
        bpfex::HistogramData h{{}, {}, writable(in.f64()), f.bounds};  // classic bounds, as a user program's
        for (size_t b = 0; b <= f.bounds.size(); ++b) h.counts.push_back(in.u64() >> 33);  // sums stay exact
        family.add(raw, h);
        std::vector<std::string> repaired;
        repaired.reserve(raw.size());
        for (const auto& v : raw) repaired.push_back(bpfex::labels::sanitize_utf8(v));
        auto [it, inserted] = f.histograms.try_emplace(repaired, Expected::Histogram{h.counts, h.sum});
        if (!inserted) {
          for (size_t b = 0; b < h.counts.size(); ++b) it->second.counts[b] += h.counts[b];
          it->second.sum += h.sum;
        }
      }
      families.push_back(family.build());
    } else {
      bpfex::ScalarFamily family(
          f.name, help, f.type == "counter" ? bpfex::MetricType::Counter : bpfex::MetricType::Gauge, f.label_names);
      for (size_t s = 0; s < nseries; ++s) {
        std::vector<std::string> raw;
        for (size_t k = 0; k < f.label_names.size(); ++k) raw.push_back(in.string(kMaxLabelBytes));
        const double value = writable(in.f64());
        family.add(raw, value);
        std::vector<std::string> repaired;
        repaired.reserve(raw.size());
        for (const auto& v : raw) repaired.push_back(bpfex::labels::sanitize_utf8(v));
        f.scalars[repaired] += value;
      }
      families.push_back(family.build());
    }
    expected.push_back(std::move(f));
  }

  const std::string text = bpfex::serialize_text(families);
  FUZZ_CHECK(bpfex::labels::is_valid_utf8(text), "exposition is not valid UTF-8");
  FUZZ_CHECK(text.empty() || text.back() == '\n', "exposition does not end with a newline");

  // Family by family: # HELP (left out when the help is empty), # TYPE, then its samples.
  size_t family = 0, at = 0;
  std::string help, type;
  std::vector<Sample> samples;
  bool open = false;
  auto finish_family = [&] {
    FUZZ_CHECK(family < expected.size(), "more families than went in");
    compare(expected[family], help, type, samples);
    samples.clear();
    help.clear();
    type.clear();
    ++family;
  };
  auto header = [&](std::string_view line) {  // "# HELP name text" or "# TYPE name type"
    const std::string_view rest = line.substr(7);
    const size_t space = rest.find(' ');
    FUZZ_CHECK(
        space != std::string_view::npos && family < expected.size() && rest.substr(0, space) == expected[family].name,
        "header " + show(line));
    return rest.substr(space + 1);
  };
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    const std::string_view line(text.data() + at, end - at);
    at = end + 1;
    if (line.starts_with("# HELP ")) {
      if (open) finish_family();
      open = true;
      help = unescape_help(header(line));
    } else if (line.starts_with("# TYPE ")) {
      if (open && !type.empty()) finish_family();
      open = true;
      type = std::string(header(line));
    } else {
      FUZZ_CHECK(open && !type.empty() && !line.starts_with("#"), "unexpected line " + show(line));
      samples.push_back(parse_sample(line));
    }
  }
  if (open) finish_family();
  FUZZ_CHECK(family == expected.size(),
             std::to_string(family) + " families came out of " + std::to_string(expected.size()));
  return 0;
}
