// ebpf_exporter's YAML, read strictly: unknown keys are errors (ebpf_exporter ignores them), every
// error with file:line:column; then each metric checked against its map in the object.
#include "programs/program_config.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <string_view>

#include "base/fd.h"
#include "base/quote.h"
#include "programs/object.h"

namespace bpfex::programs {
namespace {

bool valid_name(const std::string& s, bool colons) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':') ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

class Parser {
 public:
  Parser(ConfigDiagnostics& diag) : diag_(diag) {}

  void program(const YAML::Node& root, ProgramConfig& out) {
    YamlMapReader top(root, "", diag_);
    if (const YAML::Node* metrics = take(top, "metrics")) {
      if (!metrics->IsMap()) {
        diag_.add(metrics->Mark(), "metrics", "expected a mapping with counters: and histograms:");
      } else {
        YamlMapReader m(*metrics, "metrics", diag_);
        if (const YAML::Node* counters = take(m, "counters")) list(*counters, "metrics.counters", false, out);
        if (const YAML::Node* histograms = take(m, "histograms")) list(*histograms, "metrics.histograms", true, out);
        m.finish();
      }
    }
    if (const YAML::Node* tracing = take(top, "tracing")) tracing_mark_ = tracing->Mark();
    top.field("kaddrs", out.kaddrs, [](const std::string& s) -> std::optional<std::string> {
      if (!valid_name(s, false) && s.find('.') == std::string::npos) return "not a kernel symbol: " + quote_value(s);
      return std::nullopt;
    });
    if (const YAML::Node* cg = take(top, "cgroup_id_map"))
      diag_.add(cg->Mark(), "cgroup_id_map", "not supported by bpfex (README \"User programs\")");
    top.finish();
    if (out.metrics.empty() && tracing_mark_.is_null())
      diag_.add(root.Mark(), "", "neither metrics nor tracing are defined");
    std::set<std::string> names;
    for (const Metric& m : out.metrics)
      if (!m.name.empty() && !names.insert(m.name).second)
        diag_.add(mark(m.line, m.column), "metrics", "two metrics named " + quote_value(m.name) + " (one map each)");
  }

  YAML::Mark tracing_mark_ = YAML::Mark::null_mark();

 private:
  static YAML::Mark mark(int line, int column) {
    YAML::Mark m;
    m.line = line - 1;
    m.column = column - 1;
    return m;
  }

  // The node under key, marked as known; null when absent.
  static const YAML::Node* take(YamlMapReader& r, std::string_view key) {
    for (const auto& [k, v] : r.entries())
      if (k.Scalar() == key) {
        r.mark_used(key);
        return &v;
      }
    return nullptr;
  }

