// YamlMapReader: one field at a time, each error with file:line:column and the dotted key.
#include "config/options.h"

#include <yaml-cpp/eventhandler.h>

#include <cctype>
#include <charconv>
#include <sstream>

#include "base/duration.h"
#include "base/quote.h"

namespace bpfex {

namespace {

// Where each document starts, and where its first node does (what an error about the document
// points at, as YAML::LoadAll's node marks did); nothing else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  std::vector<std::optional<YAML::Mark>> first_nodes;
  void OnDocumentStart(const YAML::Mark& mark) override {
    starts.push_back(mark);
    first_nodes.emplace_back();
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { node(mark); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

 private:
  void node(const YAML::Mark& mark) {
    if (!first_nodes.empty() && !first_nodes.back()) first_nodes.back() = mark;
  }
};

}  // namespace

YamlDocuments load_yaml_documents(const std::string& text) {
  // Three documents at most: enough to tell one from two, and a document that starts where the one
  // before started is the loop (a document always reads at least its first token otherwise).
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts docs;
  for (int i = 0; i < 3 && parser.HandleNextDocument(docs); ++i) {
  }
  for (size_t i = 1; i < docs.starts.size(); ++i) {
    if (docs.starts[i].pos != docs.starts[i - 1].pos) continue;
    const YAML::Mark& at = docs.starts[i];
    // The caller escapes yaml-cpp's messages: the byte goes in as it is.
    const std::string what = at.pos >= 0 && static_cast<size_t>(at.pos) < text.size()
                                 ? "'" + text.substr(static_cast<size_t>(at.pos), 1) + "'"
                                 : std::string("end of the text");
    throw YAML::ParserException(at, "unexpected " + what + ": nothing can start with it here");
  }
  YamlDocuments out;
  if (docs.starts.size() > 1) out.second = docs.first_nodes[1].value_or(docs.starts[1]);
  out.first = YAML::Load(text);
  return out;
}

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
