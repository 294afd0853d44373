// The Prometheus text exposition format 0.0.4 and OpenMetrics text 1.0.0, as /metrics serves them.
#pragma once

#include <string>
#include <string_view>

#include "metrics/families.h"

namespace bpfex {

// Text 0.0.4: HELP escaped (backslash, newline), label values escaped, histograms as classic
// buckets (native buckets have no text form): _bucket lines with le = powers of two of seconds,
// then _sum and _count.
std::string serialize_text(const Families& families);
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// OpenMetrics 1.0.0: TYPE, UNIT (when the name ends in a unit: _seconds, _bytes; a counter's before
// its _total), HELP (quotes escaped too); counters named without _total in the metadata and with it
// on the sample; floats with a point or an exponent, `le` as canonical numbers; "# EOF" last.
std::string serialize_openmetrics(const Families& families);

}  // namespace bpfex
