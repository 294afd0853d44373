// Showing text that came from outside (a configuration value, a flag, a file name) in a message:
// the reader must see what was there, and a hostile value must not be able to garble a terminal or
// a log line, or flood it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bpfex {

// s with control bytes, backslashes, double quotes and bytes that are not valid UTF-8 escaped
// (\n, \t, \", \\, \xNN); valid UTF-8 characters are kept.
std::string escape_text(std::string_view s);

// escape_text(s) in double quotes, cut after max_bytes of s with "..." and the full length.
std::string quote_value(std::string_view s, size_t max_bytes = 64);

}  // namespace bpfex
