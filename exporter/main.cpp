// bpfex: loads the configured BPF modules, polls their maps and serves Prometheus metrics.
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "app/app.h"
#include "app/poller.h"
#include "app/signals.h"
#include "base/log.h"
#include "config/config.h"
#include "config/flags.h"
#include "exposition/snapshot.h"
#include "gen/version.h"
#include "http/server.h"
#include "loader/btf.h"
#include "loader/features.h"
#include "loader/program_stats.h"
#include "loader/skeleton.h"
#include "loader/tracefs.h"
#include "workload/attribution.h"

using namespace bpfex;

namespace {

constexpr int kExitConfigError = 2;

// A stop asked for during start-up: what was started so far is torn down on the way out.
int stopped_during_startup() {
  log_info("stopped during start-up");
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  // First, before any other thread exists: every thread inherits the blocked signals.
  Signals signals;

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
  if (flags->btf_path) {
    if (Status st = check_btf_file(*flags->btf_path); !st) {
      std::fprintf(stderr, "bpfex: error: flag --btf.path: %s\n", st.error().str().c_str());
      return kExitConfigError;
    }
  }
  if (flags->config_check) {
    std::fputs(dump_config(config).c_str(), stdout);
    std::fprintf(stderr, "bpfex: configuration from %s is valid\n", config.source.c_str());
    return 0;
  }

  log_info("starting bpfex", {{"version", BPFEX_VERSION}, {"revision", BPFEX_REVISION}, {"config", config.source}});
  if (std::string hint = tracefs_hint(); !hint.empty())
    log_warn("tracepoint attach points are unavailable", {{"hint", hint}});
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

  SnapshotStore snapshots;
  Poller poller(modules, config.poll_interval, snapshots, stats_switch.has_value(), attribution.get());
  poller.poll_once();
  HttpLimits limits;
  limits.max_requests = config.max_requests;
  HttpServer http(snapshots, statuses(modules), config.telemetry_path, limits);
  if (Status st = http.start(config.listen_address); !st) {
    log_error("cannot serve HTTP", {{"err", st.error().str()}});
    return 1;
  }
  poller.start();
  signals.started();
  log_info("serving metrics", {{"address", config.listen_address}, {"path", config.telemetry_path}});

  const int sig = signals.wait_for_stop();
  log_info("shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
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
