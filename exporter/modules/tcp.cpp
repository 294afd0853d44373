// tcp: retransmitted segments, resets, connections by direction and result, connect latency and
// listen-queue overflows, by family; with by_workload (the default) per workload, the socket's
// cgroup; with the ports option, by local port for the listed ports.
#include "modules/tcp.h"

#include <charconv>
#include <cstring>
#include <memory>
#include <set>

#include "base/log.h"
#include "base/quote.h"
#include "kernel/tcp.h"
#include "loader/maps.h"
#include "metrics/native_buckets.h"
#include "modules/tracing_module.h"
#include "skel/tcp.skel.h"
#include "workload/series.h"
#include "workload/workloads.h"

namespace bpfex {

namespace tcp {

const std::vector<CounterSeries>& counter_series() {
  static const std::vector<CounterSeries> table = {
#define BPFEX_TCP_COUNTER_SERIES(slot, metric, direction, result) \
  {slot, "bpfex_tcp_" metric "_total", direction, result},
      TCP_COUNTER_TABLE(BPFEX_TCP_COUNTER_SERIES)
#undef BPFEX_TCP_COUNTER_SERIES
  };
  return table;
}

std::string_view family_label(uint8_t family) {
  switch (family) {
#define BPFEX_TCP_FAMILY_LABEL(index, label) \
  case index: return label;
    TCP_FAMILY_TABLE(BPFEX_TCP_FAMILY_LABEL)
#undef BPFEX_TCP_FAMILY_LABEL
    default: return "other";
  }
}

std::optional<uint16_t> parse_port(std::string_view text) {
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || port < 1 || port > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(port);
}

std::optional<std::string> check_port(const std::string& text) {
  if (parse_port(text)) return std::nullopt;
  return "expected a port number 1..65535, got " + quote_value(text);
}

}  // namespace tcp

namespace {

class TcpModule final : public TracingModule<tcp_bpf> {
 public:
  struct Options {
    bool by_workload = true;
    uint32_t max_workload_rows = 2048;
    std::vector<std::string> ports;
    // Connect latency range: 8us rounds down to 2^-17s (7.6us), 128s is 2^7s, beyond Linux's
    // default SYN retries (127s).
    std::string min_bucket = "8us";
    std::string max_bucket = "128s";

    template <class V>
    void visit(V& v) {
      v.field("by_workload", by_workload);
      v.field("min_bucket", min_bucket, native_buckets::check_bucket_bound);
      v.field("max_bucket", max_bucket,
              [this](const std::string& text) { return native_buckets::check_max_bucket(min_bucket, text); });
      v.field("max_workload_rows", max_workload_rows, in_range(1, 1u << 20));
      // Per element, so that the error points at it; the set spans one parse of the list.
      auto seen = std::make_shared<std::set<uint16_t>>();
      v.field("ports", ports, [seen](const std::string& text) -> std::optional<std::string> {
        if (auto problem = tcp::check_port(text)) return problem;
        if (!seen->insert(*tcp::parse_port(text)).second) return "port " + text + " is listed twice";
        if (seen->size() > tcp::kMaxPorts)
          return "at most " + std::to_string(tcp::kMaxPorts) + " ports (each adds series of every tcp metric)";
        return std::nullopt;
      });
    }
  };

  explicit TcpModule(const Options& options) : options_(options) {}

