// Starting modules from a configuration: shared by main and the integration tests.
#pragma once

#include <vector>

#include "bpf/features.h"
#include "config.h"
#include "poller.h"

namespace bpfex {

// Creates and starts every enabled module. A module that fails is logged with its reason and left
// down; the others keep going.
std::vector<ModuleInstance> start_modules(const Config& config, Features& features);

}  // namespace bpfex
