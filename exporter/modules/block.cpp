// block: block I/O latency per disk and operation (log2 buckets, exact sum), bytes, and failed
// requests by block status. Disks are named from their dev_t through sysfs; a disk that disappears
// stops being exported, its kernel rows are deleted.
#include <bpf/bpf.h>
#include <bpf/btf.h>

#include <map>
#include <set>

#include "base/log.h"
#include "kernel/block.h"
#include "labels/block.h"
#include "labels/overflow.h"
#include "loader/maps.h"
#include "metrics/log2_buckets.h"
#include "modules/tracing_module.h"
#include "skel/block.skel.h"

namespace bpfex {
namespace {

using log2_buckets::Buckets;

// Requests in flight the kernel can keep apart (an LRU).
constexpr uint32_t kMaxInFlight = 16384;
// Distinct {disk, operation, status} failures per disk the kernel keeps.
constexpr uint32_t kErrorSeriesPerDevice = 8;

// Whether block_rq_issue and block_rq_insert pass the request alone (Linux 5.11+) or after its queue:
// the parameter count of their BTF prototype (btf_trace_block_rq_issue: a typedef of a pointer to a
// function whose first parameter is the tracepoint's data pointer). Without BTF: the newer one.
bool issue_passes_request_only(const std::string& btf_path) {
  struct btf* btf = btf_path.empty() ? btf__load_vmlinux_btf() : btf__parse(btf_path.c_str(), nullptr);
  if (!btf) return true;
  bool single = true;
  const int id = btf__find_by_name_kind(btf, "btf_trace_block_rq_issue", BTF_KIND_TYPEDEF);
  if (id > 0) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    t = t ? btf__type_by_id(btf, t->type) : nullptr;  // the pointer
    t = t ? btf__type_by_id(btf, t->type) : nullptr;  // the prototype
    if (t && btf_is_func_proto(t)) single = btf_vlen(t) == 2;
  }
  btf__free(btf);
  return single;
}

class BlockModule final : public TracingModule<block_bpf> {
 public:
  struct Options {
    bool include_queue_time = false;
    std::string min_bucket = "1us";
    std::string max_bucket = "17s";
    uint32_t max_devices = 64;

    template <class V>
    void visit(V& v) {
      v.field("include_queue_time", include_queue_time);
      v.field("min_bucket", min_bucket, log2_buckets::check_bucket_bound);
      v.field("max_bucket", max_bucket, [this](const std::string& text) {
        return log2_buckets::check_max_bucket(min_bucket, text, BLOCK_MAX_BUCKETS);
      });
      v.field("max_devices", max_devices, in_range(1, 1u << 16));
    }
  };

  explicit BlockModule(const Options& options)
      : options_(options), buckets_(log2_buckets::buckets_of(options.min_bucket, options.max_bucket)) {}

  Status start(ModuleContext& context) override {
    Features& features = context.features;
    if (Status st = open(features); !st) return st;
    block_bpf* s = bpf();
    s->rodata->min_shift = buckets_.min_shift;
    s->rodata->nbuckets = buckets_.count;
    s->rodata->queue_time = options_.include_queue_time;
    s->rodata->rq_single_arg = issue_passes_request_only(features.btf_path());
    bpf_map__set_max_entries(s->maps.block_rows, options_.max_devices * BLOCK_OP_COUNT);
    bpf_map__set_max_entries(s->maps.block_errors, options_.max_devices * kErrorSeriesPerDevice);
    bpf_map__set_max_entries(s->maps.block_starts, kMaxInFlight);

    // Issue and completion must agree on how a request is known (its address, or the tracepoint
    // flavour's disk and sector): one flavour for all hooks.
    std::vector<Hook> hooks = {
        {"request issue",
         {{Flavour::tp_btf, "block_rq_issue_tp_btf", "block_rq_issue"},
          {Flavour::raw_tp, "block_rq_issue_raw_tp", "block_rq_issue"},
          {Flavour::tracepoint, "block_rq_issue_tracepoint", "block/block_rq_issue"}}},
        {"request completion",
         {{Flavour::tp_btf, "block_rq_complete_tp_btf", "block_rq_complete"},
          {Flavour::raw_tp, "block_rq_complete_raw_tp", "block_rq_complete"},
          {Flavour::tracepoint, "block_rq_complete_tracepoint", "block/block_rq_complete"}}},
    };
    if (options_.include_queue_time) {
      hooks.push_back({"request insert",
                       {{Flavour::tp_btf, "block_rq_insert_tp_btf", "block_rq_insert"},
                        {Flavour::raw_tp, "block_rq_insert_raw_tp", "block_rq_insert"},
                        {Flavour::tracepoint, "block_rq_insert_tracepoint", "block/block_rq_insert"}}});
    } else {
      for (bpf_program* p :
           {s->progs.block_rq_insert_tp_btf, s->progs.block_rq_insert_raw_tp, s->progs.block_rq_insert_tracepoint})
        bpf_program__set_autoload(p, false);
    }
    if (Status st = prepare(hooks, features, FlavourChoice::shared); !st) return st;
    if (Status st = load(); !st) return st;
    return attach();
  }

