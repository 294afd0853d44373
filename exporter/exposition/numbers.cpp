// Number rendering and escaping for the text formats.
#include "exposition/numbers.h"

#include <charconv>
#include <cmath>

namespace bpfex::exposition {

void append_go_float(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (v == 0) {
    out += std::signbit(v) ? "-0" : "0";
    return;
  }
  // The shortest round-trip digits and their decimal exponent, from scientific form "d.ddde±x".
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(r.ptr - buf));
  const size_t e_at = sci.find('e');
  std::string_view mantissa = sci.substr(0, e_at);
  int exp = 0;
  std::from_chars(sci.data() + e_at + 1 + (sci[e_at + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp);
  const bool negative = mantissa.front() == '-';
  if (negative) mantissa.remove_prefix(1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits.push_back(c);
  if (negative) out.push_back('-');
  if (exp < -4 || exp >= 6) {
    out.push_back(digits[0]);
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(exp < 0 ? '-' : '+');
    const int magnitude = exp < 0 ? -exp : exp;  // at least two digits, as Go writes them
    if (magnitude < 10) out.push_back('0');
    append_uint(out, static_cast<uint64_t>(magnitude));
    return;
  }
  if (exp < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
    return;
  }
  const size_t whole = static_cast<size_t>(exp) + 1;
  if (digits.size() <= whole) {
    out += digits;
    out.append(whole - digits.size(), '0');
  } else {
    out.append(digits, 0, whole);
    out.push_back('.');
    out.append(digits, whole);
  }
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_value(std::string& out, double v) {
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9007199254740992.0 && !(v == 0 && std::signbit(v))) {
    if (v < 0) out.push_back('-');
    append_uint(out, static_cast<uint64_t>(std::fabs(v)));
    return;
  }
  append_go_float(out, v);
}

void append_om_float(std::string& out, double v) {
  const size_t start = out.size();
  append_go_float(out, v);
  const std::string_view written(out.data() + start, out.size() - start);
  if (written.find_first_of(".eIN") == std::string_view::npos) out += ".0";
}

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
}

void append_help(std::string& out, std::string_view v, bool escape_quote) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && escape_quote)
      out += "\\\"";
    else
      out.push_back(c);
  }
}

}  // namespace bpfex::exposition
