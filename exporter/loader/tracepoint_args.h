// The arguments a tracepoint passes its BPF programs in this kernel, from its BTF: a tracepoint's
// prototype changes between kernel versions (tcp_retransmit_skb gained an error argument,
// mark_victim went from a pid to a task), and a tp_btf or raw_tp program that reads an argument
// the kernel does not pass is rejected at load or attach.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct btf;

namespace bpfex {

struct TracepointArg {
  bool pointer = false;  // a pointer (a struct task_struct *) rather than a number (an int)
};

// The arguments of tracepoint `name` ("tcp_retransmit_skb") as its programs receive them, from the
// BTF CO-RE uses (btf_path, --btf.path; "": the kernel's own): the prototype of the kernel's
// btf_trace_<name> typedef without its leading context pointer. nullopt when there is no BTF or no
// such tracepoint in it.
std::optional<std::vector<TracepointArg>> tracepoint_args(const std::string& btf_path, std::string_view name);
// The same from BTF already parsed (loader/features.h keeps the kernel's for its probes).
std::optional<std::vector<TracepointArg>> tracepoint_args(const struct btf* btf, std::string_view name);

}  // namespace bpfex
