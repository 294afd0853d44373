#include "bpf/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "bpf/fd.h"
#include "log.h"
#include "result.h"

namespace bpfex {

std::string_view attach_kind_name(AttachKind kind) {
  switch (kind) {
    case AttachKind::fentry: return "fentry";
    case AttachKind::fexit: return "fexit";
    case AttachKind::kprobe: return "kprobe";
    case AttachKind::kretprobe: return "kretprobe";
    case AttachKind::tp_btf: return "tp_btf";
    case AttachKind::raw_tp: return "raw_tp";
    case AttachKind::tracepoint: return "tracepoint";
    case AttachKind::tcx: return "tcx";
    case AttachKind::tc: return "tc";
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

// stat() and open() rather than access(): access() checks the real uid and ignores capabilities,
// so a non-root bpfex with CAP_DAC_READ_SEARCH would wrongly find tracefs (mode 0700) missing.
std::string tracefs_path() {
  struct stat st;
  for (const char* p : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (stat((std::string(p) + "/events").c_str(), &st) == 0) return p;
  }
  return "";
}

TracefsState tracefs_state() {
  struct stat st;
  bool denied = false;
  for (const char* p : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (stat((std::string(p) + "/events").c_str(), &st) == 0) return TracefsState::usable;
    if (errno == EACCES) denied = true;
  }
  return denied ? TracefsState::permission_denied : TracefsState::not_mounted;
}

std::string tracefs_hint() {
  switch (tracefs_state()) {
    case TracefsState::usable: return "";
    case TracefsState::permission_denied:
      return "tracefs is root-only (mode 0700): run bpfex as root or give it CAP_DAC_READ_SEARCH";
    case TracefsState::not_mounted: return "tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing";
  }
  return "";
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

KernelFeatures::KernelFeatures() = default;

KernelFeatures::~KernelFeatures() { btf__free(vmlinux_btf_); }

const struct btf* KernelFeatures::vmlinux_btf() {
  if (!vmlinux_btf_loaded_) {
    vmlinux_btf_loaded_ = true;
    vmlinux_btf_ = btf__load_vmlinux_btf();
    if (!vmlinux_btf_) {
      vmlinux_btf_ = nullptr;
      log_warn("kernel BTF not available; fentry/fexit/tp_btf disabled", {{"err", std::strerror(errno)}});
    }
  }
  return vmlinux_btf_;
}

bool KernelFeatures::can_attach(AttachKind kind, std::string_view target) {
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(kind, std::string(target));
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  bool ok = probe(kind, key.second);
  log_debug("feature probe", {{"kind", attach_kind_name(kind)}, {"target", target}, {"usable", ok ? "true" : "false"}});
  cache_.emplace(std::move(key), ok);
  return ok;
}

bool KernelFeatures::probe(AttachKind kind, const std::string& target) {
  switch (kind) {
    case AttachKind::fentry:
    case AttachKind::fexit:
    case AttachKind::tp_btf: return probe_btf_tracing(kind, target);
    case AttachKind::kprobe: return probe_kprobe(false, target);
    case AttachKind::kretprobe: return probe_kprobe(true, target);
    case AttachKind::raw_tp: return probe_raw_tp(target);
    case AttachKind::tracepoint: return probe_tracepoint(target);
    case AttachKind::tcx: return probe_tcx();
    // A clsact qdisc cannot be tried without changing an interface; cls_bpf programs need only load.
    case AttachKind::tc: return static_cast<bool>(load_probe_program(BPF_PROG_TYPE_SCHED_CLS, nullptr));
  }
  return false;
}

bool KernelFeatures::probe_btf_tracing(AttachKind kind, const std::string& target) {
  const struct btf* btf = vmlinux_btf();
  if (!btf) return false;
  int id;
  bpf_attach_type attach_type;
  if (kind == AttachKind::tp_btf) {
    id = btf__find_by_name_kind(btf, ("btf_trace_" + target).c_str(), BTF_KIND_TYPEDEF);
    attach_type = BPF_TRACE_RAW_TP;
  } else {
    id = btf__find_by_name_kind(btf, target.c_str(), BTF_KIND_FUNC);
    attach_type = kind == AttachKind::fentry ? BPF_TRACE_FENTRY : BPF_TRACE_FEXIT;
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
  if (!link) log_info("tcx links unavailable", {{"err", errno_name(errno)}});
  return static_cast<bool>(link);
}

bool RestrictedFeatures::can_attach(AttachKind kind, std::string_view target) {
  if (std::find(denied_.begin(), denied_.end(), kind) != denied_.end()) return false;
  return base_.can_attach(kind, target);
}

}  // namespace bpfex
