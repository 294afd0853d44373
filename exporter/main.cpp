// bpfex: loads the configured BPF modules, polls their maps and serves Prometheus metrics.
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "app/app.h"
#include "app/capabilities.h"
#include "app/poller.h"
#include "app/reload.h"
#include "app/signals.h"
#include "base/log.h"
#include "config/config.h"
#include "config/flags.h"
#include "exposition/snapshot.h"
#include "gen/version.h"
#include "http/server.h"
#include "http/web_config.h"
#include "http/web_config_watcher.h"
#include "loader/btf.h"
#include "loader/features.h"
#include "loader/program_stats.h"
#include "loader/skeleton.h"
#include "loader/tracefs.h"
#include "programs/program_config.h"
#include "programs/program_module.h"
#include "programs/suggest.h"
#include "workload/attribution.h"

using namespace bpfex;

namespace {

constexpr int kExitConfigError = 2;

// Drops the capabilities the running modules do not need any more (or as --capabilities.keep
// says) and sets no_new_privs; returns what was kept and why, for the log and the landing page.
std::string drop_privileges(const CapabilitiesKeep& keep, const std::vector<RunningModule>& modules) {
  if (keep.mode == CapabilitiesKeep::Mode::all) {
    log_info("capabilities: all kept (--capabilities.keep=all)");
    return "all capabilities kept (--capabilities.keep=all)";
  }
  uint64_t mask = 0;
  std::string kept;
  auto add = [&](const std::string& name, const std::string& why) {
    const int cap = capability_number(name);
    if (cap < 0 || (mask & (uint64_t{1} << cap))) return;
    mask |= uint64_t{1} << cap;
    kept += (kept.empty() ? "" : "; ") + name + " (" + why + ")";
  };
  if (keep.mode == CapabilitiesKeep::Mode::modules) {
    for (const RunningModule& m : modules)
      if (m.module)
        for (const auto& need : m.module->capabilities_after_start()) add(need.capability, need.why);
  } else if (keep.mode == CapabilitiesKeep::Mode::list) {
    for (int cap = 0; cap < 64; ++cap)
      if (keep.list & (uint64_t{1} << cap)) add(capability_name(cap), "--capabilities.keep");
  }
  // Only what the process has can be kept: the rest of the list is moot.
  mask &= effective_capabilities();
  if (Status st = drop_capabilities(mask); !st) {
    log_error("capabilities: could not drop the ones no longer needed", {{"err", st.error().str()}});
    return "dropping capabilities failed: " + st.error().str();
  }
  const std::string text = kept.empty() ? "none kept" : "kept: " + kept;
  log_info("capabilities dropped after start; no_new_privs set", {{"capabilities", text}});
  return "capabilities " + text + "; no_new_privs set";
}

// --programs.check-attach: loads and attaches every user program (no built-in module), says how each
// went, detaches; 0 when all of them attached.
int check_attach(const Config& config, const std::string& btf_path) {
  Config only_programs = config;
  for (ModuleConfig& m : only_programs.modules) m.enabled = false;
  KernelFeatures features(btf_path);
  ModuleContext context{features, nullptr};
  const std::vector<RunningModule> modules = start_modules(only_programs, context);
  int failed = 0;
  for (const RunningModule& m : modules) {
    if (!m.status.enabled) continue;
    if (m.status.up) {
      std::string attached;
      for (const auto& p : m.status.programs) attached += " " + p.name + "=" + p.attach_point();
      std::fprintf(stderr, "bpfex: %s: attached:%s\n", m.status.name.c_str(), attached.c_str());
    } else {
      ++failed;
      std::fprintf(stderr, "bpfex: %s: failed: %s\n", m.status.name.c_str(), m.status.reason.c_str());
    }
  }
  return failed ? 1 : 0;
}

// A stop asked for during start-up: what was started so far is torn down on the way out.
int stopped_during_startup() {
  log_info("stopped during start-up");
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  // First, before any other thread exists: every thread inherits the blocked signals.
  Signals signals;

  // bpfex programs suggest OBJ.bpf.o: a starter YAML for a user program (README "User programs").
  if (argc >= 2 && std::string(argv[1]) == "programs") {
    if (argc != 4 || std::string(argv[2]) != "suggest") {
      std::fprintf(stderr, "usage: bpfex programs suggest OBJECT.bpf.o\n");
      return kExitConfigError;
    }
    auto yaml = programs::suggest_config(argv[3]);
    if (!yaml) {
      std::fprintf(stderr, "bpfex: error: %s\n", yaml.error().str().c_str());
      return 1;
    }
    std::fputs(yaml->c_str(), stdout);
    return 0;
  }
  auto flags = parse_flags(std::vector<std::string>(argv + 1, argv + argc));
  if (!flags) {
    std::fprintf(stderr, "bpfex: error: %s (see --help)\n", flags.error().message.c_str());
    return kExitConfigError;
  }
  if (flags->help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (flags->version) {
    std::printf("bpfex version %s (revision %s)\n", BPFEX_VERSION, BPFEX_REVISION);
    return 0;
  }
  set_log_level(flags->log_level);

  ConfigResult loaded = flags->config_file ? load_config_file(*flags->config_file) : ConfigResult(default_config());
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) {
    for (const auto& e : *errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    std::fprintf(stderr, "bpfex: %zu configuration error(s); nothing started\n", errors->size());
    return kExitConfigError;
  }
  Config config = std::get<Config>(std::move(loaded));
  if (Status st = apply_flag_overrides(*flags, config); !st) {
    std::fprintf(stderr, "bpfex: error: %s\n", st.error().message.c_str());
    return kExitConfigError;
  }
  install_libbpf_logger();  // before anything calls libbpf: its messages go to our log
  // User programs: every error of every named program's YAML and object at once, like the config's.
  if (!config.programs.names.empty()) {
    auto programs = programs::load_programs(config.programs);
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&programs)) {
      for (const auto& e : *errors) std::fprintf(stderr, "%s\n", e.str().c_str());
      std::fprintf(stderr, "bpfex: %zu user program configuration error(s); nothing started\n", errors->size());
      return kExitConfigError;
    }
    config.program_configs = std::get<std::vector<programs::ProgramConfig>>(std::move(programs));
    for (const auto& p : config.program_configs) programs::warn_if_tracing(p);
  }
  if (flags->btf_path) {
    if (Status st = check_btf_file(*flags->btf_path); !st) {
      std::fprintf(stderr, "bpfex: error: flag --btf.path: %s\n", st.error().str().c_str());
      return kExitConfigError;
    }
  }
  CapabilitiesKeep keep;
  if (flags->capabilities_keep) {
    auto k = parse_capabilities_keep(*flags->capabilities_keep);
    if (!k) {
      std::fprintf(stderr, "bpfex: error: flag --capabilities.keep: %s\n", k.error().message.c_str());
      return kExitConfigError;
    }
    keep = k.value();
  }
  // The web configuration is checked like the main one, before anything starts.
  std::optional<LoadedWebConfig> web;
  if (flags->web_config_file) {
    auto loaded = load_web_config(*flags->web_config_file);
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) {
      for (const auto& e : *errors) std::fprintf(stderr, "%s\n", e.str().c_str());
      std::fprintf(stderr, "bpfex: %zu web configuration error(s); nothing started\n", errors->size());
      return kExitConfigError;
    }
    web = std::get<LoadedWebConfig>(std::move(loaded));
  }
  if (flags->config_check) {
    std::fputs(dump_config(config).c_str(), stdout);
    if (web)
      std::fprintf(stderr, "bpfex: web configuration from %s is valid (TLS %s, %zu basic auth users)\n",
                   flags->web_config_file->c_str(), web->config.tls ? "on" : "off",
                   web->config.basic_auth_users.size());
    std::fprintf(stderr, "bpfex: configuration from %s is valid\n", config.source.c_str());
    if (flags->programs_check_attach) return check_attach(config, flags->btf_path.value_or(""));
    return 0;
  }

  log_info("starting bpfex", {{"version", BPFEX_VERSION}, {"revision", BPFEX_REVISION}, {"config", config.source}});
  // Privileges first: without them every flavour fails, and tracefs' mode is beside the point.
  if (auto missing = missing_bpf_capabilities(effective_capabilities()); !missing.empty()) {
    std::string names;
    for (const auto& n : missing) names += (names.empty() ? "" : ",") + n;
    log_error("bpfex lacks the privileges to load BPF programs: every module will fail",
              {{"missing", names}, {"hint", kBpfPrivilegeHint}});
  } else if (std::string hint = tracefs_hint(); !hint.empty()) {
    log_warn("tracepoint attach points are unavailable", {{"hint", hint}});
  }
  const std::string btf_path = flags->btf_path.value_or("");
  if (std::string hint = missing_btf_hint(btf_path); !hint.empty())
    log_error("the BPF programs cannot be relocated for this kernel: every module will fail", {{"hint", hint}});
  else if (!btf_path.empty())
    log_info("BTF for CO-RE from --btf.path", {{"path", btf_path}});

  std::optional<BpfStatsSwitch> stats_switch;
  if (config.bpf_stats) {
    auto s = BpfStatsSwitch::enable();
    if (s) {
      stats_switch.emplace(std::move(s.value()));
      log_info("kernel BPF run-time stats enabled for bpfex's lifetime (costs each BPF program run ~20ns)");
    } else {
      log_warn(
          "could not enable kernel BPF stats; bpfex_bpf_program_run* will not advance",
          {{"err", s.error().str()},
           {"hint",
            "BPF_ENABLE_STATS needs CAP_SYS_ADMIN; without it, set sysctl kernel.bpf_stats_enabled=1 on the host"}});
    }
  }

  KernelFeatures features(btf_path);
  // Workload attribution needs the cgroup v2 hierarchy; without it modules count without workload labels.
  std::unique_ptr<workload::Attribution> attribution = workload::Attribution::start(config.attribution);
  if (signals.stopping()) return stopped_during_startup();
  ModuleContext context{features, attribution ? &attribution->workloads() : nullptr, config.native_histogram_schema};
  std::vector<RunningModule> modules = start_modules(config, context, [&] { return signals.stopping(); });
  if (signals.stopping()) return stopped_during_startup();
  if (config.programs.strict)
    for (const RunningModule& m : modules)
      if (m.status.enabled && !m.status.up && m.status.name.starts_with("program:")) {
        log_error("programs.strict: a user program did not start; exiting", {{"module", m.status.name}});
        return 1;
      }

  SnapshotStore snapshots;
  Poller poller(modules, config.poll_interval, snapshots, stats_switch.has_value(), attribution.get());
  HttpLimits limits;
  limits.max_requests = config.max_requests;
  HttpServer http(snapshots, statuses(modules), config.telemetry_path, limits);
  Reloader reloader({*flags, config, modules, context, poller, http});
  poller.add_self_metrics([&] { return reloader.metrics(); });
  poller.poll_once();
  if (flags->enable_lifecycle)
    http.enable_lifecycle([&](HttpServer::ReloadDone done) { reloader.request(std::move(done)); });
  if (Status st = http.start(config.listen_address, web ? web->config : WebConfig{}); !st) {
    log_error("cannot serve HTTP", {{"err", st.error().str()}});
    return 1;
  }
  // Everything that needed privilege is done (modules attached, listener bound, even below port
  // 1024): keep only what the running modules still need.
  http.describe_privileges(drop_privileges(keep, modules));
  std::optional<WebConfigWatcher> web_watcher;
  if (web) {
    web_watcher.emplace(*flags->web_config_file, *web, [&](const WebConfig& w) { return http.apply(w); });
    log_info("web config", {{"file", *flags->web_config_file},
                            {"tls", web->config.tls ? "on" : "off"},
                            {"basic_auth_users", std::to_string(web->config.basic_auth_users.size())}});
  }
  poller.start();
  signals.on_reload([&] { reloader.request(); });
  signals.started();
  log_info("serving metrics", {{"address", config.listen_address}, {"path", config.telemetry_path}});

  const int sig = signals.wait_for_stop();
  log_info("shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  signals.on_reload({});
  reloader.stop();  // a reload under way ends first: it may be starting a module
  web_watcher.reset();
  http.stop();
  poller.stop();
  modules.clear();  // detaches links and frees BPF objects
  return 0;
}

// Exceptions are for what cannot be recovered (allocation failure); say so instead of aborting mutely.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bpfex: fatal: %s\n", e.what());
    return 1;
  }
}
