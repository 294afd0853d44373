// The poller thread: every poll interval it reads each module's maps, adds the self-metrics, and
// publishes one immutable snapshot (exposition/snapshot.h). Scrapes only ever copy the latest.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/app.h"
#include "exposition/snapshot.h"

namespace bpfex {

class Poller {
 public:
  // modules, store and workloads must outlive the poller. stats_switch_held: see self_metrics().
  // workloads: the attribution service the modules were started with (null: none).
  Poller(std::vector<RunningModule>& modules, std::chrono::nanoseconds interval, SnapshotStore& store,
         bool stats_switch_held, workload::Workloads* workloads = nullptr);
  ~Poller() { stop(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // One poll on the calling thread (also used before the HTTP server starts, so the first
  // scrape already has data).
  void poll_once();
  void start();
  void stop();

 private:
  void run();

  std::vector<RunningModule>& modules_;
  std::chrono::nanoseconds interval_;
  SnapshotStore& store_;
  bool stats_switch_held_;
  workload::Workloads* workloads_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace bpfex
