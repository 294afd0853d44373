// A user program: open -> kaddrs into read-only data -> load -> attach every program; each poll reads
// every metric's map, decodes its keys into labels, caps the label sets and builds the families.
#include "programs/program_module.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "base/log.h"
#include "base/quote.h"
#include "labels/overflow.h"
#include "loader/maps.h"
#include "loader/skeleton.h"
#include "programs/histogram.h"
#include "programs/object.h"

namespace bpfex::programs {
namespace {

// Two lower-case hex digits, as ebpf_exporter prints a program's tag (Go's %x).
std::string hex_byte(uint8_t b) {
  constexpr char kDigits[] = "0123456789abcdef";
  return {kDigits[b >> 4], kDigits[b & 0xf]};
}

struct LinkCloser {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkCloser>;

// kallsyms addresses of the named symbols (0 where kptr_restrict hides them).
std::map<std::string, uint64_t> kallsyms_addresses(const std::vector<std::string>& names) {
  std::map<std::string, uint64_t> out;
  std::set<std::string, std::less<>> wanted(names.begin(), names.end());
  std::ifstream in("/proc/kallsyms");
  std::string line;
  while (std::getline(in, line) && out.size() < wanted.size()) {
    std::istringstream fields(line);
    std::string addr, type, name;
    if (!(fields >> addr >> type >> name) || !wanted.contains(name) || out.contains(name)) continue;
    out[name] = std::strtoull(addr.c_str(), nullptr, 16);
  }
  return out;
}

// Writes value into the read-only global `name` of obj before load (kaddrs).
Status set_rodata_u64(bpf_object* obj, const std::string& name, uint64_t value) {
  const btf* b = bpf_object__btf(obj);
  for (bpf_map* map = nullptr; b && (map = bpf_object__next_map(obj, map));) {
    if (!bpf_map__is_internal(map) || !std::string(bpf_map__name(map)).ends_with(".rodata")) continue;
    const int sec_id = btf__find_by_name_kind(b, ".rodata", BTF_KIND_DATASEC);
    if (sec_id < 0) break;
    const btf_type* sec = btf__type_by_id(b, sec_id);
    const btf_var_secinfo* vs = btf_var_secinfos(sec);
    for (uint16_t i = 0; i < btf_vlen(sec); ++i, ++vs) {
      const btf_type* var = btf__type_by_id(b, vs->type);
      if (name != btf__name_by_offset(b, var->name_off)) continue;
      if (vs->size != sizeof(uint64_t)) return Error{EINVAL, name + " is not 8 bytes"};
      size_t size = 0;
      const void* initial = bpf_map__initial_value(map, &size);
      if (!initial || vs->offset + sizeof(uint64_t) > size) return Error{EINVAL, "cannot write " + name};
      std::vector<uint8_t> data(static_cast<const uint8_t*>(initial), static_cast<const uint8_t*>(initial) + size);
      std::memcpy(data.data() + vs->offset, &value, sizeof value);
      if (int err = bpf_map__set_initial_value(map, data.data(), size)) return errno_error("set " + name, -err);
      return {};
    }
  }
  return Error{ENOENT, "the object has no read-only global " + name + " (const volatile u64 " + name + ")"};
}

// The names decoders look up, shared by every program: read on the main thread while programs start,
// then only by the poller thread.
decoders::Lookups& shared_lookups() {
  static const std::unique_ptr<decoders::Lookups> lookups = decoders::host_lookups();
  return *lookups;
}

// One metric as it is read every poll.
struct MetricReader {
  const Metric* metric = nullptr;
  std::string exported_name;
  bpf_map* map = nullptr;
  MapLayout layout;
  uint32_t max_entries = 0;
  // Raw key -> label values (nullopt: the key is dropped). Bounded: cleared when it grows past this.
  std::unordered_map<std::string, std::optional<LabelValues>> cache;
  std::set<LabelValues> admitted;  // label sets with series of their own (at most the cap)
  uint64_t decoder_errors = 0;
  uint64_t overflow_sets = 0;  // label sets summed into "other" at the last poll
  double overflow_values = 0;  // what they held
  double map_entries = 0;
};

class ProgramModule final : public Module {
 public:
  ProgramModule(ProgramConfig config, const ProgramsOptions& options)
      : config_(std::move(config)), options_(options), module_(module_name(config_.name)) {}

