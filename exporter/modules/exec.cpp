// exec: successful execs by new task name, failed execve/execveat by errno; by workload with
// by_workload (the default), where a cgroup v2 hierarchy exists.
#include "kernel/exec.h"
#include "base/log.h"
#include "labels/errno.h"
#include "labels/overflow.h"
#include "labels/string.h"
#include "loader/maps.h"
#include "metrics/entry_tally.h"
#include "modules/tracing_module.h"
#include "skel/exec.skel.h"
#include "workload/series.h"
#include "workload/workloads.h"

namespace bpfex {
namespace {

// With by_workload the comm map holds {comm, cgroup} pairs: room for this many per tracked comm.
constexpr uint32_t kPairsPerComm = 8;
constexpr uint32_t kMaxPairs = 1u << 20;
// Failed execs by {cgroup, errno}.
constexpr uint32_t kErrnoPairs = 4096;

class ExecModule final : public TracingModule<exec_bpf> {
 public:
  struct Options {
    uint32_t max_comms = 1024;
    bool by_workload = true;
    template <class V>
    void visit(V& v) {
      v.field("max_comms", max_comms, in_range(1, 1u << 20));
      v.field("by_workload", by_workload);
    }
  };

  explicit ExecModule(const Options& options) : options_(options) {}

  Status start(ModuleContext& context) override {
    Features& features = context.features;
    if (Status st = open(features); !st) return st;
    if (options_.by_workload) {
      workloads_ = context.workloads;
      if (!workloads_) log_info("exec: no cgroup v2 hierarchy here: counting without workload labels");
    }
    bpf()->rodata->by_workload = workloads_ != nullptr;
    bpf_map__set_max_entries(bpf()->maps.exec_by_comm,
                             workloads_ ? std::min(options_.max_comms * kPairsPerComm, kMaxPairs) : options_.max_comms);
    bpf_map__set_max_entries(bpf()->maps.exec_errors_by_cgroup, workloads_ ? kErrnoPairs : 1);

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

  Status read(ModuleReading& out) override { return workloads_ ? read_by_workload(out) : read_node(out); }

 private:
  static constexpr const char* kExecsHelp =
      "Successful execs by the new program's task name (comm, at most 15 bytes as the kernel truncates it). Past "
      "max_comms distinct names, comm=\"other\".";
  static constexpr const char* kErrorsHelp = "Failed execve and execveat calls by errno name.";

  Status read_node(ModuleReading& out) {
    auto execs = counter_family("bpfex_exec_total", kExecsHelp, {"comm"});
    Status st = read_shared_map<exec_comm_key, uint64_t>(
        bpf_map__fd(bpf()->maps.exec_by_comm), [&](const exec_comm_key& k, const uint64_t& v) {
          execs.add({labels::distinct_from_overflow(labels::string_label(k.comm))}, static_cast<double>(v));
        });
    if (!st) return st.error().wrap("read exec_by_comm");
    auto stats = read_percpu_u64_array(bpf_map__fd(bpf()->maps.exec_stats), EXEC_STAT_MAX);
    if (!stats) return stats.error().wrap("read exec_stats");
    uint64_t overflow = (*stats)[EXEC_STAT_COMM_OVERFLOW];
    if (overflow > 0) execs.add({std::string(labels::kOverflowLabel)}, static_cast<double>(overflow));

    auto errors = counter_family("bpfex_exec_errors_total", kErrorsHelp, {"errno"});
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

  // Per {comm, cgroup} and {cgroup, errno} in the kernel, per workload out of the rollup.
  Status read_by_workload(ModuleReading& out) {
    std::vector<workload::Workloads::Sample> exec_samples, error_samples;
    std::vector<exec_comm_key> comm_keys;
    std::vector<exec_errno_key> errno_keys;
    double overflow = 0;
    Status st = read_shared_map<exec_comm_key, uint64_t>(
        bpf_map__fd(bpf()->maps.exec_by_comm), [&](const exec_comm_key& k, const uint64_t& v) {
          const std::string comm = comms_.label(labels::distinct_from_overflow(labels::string_label(k.comm)));
          if (comm == labels::kOverflowLabel) other_comms_.add(k, v);
          exec_samples.push_back({k.cgroup_id, {comm}, {static_cast<double>(v)}});
          comm_keys.push_back(k);
        });
    if (!st) return st.error().wrap("read exec_by_comm");
    st = read_shared_map<exec_errno_key, uint64_t>(
        bpf_map__fd(bpf()->maps.exec_errors_by_cgroup), [&](const exec_errno_key& k, const uint64_t& v) {
          error_samples.push_back({k.cgroup_id, {labels::errno_label(k.err)}, {static_cast<double>(v)}});
          if (k.err == 0) other_errnos_.add(k, v);
          errno_keys.push_back(k);
        });
    if (!st) return st.error().wrap("read exec_errors_by_cgroup");
    auto stats = read_percpu_u64_array(bpf_map__fd(bpf()->maps.exec_stats), EXEC_STAT_MAX);
    if (!stats) return stats.error().wrap("read exec_stats");

    auto execs = counter_family("bpfex_exec_total", kExecsHelp, workload::with_workload_labels({"comm"}));
    auto errors = counter_family("bpfex_exec_errors_total", kErrorsHelp, workload::with_workload_labels({"errno"}));
    const auto exec_rollup = workloads_->rollup("exec_total", exec_samples);
    const auto error_rollup = workloads_->rollup("exec_errors", error_samples);
    // Entries of dead cgroups are deleted below: their counts stay in the tallies.
    overflow += static_cast<double>(other_comms_.finish() + other_errnos_.finish());
    overflow += workload::add_rollup(execs, exec_rollup) + workload::add_rollup(errors, error_rollup);
    // The kernel's own overflow (a map full): no cgroup to tell, so the "other" workload.
    for (auto [stat, family] :
         {std::pair{EXEC_STAT_COMM_OVERFLOW, &execs}, std::pair{EXEC_STAT_ERRNO_OVERFLOW, &errors}}) {
      const uint64_t n = (*stats)[stat];
      if (n == 0) continue;
      family->add(workload::with_other_workload({std::string(labels::kOverflowLabel)}), static_cast<double>(n));
      overflow += static_cast<double>(n);
    }
    workload::delete_cgroup_keys(bpf_map__fd(bpf()->maps.exec_by_comm), comm_keys, exec_rollup.dead_cgroups,
                                 error_rollup.dead_cgroups);
    workload::delete_cgroup_keys(bpf_map__fd(bpf()->maps.exec_errors_by_cgroup), errno_keys, exec_rollup.dead_cgroups,
                                 error_rollup.dead_cgroups);
    out.families.push_back(execs.build());
    out.families.push_back(errors.build());
    out.label_overflows = static_cast<uint64_t>(overflow);
    out.retire_vanished_series = true;  // the rollup keeps them monotonic; retired workloads go
    return {};
  }

  Options options_;
  workload::Workloads* workloads_ = nullptr;  // by_workload, where attribution works
  EntryTally other_comms_, other_errnos_;     // by_workload: counts under comm="other", errno="other"
  workload::CappedLabels comms_{options_.max_comms};
};

}  // namespace

ModuleSpec exec_module_spec() {
  return make_module_spec<ExecModule>("exec", "Counts successful execs by program name and failed execs by errno.");
}

}  // namespace bpfex
