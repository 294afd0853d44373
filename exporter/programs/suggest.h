// bpfex programs suggest OBJ.bpf.o: a starter YAML for a program that has none, from its BTF. Each
// map bpfex can read becomes a metric: integer key members uint labels, char[N] string labels, other
// members hex; a last member named bucket or slot makes it an exp2 histogram.
#pragma once

#include <string>

#include "base/result.h"

namespace bpfex::programs {

Result<std::string> suggest_config(const std::string& object_path);

}  // namespace bpfex::programs