  Status start(ModuleContext& context) override {
    Features& features = context.features;
    if (Status st = open(features); !st) return st;
    tcp_bpf* s = bpf();
    if (options_.by_workload) {
      workloads_ = context.workloads;
      if (!workloads_) log_info("tcp: no cgroup v2 hierarchy here: counting without workload labels");
    }
    s->rodata->by_workload = workloads_ != nullptr;
    layout_ = native_buckets::layout_of(context.native_histogram_schema, options_.min_bucket, options_.max_bucket);
    s->rodata->tcp_hist = layout_.kernel_layout();
    row_slots_ = TCP_SLOT_BUCKET0 + layout_.slots();
    for (bpf_map* rows : {s->maps.tcp_rows, s->maps.tcp_workload_rows, s->maps.tcp_zero_row})
      bpf_map__set_value_size(rows, static_cast<uint32_t>(row_slots_ * sizeof(uint64_t)));
    if (Status st = native_buckets::prepare_table(s->maps.tcp_hist_table, layout_); !st) return st;
    for (const std::string& text : options_.ports) {
      const uint16_t port = *tcp::parse_port(text);  // checked by the config
      s->rodata->ports[port / 64] |= uint64_t{1} << (port % 64);
    }
    s->rodata->label_ports = !options_.ports.empty();
    // Linux 6.18's tcp_retransmit_skb passes (sk, skb, err) and fires for failed attempts too;
    // 6.12 and before pass (sk, skb) and fire for successful ones only.
    const auto retransmit_args = features.tracepoint_args("tcp_retransmit_skb");
    s->rodata->retransmit_err_arg = retransmit_args && retransmit_args->size() >= 3;
    const uint32_t owners = workloads_ ? 2 : 1;  // TCP_CGROUP_NONE, and TCP_CGROUP_OVERFLOW
    bpf_map__set_max_entries(s->maps.tcp_rows,
                             TCP_FAMILY_COUNT * static_cast<uint32_t>(options_.ports.size() + 1) * owners);
    bpf_map__set_max_entries(s->maps.tcp_workload_rows, workloads_ ? options_.max_workload_rows : 1);

    std::vector<Hook> hooks = {
        tracepoint_hook("retransmit", "tcp_retransmit", "tcp", "tcp_retransmit_skb"),
        tracepoint_hook("SYN-ACK retransmit", "tcp_synack", "tcp", "tcp_retransmit_synack"),
        tracepoint_hook("reset sent", "tcp_send_reset", "tcp", "tcp_send_reset"),
        tracepoint_hook("reset received", "tcp_receive_reset", "tcp", "tcp_receive_reset"),
        tracepoint_hook("state change", "tcp_state", "sock", "inet_sock_set_state"),
    };
    if (Status st = add_listen_overflow_hooks(hooks, features); !st) return st;
    if (Status st = prepare(hooks, features); !st) return st;
    if (Status st = load(); !st) return st;
    if (Status st = native_buckets::fill_table(s->maps.tcp_hist_table, layout_); !st) return st;
    return attach();
  }

  Status read(ModuleReading& out) override {
    Reading r(workloads_ != nullptr, !options_.ports.empty(), layout_);
    double overflow = 0;
    // Every family has series from the start (zeros of the events without a workload), so that
    // rates and ratios have something to compute on a node where nothing happened yet.
    const std::vector<double> zeros(row_slots_, 0);
    for (uint8_t family = 0; family < TCP_FAMILY_COUNT; ++family)
      r.add_row(own_labels(family, 0), workload_labels(TCP_CGROUP_NONE), zeros.data());

    const size_t row_bytes = row_slots_ * sizeof(uint64_t);
    Status st = read_percpu_map(bpf_map__fd(bpf()->maps.tcp_rows), sizeof(tcp_row_key), row_bytes,
                                [&](const void* key, const uint64_t* row) {
                                  tcp_row_key k;
                                  std::memcpy(&k, key, sizeof k);
                                  const std::vector<double> v(row, row + row_slots_);
                                  r.add_row(own_labels(k.family, k.port), workload_labels(k.cgroup_id), v.data());
                                  if (k.cgroup_id == TCP_CGROUP_OVERFLOW) overflow += observations(v);
                                });
    if (!st) return st.error().wrap("read tcp_rows");
    if (workloads_) {
      std::vector<workload::Workloads::Sample> samples;
      std::vector<tcp_row_key> keys;
      st = read_shared_map(bpf_map__fd(bpf()->maps.tcp_workload_rows), sizeof(tcp_row_key), row_bytes,
                           [&](const void* key, const uint64_t* row) {
                             tcp_row_key k;
                             std::memcpy(&k, key, sizeof k);
                             samples.push_back({k.cgroup_id, own_labels(k.family, k.port), {row, row + row_slots_}});
                             keys.push_back(k);
                           });
      if (!st) return st.error().wrap("read tcp_workload_rows");
      const auto rollup = workloads_->rollup("tcp_rows", samples);
      const size_t own = own_labels(0, 0).size();
      for (const auto& series : rollup.series) {
        const LabelValues owner(series.labels.begin(), series.labels.begin() + static_cast<long>(own));
        const LabelValues workload(series.labels.begin() + static_cast<long>(own), series.labels.end());
        r.add_row(owner, workload, series.values.data());
        if (!series.capped.empty()) overflow += observations(series.capped);
      }
      workload::delete_cgroup_keys(bpf_map__fd(bpf()->maps.tcp_workload_rows), keys, rollup.dead_cgroups);
      out.retire_vanished_series = true;  // the rollup keeps them monotonic; retired workloads go
    }
    r.build(out.families, listen_overflows_);
    out.label_overflows = static_cast<uint64_t>(overflow);
    return {};
  }

