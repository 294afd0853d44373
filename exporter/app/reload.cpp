// The reload: read, compare with what runs, replace only what changed.
#include "app/reload.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "app/capabilities.h"
#include "app/poller.h"
#include "base/log.h"
#include "http/server.h"
#include "programs/histogram.h"
#include "programs/program_config.h"
#include "programs/program_module.h"
#include "workload/workloads.h"

namespace bpfex {
namespace {

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string emitted(const ModuleOptions& options) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  options.emit(out);
  out << YAML::EndMap;
  return out.c_str();
}

// A group of options as YAML, to compare two of them.
template <class Options>
std::string emitted(const char* name, Options options) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  YamlEmitVisitor(out).group(name, options);
  out << YAML::EndMap;
  return out.c_str();
}

// The settings a reload cannot change (the listener, what every module was started with): the
// names of those that differ.
std::vector<std::string> changed_fixed_settings(const Config& running, const Config& next) {
  std::vector<std::string> changed;
  if (running.listen_address != next.listen_address) changed.emplace_back("web.listen_address");
  if (running.telemetry_path != next.telemetry_path) changed.emplace_back("web.telemetry_path");
  if (running.max_requests != next.max_requests) changed.emplace_back("web.max_requests");
  if (running.bpf_stats != next.bpf_stats) changed.emplace_back("bpf_stats");
  // Every latency histogram's buckets: a new schema cannot continue the old native series (the
  // counter guard carries counts across a new bucket range, not across a new bucket width), and the
  // modules that keep running were built for the old one.
  if (running.native_histogram_schema != next.native_histogram_schema) changed.emplace_back("native_histogram_schema");
  if (emitted("attribution", running.attribution) != emitted("attribution", next.attribution))
    changed.emplace_back("attribution");
  return changed;
}

// A user program runs as it was loaded: the same YAML and object, the same export settings.
bool same_program(const programs::ProgramConfig& a, const programs::ProgramsOptions& a_options,
                  const programs::ProgramConfig& b, const programs::ProgramsOptions& b_options) {
  return a.yaml_hash == b.yaml_hash && a.object_hash == b.object_hash &&
         a_options.metric_prefix == b_options.metric_prefix &&
         a_options.max_series_per_metric == b_options.max_series_per_metric;
}

// What each metric of a user program is, by exported name: its kind, labels (sizes, paddings,
// decoders) and buckets. A metric of the old definition that the new one lacks or defines otherwise
// ends with the old program: carried, its old series would be exported forever, never counted again
// (relabeled, redecoded), or its counts would land in other buckets (rebucketed).
std::map<std::string, std::string> program_metrics(const programs::ProgramConfig& config,
                                                   const programs::ProgramsOptions& options) {
  std::map<std::string, std::string> out;
  for (const programs::Metric& m : config.metrics) {
    YAML::Emitter e;
    e << YAML::Flow << YAML::BeginSeq << (m.histogram ? "histogram" : "counter");
    for (const programs::Label& l : m.labels) {
      e << l.name << l.size << l.padding;
      for (const decoders::DecoderConfig& d : l.decoders) {
        e << d.name << d.allow_unknown << YAML::BeginSeq;
        for (const auto& r : d.regexps) e << r;
        if (d.static_map)
          for (const auto& [k, v] : *d.static_map) e << k << v;
        e << YAML::EndSeq;
      }
    }
    if (m.histogram) {
      e << m.bucket_multiplier;
      for (double b : programs::bucket_bounds(m)) e << b;
    }
    e << YAML::EndSeq;
    out[options.metric_prefix + m.name] = e.c_str();
  }
  return out;
}

// Loading and attaching BPF programs takes CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), plus what
// the module keeps after start: the ones of those this thread no longer has.
std::string missing_capabilities(const Module& module) {
  const uint64_t have = effective_capabilities();
  auto has = [&](const std::string& name) {
    const int cap = capability_number(name);
    return cap >= 0 && (have & (uint64_t{1} << cap)) != 0;
  };
  std::vector<std::string> need = missing_bpf_capabilities(have);
  for (const auto& n : module.capabilities_after_start()) need.push_back(n.capability);
  std::string missing;
  for (const auto& name : need)
    if (!has(name) && missing.find(name) == std::string::npos) missing += (missing.empty() ? "" : ", ") + name;
  return missing;
}

}  // namespace

