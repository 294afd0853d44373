// A user program as a module of its own ("program:<name>"): loaded, attached and read like a built-in
// module, so that it has bpfex_module_up, a line on the landing page and in /healthz, and fails alone.
#pragma once

#include <memory>

#include "modules/module.h"
#include "programs/program_config.h"

namespace bpfex::programs {

// "program:<name>", the module name of a user program.
std::string module_name(const std::string& program);

// Logs, once per program loaded, that its tracing: section is ignored (spans are out of scope).
void warn_if_tracing(const ProgramConfig& config);

std::unique_ptr<Module> make_program_module(ProgramConfig config, const ProgramsOptions& options);

}  // namespace bpfex::programs
