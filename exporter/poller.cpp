#include "poller.h"

#include "bpf/stats.h"
#include "log.h"
#include "process_metrics.h"
#include "version.h"

namespace bpfex {

Poller::Poller(std::vector<ModuleInstance>& modules, std::chrono::nanoseconds interval, bool holds_stats_switch)
    : modules_(modules), interval_(interval), holds_stats_switch_(holds_stats_switch) {
  latest_.store(std::make_shared<const Snapshot>());
}

void Poller::poll_once() {
  Families all;
  for (ModuleInstance& m : modules_) {
    if (!m.up) continue;
    auto t0 = std::chrono::steady_clock::now();
    ModuleReading reading;
    Status st = m.module->read(reading);
    m.last_poll_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (st) {
      m.guard.apply(reading.families, reading.retire_vanished_series);
      m.last_families = std::move(reading.families);
      m.label_overflows = reading.label_overflows;
    } else {
      ++m.poll_errors;
      // Keep serving the last good values: a counter must not vanish or drop because one read failed.
      log_warn("module read failed", {{"module", m.name}, {"err", st.error().str()}});
    }
    all.insert(all.end(), m.last_families.begin(), m.last_families.end());
  }
  Families self = self_metrics();
  all.insert(all.end(), std::make_move_iterator(self.begin()), std::make_move_iterator(self.end()));
  auto snap = std::make_shared<Snapshot>();
  snap->text = serialize_text(all);
  snap->taken = std::chrono::system_clock::now();
  latest_.store(std::move(snap));
}

Families Poller::self_metrics() const {
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
  for (const ModuleInstance& m : modules_) {
    if (!m.enabled) continue;
    up.add({m.name}, m.up ? 1 : 0);
    if (!m.up) continue;
    duration.add({m.name}, m.last_poll_seconds);
    errors.add({m.name}, static_cast<double>(m.poll_errors));
    if (m.label_overflows) overflow.add({m.name}, static_cast<double>(*m.label_overflows));
    for (const LoadedProgram& p : m.programs) {
      auto s = program_run_stats(p.fd);
      if (!s) continue;
      runs.add({m.name, p.name}, static_cast<double>(s->runs));
      run_time.add({m.name, p.name}, static_cast<double>(s->run_time_ns) / 1e9);
    }
  }
  auto stats_on =
      gauge_family("bpfex_bpf_stats_enabled", "Whether the kernel is accounting BPF program run time (1) or not (0).");
  stats_on.add({}, (holds_stats_switch_ || kernel_bpf_stats_enabled()) ? 1 : 0);
  Families out = {build.build(),    up.build(),   duration.build(), errors.build(),
                  overflow.build(), runs.build(), run_time.build(), stats_on.build()};
  Families process = process_metrics();
  out.insert(out.end(), std::make_move_iterator(process.begin()), std::make_move_iterator(process.end()));
  return out;
}

void Poller::start() {
  thread_ = std::thread([this] { run(); });
}

void Poller::run() {
  auto next = std::chrono::steady_clock::now() + interval_;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (wake_.wait_until(lock, next, [this] { return stopping_; })) break;
    lock.unlock();
    poll_once();
    lock.lock();
    next += interval_;
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + interval_;  // a slow poll: skip ticks instead of bursting
  }
}

void Poller::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace bpfex
