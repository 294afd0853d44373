// bpf_prog_info run counters, the bpf_stats_enabled sysctl and BPF_ENABLE_STATS.
#include "loader/program_stats.h"

#include <bpf/bpf.h>

#include <fstream>

namespace bpfex {

Result<ProgramRunStats> program_run_stats(int prog_fd) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return errno_error("bpf_prog_info");
  return ProgramRunStats{info.run_cnt, info.run_time_ns};
}

bool kernel_bpf_stats_enabled() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  int v = 0;
  return (in >> v) && v != 0;
}

Result<BpfStatsSwitch> BpfStatsSwitch::enable() {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) return errno_error("enable BPF run-time stats (BPF_ENABLE_STATS)", fd);
  return BpfStatsSwitch(Fd(fd));
}

}  // namespace bpfex