 private:
  // The families of one reading, filled row by row.
  class Reading {
   public:
    Reading(bool attributed, bool ports, const native_buckets::Layout& layout)
        : attributed_(attributed),
          ports_(ports),
          retransmits_(counter_family("bpfex_tcp_retransmits_total", kRetransmitsHelp, names({"family"}))),
          resets_(counter_family("bpfex_tcp_resets_total", kResetsHelp, names({"family", "direction"}))),
          connections_(counter_family("bpfex_tcp_connections_total", kConnectionsHelp,
                                      names({"family", "direction", "result"}))),
          overflows_(counter_family("bpfex_tcp_listen_overflows_total", kOverflowsHelp, names({"family"}))),
          latency_("bpfex_tcp_connect_latency_seconds", kLatencyHelp, names({"family"})) {
      histogram_.layout = layout;
    }

    // owner: family[, port]; workload: the four workload label values when attributed, else empty;
    // slots: a row's values, TCP_SLOT_BUCKET0 + the layout's slots.
    void add_row(const LabelValues& owner, const LabelValues& workload, const double* slots) {
      for (const tcp::CounterSeries& c : tcp::counter_series()) {
        LabelValues labels = {owner[0]};
        if (!c.direction.empty()) labels.push_back(c.direction);
        if (!c.result.empty()) labels.push_back(c.result);
        labels.insert(labels.end(), owner.begin() + 1, owner.end());
        labels.insert(labels.end(), workload.begin(), workload.end());
        family_of(c.slot)->add(labels, slots[c.slot]);
      }
      LabelValues labels = owner;
      labels.insert(labels.end(), workload.begin(), workload.end());
      histogram_.counts.clear();
      for (uint32_t i = 0; i < histogram_.layout.slots(); ++i)
        histogram_.counts.push_back(static_cast<uint64_t>(slots[TCP_SLOT_BUCKET0 + i]));
      histogram_.sum = slots[TCP_SLOT_CONNECT_SUM] / 1e9;
      latency_.add(labels, histogram_);
    }

    void build(Families& out, bool listen_overflows) const {
      out.push_back(retransmits_.build());
      out.push_back(resets_.build());
      out.push_back(connections_.build());
      out.push_back(latency_.build());
      // Only where the kernel offers a hook: absent rather than a zero that means nothing.
      if (listen_overflows) out.push_back(overflows_.build());
    }

   private:
    std::vector<std::string> names(std::vector<std::string> own) const {
      if (ports_) own.push_back("port");
      return attributed_ ? workload::with_workload_labels(std::move(own)) : own;
    }
    ScalarFamily* family_of(uint32_t slot) {
      switch (slot) {
        case TCP_SLOT_RETRANSMITS: return &retransmits_;
        case TCP_SLOT_RESETS_SENT:
        case TCP_SLOT_RESETS_RECEIVED: return &resets_;
        case TCP_SLOT_LISTEN_OVERFLOWS: return &overflows_;
        default: return &connections_;
      }
    }

    bool attributed_, ports_;
    ScalarFamily retransmits_, resets_, connections_, overflows_;
    HistogramFamily latency_;
    HistogramData histogram_;
  };

  static constexpr const char* kRetransmitsHelp =
      "TCP segments retransmitted (the kernel's RetransSegs: data, SYN and SYN-ACK retransmits).";
  static constexpr const char* kResetsHelp = "TCP resets sent and received.";
  static constexpr const char* kConnectionsHelp =
      "TCP connections opened, by direction (active: connect; passive: accepted handshakes) and result "
      "(established, or failed before it).";
  static constexpr const char* kOverflowsHelp =
      "SYNs and handshake-completing ACKs dropped because the listener's accept queue was full (the kernel's "
      "ListenOverflows).";
  static constexpr const char* kLatencyHelp =
      "Time from sending a SYN (connect) to ESTABLISHED, for active opens that were established.";

