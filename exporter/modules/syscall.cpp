// syscall: latency histogram per syscall (native-schema buckets, exact sum) and failed calls by errno.

#include <bpf/bpf.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "base/fd.h"
#include "base/log.h"
#include "base/quote.h"
#include "kernel/syscall.h"
#include "labels/errno.h"
#include "labels/syscall.h"
#include "loader/maps.h"
#include "metrics/entry_tally.h"
#include "metrics/native_buckets.h"
#include "modules/task_filters.h"
#include "modules/tracing_module.h"
#include "skel/syscall.skel.h"
#include "workload/series.h"

namespace bpfex {

namespace {

using native_buckets::check_bucket_bound;

std::optional<std::string> check_syscall_name(const std::string& name) {
  if (labels::syscall_number(name)) return std::nullopt;
  return "unknown syscall " + quote_value(name);
}

class SyscallModule final : public TracingModule<syscall_bpf> {
 public:
  struct Options {
    std::vector<std::string> include;
    std::vector<std::string> exclude;
    std::string min_bucket = "1us";
    std::string max_bucket = "16s";
    uint32_t max_error_series = 1024;
    std::vector<std::string> comms;
    std::string cgroup;
    bool by_workload = false;
    uint32_t max_workload_rows = 8192;

    template <class V>
    void visit(V& v) {
      v.field("include", include, check_syscall_name);
      v.field("exclude", exclude, check_syscall_name);
      v.field("min_bucket", min_bucket, check_bucket_bound);
      v.field("max_bucket", max_bucket,
              [this](const std::string& text) { return native_buckets::check_max_bucket(min_bucket, text); });
      v.field("max_error_series", max_error_series, in_range(1, 1u << 20));
      v.field("comms", comms, task_filters::check_comm);
      v.field("cgroup", cgroup);
      v.field("by_workload", by_workload);
      v.field("max_workload_rows", max_workload_rows, in_range(1, 1u << 20));
    }
  };

  explicit SyscallModule(const Options& options) : options_(options) {}

  Status start(ModuleContext& context) override {
    Features& features = context.features;
    if (Status st = open(features); !st) return st;
    syscall_bpf* s = bpf();

    layout_ = native_buckets::layout_of(context.native_histogram_schema, options_.min_bucket, options_.max_bucket);
    s->rodata->syscall_hist = layout_.kernel_layout();
    row_slots_ = SYSCALL_SLOT_BUCKET0 + layout_.slots();
    for (bpf_map* rows : {s->maps.syscall_rows, s->maps.syscall_workload_rows, s->maps.syscall_zero_row})
      bpf_map__set_value_size(rows, row_slots_ * sizeof(uint64_t));
    if (Status st = native_buckets::prepare_table(s->maps.syscall_hist_table, layout_); !st) return st;
    if (auto nr = labels::syscall_number("rt_sigreturn")) s->rodata->rt_sigreturn_nr = *nr;
    set_skipped(s->rodata->skipped);
    bpf_map__set_max_entries(s->maps.syscall_errors, options_.max_error_series);
    if (options_.by_workload) {
      workloads_ = context.workloads;
      if (!workloads_) log_info("syscall: no cgroup v2 hierarchy here: counting without workload labels");
    }
    s->rodata->by_workload = workloads_ != nullptr;
    bpf_map__set_max_entries(s->maps.syscall_workload_rows, workloads_ ? options_.max_workload_rows : 1);

    if (!options_.comms.empty()) {
      s->rodata->filter_comm = true;
      bpf_map__set_max_entries(s->maps.allowed_comms, static_cast<uint32_t>(options_.comms.size()));
    }
    if (!options_.cgroup.empty()) {
      auto cgroup = task_filters::open_cgroup(options_.cgroup);
      if (!cgroup) return cgroup.error();
      cgroup_fd_ = std::move(cgroup->fd);
      s->rodata->filter_cgroup = true;
    }

    std::vector<Hook> hooks = {
        {"syscall enter",
         {{Flavour::tp_btf, "sys_enter_tp_btf", "sys_enter"},
          {Flavour::raw_tp, "sys_enter_raw_tp", "sys_enter"},
          {Flavour::tracepoint, "sys_enter_tracepoint", "raw_syscalls/sys_enter"}}},
        {"syscall exit",
         {{Flavour::tp_btf, "sys_exit_tp_btf", "sys_exit"},
          {Flavour::raw_tp, "sys_exit_raw_tp", "sys_exit"},
          {Flavour::tracepoint, "sys_exit_tracepoint", "raw_syscalls/sys_exit"}}},
    };
    // Enter and exit must keep the stamp in the same place: both take the flavour of the weaker.
    if (Status st = prepare(hooks, features, FlavourChoice::shared); !st) return st;
    const bool task_storage = chosen_index(0) == 0;  // tp_btf
    // The map the chosen flavour does not use is not created: task storage needs 5.11+.
    bpf_map__set_autocreate(s->maps.task_starts, task_storage);
    if (task_storage) bpf_map__set_max_entries(s->maps.thread_starts, 1);

    if (Status st = load(); !st) return st;
    if (Status st = native_buckets::fill_table(s->maps.syscall_hist_table, layout_); !st) return st;
    if (Status st = fill_filters(); !st) return st;
    return attach();
  }

