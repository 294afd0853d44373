// Pieces of the network module with no kernel in them, exposed for unit tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bpfex {

// Whether an interface is counted: its name matches one include pattern and no exclude pattern
// (fnmatch globs).
bool network_interface_selected(std::string_view name, const std::vector<std::string>& include,
                                const std::vector<std::string>& exclude);

}  // namespace bpfex