  void list(const YAML::Node& node, const std::string& path, bool histograms, ProgramConfig& out) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      diag_.add(node.Mark(), path, "expected a list");
      return;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string p = path + "[" + std::to_string(i) + "]";
      if (!node[i].IsMap()) {
        diag_.add(node[i].Mark(), p, "expected a mapping (name:, help:, labels:, ...)");
        continue;
      }
      out.metrics.push_back(metric(node[i], p, histograms));
    }
  }

  bool integer(const YAML::Node& n, const std::string& path, int64_t& out) {
    try {
      if (n.IsScalar()) {
        const std::string& s = n.Scalar();
        size_t used = 0;
        const long long v = std::stoll(s, &used, 10);
        if (used == s.size()) {
          out = v;
          return true;
        }
      }
    } catch (const std::exception&) {
    }
    diag_.add(n.Mark(), path, "expected an integer");
    return false;
  }

  bool number(const YAML::Node& n, const std::string& path, double& out) {
    try {
      if (n.IsScalar()) {
        const std::string& s = n.Scalar();
        size_t used = 0;
        const double v = std::stod(s, &used);
        if (used == s.size() && std::isfinite(v)) {
          out = v;
          return true;
        }
      }
    } catch (const std::exception&) {
    }
    diag_.add(n.Mark(), path, "expected a number");
    return false;
  }

  Metric metric(const YAML::Node& node, const std::string& path, bool histogram) {
    Metric m;
    m.histogram = histogram;
    m.line = node.Mark().line + 1;
    m.column = node.Mark().column + 1;
    YamlMapReader r(node, path, diag_);
    r.field("name", m.name);
    r.field("help", m.help);
    if (m.name.empty()) diag_.add(node.Mark(), path, "name: is required (the map's name)");
    if (!m.name.empty() && !valid_name(m.name, true))
      diag_.add(node.Mark(), path + ".name", quote_value(m.name) + " is not a Prometheus metric name");
    if (m.help.empty()) diag_.add(node.Mark(), path, "help: is required");
    if (const YAML::Node* labels = take(r, "labels")) {
      if (labels->IsSequence()) {
        for (size_t i = 0; i < labels->size(); ++i)
          m.labels.push_back(label((*labels)[i], path + ".labels[" + std::to_string(i) + "]"));
      } else if (!labels->IsNull()) {
        diag_.add(labels->Mark(), path + ".labels", "expected a list");
      }
    }
    std::set<std::string> label_names;
    for (size_t i = 0; i < m.labels.size(); ++i) {
      const Label& l = m.labels[i];
      const bool bucket = histogram && i + 1 == m.labels.size();
      if (!bucket && !label_names.insert(l.name).second)
        diag_.add(mark(l.line, l.column), path, "two labels named " + quote_value(l.name));
      if (!bucket && histogram && l.name == "le")
        diag_.add(mark(l.line, l.column), path, "le is the bucket bound of a histogram; name the label otherwise");
    }
    if (histogram) {
      std::string type;
      r.field("bucket_type", type);
      if (type == "exp2")
        m.bucket_type = BucketType::exp2;
      else if (type == "exp2zero")
        m.bucket_type = BucketType::exp2zero;
      else if (type == "linear")
        m.bucket_type = BucketType::linear;
      else if (type == "fixed")
        m.bucket_type = BucketType::fixed;
      else
        diag_.add(node.Mark(), path + ".bucket_type",
                  "expected exp2, exp2zero, linear or fixed, got " + quote_value(type));
      if (const YAML::Node* n = take(r, "bucket_min")) integer(*n, path + ".bucket_min", m.bucket_min);
      if (const YAML::Node* n = take(r, "bucket_max")) integer(*n, path + ".bucket_max", m.bucket_max);
      if (const YAML::Node* n = take(r, "bucket_multiplier")) {
        number(*n, path + ".bucket_multiplier", m.bucket_multiplier);
        if (m.bucket_multiplier == 0) m.bucket_multiplier = 1;  // ebpf_exporter: 0 means 1
      }
      if (const YAML::Node* n = take(r, "bucket_keys")) {
        if (!n->IsSequence()) diag_.add(n->Mark(), path + ".bucket_keys", "expected a list of numbers");
        for (size_t i = 0; n->IsSequence() && i < n->size(); ++i) {
          double k = 0;
          if (number((*n)[i], path + ".bucket_keys[" + std::to_string(i) + "]", k)) {
            if (!m.bucket_keys.empty() && k <= m.bucket_keys.back())
              diag_.add((*n)[i].Mark(), path + ".bucket_keys", "keys must be ascending");
            if (k < 0 || k != std::floor(k))
              diag_.add((*n)[i].Mark(), path + ".bucket_keys", "keys are map keys: whole numbers from 0");
            m.bucket_keys.push_back(k);
          }
        }
      }
      if (m.labels.empty())
        diag_.add(node.Mark(), path + ".labels", "a histogram needs at least one label: the last one is the bucket");
      if (m.bucket_type == BucketType::fixed) {
        if (m.bucket_keys.empty()) diag_.add(node.Mark(), path, "bucket_type fixed needs bucket_keys");
      } else if (type == "exp2" || type == "exp2zero" || type == "linear") {
        if (m.bucket_min < 0) diag_.add(node.Mark(), path + ".bucket_min", "must be at least 0");
        if (m.bucket_max <= m.bucket_min)
          diag_.add(node.Mark(), path,
                    "bucket_max must be above bucket_min (they are inclusive): got [" + std::to_string(m.bucket_min) +
                        " .. " + std::to_string(m.bucket_max) + "]");
        if (m.bucket_max - m.bucket_min > 4096) diag_.add(node.Mark(), path, "at most 4096 buckets");
        if ((type == "exp2" || type == "exp2zero") && m.bucket_max > 1023)
          diag_.add(node.Mark(), path + ".bucket_max", "2^bucket_max must be a finite number: at most 1023");
      }
    } else {
      bool perf_event_array = false;
      r.field("perf_event_array", perf_event_array);
      if (perf_event_array)
        diag_.add(node.Mark(), path + ".perf_event_array", "perf event array counters are not supported by bpfex");
      if (take(r, "flush_interval") && !perf_event_array)
        diag_.add(node.Mark(), path + ".flush_interval", "only with perf_event_array, which bpfex does not support");
    }
    r.finish();
    return m;
  }

  Label label(const YAML::Node& node, const std::string& path) {
    Label l;
    l.line = node.Mark().line + 1;
    l.column = node.Mark().column + 1;
    if (!node.IsMap()) {
      diag_.add(node.Mark(), path, "expected a mapping (name:, size:, decoders:)");
      return l;
    }
    YamlMapReader r(node, path, diag_);
    r.field("name", l.name);
    r.field("size", l.size, in_range(1, 1u << 16));
    r.field("padding", l.padding, in_range(0, 1u << 16));
    if (!valid_name(l.name, false) || l.name.starts_with("__"))
      diag_.add(node.Mark(), path + ".name", quote_value(l.name) + " is not a Prometheus label name");
    if (!take(r, "size")) diag_.add(node.Mark(), path, "size: is required (bytes of the key)");
    std::vector<YAML::Mark> marks;
    if (const YAML::Node* ds = take(r, "decoders"); ds && ds->IsSequence()) {
      for (size_t i = 0; i < ds->size(); ++i) {
        const YAML::Node& d = (*ds)[i];
        marks.push_back(d.Mark());
        l.decoders.push_back(decoder(d, path + ".decoders[" + std::to_string(i) + "]"));
      }
    } else if (ds) {
      diag_.add(ds->Mark(), path + ".decoders", "expected a list");
    }
    r.finish();
    if (l.size > 0) {
      if (auto problem = decoders::check_chain(l.decoders, l.size)) {
        const YAML::Mark at = problem->decoder < marks.size() ? marks[problem->decoder] : node.Mark();
        diag_.add(at, path + ".decoders", problem->message);
      }
    }
    return l;
  }

  decoders::DecoderConfig decoder(const YAML::Node& node, const std::string& path) {
    decoders::DecoderConfig d;
    if (!node.IsMap()) {
      diag_.add(node.Mark(), path, "expected a mapping (name: and the decoder's options)");
      return d;
    }
    YamlMapReader r(node, path, diag_);
    r.field("name", d.name);
    r.field("allow_unknown", d.allow_unknown);
    r.field("regexps", d.regexps);
    if (const YAML::Node* sm = take(r, "static_map")) {
      if (!sm->IsMap()) {
        diag_.add(sm->Mark(), path + ".static_map", "expected a mapping of values to labels");
      } else {
        d.static_map.emplace();
        for (auto it = sm->begin(); it != sm->end(); ++it) {
          if (!it->first.IsScalar() || !it->second.IsScalar()) {
            diag_.add(it->first.Mark(), path + ".static_map", "keys and values must be scalars");
            continue;
          }
          (*d.static_map)[it->first.Scalar()] = it->second.Scalar();
        }
      }
    }
    r.finish();
    return d;
  }

  ConfigDiagnostics& diag_;
};

