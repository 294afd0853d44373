// The registry of built-in modules: adding a module is one X(name) line here.
#include "modules/registry.h"

namespace bpfex {

// One line per module: X(name), where exporter/modules/<name>.cpp defines
// `ModuleSpec <name>_module_spec()`. Order here is the order of the config, the landing page and
// the metrics.
#define BPFEX_BUILTIN_MODULES(X) X(exec) X(syscall) X(network) X(runqueue) X(block) X(tcp) X(oom)

#define BPFEX_DECLARE_SPEC(name) ModuleSpec name##_module_spec();
BPFEX_BUILTIN_MODULES(BPFEX_DECLARE_SPEC)
#undef BPFEX_DECLARE_SPEC

const std::vector<ModuleSpec>& module_registry() {
#define BPFEX_LIST_SPEC(name) name##_module_spec(),
  static const std::vector<ModuleSpec> specs = {BPFEX_BUILTIN_MODULES(BPFEX_LIST_SPEC)};
#undef BPFEX_LIST_SPEC
  return specs;
}

const ModuleSpec* find_module_spec(std::string_view name) {
  for (const auto& s : module_registry())
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace bpfex
