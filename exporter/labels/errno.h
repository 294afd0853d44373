// Label decoder: errno value -> its name, as failed calls are labelled ("ENOENT").
#pragma once

#include <cstdint>
#include <string>

namespace bpfex::labels {

// Largest errno the kernel returns (MAX_ERRNO in include/linux/err.h).
inline constexpr uint64_t kMaxErrno = 4095;

// A positive errno as a syscall returns it: the C library's name ("ENOENT"); the kernel's name for
// its internal codes 512..530 ("ERESTARTSYS"), which the syscall exit tracepoints still see before
// signal handling rewrites them; "E<n>" for other values up to kMaxErrno; "other" for 0 and beyond.
// At most kMaxErrno + 1 values.
std::string errno_label(uint64_t err);

// The C library's name of an errno ("ENOENT"), "" when it has none (0, the kernel's internal codes,
// numbers no errno has). The user programs' errno decoder (decoders/) uses it as ebpf_exporter does.
std::string errno_name(uint64_t err);

}  // namespace bpfex::labels
