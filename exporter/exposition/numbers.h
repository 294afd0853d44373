// How the text formats write numbers and escape strings: shared by text 0.0.4 and OpenMetrics.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bpfex::exposition {

// Go's strconv.FormatFloat(v, 'g', -1, 64): the fewest digits that read back as the same double,
// in exponent form ("1e-06", "9.5367431640625e-07", "1e+06") when the decimal exponent is below -4
// or at least 6, else plain ("0.0625", "16", "123456"); "+Inf", "-Inf", "NaN". This is how client_golang writes `le`
// values (OpenMetrics' "canonical numbers"), so bpfex's `le` label values are the ones Prometheus users know.
void append_go_float(std::string& out, double v);
// A sample value: an integral value below 2^53 as an integer ("25", "1234567"), else as above.
void append_value(std::string& out, double v);
void append_uint(std::string& out, uint64_t v);
// OpenMetrics' floats, its "canonical numbers" for `le` too: Go's %g with ".0" appended when it has
// neither a point nor an exponent ("1.0", "25.0", "1e-06", "1.234567e+06"), as client_golang writes.
void append_om_float(std::string& out, double v);

// Label values: backslash, double quote and newline escaped (both formats).
void append_label_value(std::string& out, std::string_view v);
// HELP text: text 0.0.4 escapes backslash and newline; OpenMetrics also the double quote.
void append_help(std::string& out, std::string_view v, bool escape_quote);

}  // namespace bpfex::exposition
