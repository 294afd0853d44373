// What this kernel lets us attach, probed once per (flavour, target) and cached. Modules ask
// through the Features interface, so tests can deny a flavour and check that the fallback is taken.
#pragma once

#include <linux/bpf.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loader/flavour.h"
#include "loader/tracepoint_args.h"

struct btf;

// Not in Debian 12's uapi headers (Linux 6.1); values from Linux 6.6.
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS static_cast<bpf_attach_type>(46)
#define BPF_TCX_EGRESS static_cast<bpf_attach_type>(47)
#define TCX_NEXT (-1)
#endif

namespace bpfex {

class Features {
 public:
  virtual ~Features() = default;
  // Whether a program of this flavour can be loaded and attached to target here. Targets: a kernel
  // function (fentry, fexit, kprobe, kretprobe), a tracepoint name (tp_btf, raw_tp:
  // "sched_process_exec"), "category/name" (tracepoint: "sched/sched_process_exec").
  virtual bool can_attach(Flavour flavour, std::string_view target) = 0;
  // Whether programs can be attached to network devices this way.
  virtual bool can_attach(NetdevFlavour flavour) = 0;
  // Name of the syscall entry symbol for a syscall on this architecture ("__x64_sys_execve").
  virtual std::string syscall_symbol(std::string_view syscall) const;
  // BTF for CO-RE when the kernel's own is not readable (--btf.path, loader/btf.h); "" for the
  // kernel's.
  virtual std::string btf_path() const { return ""; }
  // The arguments tracepoint `name` passes its programs here (loader/tracepoint_args.h), from the
  // BTF CO-RE uses.
  virtual std::optional<std::vector<TracepointArg>> tracepoint_args(std::string_view name) {
    return bpfex::tracepoint_args(btf_path(), name);
  }
};

// Probes the running kernel by loading and attaching tiny programs.
class KernelFeatures final : public Features {
 public:
  explicit KernelFeatures(std::string btf_path = "");
  ~KernelFeatures() override;
  KernelFeatures(const KernelFeatures&) = delete;
  KernelFeatures& operator=(const KernelFeatures&) = delete;

  bool can_attach(Flavour flavour, std::string_view target) override;
  bool can_attach(NetdevFlavour flavour) override;
  std::string btf_path() const override { return btf_path_; }
  // From the BTF parsed once for the probes (or --btf.path's, parsed once), not parsed again.
  std::optional<std::vector<TracepointArg>> tracepoint_args(std::string_view name) override;

 private:
  bool probe(Flavour flavour, const std::string& target);
  bool probe_btf_tracing(Flavour flavour, const std::string& target);
  bool probe_kprobe(bool retprobe, const std::string& target);
  bool probe_raw_tp(const std::string& target);
  bool probe_tracepoint(const std::string& target);
  bool probe_tcx();
  const struct btf* vmlinux_btf();

  std::string btf_path_;
  std::mutex mutex_;
  std::map<std::pair<Flavour, std::string>, bool> cache_;
  std::map<NetdevFlavour, bool> netdev_cache_;
  struct btf* vmlinux_btf_ = nullptr;
  bool vmlinux_btf_loaded_ = false;
  struct btf* path_btf_ = nullptr;  // --btf.path's, for tracepoint_args()
  bool path_btf_loaded_ = false;
};

// Decorator for tests: pretends the listed flavours are unavailable.
class RestrictedFeatures final : public Features {
 public:
  RestrictedFeatures(Features& base, std::vector<Flavour> denied, std::vector<NetdevFlavour> denied_netdev = {})
      : base_(base), denied_(std::move(denied)), denied_netdev_(std::move(denied_netdev)) {}
  bool can_attach(Flavour flavour, std::string_view target) override;
  bool can_attach(NetdevFlavour flavour) override;
  std::string btf_path() const override { return base_.btf_path(); }
  std::optional<std::vector<TracepointArg>> tracepoint_args(std::string_view name) override {
    return base_.tracepoint_args(name);
  }

 private:
  Features& base_;
  std::vector<Flavour> denied_;
  std::vector<NetdevFlavour> denied_netdev_;
};

}  // namespace bpfex
