#include "app.h"

#include "log.h"

namespace bpfex {

std::vector<ModuleInstance> start_modules(const Config& config, Features& features) {
  std::vector<ModuleInstance> out;
  out.reserve(config.modules.size());
  for (const ModuleConfig& mc : config.modules) {
    ModuleInstance m;
    m.name = mc.name;
    m.enabled = mc.enabled;
    if (!mc.enabled) {
      out.push_back(std::move(m));
      continue;
    }
    const ModuleSpec* spec = find_module_spec(mc.name);
    m.module = spec->create(*mc.options);
    Status st = m.module->start(features);
    if (st) {
      m.up = true;
      m.programs = m.module->programs();
      std::string methods;
      for (const auto& p : m.programs) methods += (methods.empty() ? "" : "; ") + p.name + "=" + p.method;
      log_info("module started", {{"module", m.name}, {"programs", methods}});
    } else {
      m.reason = st.error().str();
      m.module.reset();  // detaches and frees whatever was loaded
      log_error("module failed to start; other modules keep running", {{"module", m.name}, {"err", m.reason}});
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace bpfex
