// process_* metrics from /proc/self/stat, /proc/self/fd and getrlimit.
#include "app/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace bpfex {
namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
  bool ok = false;
};

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

ProcStat read_proc_self_stat() {
  ProcStat out;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return out;
  // comm (field 2) may contain spaces and parentheses: fields restart after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream fields(line.substr(close + 2));
  std::string f[24];
  for (auto& x : f)
    if (!(fields >> x)) return out;
  // Counting from field 3 (state) as f[0]: utime=14, stime=15, starttime=22, vsize=23, rss=24.
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  out.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  out.start_time_seconds = boot_time_seconds() + std::stod(f[19]) / ticks;
  out.virtual_bytes = std::stod(f[20]);
  out.resident_bytes = std::stod(f[21]) * page;
  out.ok = true;
  return out;
}

}  // namespace

Families process_metrics() {
  Families out;
  ProcStat st = read_proc_self_stat();
  if (st.ok) {
    auto cpu = counter_family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
    cpu.add({}, st.cpu_seconds);
    auto rss = gauge_family("process_resident_memory_bytes", "Resident memory size in bytes.");
    rss.add({}, st.resident_bytes);
    auto vsz = gauge_family("process_virtual_memory_bytes", "Virtual memory size in bytes.");
    vsz.add({}, st.virtual_bytes);
    auto start = gauge_family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.");
    start.add({}, st.start_time_seconds);
    out.push_back(cpu.build());
    out.push_back(rss.build());
    out.push_back(vsz.build());
    out.push_back(start.build());
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++fds;
  auto open_fds = gauge_family("process_open_fds", "Number of open file descriptors.");
  open_fds.add({}, fds);
  out.push_back(open_fds.build());
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    auto max_fds = gauge_family("process_max_fds", "Maximum number of open file descriptors.");
    max_fds.add({}, static_cast<double>(lim.rlim_cur));
    out.push_back(max_fds.build());
  }
  return out;
}

}  // namespace bpfex
