// oom: OOM kills by victim, its workload (by_workload, the default) or its task name; and what
// constrained them (cgroup, cpuset, memory policy, none) where the kernel lets us see it.
#include "modules/oom.h"

#include "base/log.h"
#include "kernel/oom.h"
#include "labels/overflow.h"
#include "labels/string.h"
#include "loader/maps.h"
#include "modules/tracing_module.h"
#include "skel/oom.skel.h"
#include "workload/series.h"
#include "workload/workloads.h"

namespace bpfex {

namespace oom {

std::string_view constraint_label(uint32_t index) {
  switch (index) {
#define BPFEX_OOM_CONSTRAINT_LABEL(index, label) \
  case index: return label;
    OOM_CONSTRAINT_TABLE(BPFEX_OOM_CONSTRAINT_LABEL)
#undef BPFEX_OOM_CONSTRAINT_LABEL
    default: return "other";
  }
}

std::string victim_comm_label(const char (&comm)[16]) {
  std::string label = labels::string_label(comm);
  return label.empty() ? "unknown" : labels::distinct_from_overflow(std::move(label));
}

}  // namespace oom

namespace {

// With by_workload, the kill map holds one key per victim cgroup.
constexpr uint32_t kVictimCgroups = 1024;

class OomModule final : public TracingModule<oom_bpf> {
 public:
  struct Options {
    bool by_workload = true;
    uint32_t max_comms = 1024;
    template <class V>
    void visit(V& v) {
      v.field("by_workload", by_workload);
      v.field("max_comms", max_comms, in_range(1, 1u << 20));
    }
  };

  explicit OomModule(const Options& options) : options_(options) {}

  Status start(ModuleContext& context) override {
    Features& features = context.features;
    if (Status st = open(features); !st) return st;
    oom_bpf* s = bpf();
    if (options_.by_workload) {
      workloads_ = context.workloads;
      if (!workloads_) log_info("oom: no cgroup v2 hierarchy here: counting by task name without workload labels");
    }
    s->rodata->by_workload = workloads_ != nullptr;
    bpf_map__set_max_entries(s->maps.oom_kills, workloads_ ? kVictimCgroups : options_.max_comms);
    // mark_victim(task, uid) since Linux 6.8 (and in Debian's 6.1 by backport); mark_victim(pid)
    // before: tp_btf and raw_tp programs would read a pid as a task pointer there.
    const auto args = features.tracepoint_args("mark_victim");
    const bool victim_is_task = args && !args->empty() && (*args)[0].pointer;
    s->rodata->victim_is_task = victim_is_task;
    Hook victim{"OOM victim", {}};
    if (victim_is_task) {
      victim.attach_points.push_back({Flavour::tp_btf, "oom_victim_tp_btf", "mark_victim"});
      victim.attach_points.push_back({Flavour::raw_tp, "oom_victim_raw_tp", "mark_victim"});
    }
    victim.attach_points.push_back({Flavour::tracepoint, "oom_victim_tracepoint", "oom/mark_victim"});
    for (const char* name : {"oom_victim_tp_btf", "oom_victim_raw_tp"})
      if (!victim_is_task) bpf_program__set_autoload(bpf_object__find_program_by_name(s->obj, name), false);
    std::vector<Hook> hooks = {victim};

    // The constraint has no tracepoint: fentry or kprobe on oom_kill_process(), where there is one.
    const Hook constraint{"OOM constraint",
                          {{Flavour::fentry, "oom_kill_fentry", "oom_kill_process"},
                           {Flavour::kprobe, "oom_kill_kprobe", "oom_kill_process"}}};
    constraints_ = choose_attach_points({constraint}, features)[0].has_value();
    if (constraints_) {
      hooks.push_back(constraint);
    } else {
      for (const char* name : {"oom_kill_fentry", "oom_kill_kprobe"})
        bpf_program__set_autoload(bpf_object__find_program_by_name(s->obj, name), false);
      log_info(
          "oom: kills are not counted by constraint: this kernel attaches neither fentry nor kprobe to "
          "oom_kill_process (no tracepoint carries the constraint)");
    }
    if (Status st = prepare(hooks, features); !st) return st;
    if (Status st = load(); !st) return st;
    return attach();
  }

