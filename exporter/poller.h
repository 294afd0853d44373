// The poller thread: every poll interval it reads each module's maps and publishes one immutable
// snapshot (the text exposition) by atomic swap. Scrapes only ever copy the latest snapshot.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "metrics.h"
#include "modules/module.h"

namespace bpfex {

// A module as bpfex runs it. name/enabled/up/reason/programs are fixed once startup is over and
// may be read from any thread; the rest belongs to the poller thread.
struct ModuleInstance {
  std::string name;
  bool enabled = false;
  bool up = false;
  std::string reason;  // why it is down
  std::vector<LoadedProgram> programs;
  std::unique_ptr<Module> module;

  uint64_t poll_errors = 0;
  double last_poll_seconds = 0;
  Families last_families;  // served again when a read fails
  std::optional<uint64_t> label_overflows;
  CounterGuard guard;
};

struct Snapshot {
  std::string text;
  std::chrono::system_clock::time_point taken;
};

class Poller {
 public:
  Poller(std::vector<ModuleInstance>& modules, std::chrono::nanoseconds interval, bool holds_stats_switch);
  ~Poller() { stop(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // One poll on the calling thread (also used before the HTTP server starts, so the first
  // scrape already has data).
  void poll_once();
  void start();
  void stop();
  std::shared_ptr<const Snapshot> latest() const { return latest_.load(); }

 private:
  void run();
  Families self_metrics() const;

  std::vector<ModuleInstance>& modules_;
  std::chrono::nanoseconds interval_;
  bool holds_stats_switch_;
  std::atomic<std::shared_ptr<const Snapshot>> latest_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace bpfex
