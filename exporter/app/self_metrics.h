// bpfex's metrics about itself: build, module health, polls, label overflows, what its BPF programs
// cost the kernel, and the process_* metrics every Prometheus client exports.
#pragma once

#include <vector>

#include "app/app.h"
#include "metrics/families.h"

namespace bpfex {

namespace workload {
class Attribution;
}

// stats_switch_held: bpfex holds BPF_ENABLE_STATS (bpf_stats: true), so run-time stats are on.
// attribution: workload attribution, if any.
Families self_metrics(const std::vector<RunningModule>& modules, bool stats_switch_held,
                      const workload::Attribution* attribution = nullptr);

}  // namespace bpfex
