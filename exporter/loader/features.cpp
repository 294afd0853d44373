// Kernel feature probes: a tiny program per flavour, loaded and attached for real, once each.
#include "loader/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "base/fd.h"
#include "base/log.h"
#include "labels/errno.h"
#include "loader/tracefs.h"

namespace bpfex {

std::string_view flavour_name(Flavour flavour) {
  switch (flavour) {
    case Flavour::fentry: return "fentry";
    case Flavour::fexit: return "fexit";
    case Flavour::kprobe: return "kprobe";
    case Flavour::kretprobe: return "kretprobe";
    case Flavour::tp_btf: return "tp_btf";
    case Flavour::raw_tp: return "raw_tp";
    case Flavour::tracepoint: return "tracepoint";
  }
  return "unknown";
}

std::string_view flavour_name(NetdevFlavour flavour) {
  switch (flavour) {
    case NetdevFlavour::tcx: return "tcx";
    case NetdevFlavour::tc: return "tc";
  }
  return "unknown";
}

std::string Features::syscall_symbol(std::string_view syscall) const {
#if defined(__x86_64__)
  return "__x64_sys_" + std::string(syscall);
#elif defined(__aarch64__)
  return "__arm64_sys_" + std::string(syscall);
#else
#error "unsupported architecture"
#endif
}

namespace {

// "r0 = result; exit": the smallest program every type accepts.
Fd load_probe_program(bpf_prog_type type, const bpf_prog_load_opts* opts, int32_t result = 0) {
  const struct bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, result},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  return Fd(bpf_prog_load(type, nullptr, "GPL", insns, sizeof(insns) / sizeof(insns[0]), opts));
}

int read_int_file(const std::string& path, int fallback) {
  std::ifstream in(path);
  int v;
  if (in >> v) return v;
  return fallback;
}

}  // namespace

KernelFeatures::KernelFeatures(std::string btf_path) : btf_path_(std::move(btf_path)) {}

KernelFeatures::~KernelFeatures() {
  btf__free(vmlinux_btf_);
  btf__free(path_btf_);
}

const struct btf* KernelFeatures::vmlinux_btf() {
  if (!vmlinux_btf_loaded_) {
    vmlinux_btf_loaded_ = true;
    vmlinux_btf_ = btf__load_vmlinux_btf();
    if (!vmlinux_btf_) {
      vmlinux_btf_ = nullptr;
      // libbpf looks fentry/fexit/tp_btf targets up in the kernel's own BTF, never in --btf.path.
      log_warn("kernel BTF not available; fentry/fexit/tp_btf disabled", {{"err", std::strerror(errno)}});
    }
  }
  return vmlinux_btf_;
}

bool KernelFeatures::can_attach(Flavour flavour, std::string_view target) {
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(flavour, std::string(target));
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  bool ok = probe(flavour, key.second);
  log_debug("feature probe",
            {{"flavour", flavour_name(flavour)}, {"target", target}, {"usable", ok ? "true" : "false"}});
  cache_.emplace(std::move(key), ok);
  return ok;
}

bool KernelFeatures::can_attach(NetdevFlavour flavour) {
  std::lock_guard lock(mutex_);
  if (auto it = netdev_cache_.find(flavour); it != netdev_cache_.end()) return it->second;
  // A clsact qdisc cannot be tried without changing an interface; cls_bpf programs need only load.
  const bool ok = flavour == NetdevFlavour::tcx
                      ? probe_tcx()
                      : static_cast<bool>(load_probe_program(BPF_PROG_TYPE_SCHED_CLS, nullptr));
  log_debug("feature probe", {{"flavour", flavour_name(flavour)}, {"usable", ok ? "true" : "false"}});
  netdev_cache_.emplace(flavour, ok);
  return ok;
}

bool KernelFeatures::probe(Flavour flavour, const std::string& target) {
  switch (flavour) {
    case Flavour::fentry:
    case Flavour::fexit:
    case Flavour::tp_btf: return probe_btf_tracing(flavour, target);
    case Flavour::kprobe: return probe_kprobe(false, target);
    case Flavour::kretprobe: return probe_kprobe(true, target);
    case Flavour::raw_tp: return probe_raw_tp(target);
    case Flavour::tracepoint: return probe_tracepoint(target);
  }
  return false;
}

