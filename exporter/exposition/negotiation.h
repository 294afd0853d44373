// Which exposition format and encoding a scrape gets, from its Accept and Accept-Encoding headers.
// Pure functions (tests/unit/exposition_test.cpp holds their table).
#pragma once

#include <string_view>

namespace bpfex {

enum class Format {
  text,               // text/plain; version=0.0.4
  openmetrics_1_0_0,  // application/openmetrics-text; version=1.0.0
  openmetrics_0_0_1,  // the same body under the pre-1.0 version Prometheus also asks for
  protobuf,           // delimited io.prometheus.client.MetricFamily (native histograms)
};
inline constexpr int kFormatCount = 4;

enum class Encoding { identity, gzip };

// As client_golang's promhttp (expfmt.NegotiateIncludingOpenMetrics): the Accept clauses by
// descending q (more specific first among equals, then in the order given), the first one that
// names a format bpfex writes wins: the delimited protobuf (proto=io.prometheus.client.MetricFamily;
// encoding=delimited), text/plain with version 0.0.4 or none, application/openmetrics-text with
// version 1.0.0, 0.0.1 or none (1.0.0). Anything else, an empty, unknown or malformed header
// included, gets text 0.0.4: never an error. Where bpfex is stricter than client_golang, it
// follows RFC 9110: a clause with q=0 (or a q that is not a number in 0..1) is "not acceptable" and
// is skipped; media types and parameter names are compared case-insensitively; quoted parameter
// values are unquoted.
Format negotiate_format(std::string_view accept);

// gzip when Accept-Encoding allows it (gzip, x-gzip or * with q > 0, unless gzip itself has q=0),
// else identity.
Encoding negotiate_encoding(std::string_view accept_encoding);

std::string_view content_type(Format format);

}  // namespace bpfex