  Status read(ModuleReading& out) override {
    // What the kernel has, by disk.
    std::map<uint32_t, std::map<uint32_t, block_row>> rows;                        // dev -> op -> row
    std::map<uint32_t, std::map<std::pair<uint32_t, uint32_t>, uint64_t>> errors;  // dev -> {op, error} -> n
    std::vector<block_key> row_keys;
    std::vector<block_error_key> error_keys;
    Status st = read_percpu_map<block_key, block_row>(bpf_map__fd(bpf()->maps.block_rows),
                                                      [&](const block_key& k, const block_row& row) {
                                                        rows[k.dev][k.op] = row;
                                                        row_keys.push_back(k);
                                                      });
    if (!st) return st.error().wrap("read block_rows");
    st = read_shared_map<block_error_key, uint64_t>(bpf_map__fd(bpf()->maps.block_errors),
                                                    [&](const block_error_key& k, const uint64_t& n) {
                                                      errors[k.dev][{k.op, k.error}] = n;
                                                      error_keys.push_back(k);
                                                    });
    if (!st) return st.error().wrap("read block_errors");
    std::map<uint32_t, block_row> overflow;  // op -> row
    st = read_percpu_map<uint32_t, block_row>(bpf_map__fd(bpf()->maps.block_overflow),
                                              [&](const uint32_t& op, const block_row& row) { overflow[op] = row; });
    if (!st) return st.error().wrap("read block_overflow");

    // Which disks exist now, and their labels.
    std::set<uint32_t> devs, gone;
    for (const auto& [dev, _] : rows) devs.insert(dev);
    for (const auto& [dev, _] : errors) devs.insert(dev);
    for (uint32_t dev : devs) {
      auto name = labels::block_device_name(dev);
      auto known = disks_.find(dev);
      if (known != disks_.end() && (!name || *name != known->second.name)) {
        retire(known, rows[dev], errors[dev]);
        known = disks_.end();
      }
      if (!name) {
        gone.insert(dev);
        continue;
      }
      if (known == disks_.end()) {
        const bool named = named_ < options_.max_devices;
        named_ += named ? 1 : 0;
        disks_[dev] = Disk{*name, named};
      }
    }
    auto latency =
        HistogramFamily("bpfex_block_io_latency_seconds",
                        std::string("Block I/O request latency by disk and operation, from ") +
                            (options_.include_queue_time ? "insertion into the queue" : "issue to the driver") +
                            " to completion. Log2 buckets.",
                        {"device", "operation"});
    auto bytes = counter_family("bpfex_block_io_bytes_total",
                                "Bytes of block I/O requests that completed without error, by disk and operation.",
                                {"device", "operation"});
    auto failures = counter_family(
        "bpfex_block_io_errors_total",
        "Block I/O requests that failed, by disk, operation and block status (BLK_STS_*). Past the kernel's "
        "capacity, error=\"other\".",
        {"device", "operation", "error"});
    double label_overflow = 0;
    HistogramData data;
    data.upper_bounds = upper_bounds_;
    auto add_row = [&](const std::string& device, uint32_t op, const block_row& row) {
      data.counts.assign(row.slot + BLOCK_SLOT_BUCKET0, row.slot + BLOCK_SLOT_BUCKET0 + buckets_.count + 1);
      data.sum = static_cast<double>(row.slot[BLOCK_SLOT_SUM]) / 1e9;
      const std::string operation = labels::block_op_label(op);
      latency.add({device, operation}, data);
      bytes.add({device, operation}, static_cast<double>(row.slot[BLOCK_SLOT_BYTES]));
      if (row.slot[BLOCK_SLOT_ERR_OVERFLOW] > 0) {
        failures.add({device, operation, "other"}, static_cast<double>(row.slot[BLOCK_SLOT_ERR_OVERFLOW]));
        label_overflow += static_cast<double>(row.slot[BLOCK_SLOT_ERR_OVERFLOW]);
      }
      if (device == "other") {
        for (size_t i = 0; i < data.counts.size(); ++i) label_overflow += static_cast<double>(data.counts[i]);
      }
    };
    for (const auto& [dev, by_op] : rows) {
      auto disk = disks_.find(dev);
      if (disk == disks_.end()) continue;  // gone
      for (const auto& [op, row] : by_op)
        add_row(disk->second.named ? labels::distinct_from_overflow(disk->second.name) : "other", op, row);
    }
    for (const auto& [dev, by_error] : errors) {
      auto disk = disks_.find(dev);
      if (disk == disks_.end()) continue;
      for (const auto& [key, n] : by_error)
        failures.add({disk->second.named ? labels::distinct_from_overflow(disk->second.name) : "other",
                      labels::block_op_label(key.first), labels::block_status_label(key.second, release_)},
                     static_cast<double>(n));
    }
    for (const auto& [op, row] : overflow) {
      uint64_t requests = 0;
      for (uint32_t i = 0; i <= buckets_.count; ++i) requests += row.slot[BLOCK_SLOT_BUCKET0 + i];
      if (requests > 0) add_row("other", op, row);
    }
    // What disks exported as "other" had counted before they went: "other" never goes down.
    for (const auto& [op, row] : retired_other_) add_row("other", op, row);
    for (const auto& [key, n] : retired_other_errors_)
      failures.add({"other", labels::block_op_label(key.first), labels::block_status_label(key.second, release_)},
                   static_cast<double>(n));

    // Free the kernel rows of disks that are gone: their series stop with this reading.
    for (const block_key& k : row_keys)
      if (gone.count(k.dev)) bpf_map_delete_elem(bpf_map__fd(bpf()->maps.block_rows), &k);
    for (const block_error_key& k : error_keys)
      if (gone.count(k.dev)) bpf_map_delete_elem(bpf_map__fd(bpf()->maps.block_errors), &k);

    out.families.push_back(latency.build());
    out.families.push_back(bytes.build());
    out.families.push_back(failures.build());
    out.label_overflows = static_cast<uint64_t>(label_overflow);
    out.retire_vanished_series = true;  // a disk's series stop when it goes; nothing else vanishes
    return {};
  }

