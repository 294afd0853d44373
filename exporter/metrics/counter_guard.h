// Counters that never go down while bpfex runs, whatever happens to the kernel map entries behind
// them.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "metrics/families.h"

namespace bpfex {

// Keeps every counter and histogram (bucket counts and sum) that a module reports from ever going
// down while bpfex runs: when a kernel map entry is evicted and re-created, its raw values restart
// near zero; the guard adds what had been seen before. A histogram restarts as a whole (one kernel
// row): when any of its counts or its sum went down, every one of them is offset by its last value,
// so that buckets that happened to grow past their old count in the meantime keep it too. Series
// that vanish keep their last value, unless retire_vanished is set: then they are dropped and
// forgotten (a series that comes back later starts from its new raw value, which Prometheus sees
// as a counter reset).
class CounterGuard {
 public:
  void apply(Families& families, bool retire_vanished = false);
  // The module behind the series was replaced by a new instance (a configuration reload), whose
  // maps count from zero and had already counted `baseline` (read right after the old instance's
  // last reading): from now on every series continues from what was last reported, plus what the
  // new instance counts beyond its baseline. Nothing is counted twice, nothing goes down.
  void restart(const Families& baseline);
  // The family's series end here, whatever they were: a reload gave its module a definition
  // without it (a user program's metric renamed, dropped, relabeled or rebucketed).
  void forget_family(const std::string& name) { families_.erase(name); }
  // The family's series with label=value end here (that metric's bpfex_program_decoder_errors_total).
  void forget_series(const std::string& family, const std::string& label, const std::string& value);
  size_t tracked_series() const;

 private:
  struct Series {
    std::vector<double> last_raw;
    std::vector<double> offset;
    Metric last;  // as last reported (guarded), to report it again if it vanishes
    bool present = false;
    // Carried over a restart() and not seen in the new instance's maps since: the new instance
    // starts empty, so absence says nothing about the subject (a disk with no I/O since the reload);
    // reported as it was rather than retired, which would lose its counts when it comes back.
    bool carried = false;
  };
  // Gives s the shape of m's raw values (n of them): a new series starts at zero; a histogram whose
  // bucket range changed (a reload changed min_bucket or max_bucket) carries its values over.
  static void fit(Series& s, const MetricFamily& f, const Metric& m, size_t n);
  // family name -> label key -> series
  std::map<std::string, std::unordered_map<std::string, Series>> families_;
};

}  // namespace bpfex
