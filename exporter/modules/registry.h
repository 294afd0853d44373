// The built-in modules by name: what configuration needs to know of a module (its name, default
// state and options) without pulling in the BPF side.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "config/options.h"

namespace bpfex {

class Module;

struct ModuleSpec {
  std::string_view name;
  std::string_view description;
  bool enabled_by_default = true;
  std::unique_ptr<ModuleOptions> (*default_options)() = nullptr;
  std::unique_ptr<Module> (*create)(const ModuleOptions& options) = nullptr;
};

// Every built-in module, in registration order (the order of the config, the landing page and the
// metrics).
const std::vector<ModuleSpec>& module_registry();
const ModuleSpec* find_module_spec(std::string_view name);

}  // namespace bpfex
