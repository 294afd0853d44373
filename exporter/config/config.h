// bpfex's configuration: the YAML file (config/bpfex.yaml, whose values equal the built-in
// defaults), parsed with file:line:column errors, and printed back for --config.check. Flags that
// override it: config/flags.h.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/options.h"
#include "metrics/native_buckets.h"
#include "programs/program_config.h"
#include "workload/attribution_options.h"

namespace bpfex {

struct ModuleConfig {
  std::string name;
  bool enabled = true;
  std::unique_ptr<ModuleOptions> options;

  ModuleConfig() = default;
  ModuleConfig(const ModuleConfig& o);
  ModuleConfig& operator=(const ModuleConfig& o);
  ModuleConfig(ModuleConfig&&) = default;
  ModuleConfig& operator=(ModuleConfig&&) = default;
};

struct Config {
  std::string source = "built-in defaults";  // file name, for messages
  std::string listen_address = ":9650";
  std::string telemetry_path = "/metrics";
  uint32_t max_requests = 40;  // requests handled at once (node_exporter's --web.max-requests)
  std::chrono::nanoseconds poll_interval = std::chrono::seconds(1);
  bool bpf_stats = false;
  // 2^schema buckets per doubling in every latency histogram (metrics/native_buckets.h).
  uint32_t native_histogram_schema = native_buckets::kDefaultSchema;
  workload::AttributionOptions attribution;
  std::vector<ModuleConfig> modules;   // one per registered module, in registry order
  programs::ProgramsOptions programs;  // user programs (README "User programs")
  // The named programs' configurations, read by programs::load_programs() once flags are applied.
  std::vector<programs::ProgramConfig> program_configs;

  const ModuleConfig* module(std::string_view name) const;
};

using ConfigResult = std::variant<Config, std::vector<ConfigError>>;

// Every registered module with its defaults.
Config default_config();
// Parses YAML text; `file` names it in errors.
ConfigResult parse_config(const std::string& text, const std::string& file);
// A configuration file is a regular file of at most this size (a directory, a FIFO or /dev/zero is
// an error, not an endless read).
inline constexpr off_t kMaxConfigBytes = 1 << 20;
ConfigResult load_config_file(const std::string& path);
// The effective configuration as YAML (what --config.check prints).
std::string dump_config(const Config& config);

// Shared with the flags: nullopt when valid, else what is wrong.
std::optional<std::string> check_listen_address(const std::string& address);
std::optional<std::string> check_telemetry_path(const std::string& path);

}  // namespace bpfex
