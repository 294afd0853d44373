// Starting the configured modules: each one alone, so that one failing leaves the others running.
#include "app/app.h"

#include "base/log.h"

namespace bpfex {

std::vector<RunningModule> start_modules(const Config& config, ModuleContext& context,
                                         const std::function<bool()>& stop) {
  std::vector<RunningModule> out;
  out.reserve(config.modules.size());
  for (const ModuleConfig& mc : config.modules) {
    if (stop && stop()) break;
    RunningModule m;
    m.status.name = mc.name;
    m.status.enabled = mc.enabled;
    if (!mc.enabled) {
      out.push_back(std::move(m));
      continue;
    }
    const ModuleSpec* spec = find_module_spec(mc.name);
    m.module = spec->create(*mc.options);
    Status st = m.module->start(context);
    if (st) {
      m.status.up = true;
      m.status.programs = m.module->programs();
      std::string attached;
      for (const auto& p : m.status.programs)
        attached += (attached.empty() ? "" : "; ") + p.name + "=" + p.attach_point();
      log_info("module started", {{"module", mc.name}, {"programs", attached}});
    } else {
      m.status.reason = st.error().str();
      m.module.reset();  // detaches and frees whatever was loaded
      log_error("module failed to start; other modules keep running", {{"module", mc.name}, {"err", m.status.reason}});
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<ModuleStatus> statuses(const std::vector<RunningModule>& modules) {
  std::vector<ModuleStatus> out;
  out.reserve(modules.size());
  for (const auto& m : modules) out.push_back(m.status);
  return out;
}

}  // namespace bpfex
