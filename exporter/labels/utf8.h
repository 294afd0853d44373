// UTF-8 repair for label values: every label value bpfex exports is valid UTF-8, whatever bytes the
// kernel handed over (a task name is any 15 bytes).
#pragma once

#include <string>
#include <string_view>

namespace bpfex::labels {

// Returns bytes as valid UTF-8: every byte that is not part of a well-formed sequence (overlong,
// surrogate, truncated, > U+10FFFF) becomes U+FFFD. Valid input is returned unchanged.
std::string sanitize_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

}  // namespace bpfex::labels
