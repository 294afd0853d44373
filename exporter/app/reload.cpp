// The reload: read, compare with what runs, replace only what changed.
#include "app/reload.h"

#include <yaml-cpp/yaml.h>

#include <chrono>

#include "app/capabilities.h"
#include "app/poller.h"
#include "base/log.h"
#include "http/server.h"
#include "programs/program_config.h"
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
  // User programs are loaded at start only: replacing one would mean matching its old series to
  // the new YAML's, which may rename or relabel them (README "Reloading the configuration").
  if (emitted("programs", running.programs) != emitted("programs", next.programs)) {
    changed.emplace_back("programs");
  } else if (auto files = programs::changed_files(running.program_configs); !files.empty()) {
    std::string list;
    for (const auto& f : files) list += (list.empty() ? "" : ", ") + f;
    changed.emplace_back("programs (changed files: " + list + ")");
  }
  return changed;
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
  const std::string keeps = running.status.up ? "it keeps running with its previous options" : "it stays down";
  std::unique_ptr<Module> instance = find_module_spec(next.name)->create(*next.options);
  if (std::string missing = missing_capabilities(*instance); !missing.empty())
    return "module " + next.name + ": starting it needs " + missing +
           ", dropped after start (--capabilities.keep=all keeps them for reloads); " + keeps;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return "module " + next.name + ": not restarted, bpfex is stopping; " + keeps;
  }
  // The new instance starts while the old one still counts: no event falls between the two.
  if (Status st = instance->start(t_.context); !st)
    return "module " + next.name + ": " + st.error().str() + "; " + keeps;
  t_.poller.with_modules([&] {
    // The old instance's last values, and what the new one counted meanwhile (subtracted: those
    // events are in the old values). Only the time of one map read separates the two readings.
    if (running.module) {
      ModuleReading last;
      if (running.module->read(last))
        running.guard.apply(last.families, last.retire_vanished_series);
      else
        log_warn("reload: the replaced module's last reading failed; counts since the last poll are lost",
                 {{"module", next.name}});
      running.module.reset();
    }
    // Per-workload series are summed from per-cgroup kernel entries by the shared rollup: it carries
    // the old instance's part itself and takes the new one's first reading as its baseline.
    if (t_.context.workloads) t_.context.workloads->restart_families(next.name + "_");
    ModuleReading baseline;
    if (!instance->read(baseline)) baseline.families.clear();
    running.guard.restart(baseline.families);
    running.module = std::move(instance);
    running.status = ModuleStatus{};
    running.status.name = next.name;
    running.status.enabled = true;
    running.status.up = true;
    running.status.programs = running.module->programs();
    running.problem.clear();
  });
  log_info("module restarted by a reload", {{"module", next.name}});
  return {};
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
    changed += "poll_interval ";
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