Reloader::Reloader(ReloadTargets targets) : t_(targets), success_unix_seconds_(unix_now()) {
  thread_ = std::thread([this] { run(); });
}

void Reloader::request(Done done) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      if (done) done("bpfex is stopping");
      return;
    }
    waiting_.push_back(done ? std::move(done) : Done([](const std::string&) {}));
  }
  wake_.notify_all();
}

void Reloader::stop() {
  std::vector<Done> unanswered;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mutex_);
    unanswered.swap(waiting_);
  }
  for (auto& done : unanswered) done("bpfex is stopping");
}

void Reloader::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
    if (stopping_) return;
    std::vector<Done> answering;
    answering.swap(waiting_);
    lock.unlock();
    const std::string error = reload();
    for (auto& done : answering) done(error);
    lock.lock();
  }
}

Families Reloader::metrics() const {
  auto ok = gauge_family("bpfex_config_last_reload_successful",
                         "Whether the last configuration reload attempt was successful (1) or not (0).");
  ok.add({}, successful_.load() ? 1 : 0);
  auto when = gauge_family("bpfex_config_last_reload_success_timestamp_seconds",
                           "Timestamp of the last successful configuration reload (or of start-up).");
  when.add({}, success_unix_seconds_.load());
  return {ok.build(), when.build()};
}

std::string Reloader::start_instance(const std::string& name, Module& instance, bool was_up) {
  const std::string keeps = was_up ? "it keeps running with its previous options" : "it stays down";
  if (std::string missing = missing_capabilities(instance); !missing.empty())
    return "module " + name + ": starting it needs " + missing +
           ", dropped after start (--capabilities.keep=all keeps them for reloads); " + keeps;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return "module " + name + ": not restarted, bpfex is stopping; " + keeps;
  }
  // The new instance starts while the old one still counts: no event falls between the two.
  if (Status st = instance.start(t_.context); !st) return "module " + name + ": " + st.error().str() + "; " + keeps;
  return {};
}

void Reloader::swap_in(RunningModule& running, std::unique_ptr<Module> instance, const std::string& name,
                       const std::function<void(CounterGuard&)>& forget) {
  // The old instance's last values, and what the new one counted meanwhile (subtracted: those
  // events are in the old values). Only the time of one map read separates the two readings.
  if (running.module) {
    ModuleReading last;
    if (running.module->read(last))
      running.guard.apply(last.families, last.retire_vanished_series);
    else
      log_warn("reload: the replaced module's last reading failed; counts since the last poll are lost",
               {{"module", name}});
    running.module.reset();
  }
  // After the last reading (which would bring them back), before the restart carries the rest.
  if (forget) forget(running.guard);
  // Per-workload series are summed from per-cgroup kernel entries by the shared rollup: it carries
  // the old instance's part itself and takes the new one's first reading as its baseline.
  if (t_.context.workloads) t_.context.workloads->restart_families(name + "_");
  ModuleReading baseline;
  if (!instance->read(baseline)) baseline.families.clear();
  running.guard.restart(baseline.families);
  running.module = std::move(instance);
  running.status = ModuleStatus{};
  running.status.name = name;
  running.status.enabled = true;
  running.status.up = true;
  running.status.programs = running.module->programs();
  running.problem.clear();
}

std::string Reloader::replace_module(size_t i, const ModuleConfig& next) {
  RunningModule& running = t_.modules[i];
  if (!next.enabled) {
    t_.poller.with_modules([&] {
      running.module.reset();  // detaches its programs, frees its maps
      running.status = ModuleStatus{};
      running.status.name = next.name;
      running.last_families.clear();  // its series go (the guard keeps their values, should it come back)
      running.problem.clear();
      running.label_overflows.reset();
    });
    log_info("module stopped by a reload", {{"module", next.name}});
    return {};
  }
  std::unique_ptr<Module> instance = find_module_spec(next.name)->create(*next.options);
  if (std::string failed = start_instance(next.name, *instance, running.status.up); !failed.empty()) return failed;
  t_.poller.with_modules([&] { swap_in(running, std::move(instance), next.name); });
  log_info("module restarted by a reload", {{"module", next.name}});
  return {};
}

