// Module options are plain structs that name each field once, in a visit() member:
//
//   struct ExecOptions {
//     uint32_t max_comms = 1024;
//     template <class V> void visit(V& v) { v.field("max_comms", max_comms, in_range(1, 1 << 20)); }
//   };
//
// The same visit() parses YAML (errors carry file:line:column and the key) and prints the
// effective configuration, so the two can never disagree.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bpfex {

struct ConfigError {
  std::string file;
  int line = 0;     // 1-based; 0 when the error is not tied to a place in the file
  int column = 0;   // 1-based
  std::string key;  // dotted path, e.g. "modules.exec.max_comms"
  std::string message;
  // "file:line:col: error: key: message", the format editors and CI logs link to.
  std::string str() const;
};

// The documents of a YAML text as YAML::LoadAll reads them, without yaml-cpp 0.7's endless loop
// (Debian 12 ships 0.7.0; fixed upstream by jbeder/yaml-cpp#1319): at a token no rule takes,
// LoadAll got the same empty document again and again without reading on, until memory ran out
// (found by tests/fuzz/config: 63 bytes ending in "\n    , include:"). That token is a
// YAML::ParserException here. Throws what LoadAll throws otherwise.
struct YamlDocuments {
  YAML::Node first;                  // null when the text holds no document
  std::optional<YAML::Mark> second;  // where a second document starts, if there is one
};
YamlDocuments load_yaml_documents(const std::string& text);

class ConfigDiagnostics {
 public:
  explicit ConfigDiagnostics(std::string file) : file_(std::move(file)) {}
  void add(const YAML::Mark& mark, std::string key, std::string message);
  const std::vector<ConfigError>& errors() const { return errors_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

// A check on one value: nullopt when fine, else what is wrong ("must be at least 1").
template <class T>
using Check = std::function<std::optional<std::string>(const T&)>;

Check<uint32_t> in_range(uint64_t min, uint64_t max);
Check<std::chrono::nanoseconds> duration_between(std::chrono::nanoseconds min, std::chrono::nanoseconds max);

// Reads one YAML mapping field by field; reports wrong types, failed checks, duplicate keys and,
// in finish(), keys nobody asked for.
class YamlMapReader {
 public:
  YamlMapReader(const YAML::Node& node, std::string path, ConfigDiagnostics& diag);

  void field(std::string_view key, bool& out);
  void field(std::string_view key, uint32_t& out, const Check<uint32_t>& check = {});
  void field(std::string_view key, std::string& out, const Check<std::string>& check = {});
  void field(std::string_view key, std::chrono::nanoseconds& out, const Check<std::chrono::nanoseconds>& check = {});
  // A sequence of strings; check runs per element so errors point at the element.
  void field(std::string_view key, std::vector<std::string>& out, const Check<std::string>& check = {});

  // The mapping under key, if present and a mapping (else an error is recorded).
  std::optional<YamlMapReader> section(std::string_view key);
  // A nested options struct under key (its own visit()), with unknown keys reported.
  template <class T>
  void group(std::string_view key, T& value) {
    if (auto reader = section(key)) {
      value.visit(*reader);
      reader->finish();
    }
  }
  // Every key of this mapping with its node, for maps keyed by name (modules:).
  const std::vector<std::pair<YAML::Node, YAML::Node>>& entries() const { return entries_; }
  std::string child_path(std::string_view key) const;
  ConfigDiagnostics& diagnostics() { return *diag_; }
  // Marks a key as known without reading it through field().
  void mark_used(std::string_view key) { used_.insert(std::string(key)); }
  // Reports keys that were never asked for.
  void finish();

 private:
  const YAML::Node* find(std::string_view key);
  std::optional<std::string> scalar(std::string_view key, const YAML::Node& value, const char* expected);

  std::string path_;
  ConfigDiagnostics* diag_;
  std::vector<std::pair<YAML::Node, YAML::Node>> entries_;
  std::set<std::string, std::less<>> used_;
};

// Writes fields for --config.check and the landing page.
class YamlEmitVisitor {
 public:
  explicit YamlEmitVisitor(YAML::Emitter& out) : out_(out) {}
  template <class T, class... Rest>
  void field(std::string_view key, const T& value, Rest&&...) {
    out_ << YAML::Key << std::string(key) << YAML::Value;
    emit(value);
  }
  template <class T>
  void group(std::string_view key, T& value) {
    out_ << YAML::Key << std::string(key) << YAML::Value << YAML::BeginMap;
    value.visit(*this);
    out_ << YAML::EndMap;
  }

 private:
  void emit(bool v) { out_ << v; }
  void emit(uint32_t v) { out_ << v; }
  void emit(const std::string& v) { out_ << YAML::DoubleQuoted << v; }
  void emit(std::chrono::nanoseconds v);
  void emit(const std::vector<std::string>& v);
  YAML::Emitter& out_;
};

// Type-erased options of one module.
class ModuleOptions {
 public:
  virtual ~ModuleOptions() = default;
  virtual void parse(YamlMapReader& reader) = 0;
  virtual void emit(YAML::Emitter& out) const = 0;
  virtual std::unique_ptr<ModuleOptions> clone() const = 0;
  // A module with a latency histogram (options min_bucket and max_bucket): its range, for the check
  // against the global native_histogram_schema (metrics/native_buckets.h).
  virtual std::optional<std::pair<std::string, std::string>> latency_range() const { return std::nullopt; }
};

template <class T>
class TypedModuleOptions final : public ModuleOptions {
 public:
  T value{};
  void parse(YamlMapReader& reader) override { value.visit(reader); }
  void emit(YAML::Emitter& out) const override {
    YamlEmitVisitor v(out);
    const_cast<T&>(value).visit(v);  // visit() only reads through YamlEmitVisitor
  }
  std::unique_ptr<ModuleOptions> clone() const override { return std::make_unique<TypedModuleOptions<T>>(*this); }
  std::optional<std::pair<std::string, std::string>> latency_range() const override {
    if constexpr (requires { value.min_bucket + value.max_bucket; })
      return std::pair<std::string, std::string>{value.min_bucket, value.max_bucket};
    return std::nullopt;
  }
};

template <class T>
const T& options_as(const ModuleOptions& options) {
  return dynamic_cast<const TypedModuleOptions<T>&>(options).value;
}

}  // namespace bpfex
