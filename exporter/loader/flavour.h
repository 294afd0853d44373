// The vocabulary of how BPF programs attach, used everywhere (code, logs, landing page, tests).
//
// A *hook* is something a module observes: a kernel event ("exec", "syscall enter") or a network
// device's traffic. An *attach point* is one way to observe a hook: a *flavour* and a *target*.
// A module offers each hook's attach points cheapest first; probing the running kernel picks the
// first one that works (loader/features.h, loader/hooks.h).
//
// Flavours for kernel events (target: a kernel function or a tracepoint):
//   fentry, fexit       BPF trampoline on a kernel function's entry or return (BTF)
//   kprobe, kretprobe   breakpoint on a kernel function's entry or return
//   tp_btf              raw tracepoint with BTF-typed arguments
//   raw_tp              raw tracepoint
//   tracepoint          perf tracepoint ("category/name"; its id comes from tracefs)
// Flavours for network devices (a program per interface and direction, attached by the module as
// interfaces appear: net/netdev_attach.h):
//   tcx                 BPF link on the device's ingress or egress (Linux 6.6+)
//   tc                  cls_bpf filter on the device's clsact qdisc
#pragma once

#include <string_view>

namespace bpfex {

enum class Flavour { fentry, fexit, kprobe, kretprobe, tp_btf, raw_tp, tracepoint };
enum class NetdevFlavour { tcx, tc };

std::string_view flavour_name(Flavour flavour);
std::string_view flavour_name(NetdevFlavour flavour);

}  // namespace bpfex
