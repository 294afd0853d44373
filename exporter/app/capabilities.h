// Least privilege after start: once the modules are attached, bpfex keeps only the capabilities
// its running modules still need (the network module attaches to interfaces created later:
// CAP_NET_ADMIN) and sets no_new_privs. Capabilities belong to threads, not processes: every thread
// bpfex has at that point drops them (a signal each, as glibc does for setuid), and the threads it
// starts later inherit the reduced set.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bpfex {

// "CAP_NET_ADMIN", "cap_net_admin", "net_admin" -> 12; -1 for no such capability.
int capability_number(std::string_view name);
// 12 -> "CAP_NET_ADMIN"; "CAP_<n>" for one this build does not name.
std::string capability_name(int cap);

// --capabilities.keep (ebpf_exporter's flag): what the modules need (default), all, none, or a
// comma-separated list.
struct CapabilitiesKeep {
  enum class Mode { modules, all, none, list } mode = Mode::modules;
  uint64_t list = 0;  // Mode::list: bit n keeps capability n
};
Result<CapabilitiesKeep> parse_capabilities_keep(std::string_view text);

// One capability kept, and who needs it for what.
struct KeptCapability {
  int cap;
  std::string why;
};

// The calling thread's effective set, as a bit mask.
uint64_t effective_capabilities();

// Reduces every thread of the process to keep (effective, permitted; inheritable, ambient and the
// bounding set emptied of the rest) and sets no_new_privs on each; checks /proc afterwards. Call it
// while no thread of the process blocks real-time signals.
Status drop_capabilities(uint64_t keep);

}  // namespace bpfex