 private:
  struct Disk {
    std::string name;
    bool named = false;  // false: past max_devices, exported as device="other"
  };

  // A disk is gone (or its number now names another disk): it stops being exported; what it counted
  // as "other" stays in "other".
  std::map<uint32_t, Disk>::iterator retire(std::map<uint32_t, Disk>::iterator disk,
                                            const std::map<uint32_t, block_row>& rows,
                                            const std::map<std::pair<uint32_t, uint32_t>, uint64_t>& errors) {
    if (disk->second.named) {
      --named_;
    } else {
      for (const auto& [op, row] : rows) {
        block_row& sum = retired_other_[op];
        for (size_t i = 0; i < BLOCK_ROW_SLOTS; ++i) sum.slot[i] += row.slot[i];
      }
      for (const auto& [key, n] : errors) retired_other_errors_[key] += n;
    }
    return disks_.erase(disk);
  }

  Options options_;
  Buckets buckets_;
  std::vector<double> upper_bounds_ = buckets_.upper_bounds_seconds();
  labels::KernelRelease release_ = labels::running_kernel_release();
  std::map<uint32_t, Disk> disks_;  // by dev_t, the disks seen and still there
  uint32_t named_ = 0;              // of them, exported by name
  std::map<uint32_t, block_row> retired_other_;
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> retired_other_errors_;
};

}  // namespace

ModuleSpec block_module_spec() {
  return make_module_spec<BlockModule>("block", "Block I/O latency, bytes and errors per disk and operation.");
}

}  // namespace bpfex
