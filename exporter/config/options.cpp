// YamlMapReader: one field at a time, each error with file:line:column and the dotted key.
#include "config/options.h"

#include <cctype>
#include <charconv>

#include "base/duration.h"
#include "base/quote.h"

namespace bpfex {

std::string ConfigError::str() const {
  // Keys and file names come from outside as much as values do: shown escaped, like the values
  // the messages quote.
  std::string out = escape_text(file);
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": error: ";
  if (!key.empty()) out += (key.size() > 128 ? escape_text(key.substr(0, 128)) + "..." : escape_text(key)) + ": ";
  return out + message;
}

void ConfigDiagnostics::add(const YAML::Mark& mark, std::string key, std::string message) {
  ConfigError e{file_, 0, 0, std::move(key), std::move(message)};
  if (!mark.is_null()) {
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  errors_.push_back(std::move(e));
}

Check<uint32_t> in_range(uint64_t min, uint64_t max) {
  return [min, max](const uint32_t& v) -> std::optional<std::string> {
    if (v < min || v > max)
      return "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + std::to_string(v);
    return std::nullopt;
  };
}

Check<std::chrono::nanoseconds> duration_between(std::chrono::nanoseconds min, std::chrono::nanoseconds max) {
  return [min, max](const std::chrono::nanoseconds& d) -> std::optional<std::string> {
    if (d < min || d > max)
      return "must be between " + format_duration(min) + " and " + format_duration(max) + ", got " + format_duration(d);
    return std::nullopt;
  };
}

namespace {

const char* kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "nothing";
  }
}

}  // namespace

YamlMapReader::YamlMapReader(const YAML::Node& node, std::string path, ConfigDiagnostics& diag)
    : path_(std::move(path)), diag_(&diag) {
  if (!node.IsMap()) return;  // callers only construct readers for mappings
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    if (!it->first.IsScalar()) {
      diag_->add(it->first.Mark(), path_, "keys must be plain names");
      continue;
    }
    if (!seen.insert(key).second) {
      diag_->add(it->first.Mark(), child_path(key), "duplicate key");
      continue;
    }
    entries_.emplace_back(it->first, it->second);
  }
}

std::string YamlMapReader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const YAML::Node* YamlMapReader::find(std::string_view key) {
  for (auto& [k, v] : entries_) {
    if (k.Scalar() == key) {
      used_.insert(std::string(key));
      return &v;
    }
  }
  return nullptr;
}

std::optional<std::string> YamlMapReader::scalar(std::string_view key, const YAML::Node& value, const char* expected) {
  if (!value.IsScalar()) {
    diag_->add(value.Mark(), child_path(key), std::string("expected ") + expected + ", got " + kind_name(value));
    return std::nullopt;
  }
  return value.Scalar();
}

void YamlMapReader::field(std::string_view key, bool& out) {
  const YAML::Node* v = find(key);
  if (!v) return;
  auto s = scalar(key, *v, "true or false");
  if (!s) return;
  if (*s == "true")
    out = true;
  else if (*s == "false")
    out = false;
  else
    diag_->add(v->Mark(), child_path(key), "expected true or false, got " + quote_value(*s));
}

void YamlMapReader::field(std::string_view key, uint32_t& out, const Check<uint32_t>& check) {
  const YAML::Node* v = find(key);
  if (!v) return;
  auto s = scalar(key, *v, "an unsigned integer");
  if (!s) return;
  uint32_t parsed = 0;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), parsed);
  if (ec == std::errc::result_out_of_range) {
    diag_->add(v->Mark(), child_path(key), "value " + quote_value(*s) + " is too large");
    return;
  }
  if (ec != std::errc() || end != s->data() + s->size() || s->empty()) {
    diag_->add(v->Mark(), child_path(key), "expected an unsigned integer, got " + quote_value(*s));
    return;
  }
  if (check) {
    if (auto problem = check(parsed)) {
      diag_->add(v->Mark(), child_path(key), *problem);
      return;
    }
  }
  out = parsed;
}

void YamlMapReader::field(std::string_view key, std::string& out, const Check<std::string>& check) {
  const YAML::Node* v = find(key);
  if (!v) return;
  auto s = scalar(key, *v, "a string");
  if (!s) return;
  if (check) {
    if (auto problem = check(*s)) {
      diag_->add(v->Mark(), child_path(key), *problem);
      return;
    }
  }
  out = *s;
}

void YamlMapReader::field(std::string_view key, std::chrono::nanoseconds& out,
                          const Check<std::chrono::nanoseconds>& check) {
  const YAML::Node* v = find(key);
  if (!v) return;
  auto s = scalar(key, *v, "a duration such as 1s or 500ms");
  if (!s) return;
  auto d = parse_duration(*s);
  if (!d) {
    // Well formed but past what 64 bits of nanoseconds hold (292 years) says so, not "invalid".
    const bool well_formed = !s->empty() && s->find_first_not_of("0123456789mshd") == std::string::npos &&
                             std::isdigit(static_cast<unsigned char>(s->front())) &&
                             !std::isdigit(static_cast<unsigned char>(s->back()));
    diag_->add(v->Mark(), child_path(key),
               well_formed
                   ? "duration " + quote_value(*s) + " is out of range (at most 292 years)"
                   : "invalid duration " + quote_value(*s) + " (use a number and a unit: ms, s, m, h, d; e.g. 1s)");
    return;
  }
  if (check) {
    if (auto problem = check(*d)) {
      diag_->add(v->Mark(), child_path(key), *problem);
      return;
    }
  }
  out = *d;
}

void YamlMapReader::field(std::string_view key, std::vector<std::string>& out, const Check<std::string>& check) {
  const YAML::Node* v = find(key);
  if (!v) return;
  if (v->IsNull()) {
    out.clear();
    return;
  }
  if (!v->IsSequence()) {
    diag_->add(v->Mark(), child_path(key), std::string("expected a list of strings, got ") + kind_name(*v));
    return;
  }
  std::vector<std::string> parsed;
  bool ok = true;
  for (const auto& item : *v) {
    if (!item.IsScalar()) {
      diag_->add(item.Mark(), child_path(key), std::string("expected a string, got ") + kind_name(item));
      ok = false;
      continue;
    }
    if (check) {
      if (auto problem = check(item.Scalar())) {
        diag_->add(item.Mark(), child_path(key), *problem);
        ok = false;
        continue;
      }
    }
    parsed.push_back(item.Scalar());
  }
  if (ok) out = std::move(parsed);
}

std::optional<YamlMapReader> YamlMapReader::section(std::string_view key) {
  const YAML::Node* v = find(key);
  if (!v || v->IsNull()) return std::nullopt;
  if (!v->IsMap()) {
    diag_->add(v->Mark(), child_path(key), std::string("expected a mapping, got ") + kind_name(*v));
    return std::nullopt;
  }
  return YamlMapReader(*v, child_path(key), *diag_);
}

void YamlMapReader::finish() {
  for (auto& [k, v] : entries_) {
    if (!used_.count(k.Scalar())) diag_->add(k.Mark(), child_path(k.Scalar()), "unknown key");
  }
}

void YamlEmitVisitor::emit(std::chrono::nanoseconds v) { out_ << format_duration(v); }

void YamlEmitVisitor::emit(const std::vector<std::string>& v) {
  out_ << YAML::Flow << YAML::BeginSeq;
  for (const auto& s : v) out_ << YAML::DoubleQuoted << s;
  out_ << YAML::EndSeq;
}

}  // namespace bpfex