  Status read(ModuleReading& out) override {
    const bool attributed = workloads_ != nullptr;
    auto names = [&](std::vector<std::string> own) {
      return attributed ? workload::with_workload_labels(std::move(own)) : own;
    };
    auto latency = HistogramFamily("bpfex_syscall_latency_seconds",
                                   "Syscall latency from entry to exit, by syscall name (the number when it has none).",
                                   names({"syscall"}));
    auto errors = counter_family("bpfex_syscall_errors_total",
                                 "Syscalls that returned an error, by syscall and errno name. Past max_error_series "
                                 "distinct pairs, errno=\"other\".",
                                 names({"syscall", "errno"}));
    // The node-level rows hold every call, or with by_workload the calls that found
    // syscall_workload_rows full: those count in the "other" workload.
    auto node = [&](LabelValues own) { return attributed ? workload::with_other_workload(std::move(own)) : own; };
    double overflow = 0;
    HistogramData data;
    data.layout = layout_;
    const size_t row_bytes = row_slots_ * sizeof(uint64_t);
    Status st = read_percpu_map(bpf_map__fd(bpf()->maps.syscall_rows), sizeof(uint32_t), row_bytes,
                                [&](const void* key, const uint64_t* row) {
                                  uint32_t nr;
                                  std::memcpy(&nr, key, sizeof nr);
                                  data.counts.assign(row + SYSCALL_SLOT_BUCKET0, row + row_slots_);
                                  uint64_t calls = 0;
                                  for (uint64_t c : data.counts) calls += c;
                                  const uint64_t error_overflow = row[SYSCALL_SLOT_ERR_OVERFLOW];
                                  if (calls == 0 && error_overflow == 0) return;
                                  const std::string name = labels::syscall_label(nr);
                                  data.sum = static_cast<double>(row[SYSCALL_SLOT_SUM]) / 1e9;
                                  latency.add(node({name}), data);
                                  if (attributed) overflow += static_cast<double>(calls);
                                  if (error_overflow > 0) {
                                    errors.add(node({name, "other"}), static_cast<double>(error_overflow));
                                    overflow += static_cast<double>(error_overflow);
                                  }
                                });
    if (!st) return st.error().wrap("read syscall_rows");
    std::vector<workload::Workloads::Sample> row_samples, error_samples;
    std::vector<syscall_error_key> error_keys;
    std::vector<syscall_workload_key> row_keys;
    st = read_percpu_map<syscall_error_key, uint64_t>(
        bpf_map__fd(bpf()->maps.syscall_errors), [&](const syscall_error_key& k, const uint64_t& n) {
          LabelValues own = {labels::syscall_label(k.nr), labels::errno_label(k.err)};
          if (!attributed || k.cgroup_id == 0) {
            errors.add(node(std::move(own)), static_cast<double>(n));
            return;
          }
          error_samples.push_back({k.cgroup_id, std::move(own), {static_cast<double>(n)}});
          error_keys.push_back(k);
        });
    if (!st) return st.error().wrap("read syscall_errors");
    if (attributed) {
      st = read_shared_map(
          bpf_map__fd(bpf()->maps.syscall_workload_rows), sizeof(syscall_workload_key), row_bytes,
          [&](const void* key, const uint64_t* row) {
            syscall_workload_key k;
            std::memcpy(&k, key, sizeof k);
            const std::string name = labels::syscall_label(k.nr);
            row_samples.push_back({k.cgroup_id,
                                   {name},
                                   workload::histogram_values(row + SYSCALL_SLOT_BUCKET0, layout_.slots(),
                                                              static_cast<double>(row[SYSCALL_SLOT_SUM]) / 1e9)});
            if (const uint64_t eo = row[SYSCALL_SLOT_ERR_OVERFLOW]) {
              error_samples.push_back({k.cgroup_id, {name, "other"}, {static_cast<double>(eo)}});
              row_error_overflow_.add(k, eo);
            }
            row_keys.push_back(k);
          });
      if (!st) return st.error().wrap("read syscall_workload_rows");
      overflow += static_cast<double>(row_error_overflow_.finish());
      const auto rows = workloads_->rollup("syscall_latency", row_samples);
      const auto errs = workloads_->rollup("syscall_errors", error_samples);
      overflow += workload::add_rollup(latency, rows, layout_) + workload::add_rollup(errors, errs);
      workload::delete_cgroup_keys(bpf_map__fd(bpf()->maps.syscall_workload_rows), row_keys, rows.dead_cgroups,
                                   errs.dead_cgroups);
      workload::delete_cgroup_keys(bpf_map__fd(bpf()->maps.syscall_errors), error_keys, rows.dead_cgroups,
                                   errs.dead_cgroups);
      out.retire_vanished_series = true;  // the rollup keeps them monotonic; retired workloads go
    }
    out.families.push_back(latency.build());
    out.families.push_back(errors.build());
    out.label_overflows = static_cast<uint64_t>(overflow);
    return {};
  }

