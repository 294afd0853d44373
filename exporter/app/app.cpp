// Starting the configured modules: each one alone, so that one failing leaves the others running.
#include "app/app.h"

#include "base/log.h"
#include "programs/program_module.h"

namespace bpfex {
namespace {

// Starts m.module; on failure logs why and frees whatever it had loaded.
void start_one(RunningModule& m, ModuleContext& context) {
  Status st = m.module->start(context);
  if (st) {
    m.status.up = true;
    m.status.programs = m.module->programs();
    std::string attached;
    for (const auto& p : m.status.programs)
      attached += (attached.empty() ? "" : "; ") + p.name + "=" + p.attach_point();
    log_info("module started", {{"module", m.status.name}, {"programs", attached}});
  } else {
    m.status.reason = st.error().str();
    m.module.reset();  // detaches and frees whatever was loaded
    log_error("module failed to start; other modules keep running",
              {{"module", m.status.name}, {"err", m.status.reason}});
  }
}

}  // namespace

std::vector<RunningModule> start_modules(const Config& config, ModuleContext& context,
                                         const std::function<bool()>& stop) {
  std::vector<RunningModule> out;
  out.reserve(config.modules.size() + config.program_configs.size());
  for (const ModuleConfig& mc : config.modules) {
    if (stop && stop()) break;
    RunningModule m;
    m.status.name = mc.name;
    m.status.enabled = mc.enabled;
    if (mc.enabled) {
      m.module = find_module_spec(mc.name)->create(*mc.options);
      start_one(m, context);
    }
    out.push_back(std::move(m));
  }
  // User programs, each a module of its own ("program:<name>").
  for (const programs::ProgramConfig& pc : config.program_configs) {
    if (stop && stop()) break;
    RunningModule m;
    m.status.name = programs::module_name(pc.name);
    m.status.enabled = true;
    m.module = programs::make_program_module(pc, config.programs);
    start_one(m, context);
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
