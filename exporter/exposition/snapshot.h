// What /metrics serves: the latest poll's families, published by the poller as one immutable
// snapshot, and each format's body serialized from them at most once per snapshot (once per poll),
// whatever the number of scrapers: a scrape sends those bytes (without a copy, http/server.cpp) and
// never enters the kernel.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "exposition/negotiation.h"
#include "metrics/families.h"

namespace bpfex {

// A body bpfex serves: a serialization (text 0.0.4, OpenMetrics, protobuf), plain or gzipped.
// Both OpenMetrics versions share one body.
struct BodyKind {
  enum Serialization { text, openmetrics, protobuf } serialization = text;
  Encoding encoding = Encoding::identity;

  static BodyKind of(Format format, Encoding encoding);
  int index() const { return serialization * 2 + (encoding == Encoding::gzip ? 1 : 0); }
};
inline constexpr int kBodyKinds = 6;

class Snapshot {
 public:
  Snapshot() = default;
  // problems: modules that run but are not healthy as of this poll (module name, reason).
  explicit Snapshot(Families families, std::vector<std::pair<std::string, std::string>> problems = {});
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // The body, serialized (and compressed) on first use; thread-safe. The poller builds the kinds
  // scrapers asked for lately before publishing, so that scrapes find them ready.
  const std::string& body(BodyKind kind) const;
  const Families& families() const { return families_; }

  std::vector<std::pair<std::string, std::string>> problems;

 private:
  struct Lazy {
    std::once_flag once;
    std::string bytes;
  };
  Families families_;
  mutable std::array<Lazy, kBodyKinds> bodies_;
};

// One writer (the poller), any number of readers (HTTP threads): an atomic swap of immutable
// snapshots, so a slow scrape keeps the snapshot it started with and never blocks a poll. It also
// remembers which bodies scrapers ask for, for the poller to build them ahead.
class SnapshotStore {
 public:
  SnapshotStore() : latest_(std::make_shared<const Snapshot>()) {}
  void publish(std::shared_ptr<const Snapshot> snapshot) { latest_.store(std::move(snapshot)); }
  std::shared_ptr<const Snapshot> latest() const { return latest_.load(); }

  // A scrape wanted kind now.
  void wanted(BodyKind kind) const;
  // Whether a scrape wanted kind within the window (long enough for any scrape interval).
  bool wanted_lately(BodyKind kind, std::chrono::steady_clock::duration window = std::chrono::minutes(10)) const;

 private:
  std::atomic<std::shared_ptr<const Snapshot>> latest_;
  mutable std::array<std::atomic<int64_t>, kBodyKinds> last_wanted_{};  // steady_clock ticks; 0: never
};

}  // namespace bpfex
