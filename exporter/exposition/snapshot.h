// What /metrics serves: the latest poll's exposition, published by the poller as one immutable
// snapshot and copied by scrapes, which never enter the kernel.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bpfex {

struct Snapshot {
  std::string text;  // text format 0.0.4
  // Modules that run but are not healthy as of this poll: module name, reason.
  std::vector<std::pair<std::string, std::string>> problems;
};

// One writer (the poller), any number of readers (HTTP threads): an atomic swap of immutable
// snapshots, so a slow scrape keeps the snapshot it started with and never blocks a poll.
class SnapshotStore {
 public:
  SnapshotStore() : latest_(std::make_shared<const Snapshot>()) {}
  void publish(std::shared_ptr<const Snapshot> snapshot) { latest_.store(std::move(snapshot)); }
  std::shared_ptr<const Snapshot> latest() const { return latest_.load(); }

 private:
  std::atomic<std::shared_ptr<const Snapshot>> latest_;
};

}  // namespace bpfex
