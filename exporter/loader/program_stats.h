// Kernel-side cost of our programs (run count and run time from bpf_prog_info) and the switch
// that makes the kernel collect them.
#pragma once

#include <cstdint>

#include "base/fd.h"
#include "base/result.h"

namespace bpfex {

struct ProgramRunStats {
  uint64_t runs = 0;
  uint64_t run_time_ns = 0;
};

Result<ProgramRunStats> program_run_stats(int prog_fd);

// Whether the kernel currently accounts program run time (kernel.bpf_stats_enabled, or any
// process holding a BPF_ENABLE_STATS fd).
bool kernel_bpf_stats_enabled();

// Holds BPF_ENABLE_STATS(BPF_STATS_RUN_TIME) for its lifetime. Costs every BPF program run on the
// host about 20 ns (two clock reads), which is why it is off by default.
class BpfStatsSwitch {
 public:
  static Result<BpfStatsSwitch> enable();

 private:
  explicit BpfStatsSwitch(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace bpfex
