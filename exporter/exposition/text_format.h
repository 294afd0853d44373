// The Prometheus text exposition format 0.0.4, as /metrics serves it.
#pragma once

#include <string>
#include <string_view>

#include "metrics/families.h"

namespace bpfex {

// The families as text 0.0.4. HELP text is escaped and label values are valid UTF-8 already
// (metrics/families.h: prometheus-cpp does neither); bucket bounds are written in their shortest form.
std::string serialize_text(const Families& families);
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace bpfex