  // A hook observed through a tracepoint, its programs named <prefix>_{tp_btf,raw_tp,tracepoint}.
  static Hook tracepoint_hook(std::string name, const std::string& prefix, const std::string& category,
                              const std::string& event) {
    return {std::move(name),
            {{Flavour::tp_btf, prefix + "_tp_btf", event},
             {Flavour::raw_tp, prefix + "_raw_tp", event},
             {Flavour::tracepoint, prefix + "_tracepoint", category + "/" + event}}};
  }

  // Listen overflows have no tracepoint: fentry or kprobe where the kernel counts them. Counted
  // only when the SYN and the IPv4 ACK sites both attach (and the IPv6 one where the kernel has
  // it); otherwise their programs stay out of the kernel and the family is not exported.
  Status add_listen_overflow_hooks(std::vector<Hook>& hooks, Features& features) {
    auto function_hook = [](std::string name, const std::string& prefix, const std::string& function) {
      return Hook{std::move(name),
                  {{Flavour::fentry, prefix + "_fentry", function}, {Flavour::kprobe, prefix + "_kprobe", function}}};
    };
    const std::vector<Hook> overflow = {
        function_hook("listen overflow (SYN)", "tcp_conn_request", "tcp_conn_request"),
        function_hook("listen overflow (ACK, IPv4)", "tcp_v4_syn_recv", "tcp_v4_syn_recv_sock"),
        function_hook("listen overflow (ACK, IPv6)", "tcp_v6_syn_recv", "tcp_v6_syn_recv_sock"),
    };
    const auto picks = choose_attach_points(overflow, features);
    listen_overflows_ = picks[0] && picks[1];
    for (size_t i = 0; i < overflow.size(); ++i) {
      if (listen_overflows_ && picks[i]) {
        hooks.push_back(overflow[i]);
        continue;
      }
      for (const AttachPoint& p : overflow[i].attach_points) {
        bpf_program* prog = bpf_object__find_program_by_name(bpf()->obj, p.program.c_str());
        if (!prog) return Error{ENOENT, "BPF program " + p.program + " is not in the object"};
        bpf_program__set_autoload(prog, false);
      }
    }
    if (!listen_overflows_)
      log_info(
          "tcp: listen overflows are not counted: this kernel attaches neither fentry nor kprobe to "
          "tcp_conn_request and tcp_v4_syn_recv_sock (they have no tracepoint)");
    return {};
  }

  LabelValues own_labels(uint8_t family, uint16_t port) const {
    LabelValues labels = {std::string(tcp::family_label(family))};
    if (!options_.ports.empty()) labels.push_back(port == 0 ? "" : std::to_string(port));
    return labels;
  }

  // The workload labels of a row of tcp_rows: none for events without a socket cgroup, "other" for
  // events that found the workload rows full; nothing at all without attribution.
  LabelValues workload_labels(uint64_t cgroup_id) const {
    if (!workloads_) return {};
    if (cgroup_id == TCP_CGROUP_OVERFLOW) return workload::with_other_workload({});
    return {"", "", "", ""};
  }

  // Events in a row: its counters (an established connect's latency is the same event again).
  static double observations(const std::vector<double>& slots) {
    double n = 0;
    for (const tcp::CounterSeries& c : tcp::counter_series())
      if (c.slot < slots.size()) n += slots[c.slot];
    return n;
  }

  Options options_;
  native_buckets::Layout layout_;
  size_t row_slots_ = TCP_SLOT_BUCKET0;       // u64 slots of a row: TCP_SLOT_BUCKET0 + layout_.slots()
  workload::Workloads* workloads_ = nullptr;  // by_workload, where attribution works
  bool listen_overflows_ = false;
};

}  // namespace

ModuleSpec tcp_module_spec() {
  return make_module_spec<TcpModule>(
      "tcp", "TCP retransmits, resets, connections and their latency, listen overflows; by workload (socket cgroup).");
}

}  // namespace bpfex