 private:
  void set_skipped(__u64* skipped) const {
    auto skip = [&](uint32_t nr) {
      if (nr < SYSCALL_NR_MAX) skipped[nr / 64] |= uint64_t{1} << (nr % 64);
    };
    auto unskip = [&](uint32_t nr) {
      if (nr < SYSCALL_NR_MAX) skipped[nr / 64] &= ~(uint64_t{1} << (nr % 64));
    };
    if (!options_.include.empty()) {
      for (uint32_t nr = 0; nr < SYSCALL_NR_MAX; ++nr) skip(nr);
      for (const auto& name : options_.include) unskip(*labels::syscall_number(name));
    }
    for (const auto& name : options_.exclude) skip(*labels::syscall_number(name));
    // They never return: a stamp would only wait to be overwritten.
    for (const char* name : {"exit", "exit_group"})
      if (auto nr = labels::syscall_number(name)) skip(*nr);
  }

  Status fill_filters() {
    syscall_bpf* s = bpf();
    static_assert(sizeof(syscall_comm_key) == task_filters::kCommLen);
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
  size_t row_slots_ = 0;  // u64 slots of a row: SYSCALL_SLOT_BUCKET0 + layout_.slots()
  Fd cgroup_fd_;
  workload::Workloads* workloads_ = nullptr;  // by_workload, where attribution works
  EntryTally row_error_overflow_;             // by_workload: what the rows counted under errno="other"
};

}  // namespace

ModuleSpec syscall_module_spec() {
  return make_module_spec<SyscallModule>("syscall", "Latency histogram per syscall and failed syscalls by errno.");
}

}  // namespace bpfex
