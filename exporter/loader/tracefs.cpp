// Finding tracefs, and telling a missing mount from a permission problem.
#include "loader/tracefs.h"

#include <sys/stat.h>

#include <cerrno>

namespace bpfex {

// stat() and open() rather than access(): access() checks the real uid and ignores capabilities,
// so a non-root bpfex with CAP_DAC_READ_SEARCH would wrongly find tracefs (mode 0700) missing.
std::string tracefs_path() {
  struct stat st;
  for (const char* p : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (stat((std::string(p) + "/events").c_str(), &st) == 0) return p;
  }
  return "";
}

TracefsState tracefs_state() {
  struct stat st;
  bool denied = false;
  for (const char* p : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (stat((std::string(p) + "/events").c_str(), &st) == 0) return TracefsState::usable;
    if (errno == EACCES) denied = true;
  }
  return denied ? TracefsState::permission_denied : TracefsState::not_mounted;
}

std::string tracefs_hint() {
  switch (tracefs_state()) {
    case TracefsState::usable: return "";
    case TracefsState::permission_denied:
      return "tracefs is root-only (mode 0700): run bpfex as root or give it CAP_DAC_READ_SEARCH";
    case TracefsState::not_mounted: return "tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing";
  }
  return "";
}

}  // namespace bpfex
