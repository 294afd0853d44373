// runqueue: run-queue latency, how long runnable tasks wait for a CPU (native-schema buckets, exact sum),
// node-wide and, with by_workload (the default, where a cgroup v2 hierarchy exists), per workload.
#include <bpf/bpf.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "kernel/runqueue.h"
#include "loader/maps.h"
#include "metrics/native_buckets.h"
#include "modules/task_filters.h"
#include "modules/tracing_module.h"
#include "skel/runqueue.skel.h"
#include "workload/series.h"

namespace bpfex {
namespace {

// Waits in progress the kernel can keep apart (an LRU: threads asleep for long make room first).
constexpr uint32_t kMaxThreads = 16384;

class RunqueueModule final : public TracingModule<runqueue_bpf> {
 public:
  struct Options {
    std::string min_bucket = "1us";
    std::string max_bucket = "16s";
    std::vector<std::string> comms;
    std::string cgroup;
    bool by_workload = true;
    uint32_t max_workload_rows = 4096;

    template <class V>
    void visit(V& v) {
      v.field("min_bucket", min_bucket, native_buckets::check_bucket_bound);
      v.field("max_bucket", max_bucket,
              [this](const std::string& text) { return native_buckets::check_max_bucket(min_bucket, text); });
      v.field("comms", comms, task_filters::check_comm);
      v.field("cgroup", cgroup);
      v.field("by_workload", by_workload);
      v.field("max_workload_rows", max_workload_rows, in_range(1, 1u << 20));
    }
  };

  explicit RunqueueModule(const Options& options) : options_(options) {}

  Status start(ModuleContext& context) override {
    Features& features = context.features;
    if (Status st = open(features); !st) return st;
    runqueue_bpf* s = bpf();

    layout_ = native_buckets::layout_of(context.native_histogram_schema, options_.min_bucket, options_.max_bucket);
    s->rodata->runqueue_hist = layout_.kernel_layout();
    row_slots_ = RUNQUEUE_SLOT_BUCKET0 + layout_.slots();
    for (bpf_map* rows : {s->maps.runqueue_rows, s->maps.runqueue_workload_rows, s->maps.runqueue_zero_row})
      bpf_map__set_value_size(rows, row_slots_ * sizeof(uint64_t));
    if (Status st = native_buckets::prepare_table(s->maps.runqueue_hist_table, layout_); !st) return st;
    if (options_.by_workload) {
      workloads_ = context.workloads;
      if (!workloads_) log_info("runqueue: no cgroup v2 hierarchy here: counting without workload labels");
    }
    s->rodata->by_workload = workloads_ != nullptr;
    bpf_map__set_max_entries(s->maps.runqueue_workload_rows, workloads_ ? options_.max_workload_rows : 1);
    bpf_map__set_max_entries(s->maps.runqueue_starts, kMaxThreads);
    if (!options_.comms.empty()) {
      s->rodata->filter_comm = true;
      bpf_map__set_max_entries(s->maps.allowed_comms, static_cast<uint32_t>(options_.comms.size()));
    }
    if (!options_.cgroup.empty()) {
      auto cgroup = task_filters::open_cgroup(options_.cgroup);
      if (!cgroup) return cgroup.error();
      s->rodata->filter_cgroup = true;
      s->rodata->filter_cgroup_id = cgroup->id;
      s->rodata->filter_cgroup_level = cgroup->level;
      cgroup_fd_ = std::move(cgroup->fd);
    }

    // The three hooks share the stamps' meaning (the tracepoint flavour keeps a task's cgroup from
    // when it last ran, the others read it from the task): one flavour for all.
    std::vector<Hook> hooks = {
        {"task wakeup",
         {{Flavour::tp_btf, "sched_wakeup_tp_btf", "sched_wakeup"},
          {Flavour::raw_tp, "sched_wakeup_raw_tp", "sched_wakeup"},
          {Flavour::tracepoint, "sched_wakeup_tracepoint", "sched/sched_wakeup"}}},
        {"new task wakeup",
         {{Flavour::tp_btf, "sched_wakeup_new_tp_btf", "sched_wakeup_new"},
          {Flavour::raw_tp, "sched_wakeup_new_raw_tp", "sched_wakeup_new"},
          {Flavour::tracepoint, "sched_wakeup_new_tracepoint", "sched/sched_wakeup_new"}}},
        {"context switch",
         {{Flavour::tp_btf, "sched_switch_tp_btf", "sched_switch"},
          {Flavour::raw_tp, "sched_switch_raw_tp", "sched_switch"},
          {Flavour::tracepoint, "sched_switch_tracepoint", "sched/sched_switch"}}},
    };
    if (Status st = prepare(hooks, features, FlavourChoice::shared); !st) return st;
    if (Status st = load(); !st) return st;
    if (Status st = native_buckets::fill_table(s->maps.runqueue_hist_table, layout_); !st) return st;
    if (Status st = fill_filters(); !st) return st;
    return attach();
  }