std::vector<ConfigError> file_error(const std::string& path, const std::string& why) {
  return {ConfigError{path, 0, 0, "", why}};
}

// A file of at most 1 MiB, read whole.
std::optional<std::string> read_small_file(const std::string& path, std::string& error) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  struct stat st {};
  if (!fd || fstat(fd.get(), &st) != 0) {
    error = std::string("cannot read: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
    error = "cannot read: not a regular file of at most 1 MiB";
    return std::nullopt;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

// FNV-1a over bytes, continued from h: enough to tell a changed file, not a defence against anyone.
uint64_t fnv1a(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ULL) {
  for (const char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

// A file's contents hashed, read in pieces (objects with BTF may be large); nullopt when unreadable.
std::optional<uint64_t> file_hash(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return std::nullopt;
  uint64_t h = fnv1a({});
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return h;
    h = fnv1a(std::string_view(buf, static_cast<size_t>(n)), h);
  }
}

}  // namespace

size_t Metric::key_bytes() const {
  size_t n = 0;
  for (const Label& l : labels) n += l.size + l.padding;
  return n;
}

ProgramResult parse_program_config(const std::string& text, const std::string& file, const std::string& name) {
  ConfigDiagnostics diag(file);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diag.add(e.mark, "", "invalid YAML: " + e.msg);
    return diag.errors();
  }
  if (!root.IsMap()) {
    diag.add(root.Mark(), "", "a program's configuration is a mapping (metrics:, kaddrs:)");
    return diag.errors();
  }
  ProgramConfig config;
  config.name = name;
  config.yaml_path = file;
  Parser parser(diag);
  parser.program(root, config);
  config.has_tracing = !parser.tracing_mark_.is_null();
  if (!diag.errors().empty()) return diag.errors();
  return config;
}

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

ProgramsResult load_programs(const ProgramsOptions& options) {
  std::vector<ConfigError> errors;
  std::vector<ProgramConfig> out;
  std::set<std::string> seen, exported;
  for (const std::string& name : options.names) {
    const std::string yaml = options.dir + "/" + name + ".yaml";
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      errors.push_back({"programs.names", 0, 0, "", "not a program name: " + quote_value(name)});
      continue;
    }
    if (!seen.insert(name).second) {
      errors.push_back({"programs.names", 0, 0, "", quote_value(name) + " is named twice"});
      continue;
    }
    std::string why;
    auto text = read_small_file(yaml, why);
    if (!text) {
      auto e = file_error(yaml, why);
      errors.insert(errors.end(), e.begin(), e.end());
      continue;
    }
    ProgramResult parsed = parse_program_config(*text, yaml, name);
    if (auto* e = std::get_if<std::vector<ConfigError>>(&parsed)) {
      errors.insert(errors.end(), e->begin(), e->end());
      continue;
    }
    ProgramConfig config = std::get<ProgramConfig>(std::move(parsed));
    config.object_path = options.dir + "/" + name + ".bpf.o";
    config.yaml_hash = fnv1a(*text);
    config.object_hash = file_hash(config.object_path).value_or(0);  // unreadable: check_object says why
    for (const Metric& m : config.metrics) {
      const std::string full = options.metric_prefix + m.name;
      if (!valid_name(full, true))
        errors.push_back({yaml, m.line, m.column, "", quote_value(full) + " is not a Prometheus metric name"});
      else if (!exported.insert(full).second)
        errors.push_back({yaml, m.line, m.column, "", quote_value(full) + " is exported by another program too"});
    }
    std::vector<ConfigError> object_errors = check_object(config);
    errors.insert(errors.end(), object_errors.begin(), object_errors.end());
    out.push_back(std::move(config));
  }
  if (!errors.empty()) return errors;
  return out;
}

}  // namespace bpfex::programs
