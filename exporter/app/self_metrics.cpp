// The catalogue of bpfex_* self-metrics: one place names and explains each of them.
#include "app/self_metrics.h"

#include "app/process_metrics.h"
#include "gen/version.h"
#include "loader/program_stats.h"
#include "workload/attribution.h"

namespace bpfex {

Families self_metrics(const std::vector<RunningModule>& modules, bool stats_switch_held,
                      const workload::Attribution* attribution) {
  auto build = gauge_family("bpfex_build_info",
                            "A metric with a constant '1' value labeled by bpfex's version and git revision.",
                            {"version", "revision"});
  build.add({BPFEX_VERSION, BPFEX_REVISION}, 1);
  auto up = gauge_family("bpfex_module_up",
                         "Whether an enabled module is loaded and attached (1) or failed to start (0, see the log).",
                         {"module"});
  auto duration =
      gauge_family("bpfex_poll_duration_seconds", "Time the last poll spent reading the module's maps.", {"module"});
  auto errors =
      counter_family("bpfex_poll_errors_total", "Polls in which reading the module's maps failed.", {"module"});
  auto overflow = counter_family(
      "bpfex_label_overflow_total",
      "Observations counted under the label value \"other\" because a label cap was reached.", {"module"});
  const char* stats_note =
      " Advances only while kernel BPF stats are on: sysctl kernel.bpf_stats_enabled=1, or bpf_stats: true in the "
      "config.";
  auto runs = counter_family("bpfex_bpf_program_runs_total",
                             std::string("Times the kernel ran the BPF program.") + stats_note, {"module", "program"});
  auto run_time =
      counter_family("bpfex_bpf_program_run_seconds_total",
                     std::string("Time the kernel spent running the BPF program.") + stats_note, {"module", "program"});
  for (const RunningModule& m : modules) {
    const ModuleStatus& st = m.status;
    if (!st.enabled) continue;
    up.add({st.name}, st.up && m.problem.empty() ? 1 : 0);
    if (!st.up) continue;
    duration.add({st.name}, m.last_poll_seconds);
    errors.add({st.name}, static_cast<double>(m.poll_errors));
    if (m.label_overflows) overflow.add({st.name}, static_cast<double>(*m.label_overflows));
    for (const LoadedProgram& p : st.programs) {
      auto s = program_run_stats(p.fd);
      if (!s) continue;
      runs.add({st.name, p.name}, static_cast<double>(s->runs));
      run_time.add({st.name, p.name}, static_cast<double>(s->run_time_ns) / 1e9);
    }
  }
  auto stats_on =
      gauge_family("bpfex_bpf_stats_enabled", "Whether the kernel is accounting BPF program run time (1) or not (0).");
  stats_on.add({}, (stats_switch_held || kernel_bpf_stats_enabled()) ? 1 : 0);
  Families out = {build.build(),    up.build(),   duration.build(), errors.build(),
                  overflow.build(), runs.build(), run_time.build(), stats_on.build()};
  if (attribution) {
    const workload::Workloads& workloads = attribution->workloads();
    auto exported = gauge_family("bpfex_attribution_workloads",
                                 "Workloads exported with series of their own (at most attribution.max_workloads).");
    exported.add({}, static_cast<double>(workloads.exported()));
    auto unresolved = counter_family("bpfex_attribution_unresolved_cgroups_total",
                                     "cgroups that were gone before their path could be read; their counts are in "
                                     "cgroup=\"other\".");
    unresolved.add({}, static_cast<double>(workloads.unresolved()));
    auto walks = counter_family("bpfex_attribution_cgroup_walks_total",
                                "Walks of the cgroup v2 hierarchy to find the paths of new cgroup IDs.");
    walks.add({}, static_cast<double>(workloads.paths().walks()));
    out.push_back(exported.build());
    out.push_back(unresolved.build());
    out.push_back(walks.build());
  }
  if (const workload::KubeletPods* kubelet = attribution ? attribution->kubelet() : nullptr) {
    const workload::KubeletPods::Stats s = kubelet->stats();
    auto refreshes = counter_family("bpfex_attribution_kubelet_refreshes_total",
                                    "Successful reads of the kubelet's /pods (pod and container names).");
    refreshes.add({}, static_cast<double>(s.refreshes));
    auto errors = counter_family("bpfex_attribution_kubelet_errors_total",
                                 "Failed reads of the kubelet's /pods, by reason (the log says more); pods it "
                                 "does not name meanwhile are labelled by their cgroup.",
                                 {"reason"});
    for (workload::KubeletError e : workload::kKubeletErrors) {
      const auto it = s.errors.find(e);
      errors.add({std::string(workload::kubelet_error_name(e))},
                 it == s.errors.end() ? 0 : static_cast<double>(it->second));
    }
    auto pods = gauge_family("bpfex_attribution_kubelet_pods", "Pods in the kubelet's last good answer.");
    pods.add({}, static_cast<double>(s.pods));
    out.push_back(refreshes.build());
    out.push_back(errors.build());
    out.push_back(pods.build());
    auto last = gauge_family("bpfex_attribution_kubelet_last_success_timestamp_seconds",
                             "When the kubelet's /pods was last read successfully, in seconds since the epoch (0: "
                             "never).");
    last.add({}, s.last_success_unix_seconds.value_or(0));
    out.push_back(last.build());
  }
  Families process = process_metrics();
  out.insert(out.end(), std::make_move_iterator(process.begin()), std::make_move_iterator(process.end()));
  return out;
}

}  // namespace bpfex
