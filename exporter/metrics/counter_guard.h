// Counters that never go down while bpfex runs, whatever happens to the kernel map entries behind
// them.
#pragma once

#include <map>
#include <string>

#include "metrics/families.h"

namespace bpfex {

// Keeps every counter (and histogram count, sum and bucket) that a module reports from ever going
// down while bpfex runs: when a kernel map entry is evicted and re-created, its raw value restarts
// near zero; the guard adds what had been seen before. Series that vanish keep their last value,
// unless retire_vanished is set: then they are dropped and forgotten (a series that comes back
// later starts from its new raw value, which Prometheus sees as a counter reset).
class CounterGuard {
 public:
  void apply(Families& families, bool retire_vanished = false);
  // The module behind the series was replaced by a new instance (a configuration reload), whose
  // maps count from zero and had already counted `baseline` (read right after the old instance's
  // last reading): from now on every series continues from what was last reported, plus what the
  // new instance counts beyond its baseline. Nothing is counted twice, nothing goes down.
  void restart(const Families& baseline);
  size_t tracked_series() const { return series_.size(); }

 private:
  struct Series {
    double last_raw = 0;
    double offset = 0;
  };
  double guard(const std::string& key, double raw);
  std::map<std::string, Series> series_;
  // Last reported metrics per family, to re-emit series that vanished.
  std::map<std::string, std::map<std::string, prometheus::ClientMetric>> last_;
};

}  // namespace bpfex
