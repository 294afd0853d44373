// Pieces of the oom module with no kernel in them, exposed for unit tests: the constraint labels
// (the table kernel/oom.h defines once) and the victim's task name label.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bpfex::oom {

// "none", "cpuset", "memory_policy", "cgroup" for the kernel side's constraint index; "other" for
// anything else.
std::string_view constraint_label(uint32_t index);

// The comm label of a victim's task name field (comm[16]): its text, "unknown" when the kernel
// could not tell (the tracepoint flavour on kernels whose record has no comm).
std::string victim_comm_label(const char (&comm)[16]);

}  // namespace bpfex::oom
