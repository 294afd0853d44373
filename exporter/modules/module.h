// The module contract. A module is: kernel/<m>.bpf.c, kernel/<m>.h, exporter/modules/<m>.cpp, one
// line in modules/registry.cpp, its section in config/bpfex.yaml, its tests and its dashboard
// (README "Adding a module").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/options.h"
#include "loader/features.h"
#include "loader/loaded_program.h"
#include "metrics/families.h"
#include "modules/registry.h"

namespace bpfex {

namespace workload {
class Workloads;
}

// What a module starts with: what this kernel lets it attach, and the services bpfex shares between
// modules (README "Adding a module": a module needs nothing of another module).
struct ModuleContext {
  Features& features;
  // Workload attribution (workload/workloads.h); null where there is none (no cgroup v2 hierarchy,
  // or no module asked for it): modules asked for by_workload then count without workload labels.
  workload::Workloads* workloads = nullptr;
};

// What one read() of a module produced.
struct ModuleReading {
  Families families;
  // Observations that went to an "other" label value because a cap was reached (absolute count);
  // nullopt for modules without capped labels.
  std::optional<uint64_t> label_overflows;
  // Series missing from this reading are gone for good (an interface was deleted): stop exporting
  // them instead of repeating their last value. Only for modules whose map entries are never
  // evicted while their subject exists; see CounterGuard.
  bool retire_vanished_series = false;
  // Not empty while the module runs but not everywhere it should (someone else removed its tc
  // filter): bpfex_module_up is 0 and /healthz answers 503 with this reason until it clears.
  std::string problem;
};

class Module {
 public:
  virtual ~Module() = default;
  // open -> configure (read-only data, map sizes) -> load -> attach. On error the module is down:
  // the error says what failed, with errno and a hint.
  virtual Status start(ModuleContext& context) = 0;
  // Reads the module's maps into families of absolute values. Called by the poller thread only;
  // never blocks on anything but map syscalls.
  virtual Status read(ModuleReading& out) = 0;
  // Programs as loaded and attached, for self-metrics and the landing page.
  virtual std::vector<LoadedProgram> programs() const = 0;
  // What the module still needs once started (bpfex drops every other capability): a capability
  // name ("CAP_NET_ADMIN") and what for. Most modules need none: reading maps takes only their fds.
  struct CapabilityNeed {
    std::string capability;
    std::string why;
  };
  virtual std::vector<CapabilityNeed> capabilities_after_start() const { return {}; }
};

// Spec for a module class M with a nested Options struct and a constructor taking const Options&.
template <class M>
ModuleSpec make_module_spec(std::string_view name, std::string_view description, bool enabled_by_default = true) {
  return ModuleSpec{
      name, description, enabled_by_default,
      []() -> std::unique_ptr<ModuleOptions> { return std::make_unique<TypedModuleOptions<typename M::Options>>(); },
      [](const ModuleOptions& o) -> std::unique_ptr<Module> {
        return std::make_unique<M>(options_as<typename M::Options>(o));
      }};
}

}  // namespace bpfex
