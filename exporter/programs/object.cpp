// Opening user objects, xdp/<ifname> sections, and checking metrics against maps.
#include "programs/object.h"

#include <bpf/btf.h>
#include <net/if.h>

#include <cerrno>
#include <mutex>

#include "base/quote.h"

namespace bpfex::programs {
namespace {

// SEC("xdp/<ifname>"): ebpf_exporter's convention, attached to that interface (libbpf knows only
// SEC("xdp")).
int attach_xdp_section(const bpf_program* prog, long /*cookie*/, bpf_link** link) {
  const std::string section = bpf_program__section_name(prog);
  const std::string ifname = section.substr(section.find('/') + 1);
  const unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) return -ENODEV;
  *link = bpf_program__attach_xdp(prog, static_cast<int>(index));
  return *link ? 0 : -errno;
}

void register_section_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    LIBBPF_OPTS(libbpf_prog_handler_opts, opts, .prog_attach_fn = attach_xdp_section);
    libbpf_register_prog_handler("xdp/", BPF_PROG_TYPE_XDP, BPF_XDP, &opts);
  });
}

bool is_percpu(bpf_map_type t) {
  return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

}  // namespace

Result<ObjectPtr> open_object(const std::string& path, const std::string& btf_path) {
  register_section_handlers();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path.empty() ? nullptr : btf_path.c_str());
  bpf_object* obj = bpf_object__open_file(path.c_str(), &opts);
  if (!obj) return errno_error("open " + quote_value(path));
  return ObjectPtr(obj);
}

Result<MapLayout> map_layout(const Metric& metric, const bpf_map* map) {
  const auto type = bpf_map__type(map);
  MapLayout layout;
  switch (type) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: layout.hash = true; break;
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY: break;
    default: {
      const char* name = libbpf_bpf_map_type_str(type);
      return Error{EINVAL, "map " + quote_value(metric.name) + " is a " + (name ? name : "?") +
                               " map: metrics read hash, lru_hash, array and their per-CPU variants"};
    }
  }
  layout.percpu = is_percpu(type);
  if (bpf_map__value_size(map) != 8)
    return Error{EINVAL, "map " + quote_value(metric.name) + " has " + std::to_string(bpf_map__value_size(map)) +
                             "-byte values: metrics read u64 values (8 bytes)"};
  const size_t key_size = bpf_map__key_size(map);
  size_t label_bytes = metric.key_bytes();
  if (metric.labels.empty()) {
    if (key_size != 4)
      return Error{EINVAL, "map " + quote_value(metric.name) + " has " + std::to_string(key_size) +
                               "-byte keys: a metric without labels reads key 0 of a u32-keyed map"};
    layout.no_labels = true;
    return layout;
  }
  layout.cpu_label = layout.percpu && metric.labels.back().name == "cpu";
  if (layout.cpu_label) {
    if (metric.labels.back().size != 2 || metric.labels.back().padding != 0)
      return Error{EINVAL, "the cpu label of per-CPU map " + quote_value(metric.name) +
                               " is the CPU number bpfex adds as a u16: size 2, no padding"};
    label_bytes -= 2;
    if (metric.labels.size() == 1) {
      layout.index_key_only = true;
      if (key_size != 4)
        return Error{EINVAL, "map " + quote_value(metric.name) +
                                 ": with cpu its only label, the map is read at index 0 of a u32 key, not " +
                                 std::to_string(key_size) + " bytes"};
      return layout;
    }
  }
  if (label_bytes != key_size)
    return Error{EINVAL, "map " + quote_value(metric.name) + " has " + std::to_string(key_size) +
                             "-byte keys, the labels' sizes and paddings add up to " + std::to_string(label_bytes) +
                             (layout.cpu_label ? " (without the cpu label)" : "")};
  return layout;
}

std::vector<ConfigError> check_object(const ProgramConfig& config) {
  auto obj = open_object(config.object_path);
  if (!obj) return {ConfigError{config.object_path, 0, 0, "", obj.error().str()}};
  std::vector<ConfigError> errors;
  for (const Metric& m : config.metrics) {
    const bpf_map* map = bpf_object__find_map_by_name(obj->get(), m.name.c_str());
    if (!map) {
      errors.push_back({config.yaml_path, m.line, m.column, "",
                        "no map named " + quote_value(m.name) + " in " + quote_value(config.object_path)});
      continue;
    }
    auto layout = map_layout(m, map);
    if (!layout) errors.push_back({config.yaml_path, m.line, m.column, "", layout.error().message});
  }
  for (const std::string& sym : config.kaddrs) {
    const std::string var = "kaddr_" + sym;
    bool found = false;
    for (bpf_map* map = nullptr; (map = bpf_object__next_map(obj->get(), map));) {
      if (!bpf_map__is_internal(map) || !std::string(bpf_map__name(map)).ends_with(".rodata")) continue;
      const btf* b = bpf_object__btf(obj->get());
      if (!b) break;
      for (uint32_t id = 1; id < btf__type_cnt(b) && !found; ++id) {
        const btf_type* t = btf__type_by_id(b, id);
        if (btf_is_var(t) && var == btf__name_by_offset(b, t->name_off)) found = true;
      }
    }
    if (!found)
      errors.push_back({config.yaml_path, 0, 0, "kaddrs",
                        "the object has no read-only global " + quote_value(var) + " (declare: const volatile u64 " +
                            var + " = 0;)"});
  }
  return errors;
}

}  // namespace bpfex::programs