  Status read(ModuleReading& out) override {
    const bool attributed = workloads_ != nullptr;
    auto latency =
        HistogramFamily("bpfex_runqueue_latency_seconds",
                        "Time runnable tasks waited for a CPU: from wakeup, creation or preemption to running.",
                        attributed ? workload::kWorkloadLabelNames : std::vector<std::string>{});
    double overflow = 0;
    HistogramData data;
    data.layout = layout_;
    const size_t row_bytes = row_slots_ * sizeof(uint64_t);
    Status st = read_percpu_map(bpf_map__fd(bpf()->maps.runqueue_rows), sizeof(uint32_t), row_bytes,
                                [&](const void*, const uint64_t* row) {
                                  data.counts.assign(row + RUNQUEUE_SLOT_BUCKET0, row + row_slots_);
                                  uint64_t waits = 0;
                                  for (uint64_t c : data.counts) waits += c;
                                  if (attributed && waits == 0)
                                    return;  // no "other" workload until something overflowed
                                  data.sum = static_cast<double>(row[RUNQUEUE_SLOT_SUM]) / 1e9;
                                  // With by_workload, the node row holds the waits whose cgroup found the rows full.
                                  latency.add(attributed ? workload::with_other_workload({}) : LabelValues{}, data);
                                  if (attributed) overflow += static_cast<double>(waits);
                                });
    if (!st) return st.error().wrap("read runqueue_rows");
    if (attributed) {
      std::vector<workload::Workloads::Sample> samples;
      std::vector<uint64_t> keys;
      st = read_shared_map(
          bpf_map__fd(bpf()->maps.runqueue_workload_rows), sizeof(uint64_t), row_bytes,
          [&](const void* key, const uint64_t* row) {
            uint64_t cgroup;
            std::memcpy(&cgroup, key, sizeof cgroup);
            samples.push_back({cgroup,
                               {},
                               workload::histogram_values(row + RUNQUEUE_SLOT_BUCKET0, layout_.slots(),
                                                          static_cast<double>(row[RUNQUEUE_SLOT_SUM]) / 1e9)});
            keys.push_back(cgroup);
          });
      if (!st) return st.error().wrap("read runqueue_workload_rows");
      const auto rows = workloads_->rollup("runqueue_latency", samples);
      overflow += workload::add_rollup(latency, rows, layout_);
      for (uint64_t cgroup : keys)
        if (std::binary_search(rows.dead_cgroups.begin(), rows.dead_cgroups.end(), cgroup))
          bpf_map_delete_elem(bpf_map__fd(bpf()->maps.runqueue_workload_rows), &cgroup);
      out.retire_vanished_series = true;  // the rollup keeps them monotonic; retired workloads go
    }
    out.families.push_back(latency.build());
    out.label_overflows = static_cast<uint64_t>(overflow);
    return {};
  }

 private:
  Status fill_filters() {
    runqueue_bpf* s = bpf();
    static_assert(sizeof(runqueue_comm_key) == task_filters::kCommLen);
    if (Status st = task_filters::fill_comm_map(bpf_map__fd(s->maps.allowed_comms), options_.comms); !st) return st;
    if (cgroup_fd_) {
      const uint32_t index = 0, fd = static_cast<uint32_t>(cgroup_fd_.get());
      if (bpf_map_update_elem(bpf_map__fd(s->maps.allowed_cgroup), &index, &fd, BPF_ANY) != 0)
        return errno_error("cgroup: set " + options_.cgroup);
    }
    return {};
  }

  Options options_;
  native_buckets::Layout layout_;
  size_t row_slots_ = 0;  // u64 slots of a row: RUNQUEUE_SLOT_BUCKET0 + layout_.slots()
  Fd cgroup_fd_;
  workload::Workloads* workloads_ = nullptr;  // by_workload, where attribution works
};

}  // namespace

ModuleSpec runqueue_module_spec() {
  return make_module_spec<RunqueueModule>("runqueue",
                                          "Run-queue latency: how long runnable tasks wait for a CPU, per workload.");
}

}  // namespace bpfex
