// What this kernel lets us attach, probed once per (kind, target) and cached. Modules ask through
// the Features interface so tests can deny a kind and check that the fallback is taken.
#pragma once

#include <linux/bpf.h>

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct btf;

// Not in Debian 12's uapi headers (Linux 6.1); values from Linux 6.6.
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS static_cast<bpf_attach_type>(46)
#define BPF_TCX_EGRESS static_cast<bpf_attach_type>(47)
#define TCX_NEXT (-1)
#endif

namespace bpfex {

// tcx: BPF links on an interface's ingress/egress (Linux 6.6+); tc: cls_bpf filters on a clsact qdisc.
enum class AttachKind { fentry, fexit, kprobe, kretprobe, tp_btf, raw_tp, tracepoint, tcx, tc };

std::string_view attach_kind_name(AttachKind kind);

class Features {
 public:
  virtual ~Features() = default;
  // Whether a program of this kind can be loaded and attached to target here. Targets: kernel
  // function (fentry, fexit, kprobe, kretprobe), tracepoint name (tp_btf, raw_tp: "sched_process_exec"),
  // "category/name" (tracepoint: "sched/sched_process_exec"); none for tcx and tc (pass "").
  virtual bool can_attach(AttachKind kind, std::string_view target) = 0;
  // Name of the syscall entry symbol for a syscall on this architecture ("__x64_sys_execve").
  virtual std::string syscall_symbol(std::string_view syscall) const;
};

// Probes the running kernel by loading and attaching tiny programs.
class KernelFeatures final : public Features {
 public:
  KernelFeatures();
  ~KernelFeatures() override;
  KernelFeatures(const KernelFeatures&) = delete;
  KernelFeatures& operator=(const KernelFeatures&) = delete;

  bool can_attach(AttachKind kind, std::string_view target) override;

 private:
  bool probe(AttachKind kind, const std::string& target);
  bool probe_btf_tracing(AttachKind kind, const std::string& target);
  bool probe_kprobe(bool retprobe, const std::string& target);
  bool probe_raw_tp(const std::string& target);
  bool probe_tracepoint(const std::string& target);
  bool probe_tcx();
  const struct btf* vmlinux_btf();

  std::mutex mutex_;
  std::map<std::pair<AttachKind, std::string>, bool> cache_;
  struct btf* vmlinux_btf_ = nullptr;
  bool vmlinux_btf_loaded_ = false;
};

// Decorator for tests: pretends the listed kinds are unavailable.
class RestrictedFeatures final : public Features {
 public:
  RestrictedFeatures(Features& base, std::vector<AttachKind> denied) : base_(base), denied_(std::move(denied)) {}
  bool can_attach(AttachKind kind, std::string_view target) override;

 private:
  Features& base_;
  std::vector<AttachKind> denied_;
};

// Mount point of tracefs, or "" when neither /sys/kernel/tracing nor /sys/kernel/debug/tracing has
// events we can see.
std::string tracefs_path();
enum class TracefsState { usable, not_mounted, permission_denied };
TracefsState tracefs_state();
// What to do about tracefs, or "" when it is usable.
std::string tracefs_hint();

}  // namespace bpfex