  Status read(ModuleReading& out) override {
    auto stats = read_percpu_u64_array(bpf_map__fd(bpf()->maps.oom_stats), OOM_STAT_MAX);
    if (!stats) return stats.error().wrap("read oom_stats");
    double overflow = static_cast<double>((*stats)[OOM_STAT_KEY_OVERFLOW]);
    if (Status st = workloads_ ? read_by_workload(out, overflow) : read_by_comm(out, overflow); !st) return st;
    if (constraints_) {
      auto by_constraint = read_percpu_u64_array(bpf_map__fd(bpf()->maps.oom_constraints), OOM_CONSTRAINT_COUNT);
      if (!by_constraint) return by_constraint.error().wrap("read oom_constraints");
      auto constrained = counter_family("bpfex_oom_kills_constrained_total", kConstrainedHelp, {"constraint"});
      for (uint32_t i = 0; i < OOM_CONSTRAINT_COUNT; ++i)
        constrained.add({std::string(oom::constraint_label(i))}, static_cast<double>((*by_constraint)[i]));
      out.families.push_back(constrained.build());
    }
    out.label_overflows = static_cast<uint64_t>(overflow);
    return {};
  }

 private:
  static constexpr const char* kKillsHelp =
      "Tasks the kernel's OOM killer chose as victims, by the victim's workload (with by_workload) or task name.";
  static constexpr const char* kConstrainedHelp =
      "OOM kills by what constrained the memory that ran out: cgroup (a memory cgroup's limit), cpuset, "
      "memory_policy (mempolicy nodes), none (the whole machine).";

  Status read_by_comm(ModuleReading& out, double& overflow) {
    auto kills = counter_family("bpfex_oom_kills_total", kKillsHelp, {"comm"});
    Status st = read_shared_map<oom_kill_key, uint64_t>(
        bpf_map__fd(bpf()->maps.oom_kills), [&](const oom_kill_key& k, const uint64_t& n) {
          kills.add({oom::victim_comm_label(k.comm)}, static_cast<double>(n));
        });
    if (!st) return st.error().wrap("read oom_kills");
    if (overflow > 0) kills.add({"other"}, overflow);
    out.families.push_back(kills.build());
    return {};
  }

  Status read_by_workload(ModuleReading& out, double& overflow) {
    auto kills = counter_family("bpfex_oom_kills_total", kKillsHelp, workload::with_workload_labels({}));
    std::vector<workload::Workloads::Sample> samples;
    std::vector<oom_kill_key> keys;
    Status st = read_shared_map<oom_kill_key, uint64_t>(
        bpf_map__fd(bpf()->maps.oom_kills), [&](const oom_kill_key& k, const uint64_t& n) {
          if (k.cgroup_id == 0) {
            kills.add({"", "", "", ""}, static_cast<double>(n));  // a victim whose cgroup is unknown
            return;
          }
          samples.push_back({k.cgroup_id, {}, {static_cast<double>(n)}});
          keys.push_back(k);
        });
    if (!st) return st.error().wrap("read oom_kills");
    const auto rollup = workloads_->rollup("oom_kills", samples);
    // The kernel's own overflow (the map full, counted in overflow already): no cgroup to tell, so
    // the "other" workload.
    if (overflow > 0) kills.add(workload::with_other_workload({}), overflow);
    overflow += workload::add_rollup(kills, rollup);
    workload::delete_cgroup_keys(bpf_map__fd(bpf()->maps.oom_kills), keys, rollup.dead_cgroups);
    out.families.push_back(kills.build());
    out.retire_vanished_series = true;  // the rollup keeps them monotonic; retired workloads go
    return {};
  }

  Options options_;
  workload::Workloads* workloads_ = nullptr;  // by_workload, where attribution works
  bool constraints_ = false;
};

}  // namespace

ModuleSpec oom_module_spec() {
  return make_module_spec<OomModule>("oom", "OOM kills by victim workload (or task name) and by constraint.");
}

}  // namespace bpfex