void Reloader::reload_programs(const std::vector<programs::ProgramConfig>& next_configs,
                               const programs::ProgramsOptions& next_options, std::vector<std::string>& failures,
                               std::string& changed) {
  // User programs follow the built-in modules in t_.modules, in the order of t_.config.program_configs.
  const size_t first = t_.config.modules.size();
  std::map<std::string, size_t> running;  // program name -> its entry in t_.modules
  for (size_t i = first; i < t_.modules.size() && i - first < t_.config.program_configs.size(); ++i)
    running[t_.config.program_configs[i - first].name] = i;
  auto config_of = [&](size_t entry) -> const programs::ProgramConfig& {
    return t_.config.program_configs[entry - first];
  };
  auto options_of = [&](const std::string& name) -> const programs::ProgramsOptions& {
    const auto it = program_options_.find(name);
    return it != program_options_.end() ? it->second : t_.config.programs;
  };

  struct Planned {
    programs::ProgramConfig config;     // what the entry runs after the reload
    programs::ProgramsOptions options;  // and with which export settings
    std::optional<size_t> entry;        // its entry in t_.modules before the reload
    std::unique_ptr<Module> instance;   // started to replace it, or to add it
    std::string failed;                 // why that instance did not start
    bool swapped = false;               // instance took over the entry
  };
  std::vector<Planned> plan;
  for (const programs::ProgramConfig& pc : next_configs) {
    Planned p{pc, next_options, {}, {}, {}};
    if (const auto it = running.find(pc.name); it != running.end()) p.entry = it->second;
    const bool up = p.entry && t_.modules[*p.entry].status.up;
    const bool same = p.entry && same_program(config_of(*p.entry), options_of(pc.name), pc, next_options);
    // A program that failed to start is tried again by any reload (the cause may be fixed).
    if (!same || !up) {
      if (!p.entry) programs::warn_if_tracing(pc);
      auto instance = programs::make_program_module(pc, next_options);
      p.failed = start_instance(programs::module_name(pc.name), *instance, up);
      if (p.failed.empty()) {
        p.instance = std::move(instance);
      } else if (same) {
        log_warn("reload: a user program that was down is still down", {{"error", p.failed}});
      } else {
        log_error("reload: a user program was not changed", {{"error", p.failed}});
        failures.push_back(p.failed);
        if (up) {  // the old one keeps running as it was
          p.config = config_of(*p.entry);
          p.options = options_of(pc.name);
        }
      }
    }
    plan.push_back(std::move(p));
  }
  std::vector<std::string> removed;
  for (const auto& r : running)
    if (std::none_of(next_configs.begin(), next_configs.end(), [&](const auto& c) { return c.name == r.first; }))
      removed.push_back(r.first);

  t_.poller.with_modules([&] {
    std::vector<RunningModule> entries;
    for (Planned& p : plan) {
      const std::string name = programs::module_name(p.config.name);
      RunningModule entry;
      if (p.entry) entry = std::move(t_.modules[*p.entry]);
      if (p.instance) {
        // Metrics that the new definition drops, renames or defines otherwise end with the old
        // instance, and their decoder error counts with them; the others continue.
        std::vector<std::pair<std::string, std::string>> ended;  // exported family, metric (map) name
        if (p.entry) {
          const auto& was_options = options_of(p.config.name);
          const auto was = program_metrics(config_of(*p.entry), was_options);
          const auto now = program_metrics(p.config, p.options);
          for (const auto& m : config_of(*p.entry).metrics) {
            const std::string family = was_options.metric_prefix + m.name;
            const auto kept = now.find(family);
            if (kept == now.end() || kept->second != was.at(family)) ended.emplace_back(family, m.name);
          }
        }
        swap_in(entry, std::move(p.instance), name, [&](CounterGuard& guard) {
          for (const auto& [family, metric] : ended) {
            guard.forget_family(family);
            guard.forget_series("bpfex_program_decoder_errors_total", "metric", metric);
          }
        });
        p.swapped = true;
      } else if (!entry.status.up) {  // new and failed, or down and still down
        entry.status = ModuleStatus{};
        entry.status.name = name;
        entry.status.enabled = true;
        entry.status.reason = p.failed;
      }
      entries.push_back(std::move(entry));
    }
    // The entries left are the programs no longer named: their programs detach, their series go.
    t_.modules.resize(std::min(first, t_.modules.size()));
    for (RunningModule& e : entries) t_.modules.push_back(std::move(e));
  });

  t_.config.program_configs.clear();
  program_options_.clear();
  for (Planned& p : plan) {
    if (p.swapped) {
      const std::string name = programs::module_name(p.config.name);
      log_info(p.entry ? "user program restarted by a reload" : "user program started by a reload", {{"module", name}});
      changed += (changed.empty() ? "" : ",") + name;
    }
    program_options_[p.config.name] = p.options;
    t_.config.program_configs.push_back(std::move(p.config));
  }
  for (const std::string& name : removed) {
    log_info("user program stopped by a reload", {{"module", programs::module_name(name)}});
    changed += (changed.empty() ? "" : ",") + programs::module_name(name);
  }
  t_.config.programs = next_options;
}

