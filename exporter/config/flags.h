// Command-line flags in node_exporter's style: --name=value or --name value.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "config/config.h"

namespace bpfex {

struct Flags {
  std::optional<std::string> config_file;
  std::optional<std::string> listen_address;
  std::optional<std::string> telemetry_path;
  std::optional<std::string> max_requests;
  std::optional<std::string> web_config_file;    // exporter-toolkit's web configuration (http/web_config.h)
  std::optional<std::string> capabilities_keep;  // app/capabilities.h
  std::optional<std::string> btf_path;           // BTF for kernels without /sys/kernel/btf/vmlinux
  LogLevel log_level = LogLevel::info;
  bool config_check = false;
  bool enable_lifecycle = false;  // POST/PUT /-/reload, as Prometheus' --web.enable-lifecycle
  bool version = false;
  bool help = false;
};

Result<Flags> parse_flags(const std::vector<std::string>& args);
std::string usage();
// Flags override the file; errors name the flag.
Status apply_flag_overrides(const Flags& flags, Config& config);

}  // namespace bpfex
