// The top-level configuration keys, the modules section walked through the registry, --config.check output.
#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "base/duration.h"
#include "base/fd.h"
#include "base/quote.h"
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
    return "invalid listen address " + quote_value(address) + " (use :PORT, IPv4:PORT, [IPv6]:PORT or localhost:PORT)";
  return std::nullopt;
}

std::optional<std::string> check_telemetry_path(const std::string& path) {
  if (path.empty() || path[0] != '/') return "must start with /, got " + quote_value(path);
  if (path == "/" || path == "/healthz" || path == "/-/reload")
    return quote_value(path) + " is taken by the landing page, the health check or the reload endpoint";
  // A request path is compared as clients send it once %-escapes are decoded: a path that is not
  // already in that form (or that a client or proxy would normalise) could never be requested.
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '%') return "must be written decoded, without %-escapes, got " + quote_value(path);
    if (u <= ' ' || u >= 0x7f || c == '?' || c == '#' || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
        c == '`' || c == '{' || c == '|' || c == '}')
      return "must be a plain URL path (letters, digits and -._~!$&'()*+,;=:@/), got " + quote_value(path);
  }
  if (path.find("//") != std::string::npos) return "must not have empty segments (//), got " + quote_value(path);
  for (size_t start = 1; start <= path.size();) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = std::string_view(path).substr(start, end - start);
    if (segment == "." || segment == "..") return "must not have . or .. segments, got " + quote_value(path);
    start = end + 1;
  }
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
    const YamlDocuments documents = load_yaml_documents(text);
    if (documents.second) {
      // Everything after the first document would be ignored without a word.
      diag.add(*documents.second, "", "a second YAML document (after ---): the configuration is one document");
      return diag.errors();
    }
    root = documents.first;
  } catch (const YAML::DeepRecursion& e) {
    diag.add(e.mark, "", "invalid YAML: nested more than " + std::to_string(e.depth()) + " levels deep");
    return diag.errors();
  } catch (const YAML::Exception& e) {
    // yaml-cpp's messages carry the bytes it choked on (an unknown escape character, an anchor's
    // name): escaped and cut like any value we echo.
    diag.add(e.mark, "", "invalid YAML: " + escape_text(e.msg.size() > 200 ? e.msg.substr(0, 200) + "..." : e.msg));
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
    web->field("max_requests", config.max_requests, in_range(1, 1u << 16));
    web->finish();
  }
  top.field("poll_interval", config.poll_interval,
            duration_between(std::chrono::milliseconds(10), std::chrono::hours(1)));
  top.field("bpf_stats", config.bpf_stats);
  top.field("native_histogram_schema", config.native_histogram_schema, native_buckets::check_schema);
  top.group("attribution", config.attribution);
  top.group("programs", config.programs);
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
  // Every latency histogram's range at the schema must fit a kernel row (the modules' own checks
  // saw their range, not the schema). Errors point at the module's max_bucket where the file sets
  // it, else at the schema.
  if (diag.errors().empty()) {
    const YAML::Node& file = root;  // const: looking a key up must not add it
    for (const auto& m : config.modules) {
      const auto range = m.options->latency_range();
      if (!m.enabled || !range) continue;
      if (auto problem = native_buckets::check_layout(config.native_histogram_schema, range->first, range->second)) {
        YAML::Node at = file["native_histogram_schema"];
        std::string key = "native_histogram_schema";
        if (file["modules"] && file["modules"][m.name] && file["modules"][m.name]["max_bucket"]) {
          at = file["modules"][m.name]["max_bucket"];
          key = "modules." + m.name + ".max_bucket";
        }
        diag.add(at ? at.Mark() : YAML::Mark::null_mark(), key, *problem);
      }
    }
  }
  if (!diag.errors().empty()) return diag.errors();
  return config;
}

ConfigResult load_config_file(const std::string& path) {
  auto fail = [&](const std::string& why) { return std::vector<ConfigError>{{path, 0, 0, "", why}}; };
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return fail(std::string("cannot read config file: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return fail(std::string("cannot read config file: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fail("cannot read config file: it is a directory");
  if (!S_ISREG(st.st_mode)) return fail("cannot read config file: not a regular file (a FIFO, device or socket)");
  if (st.st_size > kMaxConfigBytes)
    return fail("config file is " + std::to_string(st.st_size) + " bytes, more than the " +
                std::to_string(kMaxConfigBytes >> 20) + " MiB a configuration can be");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("cannot read config file: ") + std::strerror(errno));
    if (n == 0) break;  // shrank while we read
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return parse_config(text, path);
}

std::string dump_config(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "web" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen_address" << YAML::Value << YAML::DoubleQuoted << config.listen_address;
  out << YAML::Key << "telemetry_path" << YAML::Value << config.telemetry_path;
  out << YAML::Key << "max_requests" << YAML::Value << config.max_requests;
  out << YAML::EndMap;
  out << YAML::Key << "poll_interval" << YAML::Value << format_duration(config.poll_interval);
  out << YAML::Key << "bpf_stats" << YAML::Value << config.bpf_stats;
  out << YAML::Key << "native_histogram_schema" << YAML::Value << config.native_histogram_schema;
  YamlEmitVisitor emit(out);
  emit.group("attribution", const_cast<workload::AttributionOptions&>(config.attribution));
  emit.group("programs", const_cast<programs::ProgramsOptions&>(config.programs));
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
