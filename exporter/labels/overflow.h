// The overflow label value, and keeping real values apart from it.
//
// Every label whose values come from the workload (a task name, an interface name, a user program's
// string) has a cap; what comes past it is counted under the value "other" and in
// bpfex_label_overflow_total. A real value may read "other" too (a program or an interface of that
// name): it must neither merge with the overflow series nor count as overflow. So a real value that
// is "other" with any number of underscores in front gets one more underscore: "other" is exported
// as "_other", "_other" as "__other", and so on; every other value is exported as it is. The
// mapping is one to one, so no two real values merge either, and "other" always means overflow.
#pragma once

#include <string>
#include <string_view>

namespace bpfex::labels {

inline constexpr std::string_view kOverflowLabel = "other";

inline std::string distinct_from_overflow(std::string value) {
  const size_t underscores = value.find_first_not_of('_');
  if (underscores != std::string::npos && std::string_view(value).substr(underscores) == kOverflowLabel)
    value.insert(value.begin(), '_');
  return value;
}

}  // namespace bpfex::labels
