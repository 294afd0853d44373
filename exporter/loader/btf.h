// Where the BPF programs' type information (BTF) comes from: CO-RE relocates every program
// against the running kernel's types, which the kernel publishes at /sys/kernel/btf/vmlinux
// (CONFIG_DEBUG_INFO_BTF). On kernels without it, --btf.path names a file with them (from BTFHub,
// or extracted from the kernel's debug image), as ebpf_exporter and libbpf allow.
#pragma once

#include <string>

#include "base/result.h"

namespace bpfex {

inline constexpr const char* kKernelBtfPath = "/sys/kernel/btf/vmlinux";

// Whether the kernel's own BTF can be read here. Without it, CO-RE needs --btf.path, and the
// flavours whose attach targets libbpf looks up in it (fentry, fexit, tp_btf) are unavailable.
bool kernel_btf_readable();

// A --btf.path: a file libbpf parses as BTF (raw BTF, or an ELF file with a .BTF section).
Status check_btf_file(const std::string& path);

// What to tell an operator whose modules fail for want of BTF, or "" when there is BTF.
std::string missing_btf_hint(const std::string& btf_path);

}  // namespace bpfex
