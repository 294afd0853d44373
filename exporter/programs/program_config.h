// User programs: BPF objects described in cloudflare/ebpf_exporter's YAML format (its config/config.go),
// <dir>/<name>.bpf.o with <dir>/<name>.yaml. Parsed with file:line:column errors; every error of
// every program at once.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/options.h"
#include "decoders/decoders.h"

namespace bpfex::programs {

// The programs: section of bpfex.yaml (and --programs.dir, --programs.names).
struct ProgramsOptions {
  std::string dir = "/etc/bpfex/programs";
  std::vector<std::string> names;
  std::string metric_prefix = "bpfex_";
  bool strict = false;
  uint32_t max_series_per_metric = 10000;

  template <class V>
  void visit(V& v) {
    v.field("dir", dir);
    v.field("names", names);
    v.field("metric_prefix", metric_prefix);
    v.field("strict", strict);
    v.field("max_series_per_metric", max_series_per_metric, in_range(1, 1u << 24));
  }
};

struct Label {
  std::string name;
  uint32_t size = 0;
  uint32_t padding = 0;
  std::vector<decoders::DecoderConfig> decoders;
  int line = 0, column = 0;
};

enum class BucketType { exp2, exp2zero, linear, fixed };

struct Metric {
  bool histogram = false;
  std::string name;  // the map's name; exported with the metric prefix in front
  std::string help;
  std::vector<Label> labels;  // a histogram's last label is its bucket
  // Histograms only.
  BucketType bucket_type = BucketType::exp2;
  int64_t bucket_min = 0, bucket_max = 0;
  double bucket_multiplier = 1;
  std::vector<double> bucket_keys;
  int line = 0, column = 0;  // where the metric is defined, for errors about its map

  // The labels a key is made of, in bytes (sizes and paddings).
  size_t key_bytes() const;
};

struct ProgramConfig {
  std::string name;
  std::string yaml_path, object_path;
  std::vector<Metric> metrics;  // counters, then histograms
  std::vector<std::string> kaddrs;
  bool has_tracing = false;  // a tracing: section, accepted and ignored (spans are out of scope)
  // The YAML's and the object's contents as loaded (FNV-1a): a reload restarts the program when
  // either changed (README "Reloading the configuration").
  uint64_t yaml_hash = 0, object_hash = 0;
};

using ProgramResult = std::variant<ProgramConfig, std::vector<ConfigError>>;

// Parses one program's YAML text; file names it in errors.
ProgramResult parse_program_config(const std::string& text, const std::string& file, const std::string& name);

// Reads <dir>/<name>.yaml for every name and checks each against <dir>/<name>.bpf.o (opened, not
// loaded: no privilege needed): each metric's map exists, is a hash, LRU hash or array (or their
// per-CPU variants), has u64 values and the key size the labels add up to. Every error at once.
using ProgramsResult = std::variant<std::vector<ProgramConfig>, std::vector<ConfigError>>;
ProgramsResult load_programs(const ProgramsOptions& options);

// "abc,def" -> {"abc", "def"} (--programs.names); empty items are dropped.
std::vector<std::string> split_names(const std::string& list);

}  // namespace bpfex::programs
