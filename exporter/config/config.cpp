// The top-level configuration keys, the modules section walked through the registry, --config.check output.
#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/duration.h"
#include "http/listen_address.h"
#include "modules/registry.h"

namespace bpfex {

ModuleConfig::ModuleConfig(const ModuleConfig& o)
    : name(o.name), enabled(o.enabled), options(o.options ? o.options->clone() : nullptr) {}

ModuleConfig& ModuleConfig::operator=(const ModuleConfig& o) {
  if (this != &o) {
    name = o.name;
    enabled = o.enabled;
    options = o.options ? o.options->clone() : nullptr;
  }
  return *this;
}

const ModuleConfig* Config::module(std::string_view name) const {
  for (const auto& m : modules)
    if (m.name == name) return &m;
  return nullptr;
}

std::optional<std::string> check_listen_address(const std::string& address) {
  if (!parse_listen_address(address))
    return "invalid listen address \"" + address + "\" (use :PORT, IPv4:PORT, [IPv6]:PORT or localhost:PORT)";
  return std::nullopt;
}

std::optional<std::string> check_telemetry_path(const std::string& path) {
  if (path.empty() || path[0] != '/') return "must start with /, got \"" + path + "\"";
  if (path == "/" || path == "/healthz") return "\"" + path + "\" is taken by the landing page or health check";
  for (char c : path)
    if (static_cast<unsigned char>(c) <= ' ' || c == '?' || c == '#')
      return "must be a plain URL path, got \"" + path + "\"";
  return std::nullopt;
}

Config default_config() {
  Config c;
  for (const auto& spec : module_registry()) {
    ModuleConfig m;
    m.name = std::string(spec.name);
    m.enabled = spec.enabled_by_default;
    m.options = spec.default_options();
    c.modules.push_back(std::move(m));
  }
  return c;
}

ConfigResult parse_config(const std::string& text, const std::string& file) {
  ConfigDiagnostics diag(file);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diag.add(e.mark, "", "invalid YAML: " + e.msg);
    return diag.errors();
  }
  Config config = default_config();
  config.source = file;
  if (root.IsNull()) return config;  // an empty file means the defaults
  if (!root.IsMap()) {
    diag.add(root.Mark(), "", "the configuration must be a mapping of keys (web, poll_interval, modules, ...)");
    return diag.errors();
  }
  YamlMapReader top(root, "", diag);
  if (auto web = top.section("web")) {
    web->field("listen_address", config.listen_address, check_listen_address);
    web->field("telemetry_path", config.telemetry_path, check_telemetry_path);
    web->finish();
  }
  top.field("poll_interval", config.poll_interval,
            duration_between(std::chrono::milliseconds(10), std::chrono::hours(1)));
  top.field("bpf_stats", config.bpf_stats);
  top.group("attribution", config.attribution);
  if (auto modules = top.section("modules")) {
    for (const auto& [key, value] : modules->entries()) {
      const std::string name = key.Scalar();
      modules->mark_used(name);
      auto it = std::find_if(config.modules.begin(), config.modules.end(),
                             [&](const ModuleConfig& m) { return m.name == name; });
      if (it == config.modules.end()) {
        std::string known;
        for (const auto& spec : module_registry()) known += (known.empty() ? "" : ", ") + std::string(spec.name);
        diag.add(key.Mark(), modules->child_path(name), "unknown module (known: " + known + ")");
        continue;
      }
      if (value.IsNull()) continue;  // "exec:" alone keeps the defaults
      if (!value.IsMap()) {
        diag.add(value.Mark(), modules->child_path(name), "expected a mapping with enabled: and the module's options");
        continue;
      }
      YamlMapReader reader(value, modules->child_path(name), diag);
      reader.field("enabled", it->enabled);
      it->options->parse(reader);
      reader.finish();
    }
    modules->finish();
  }
  top.finish();
  if (!diag.errors().empty()) return diag.errors();
  return config;
}

ConfigResult load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    int err = errno;
    return std::vector<ConfigError>{{path, 0, 0, "", std::string("cannot read config file: ") + std::strerror(err)}};
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path);
}

std::string dump_config(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "web" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen_address" << YAML::Value << YAML::DoubleQuoted << config.listen_address;
  out << YAML::Key << "telemetry_path" << YAML::Value << config.telemetry_path;
  out << YAML::EndMap;
  out << YAML::Key << "poll_interval" << YAML::Value << format_duration(config.poll_interval);
  out << YAML::Key << "bpf_stats" << YAML::Value << config.bpf_stats;
  YamlEmitVisitor emit(out);
  emit.group("attribution", const_cast<workload::AttributionOptions&>(config.attribution));
  out << YAML::Key << "modules" << YAML::Value << YAML::BeginMap;
  for (const auto& m : config.modules) {
    out << YAML::Key << m.name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "enabled" << YAML::Value << m.enabled;
    m.options->emit(out);
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace bpfex
