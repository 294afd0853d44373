// Where tracefs is, and what to do when it is missing: tracepoint attach points need the ids that
// only tracefs shows.
#pragma once

#include <string>

namespace bpfex {

// Mount point of tracefs, or "" when neither /sys/kernel/tracing nor /sys/kernel/debug/tracing has
// events we can see.
std::string tracefs_path();
enum class TracefsState { usable, not_mounted, permission_denied };
TracefsState tracefs_state();
// What to do about tracefs, or "" when it is usable.
std::string tracefs_hint();

}  // namespace bpfex
