// Label decoder: syscall number -> name, for the architecture bpfex is built for. The table is
// generated at build time from the kernel's uapi headers (<asm/unistd.h>); syscalls newer than
// those headers have no name here and are shown by number.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bpfex::labels {

// Numbers at or above this are no syscall of any architecture bpfex runs on (x86_64 and arm64 stay
// below 512): their label is "other".
inline constexpr uint64_t kSyscallLabelLimit = 1024;

// "read" for 0 on x86_64; "" when the number has no name in the table.
std::string_view syscall_name(uint64_t nr);
// The name; the number in decimal when it has none; "other" from kSyscallLabelLimit on. At most
// kSyscallLabelLimit + 1 values.
std::string syscall_label(uint64_t nr);
// The number of a syscall name (for configuration: include, exclude).
std::optional<uint32_t> syscall_number(std::string_view name);
// One past the highest numbered syscall in the table.
uint32_t syscall_table_size();

}  // namespace bpfex::labels