  Status start(ModuleContext& context) override {
    clear_libbpf_log();
    auto obj = open_object(config_.object_path, context.features.btf_path());
    if (!obj) return obj.error();
    obj_ = std::move(obj.value());
    if (!config_.kaddrs.empty()) {
      const auto addrs = kallsyms_addresses(config_.kaddrs);
      for (const std::string& sym : config_.kaddrs) {
        const auto it = addrs.find(sym);
        if (it == addrs.end()) return Error{ENOENT, "kaddrs: no symbol " + quote_value(sym) + " in /proc/kallsyms"};
        if (it->second == 0)
          return Error{EPERM, "kaddrs: /proc/kallsyms hides addresses (kptr_restrict; bpfex needs CAP_SYSLOG)"};
        if (Status st = set_rodata_u64(obj_.get(), "kaddr_" + sym, it->second); !st) return st.error().wrap("kaddrs");
      }
    }
    for (const Metric& m : config_.metrics)
      for (const Label& l : m.labels)
        for (const auto& d : l.decoders)
          if (d.name == "ksym" || d.name == "kstack") shared_lookups().preload_symbols();
    clear_libbpf_log();
    if (int err = bpf_object__load(obj_.get())) return describe_load_error(err, context.features.btf_path());
    for (const Metric& m : config_.metrics) {
      MetricReader r;
      r.metric = &m;
      r.exported_name = options_.metric_prefix + m.name;
      r.map = bpf_object__find_map_by_name(obj_.get(), m.name.c_str());
      if (!r.map) return Error{ENOENT, "no map named " + quote_value(m.name)};
      auto layout = map_layout(m, r.map);
      if (!layout) return layout.error();
      r.layout = layout.value();
      r.max_entries = bpf_map__max_entries(r.map);
      readers_.push_back(std::move(r));
    }
    std::string failed;
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj_.get()) {
      if (!bpf_program__autoload(prog)) continue;
      const std::string section = bpf_program__section_name(prog);
      LoadedProgram lp;
      lp.name = bpf_program__name(prog);
      const size_t slash = section.find('/');
      lp.flavour = section.substr(0, slash);
      lp.target = slash == std::string::npos ? "" : section.substr(slash + 1);
      lp.fd = bpf_program__fd(prog);
      // The kernel's id and tag (ebpf_exporter's ebpf_program_info), asked for now: after start
      // the capabilities that reading program info may need are dropped.
      bpf_prog_info info{};
      __u32 info_len = sizeof(info);
      if (bpf_obj_get_info_by_fd(lp.fd, &info, &info_len) == 0) {
        std::string tag;
        for (const __u8 byte : info.tag) tag += hex_byte(byte);
        infos_.push_back({lp.name, std::to_string(info.id), std::move(tag)});
      } else {
        log_warn("program: no program info (bpfex_program_info omits it)",
                 {{"module", module_}, {"program", lp.name}, {"err", std::strerror(errno)}});
      }
      clear_libbpf_log();
      bpf_link* link = bpf_program__attach(prog);
      if (!link) {
        Error e = errno_error("attach " + lp.name + " (SEC(\"" + section + "\"))");
        if (std::string tail = libbpf_log_tail(4); !tail.empty()) e.message += "; libbpf: " + tail;
        failed += (failed.empty() ? "" : "; ") + e.str();
        attached_.emplace_back(lp.name, false);
        continue;
      }
      links_.emplace_back(link);
      attached_.emplace_back(lp.name, true);
      programs_.push_back(std::move(lp));
    }
    if (programs_.empty())
      return Error{0, failed.empty() ? "the object has no program to attach" : "nothing attached: " + failed};
    if (!failed.empty()) {
      if (options_.strict) return Error{0, "programs.strict: " + failed};
      log_warn("program: some of its BPF programs did not attach; the rest run",
               {{"module", module_}, {"err", failed}});
    }
    return {};
  }

  Status read(ModuleReading& out) override;

  std::vector<LoadedProgram> programs() const override { return programs_; }

 private:
  Status read_metric(MetricReader& r, Families& families);
  // Every key of the map with its value(s): one per CPU for per-CPU maps.
  Status read_map(const MetricReader& r,
                  const std::function<void(const std::string& key, const std::vector<uint64_t>&)>& fn);
  std::optional<LabelValues> labels_of(MetricReader& r, const std::string& raw);

