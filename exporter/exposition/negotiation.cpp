// Accept and Accept-Encoding parsing: comma-separated clauses, ';' parameters, q-values.
#include "exposition/negotiation.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exposition/protobuf_format.h"
#include "exposition/text_format.h"

namespace bpfex {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Splits on sep outside double-quoted strings (a quoted parameter value may hold a comma).
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && quoted) {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (s[i] == sep && !quoted) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

std::string unquote(std::string_view v) {
  v = trim(v);
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) ++i;
    out.push_back(v[i]);
  }
  return out;
}

// A q-value: 0..1 (RFC 9110 allows up to three decimals; more is tolerated). nullopt when it is
// not a number in that range.
std::optional<double> parse_q(std::string_view v) {
  v = trim(v);
  double q = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), q);
  if (ec != std::errc() || end != v.data() + v.size() || !(q >= 0 && q <= 1)) return std::nullopt;
  return q;
}

struct Clause {
  std::string type, subtype;
  double q = 1;
  std::vector<std::pair<std::string, std::string>> params;  // names lower-cased, values unquoted
  size_t order = 0;

  std::optional<std::string_view> param(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return std::nullopt;
  }
};

std::vector<Clause> parse_accept(std::string_view header) {
  std::vector<Clause> clauses;
  for (std::string_view part : split(header, ',')) {
    auto pieces = split(part, ';');
    const std::string range = lower(trim(pieces[0]));
    Clause c;
    c.order = clauses.size();
    const size_t slash = range.find('/');
    if (range == "*") {
      c.type = c.subtype = "*";
    } else if (slash == std::string::npos || slash == 0 || slash + 1 == range.size()) {
      continue;  // not a media range
    } else {
      c.type = range.substr(0, slash);
      c.subtype = range.substr(slash + 1);
    }
    bool acceptable = true;
    for (size_t i = 1; i < pieces.size(); ++i) {
      const size_t eq = pieces[i].find('=');
      if (eq == std::string_view::npos) continue;
      const std::string name = lower(trim(pieces[i].substr(0, eq)));
      if (name == "q") {
        auto q = parse_q(pieces[i].substr(eq + 1));
        acceptable = q && *q > 0;
        if (q) c.q = *q;
      } else {
        c.params.emplace_back(name, unquote(pieces[i].substr(eq + 1)));
      }
    }
    if (acceptable) clauses.push_back(std::move(c));
  }
  // Highest q first; among equals the more specific (no wildcard) first, then as given.
  std::stable_sort(clauses.begin(), clauses.end(), [](const Clause& a, const Clause& b) {
    if (a.q != b.q) return a.q > b.q;
    const int sa = (a.type != "*") + (a.subtype != "*"), sb = (b.type != "*") + (b.subtype != "*");
    return sa > sb;
  });
  return clauses;
}

std::optional<Format> format_of(const Clause& c) {
  const auto version = c.param("version");
  if (c.type == "application" && c.subtype == "vnd.google.protobuf") {
    if (c.param("proto") == "io.prometheus.client.MetricFamily" && c.param("encoding") == "delimited")
      return Format::protobuf;
    return std::nullopt;  // the text encodings of protobuf are debugging aids bpfex does not write
  }
  if (c.type == "text" && c.subtype == "plain" && (!version || *version == "0.0.4")) return Format::text;
  if (c.type == "application" && c.subtype == "openmetrics-text") {
    if (!version || *version == "1.0.0") return Format::openmetrics_1_0_0;
    if (*version == "0.0.1") return Format::openmetrics_0_0_1;
  }
  return std::nullopt;
}

}  // namespace

Format negotiate_format(std::string_view accept) {
  for (const Clause& c : parse_accept(accept))
    if (auto f = format_of(c)) return *f;
  return Format::text;
}

Encoding negotiate_encoding(std::string_view accept_encoding) {
  std::optional<double> gzip_q, any_q;
  for (std::string_view part : split(accept_encoding, ',')) {
    auto pieces = split(part, ';');
    const std::string coding = lower(trim(pieces[0]));
    double q = 1;
    for (size_t i = 1; i < pieces.size(); ++i) {
      const size_t eq = pieces[i].find('=');
      if (eq != std::string_view::npos && lower(trim(pieces[i].substr(0, eq))) == "q")
        q = parse_q(pieces[i].substr(eq + 1)).value_or(0);
    }
    if (coding == "gzip" || coding == "x-gzip")
      gzip_q = std::max(gzip_q.value_or(0), q);
    else if (coding == "*")
      any_q = q;
  }
  const double q = gzip_q ? *gzip_q : any_q.value_or(0);
  return q > 0 ? Encoding::gzip : Encoding::identity;
}

std::string_view content_type(Format format) {
  switch (format) {
    case Format::text: return kTextContentType;
    case Format::openmetrics_1_0_0: return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case Format::openmetrics_0_0_1: return "application/openmetrics-text; version=0.0.1; charset=utf-8";
    case Format::protobuf: return kProtobufContentType;
  }
  return kTextContentType;
}

}  // namespace bpfex
