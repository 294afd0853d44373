// The modules as bpfex runs them: started from the configuration, each with its status and what
// the poller keeps between polls. Shared by main and the integration tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "app/module_status.h"
#include "config/config.h"
#include "loader/features.h"
#include "metrics/counter_guard.h"
#include "metrics/families.h"
#include "modules/module.h"

namespace bpfex {

struct RunningModule {
  ModuleStatus status;
  std::unique_ptr<Module> module;  // null when disabled or down

  // The poller thread's own.
  uint64_t poll_errors = 0;
  double last_poll_seconds = 0;
  Families last_families;  // served again when a read fails
  std::optional<uint64_t> label_overflows;
  std::string problem;  // the last reading's (ModuleReading::problem)
  CounterGuard guard;
};

// Creates and starts every enabled module. A module that fails is logged with its reason and left
// down; the others keep going.
// stop: asked before each module; once it says true the rest are not started (a stop during start-up).
std::vector<RunningModule> start_modules(const Config& config, ModuleContext& context,
                                         const std::function<bool()>& stop = {});

std::vector<ModuleStatus> statuses(const std::vector<RunningModule>& modules);

}  // namespace bpfex