  ProgramConfig config_;
  ProgramsOptions options_;
  std::string module_;
  ObjectPtr obj_;
  std::vector<LinkPtr> links_;
  std::vector<LoadedProgram> programs_;
  std::vector<std::pair<std::string, bool>> attached_;
  struct Info {
    std::string program, id, tag;
  };
  std::vector<Info> infos_;  // every loaded BPF program's, attached or not
  std::vector<MetricReader> readers_;
  uint64_t overflow_total_ = 0;
};

Status ProgramModule::read_map(const MetricReader& r,
                               const std::function<void(const std::string&, const std::vector<uint64_t>&)>& fn) {
  const int fd = bpf_map__fd(r.map);
  const size_t key_size = bpf_map__key_size(r.map);
  const int ncpus = r.layout.percpu ? possible_cpus() : 1;
  std::vector<uint64_t> values(static_cast<size_t>(ncpus));
  std::string key(key_size, '\0');
  auto lookup = [&](const std::string& k) -> int {
    if (bpf_map_lookup_elem(fd, k.data(), values.data()) != 0) return errno;
    fn(k, values);
    return 0;
  };
  if (r.layout.no_labels || r.layout.index_key_only) {
    const int err = lookup(key);  // key 0
    if (err && err != ENOENT) return errno_error("read map " + r.metric->name, err);
    return {};
  }
  std::string next(key_size, '\0');
  const void* prev = nullptr;
  // Keys deleted while we walk are skipped; a walk restarted by a deleted key can see a key twice,
  // so each key is passed once.
  std::set<std::string> seen;
  for (size_t steps = 0; steps <= 2 * static_cast<size_t>(r.max_entries) + 16; ++steps) {
    if (bpf_map_get_next_key(fd, prev, next.data()) != 0) {
      if (errno == ENOENT) return {};
      return errno_error("iterate map " + r.metric->name);
    }
    key = next;
    prev = key.data();
    if (!seen.insert(key).second) continue;
    const int err = lookup(key);
    if (err && err != ENOENT) return errno_error("read map " + r.metric->name, err);
  }
  return {};
}

std::optional<LabelValues> ProgramModule::labels_of(MetricReader& r, const std::string& raw) {
  if (auto it = r.cache.find(raw); it != r.cache.end()) return it->second;
  if (r.cache.size() > 4 * static_cast<size_t>(options_.max_series_per_metric) + 4096) r.cache.clear();
  const auto& labels = r.metric->labels;
  LabelValues values;
  bool cacheable = true;
  size_t off = 0;
  for (const Label& l : labels) {
    auto decoded = decoders::decode_chain(std::string_view(raw).substr(off, l.size), l.decoders, shared_lookups());
    off += l.size + l.padding;
    if (!decoded) {
      ++r.decoder_errors;
      log_debug("program: decoding failed",
                {{"module", module_}, {"metric", r.metric->name}, {"label", l.name}, {"err", decoded.error().str()}});
      return std::nullopt;  // not cached: counted again at every poll, as the key is every time
    }
    if (!decoded.value()) {
      r.cache.emplace(raw, std::nullopt);
      return std::nullopt;
    }
    if (decoded.value()->starts_with("unknown")) cacheable = false;
    values.push_back(labels::distinct_from_overflow(std::move(*decoded.value())));
  }
  // A name not found now (an interface, a cgroup, a device not seen yet) may be found at a later poll.
  if (cacheable) r.cache.emplace(raw, values);
  return values;
}

Status ProgramModule::read_metric(MetricReader& r, Families& families) {
  const Metric& m = *r.metric;
  // Label values (a histogram's without its bucket) -> value, or -> bucket -> count.
  std::map<LabelValues, double> counters;
  std::map<LabelValues, std::map<uint64_t, uint64_t>> histograms;
  r.map_entries = 0;
  Status st = read_map(r, [&](const std::string& key, const std::vector<uint64_t>& values) {
    ++r.map_entries;
    auto add = [&](const std::string& raw, uint64_t value) {
      auto labels = labels_of(r, raw);
      if (!labels) return;
      if (!m.histogram) {
        counters[*labels] += static_cast<double>(value);
        return;
      }
      const std::string& bucket_text = labels->back();
      errno = 0;
      char* end = nullptr;
      const unsigned long long bucket = std::strtoull(bucket_text.c_str(), &end, 0);
      if (bucket_text.empty() || *end != '\0' || errno != 0) {
        ++r.decoder_errors;
        return;
      }
      labels->pop_back();
      histograms[*labels][bucket] += value;
    };
    if (r.layout.no_labels) {
      uint64_t sum = 0;
      for (uint64_t v : values) sum += v;
      add("", sum);
    } else if (r.layout.cpu_label) {
      const std::string base = r.layout.index_key_only ? "" : key;
      for (size_t cpu = 0; cpu < values.size(); ++cpu) {
        const auto c = static_cast<uint16_t>(cpu);
        std::string raw = base;
        raw.append(reinterpret_cast<const char*>(&c), sizeof c);
        add(raw, values[cpu]);
      }
    } else {
      uint64_t sum = 0;
      for (uint64_t v : values) sum += v;
      add(key, sum);
    }
  });
  if (!st) return st;

  // The cap: label sets seen first keep their series; the rest are summed into one whose labels are
  // all "other" (labels::kOverflowLabel), and counted.
  const size_t cap = options_.max_series_per_metric;
  auto admit = [&](const LabelValues& labels) {
    if (r.admitted.contains(labels)) return true;
    if (r.admitted.size() >= cap) return false;
    r.admitted.insert(labels);
    return true;
  };
  r.overflow_sets = 0;
  r.overflow_values = 0;
  std::vector<std::string> label_names;
  for (size_t i = 0; i < m.labels.size() - (m.histogram ? 1 : 0); ++i) label_names.push_back(m.labels[i].name);
  const LabelValues other(label_names.size(), std::string(labels::kOverflowLabel));
  if (!m.histogram) {
    auto family = counter_family(r.exported_name, m.help, label_names);
    for (const auto& [labels, value] : counters) {
      if (admit(labels)) {
        family.add(labels, value);
      } else {
        ++r.overflow_sets;
        r.overflow_values += value;
        family.add(other, value);
      }
    }
    families.push_back(family.build());
    return {};
  }
  HistogramFamily family(r.exported_name, m.help, label_names);
  for (const auto& [labels, buckets] : histograms) {
    HistogramData h = histogram_of(buckets, m);
    if (admit(labels)) {
      family.add(labels, h);
    } else {
      ++r.overflow_sets;
      for (uint64_t c : h.counts) r.overflow_values += static_cast<double>(c);
      family.add(other, h);
    }
  }
  families.push_back(family.build());
  return {};
}

Status ProgramModule::read(ModuleReading& out) {
  auto decoder_errors =
      counter_family("bpfex_program_decoder_errors_total",
                     "Map keys of a user program's metric that a decoder failed on (dropped).", {"module", "metric"});
  auto overflow = gauge_family("bpfex_program_series_overflow",
                               "Label sets of a user program's metric summed into the series whose labels are all "
                               "\"other\" because the metric reached programs.max_series_per_metric.",
                               {"module", "metric"});
  auto entries = gauge_family("bpfex_program_map_entries",
                              "Entries in a user program's hash map (compare with bpfex_program_map_max_entries: "
                              "a full map drops the kernel's new keys).",
                              {"module", "map"});
  auto max_entries =
      gauge_family("bpfex_program_map_max_entries", "The max_entries of a user program's hash map.", {"module", "map"});
  auto attached = gauge_family("bpfex_program_attached",
                               "Whether a BPF program of a user program is attached (1) or failed to attach (0).",
                               {"module", "program"});
  auto info = gauge_family("bpfex_program_info",
                           "A BPF program of a user program as the kernel knows it: its id and tag (always 1).",
                           {"module", "program", "id", "tag"});
  double overflow_values = 0;
  for (MetricReader& r : readers_) {
    if (Status st = read_metric(r, out.families); !st) return st.error().wrap(module_ + ": " + r.metric->name);
    decoder_errors.add({module_, r.metric->name}, static_cast<double>(r.decoder_errors));
    overflow.add({module_, r.metric->name}, static_cast<double>(r.overflow_sets));
    overflow_values += r.overflow_values;
    if (r.layout.hash) {
      entries.add({module_, r.metric->name}, r.map_entries);
      max_entries.add({module_, r.metric->name}, r.max_entries);
    }
  }
  for (const auto& [name, ok] : attached_) attached.add({module_, name}, ok ? 1 : 0);
  for (const Info& i : infos_) info.add({module_, i.program, i.id, i.tag}, 1);
  out.families.push_back(decoder_errors.build());
  out.families.push_back(overflow.build());
  out.families.push_back(entries.build());
  out.families.push_back(max_entries.build());
  out.families.push_back(attached.build());
  out.families.push_back(info.build());
  // Never down, even when an LRU map evicts a key that was summed into "other".
  overflow_total_ = std::max(overflow_total_, static_cast<uint64_t>(overflow_values));
  out.label_overflows = overflow_total_;
  return {};
}

}  // namespace

std::string module_name(const std::string& program) { return "program:" + program; }

void warn_if_tracing(const ProgramConfig& config) {
  if (config.has_tracing)
    log_warn("program: its tracing: section is ignored (bpfex exports metrics, not spans)",
             {{"module", module_name(config.name)}});
}

std::unique_ptr<Module> make_program_module(ProgramConfig config, const ProgramsOptions& options) {
  return std::make_unique<ProgramModule>(std::move(config), options);
}

}  // namespace bpfex::programs
