// A user program's BPF object file, owned (closed exactly once), and how a metric's labels lay over
// its map's key.
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/options.h"
#include "programs/program_config.h"

namespace bpfex::programs {

struct ObjectCloser {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};
using ObjectPtr = std::unique_ptr<bpf_object, ObjectCloser>;

// Opens (does not load) an object file. Sections libbpf does not know but ebpf_exporter attaches
// itself ("xdp/<ifname>") are registered with libbpf first.
Result<ObjectPtr> open_object(const std::string& path, const std::string& btf_path = "");

// How a metric reads its map: ebpf_exporter's rules for per-CPU maps and the cpu label.
struct MapLayout {
  bool percpu = false;
  // The last label is "cpu" on a per-CPU map: one series per CPU, the CPU appended to the key as a u16.
  bool cpu_label = false;
  // cpu is the only label: the map is an array read at index 0 (its u32 key not decoded).
  bool index_key_only = false;
  // No labels: the map is read at key 0 only.
  bool no_labels = false;
  bool hash = false;  // hash or LRU hash: its fill (entries / max_entries) is exported
};

// The layout of metric over map, or why they do not fit (map type, value size, key size).
Result<MapLayout> map_layout(const Metric& metric, const bpf_map* map);

// Every metric of config checked against its object's maps; errors point at the metric.
std::vector<ConfigError> check_object(const ProgramConfig& config);

}  // namespace bpfex::programs