std::string Reloader::reload() {
  const std::string file = t_.flags.config_file.value_or("");
  log_info("reloading the configuration", {{"file", file.empty() ? "(built-in defaults)" : file}});
  ConfigResult loaded = file.empty() ? ConfigResult(default_config()) : load_config_file(file);
  std::string error;
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) {
    for (const auto& e : *errors) log_error("reload: configuration error", {{"error", e.str()}});
    error = std::to_string(errors->size()) + " configuration error(s), the first: " + errors->front().str();
  } else if (Status st = apply_flag_overrides(t_.flags, std::get<Config>(loaded)); !st) {
    error = st.error().message;
  } else if (auto fixed = changed_fixed_settings(t_.config, std::get<Config>(loaded)); !fixed.empty()) {
    std::string names;
    for (const auto& n : fixed) names += (names.empty() ? "" : ", ") + n;
    error = "changed settings that take effect only when bpfex starts: " + names + " (restart bpfex)";
  } else if (Config& candidate = std::get<Config>(loaded); !candidate.programs.names.empty()) {
    // Every named program's YAML against its object, as at start: any error and nothing changes.
    auto programs = programs::load_programs(candidate.programs);
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&programs)) {
      for (const auto& e : *errors) log_error("reload: user program configuration error", {{"error", e.str()}});
      error =
          std::to_string(errors->size()) + " user program configuration error(s), the first: " + errors->front().str();
    } else {
      candidate.program_configs = std::get<std::vector<programs::ProgramConfig>>(std::move(programs));
    }
  }
  if (!error.empty()) {
    successful_ = false;
    log_error("configuration reload failed: the running configuration stays", {{"error", error}});
    t_.poller.poll_once();
    return error;
  }

  Config next = std::get<Config>(std::move(loaded));
  std::vector<std::string> failures;
  std::string changed;
  if (next.poll_interval != t_.config.poll_interval) {
    t_.poller.set_interval(next.poll_interval);
    t_.config.poll_interval = next.poll_interval;
    changed = "poll_interval";
  }
  for (size_t i = 0; i < next.modules.size() && i < t_.modules.size(); ++i) {
    const ModuleConfig& was = t_.config.modules[i];
    const ModuleConfig& now = next.modules[i];
    const bool same = was.enabled == now.enabled && emitted(*was.options) == emitted(*now.options);
    // A module that failed to start is tried again by any reload (the cause may be fixed).
    const bool down = now.enabled && !t_.modules[i].status.up;
    if (same && !down) continue;
    if (std::string failed = replace_module(i, now); !failed.empty()) {
      if (same) {
        // Unchanged and down before: still down is no failure of this reload (or every reload on
        // a kernel without the module's hooks would count as failed).
        log_warn("reload: a module that was down is still down", {{"error", failed}});
      } else {
        log_error("reload: a module was not changed", {{"error", failed}});
        failures.push_back(std::move(failed));
      }
      continue;
    }
    t_.config.modules[i] = now;
    changed += (changed.empty() ? "" : ",") + now.name;  // a list as other log values: a,b
  }
  reload_programs(next.program_configs, next.programs, failures, changed);
  t_.http.set_modules(statuses(t_.modules));
  successful_ = failures.empty();
  if (failures.empty()) {
    success_unix_seconds_ = unix_now();
    log_info("configuration reloaded", {{"changed", changed.empty() ? "nothing" : changed}});
  } else {
    error = failures.front() + (failures.size() > 1 ? " (and " + std::to_string(failures.size() - 1) + " more)" : "");
  }
  t_.poller.poll_once();  // the new state is in the next scrape already
  return error;
}

}  // namespace bpfex
