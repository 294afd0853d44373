// Text 0.0.4 and OpenMetrics 1.0.0 writers: one pass over the families, straight into a string.
#include "exposition/text_format.h"

#include "exposition/numbers.h"

namespace bpfex {
namespace {

using exposition::append_go_float;
using exposition::append_help;
using exposition::append_label_value;
using exposition::append_om_float;
using exposition::append_uint;
using exposition::append_value;

enum class Flavour { text, openmetrics };

// name{labels[,le="bound"]} — the sample name and labels of one line, without the value.
void append_series(std::string& out, std::string_view name, std::string_view suffix, const Metric& m, const double* le,
                   Flavour flavour) {
  out += name;
  out += suffix;
  if (m.label.empty() && !le) return;
  out.push_back('{');
  bool first = true;
  for (const auto& l : m.label) {
    if (!first) out.push_back(',');
    first = false;
    out += l.name;
    out += "=\"";
    append_label_value(out, l.value);
    out.push_back('"');
  }
  if (le) {
    if (!first) out.push_back(',');
    out += "le=\"";
    if (flavour == Flavour::openmetrics)
      append_om_float(out, *le);
    else
      append_go_float(out, *le);
    out.push_back('"');
  }
  out.push_back('}');
}

// A unit OpenMetrics can name: the family name's last word when it is a base unit bpfex uses.
std::string_view unit_of(std::string_view name) {
  for (std::string_view unit : {"seconds", "bytes"}) {
    if (name.size() > unit.size() + 1 && name.ends_with(unit) && name[name.size() - unit.size() - 1] == '_')
      return unit;
  }
  return {};
}

void write_family(std::string& out, const MetricFamily& f, Flavour flavour) {
  const bool om = flavour == Flavour::openmetrics;
  // OpenMetrics names a counter family without its _total (the sample keeps it).
  std::string_view family = f.name;
  if (om && f.type == MetricType::Counter && family.ends_with("_total")) family.remove_suffix(6);
  const char* type = f.type == MetricType::Counter ? "counter" : f.type == MetricType::Gauge ? "gauge" : "histogram";
  if (om && f.type == MetricType::Counter && !f.name.ends_with("_total")) type = "unknown";  // not a valid OM counter
  auto help = [&] {
    out += "# HELP ";
    out += family;
    out.push_back(' ');
    append_help(out, f.help, om);
    out.push_back('\n');
  };
  auto type_line = [&] {
    out += "# TYPE ";
    out += family;
    out.push_back(' ');
    out += type;
    out.push_back('\n');
  };
  if (om) {  // TYPE, UNIT, HELP, in the order the specification recommends
    type_line();
    if (std::string_view unit = unit_of(family); !unit.empty()) {
      out += "# UNIT ";
      out += family;
      out.push_back(' ');
      out += unit;
      out.push_back('\n');
    }
    if (!f.help.empty()) help();
  } else {
    help();
    type_line();
  }
  for (const Metric& m : f.metric) {
    if (f.type != MetricType::Histogram) {
      append_series(out, f.name, "", m, nullptr, flavour);
      out.push_back(' ');
      if (om)
        append_om_float(out, m.value);
      else
        append_value(out, m.value);
      out.push_back('\n');
      continue;
    }
    const Histogram& h = m.histogram;
    for (const auto& b : h.classic_buckets()) {
      append_series(out, f.name, "_bucket", m, &b.upper_bound, flavour);
      out.push_back(' ');
      append_uint(out, b.cumulative_count);
      out.push_back('\n');
    }
    append_series(out, f.name, "_sum", m, nullptr, flavour);
    out.push_back(' ');
    if (om)
      append_om_float(out, h.sample_sum);
    else
      append_value(out, h.sample_sum);
    out.push_back('\n');
    append_series(out, f.name, "_count", m, nullptr, flavour);
    out.push_back(' ');
    append_uint(out, h.sample_count);
    out.push_back('\n');
  }
}

std::string serialize(const Families& families, Flavour flavour) {
  std::string out;
  size_t estimate = 0;
  for (const auto& f : families) estimate += 128 + f.metric.size() * (f.type == MetricType::Histogram ? 2048 : 96);
  out.reserve(estimate);
  for (const auto& f : families) write_family(out, f, flavour);
  if (flavour == Flavour::openmetrics) out += "# EOF\n";
  return out;
}

}  // namespace

std::string serialize_text(const Families& families) { return serialize(families, Flavour::text); }

std::string serialize_openmetrics(const Families& families) { return serialize(families, Flavour::openmetrics); }

}  // namespace bpfex
