// capset on every thread: a real-time signal to each, whose handler makes the same system calls
// the calling thread makes, then a check of /proc/self/task/*/status.
#include "app/capabilities.h"
#include "base/quote.h"

#include <dirent.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

namespace bpfex {
namespace {

// The capabilities by their number (linux/capability.h; CAP_LAST_CAP of Linux 6.x is 40).
constexpr const char* kNames[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

int last_cap() {
  std::ifstream f("/proc/sys/kernel/cap_last_cap");
  int n = 40;
  f >> n;
  return n < 0 || n > 63 ? 40 : n;
}

// What every thread does, in the signal handler or itself: only system calls (async-signal-safe).
struct Plan {
  uint64_t keep = 0;
  int last = 40;
  __user_cap_data_struct data[2] = {};
};
Plan g_plan;
std::atomic<int> g_done{0};
std::atomic<int> g_failed{0};

void apply_plan() {
  for (int cap = 0; cap <= g_plan.last; ++cap)
    if (!(g_plan.keep & (uint64_t{1} << cap))) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);  // EPERM without SETPCAP
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {g_plan.data[0], g_plan.data[1]};
  if (syscall(SYS_capset, &header, data) != 0) g_failed.fetch_add(1);
}

void on_signal(int) {
  const int saved = errno;
  apply_plan();
  g_done.fetch_add(1);
  errno = saved;
}

std::set<pid_t> thread_ids() {
  std::set<pid_t> out;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (std::isdigit(static_cast<unsigned char>(e->d_name[0]))) out.insert(static_cast<pid_t>(std::atoi(e->d_name)));
    closedir(d);
  }
  return out;
}

// CapEff of one thread, from /proc.
std::optional<uint64_t> thread_effective(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return std::nullopt;
}

}  // namespace

int capability_number(std::string_view name) {
  std::string n;
  for (char c : name) n.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (n.rfind("CAP_", 0) != 0) n = "CAP_" + n;
  for (int i = 0; i < static_cast<int>(std::size(kNames)); ++i)
    if (n == kNames[i]) return i;
  return -1;
}

std::string capability_name(int cap) {
  if (cap >= 0 && cap < static_cast<int>(std::size(kNames))) return kNames[cap];
  return "CAP_" + std::to_string(cap);
}

Result<CapabilitiesKeep> parse_capabilities_keep(std::string_view text) {
  CapabilitiesKeep k;
  if (text == "all") {
    k.mode = CapabilitiesKeep::Mode::all;
    return k;
  }
  if (text == "none") {
    k.mode = CapabilitiesKeep::Mode::none;
    return k;
  }
  k.mode = CapabilitiesKeep::Mode::list;
  for (size_t start = 0; start <= text.size();) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string_view name = text.substr(start, end - start);
    const int cap = capability_number(name);
    if (cap < 0)
      return Error{EINVAL, "unknown capability " + quote_value(name, 40) +
                               " (names such as CAP_NET_ADMIN or cap_bpf, comma-separated; or all, none)"};
    k.list |= uint64_t{1} << cap;
    start = end + 1;
  }
  return k;
}

uint64_t effective_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return 0;
  return (uint64_t{data[1].effective} << 32) | data[0].effective;
}

std::vector<std::string> missing_bpf_capabilities(uint64_t have) {
  auto has = [&](int cap) { return (have & (uint64_t{1} << cap)) != 0; };
  if (has(CAP_SYS_ADMIN)) return {};
  std::vector<std::string> missing;
  for (int cap : {CAP_BPF, CAP_PERFMON})
    if (!has(cap)) missing.push_back(capability_name(cap));
  return missing;
}

Status drop_capabilities(uint64_t keep) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct now[2] = {};
  if (syscall(SYS_capget, &header, now) != 0) return errno_error("capget");
  g_plan.last = last_cap();
  g_plan.keep = keep;
  for (int i = 0; i < 2; ++i) {
    const auto kept = static_cast<uint32_t>(keep >> (32 * i));
    g_plan.data[i].permitted = now[i].permitted & kept;
    g_plan.data[i].effective = now[i].permitted & kept;
    g_plan.data[i].inheritable = 0;
  }
  const int sig = SIGRTMIN + 2;
  struct sigaction sa {
  }, old{};
  sa.sa_handler = &on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(sig, &sa, &old) != 0) return errno_error("install the capability signal handler");
  g_done = 0;
  g_failed = 0;
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  int sent = 0;
  for (pid_t tid : thread_ids()) {
    if (tid == self) continue;
    if (syscall(SYS_tgkill, getpid(), tid, sig) == 0) ++sent;  // a thread that just ended is no matter
  }
  for (int waited = 0; g_done.load() < sent && waited < 2000; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  apply_plan();
  sigaction(sig, &old, nullptr);
  if (g_failed.load() > 0) return Error{EPERM, "capset failed on " + std::to_string(g_failed.load()) + " thread(s)"};
  // Every thread, as the kernel sees it: one still holding more would undo the point.
  const uint64_t want = (uint64_t{g_plan.data[1].effective} << 32) | g_plan.data[0].effective;
  for (pid_t tid : thread_ids()) {
    auto eff = thread_effective(tid);
    if (eff && *eff != want)
      return Error{EPERM, "thread " + std::to_string(tid) + " still has capabilities 0x" + [](uint64_t v) {
                     char b[17];
                     std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
                     return std::string(b);
                   }(*eff)};
  }
  return {};
}

}  // namespace bpfex
