// exec: successful execs by new task name, failed execve/execveat by errno.
#include "kernel/exec.h"
#include "labels/errno.h"
#include "labels/string.h"
#include "loader/maps.h"
#include "modules/tracing_module.h"
#include "skel/exec.skel.h"

namespace bpfex {
namespace {

class ExecModule final : public TracingModule<exec_bpf> {
 public:
  struct Options {
    uint32_t max_comms = 1024;
    template <class V>
    void visit(V& v) {
      v.field("max_comms", max_comms, in_range(1, 1u << 20));
    }
  };

  explicit ExecModule(const Options& options) : options_(options) {}

  Status start(Features& features) override {
    if (Status st = open(features); !st) return st;
    bpf_map__set_max_entries(bpf()->maps.exec_by_comm, options_.max_comms);

    const std::string execve = features.syscall_symbol("execve");
    const std::string execveat = features.syscall_symbol("execveat");
    std::vector<Hook> hooks = {
        {"exec",
         {{Flavour::tp_btf, "exec_tp_btf", "sched_process_exec"},
          {Flavour::raw_tp, "exec_raw_tp", "sched_process_exec"},
          {Flavour::tracepoint, "exec_tracepoint", "sched/sched_process_exec"}}},
        {"execve return",
         {{Flavour::fexit, "execve_fexit", execve},
          {Flavour::kretprobe, "exec_kretprobe", execve},
          {Flavour::tracepoint, "exec_exit_tracepoint", "syscalls/sys_exit_execve"}}},
        {"execveat return",
         {{Flavour::fexit, "execveat_fexit", execveat},
          {Flavour::kretprobe, "exec_kretprobe", execveat},
          {Flavour::tracepoint, "exec_exit_tracepoint", "syscalls/sys_exit_execveat"}}},
    };
    if (Status st = prepare(hooks, features); !st) return st;
    if (Status st = load(); !st) return st;
    return attach();
  }

  Status read(ModuleReading& out) override {
    auto execs = counter_family("bpfex_exec_total",
                                "Successful execs by the new program's task name (comm, at most 15 bytes as the "
                                "kernel truncates it). Past max_comms distinct names, comm=\"other\".",
                                {"comm"});
    Status st = read_percpu_map<exec_comm_key, uint64_t>(
        bpf_map__fd(bpf()->maps.exec_by_comm), [&](const exec_comm_key& k, const uint64_t& v) {
          execs.add({labels::string_label(k.comm)}, static_cast<double>(v));
        });
    if (!st) return st.error().wrap("read exec_by_comm");

    auto stats = read_percpu_u64_array(bpf_map__fd(bpf()->maps.exec_stats), EXEC_STAT_MAX);
    if (!stats) return stats.error().wrap("read exec_stats");
    uint64_t overflow = (*stats)[EXEC_STAT_COMM_OVERFLOW];
    if (overflow > 0) execs.add({"other"}, static_cast<double>(overflow));

    auto errors =
        counter_family("bpfex_exec_errors_total", "Failed execve and execveat calls by errno name.", {"errno"});
    auto by_errno = read_percpu_u64_array(bpf_map__fd(bpf()->maps.exec_errors), EXEC_ERRNO_SLOTS);
    if (!by_errno) return by_errno.error().wrap("read exec_errors");
    for (uint32_t slot = 0; slot < EXEC_ERRNO_SLOTS; ++slot) {
      uint64_t n = (*by_errno)[slot];
      if (n == 0) continue;
      // Slot 0 collects errno values beyond the table: errno_label(0) is "other".
      errors.add({labels::errno_label(slot)}, static_cast<double>(n));
      if (slot == 0) overflow += n;
    }
    out.families.push_back(execs.build());
    out.families.push_back(errors.build());
    out.label_overflows = overflow;
    return {};
  }

 private:
  Options options_;
};

}  // namespace

ModuleSpec exec_module_spec() {
  return make_module_spec<ExecModule>("exec", "Counts successful execs by program name and failed execs by errno.");
}

}  // namespace bpfex
