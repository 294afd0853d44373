// How an enabled (or disabled) module came out of startup: what the landing page, /healthz and
// bpfex_module_up show. Changed only by a reload, while the poller is held (Poller::with_modules);
// the HTTP server gets copies (HttpServer::set_modules).
#pragma once

#include <string>
#include <vector>

#include "loader/loaded_program.h"

namespace bpfex {

struct ModuleStatus {
  std::string name;
  bool enabled = false;
  bool up = false;
  std::string reason;  // why it is down
  std::vector<LoadedProgram> programs;
};

}  // namespace bpfex
