// Syscall numbers and names of the architecture bpfex is built for, generated at build time from
// the kernel's uapi headers (<asm/unistd.h>). Syscalls newer than those headers have no name here:
// bpfex shows them by number.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bpfex {

// "read" for 0 on x86_64; "" when the number has no name in the table.
std::string_view syscall_name(uint32_t nr);
// The name, or the number in decimal when there is none.
std::string syscall_label(uint32_t nr);
std::optional<uint32_t> syscall_number(std::string_view name);
// One past the highest numbered syscall in the table.
uint32_t syscall_table_size();

}  // namespace bpfex
