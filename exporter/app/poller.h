// The poller thread: every poll interval it reads each module's maps, adds the self-metrics, and
// publishes one immutable snapshot (exposition/snapshot.h). Scrapes only ever copy the latest.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/app.h"
#include "exposition/snapshot.h"

namespace bpfex {

namespace workload {
class Attribution;
}

class Poller {
 public:
  // modules, store and attribution must outlive the poller. stats_switch_held: see self_metrics().
  // attribution: what the modules were started with (null: none).
  Poller(std::vector<RunningModule>& modules, std::chrono::nanoseconds interval, SnapshotStore& store,
         bool stats_switch_held, workload::Attribution* attribution = nullptr);
  ~Poller() { stop(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // One poll on the calling thread (also used before the HTTP server starts, so the first
  // scrape already has data).
  void poll_once();
  void start();
  void stop();
  // Runs f while no poll reads the modules (a reload replaces some of them).
  template <class F>
  void with_modules(F&& f) {
    std::lock_guard lock(modules_mutex_);
    f();
  }
  // From the next tick on (poll_interval changed by a reload).
  void set_interval(std::chrono::nanoseconds interval);
  // More self-metrics, added to every snapshot (call before start()).
  void add_self_metrics(std::function<Families()> source) { extra_self_.push_back(std::move(source)); }

 private:
  void run();

  std::vector<RunningModule>& modules_;
  std::chrono::nanoseconds interval_;
  SnapshotStore& store_;
  bool stats_switch_held_;
  workload::Attribution* attribution_;
  std::vector<std::function<Families()>> extra_self_;
  // Self-metric counters (program run counts, overflows) of a module restarted by a reload start
  // over in the kernel: guarded like the modules' own. A module disabled takes its series along.
  CounterGuard self_guard_;
  std::mutex modules_mutex_;  // held by a poll, and by a reload while it swaps modules
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point next_;  // the next tick; guarded by mutex_
};

}  // namespace bpfex
