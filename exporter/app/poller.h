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

 private:
  void run();

  std::vector<RunningModule>& modules_;
  std::chrono::nanoseconds interval_;
  SnapshotStore& store_;
  bool stats_switch_held_;
  workload::Attribution* attribution_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace bpfex