bool KernelFeatures::probe_btf_tracing(Flavour flavour, const std::string& target) {
  const struct btf* btf = vmlinux_btf();
  if (!btf) return false;
  int id;
  bpf_attach_type attach_type;
  if (flavour == Flavour::tp_btf) {
    id = btf__find_by_name_kind(btf, ("btf_trace_" + target).c_str(), BTF_KIND_TYPEDEF);
    attach_type = BPF_TRACE_RAW_TP;
  } else {
    id = btf__find_by_name_kind(btf, target.c_str(), BTF_KIND_FUNC);
    attach_type = flavour == Flavour::fentry ? BPF_TRACE_FENTRY : BPF_TRACE_FEXIT;
  }
  if (id <= 0) return false;
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach_type, .attach_btf_id = static_cast<__u32>(id));
  Fd prog = load_probe_program(BPF_PROG_TYPE_TRACING, &opts);
  if (!prog) return false;
  // Loading can succeed where attaching fails (e.g. no ftrace trampolines): attach for real.
  Fd link(bpf_raw_tracepoint_open(nullptr, prog.get()));
  return static_cast<bool>(link);
}

bool KernelFeatures::probe_kprobe(bool retprobe, const std::string& target) {
  int type = read_int_file("/sys/bus/event_source/devices/kprobe/type", -1);
  if (type < 0) return false;  // kernel built without kprobes
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = static_cast<__u32>(type);
  attr.config1 = reinterpret_cast<__u64>(target.c_str());
  attr.config2 = 0;
  if (retprobe) {
    // The retprobe bit's position is published in the PMU's format directory ("config:0").
    std::ifstream in("/sys/bus/event_source/devices/kprobe/format/retprobe");
    std::string fmt;
    in >> fmt;
    int bit = 0;
    if (fmt.rfind("config:", 0) == 0) bit = std::atoi(fmt.c_str() + 7);
    attr.config |= 1ULL << bit;
  }
  Fd pfd(static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)));
  if (!pfd) return false;
  Fd prog = load_probe_program(BPF_PROG_TYPE_KPROBE, nullptr);
  return static_cast<bool>(prog);
}

bool KernelFeatures::probe_raw_tp(const std::string& target) {
  Fd prog = load_probe_program(BPF_PROG_TYPE_RAW_TRACEPOINT, nullptr);
  if (!prog) return false;
  Fd link(bpf_raw_tracepoint_open(target.c_str(), prog.get()));
  return static_cast<bool>(link);
}

bool KernelFeatures::probe_tracepoint(const std::string& target) {
  std::string root = tracefs_path();
  if (root.empty()) return false;
  Fd id(open((root + "/events/" + target + "/id").c_str(), O_RDONLY | O_CLOEXEC));
  if (!id) return false;
  Fd prog = load_probe_program(BPF_PROG_TYPE_TRACEPOINT, nullptr);
  return static_cast<bool>(prog);
}

bool KernelFeatures::probe_tcx() {
  // Tried for real on lo, for an instant (once per process), with a program returning TCX_NEXT, so
  // packets go on to the next program as if it were not there. Side effects: lo's tcx revision
  // moves on by two and, with an LSM watching BPF, the attach is audited.
  Fd prog = load_probe_program(BPF_PROG_TYPE_SCHED_CLS, nullptr, TCX_NEXT);
  if (!prog) return false;
  // Every network namespace has lo at ifindex 1. Kernels before 6.6 reject the attach type.
  Fd link(bpf_link_create(prog.get(), 1, BPF_TCX_INGRESS, nullptr));
  if (!link) log_info("tcx links unavailable", {{"err", labels::errno_label(static_cast<uint64_t>(errno))}});
  return static_cast<bool>(link);
}

std::optional<std::vector<TracepointArg>> KernelFeatures::tracepoint_args(std::string_view name) {
  std::lock_guard lock(mutex_);
  if (btf_path_.empty()) return bpfex::tracepoint_args(vmlinux_btf(), name);
  if (!path_btf_loaded_) {
    path_btf_loaded_ = true;
    path_btf_ = btf__parse(btf_path_.c_str(), nullptr);
  }
  return bpfex::tracepoint_args(path_btf_, name);
}

bool RestrictedFeatures::can_attach(Flavour flavour, std::string_view target) {
  if (std::find(denied_.begin(), denied_.end(), flavour) != denied_.end()) return false;
  return base_.can_attach(flavour, target);
}

bool RestrictedFeatures::can_attach(NetdevFlavour flavour) {
  if (std::find(denied_netdev_.begin(), denied_netdev_.end(), flavour) != denied_netdev_.end()) return false;
  return base_.can_attach(flavour);
}

}  // namespace bpfex
