// The poll loop: read every module, guard its counters, serialize once, publish; ticks skipped, never bunched.
#include "app/poller.h"

#include "app/self_metrics.h"
#include "base/log.h"
#include "exposition/text_format.h"
#include "workload/attribution.h"

namespace bpfex {

Poller::Poller(std::vector<RunningModule>& modules, std::chrono::nanoseconds interval, SnapshotStore& store,
               bool stats_switch_held, workload::Attribution* attribution)
    : modules_(modules),
      interval_(interval),
      store_(store),
      stats_switch_held_(stats_switch_held),
      attribution_(attribution) {}

void Poller::poll_once() {
  std::lock_guard modules_lock(modules_mutex_);
  // Dead cgroups and workload ages first, so that every module's reading sees the same workloads.
  if (attribution_) attribution_->begin_poll(std::chrono::steady_clock::now());
  Families all;
  for (RunningModule& m : modules_) {
    if (!m.status.up) continue;
    auto t0 = std::chrono::steady_clock::now();
    ModuleReading reading;
    Status st = m.module->read(reading);
    m.last_poll_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (st) {
      m.guard.apply(reading.families, reading.retire_vanished_series);
      m.last_families = std::move(reading.families);
      m.label_overflows = reading.label_overflows;
      if (reading.problem != m.problem) {
        if (reading.problem.empty())
          log_info("module healthy again", {{"module", m.status.name}});
        else
          log_warn("module unhealthy", {{"module", m.status.name}, {"reason", reading.problem}});
        m.problem = std::move(reading.problem);
      }
    } else {
      ++m.poll_errors;
      // Keep serving the last good values: a counter must not vanish or drop because one read failed.
      log_warn("module read failed", {{"module", m.status.name}, {"err", st.error().str()}});
    }
    all.insert(all.end(), m.last_families.begin(), m.last_families.end());
  }
  Families self = self_metrics(modules_, stats_switch_held_, attribution_);
  for (const auto& source : extra_self_) {
    Families more = source();
    self.insert(self.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  self_guard_.apply(self, /*retire_vanished=*/true);
  all.insert(all.end(), std::make_move_iterator(self.begin()), std::make_move_iterator(self.end()));
  auto snap = std::make_shared<Snapshot>();
  snap->text = serialize_text(all);
  for (const RunningModule& m : modules_)
    if (!m.problem.empty()) snap->problems.emplace_back(m.status.name, m.problem);
  store_.publish(std::move(snap));
}

void Poller::start() {
  thread_ = std::thread([this] { run(); });
}

void Poller::run() {
  std::unique_lock lock(mutex_);
  next_ = std::chrono::steady_clock::now() + interval_;
  while (!stopping_) {
    // next_ may move earlier while waiting (a shorter interval): wait again for the new time.
    const auto until = next_;
    if (wake_.wait_until(lock, until, [&] { return stopping_ || next_ != until; })) {
      if (stopping_) break;
      continue;
    }
    lock.unlock();
    poll_once();
    lock.lock();
    next_ += interval_;
    auto now = std::chrono::steady_clock::now();
    if (next_ < now) next_ = now + interval_;  // a slow poll: skip ticks instead of bursting
  }
}

void Poller::set_interval(std::chrono::nanoseconds interval) {
  {
    std::lock_guard lock(mutex_);
    next_ = std::chrono::steady_clock::now() + interval;
    interval_ = interval;
  }
  wake_.notify_all();
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
