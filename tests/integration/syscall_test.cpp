#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include <chrono>
#include <functional>
#include <thread>

#include "helpers.h"
#include "loader/features.h"

using namespace bpfex;
using namespace bpfex::test;

namespace {

struct Calls {
  uint64_t count = 0;
  double sum = 0;
  std::vector<bpfex::Histogram::Bucket> buckets;
};

std::optional<Calls> histogram_of(const Families& families, const std::string& syscall) {
  for (const auto& f : families) {
    if (f.name != "bpfex_syscall_latency_seconds") continue;
    for (const auto& m : f.metric)
      if (m.label.size() == 1 && m.label[0].value == syscall)
        return Calls{m.histogram.sample_count, m.histogram.sample_sum, m.histogram.classic_buckets()};
  }
  return std::nullopt;
}

uint64_t calls_of(const Families& families, const std::string& syscall) {
  auto h = histogram_of(families, syscall);
  return h ? h->count : 0;
}

size_t latency_series(const Families& families) {
  for (const auto& f : families)
    if (f.name == "bpfex_syscall_latency_seconds") return f.metric.size();
  return 0;
}

// A task name no other process has, at most 15 bytes.
std::string unique_comm() { return "sc_" + unique_token(10); }

// Runs body in a child process whose task name is comm; waits for it. The prctl that renames the
// child is made under the parent's name, so a comms filter never sees it.
void run_as(const std::string& comm, const std::function<void()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NAME, comm.c_str());
    body();
    _exit(0);
  }
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

void sleep_ns(long ns) {
  struct timespec ts = {0, ns};
  syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, nullptr);
}

std::string comms_option(const std::string& comm) { return "    comms: [" + comm + "]\n"; }

}  // namespace

TEST_CASE("syscall: N sleeps of 2ms count exactly N, with the sum and buckets of 2ms calls", "[syscall]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  auto m = start_module(module_config("syscall", comms_option(comm)), features);
  constexpr int kSleeps = 25;
  constexpr long kSleepNs = 2'000'000;
  const auto t0 = std::chrono::steady_clock::now();
  run_as(comm, [] {
    for (int i = 0; i < kSleeps; ++i) sleep_ns(kSleepNs);
  });
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  auto h = histogram_of(m.read().families, "clock_nanosleep");
  REQUIRE(h);
  CHECK(h->count == kSleeps);
  // Each call lasts at least the requested time; together no longer than the child ran.
  CHECK(h->sum >= kSleeps * kSleepNs / 1e9);
  CHECK(h->sum <= wall);
  // 2ms: nothing at or below le=2^-9s (1.95ms); all of them within le=2^-5s (31ms) even on a busy
  // machine.
  for (const auto& b : h->buckets) {
    if (b.upper_bound <= std::ldexp(1.0, -9)) CHECK(b.cumulative_count == 0);
    if (b.upper_bound >= std::ldexp(1.0, -5)) CHECK(b.cumulative_count == kSleeps);
  }
  // Buckets are cumulative and end with +Inf = count.
  REQUIRE_FALSE(h->buckets.empty());
  CHECK(std::isinf(h->buckets.back().upper_bound));
  CHECK(h->buckets.back().cumulative_count == kSleeps);
  CHECK(h->buckets.size() == 26);  // 2^-20..2^4 s, then +Inf
  CHECK(h->buckets.front().upper_bound == std::ldexp(1.0, -20));
  CHECK(h->buckets[24].upper_bound == 16.0);
}

TEST_CASE("syscall: N failing calls raise errors_total for that syscall and errno by exactly N", "[syscall]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  auto m = start_module(module_config("syscall", comms_option(comm)), features);
  constexpr int kBadCloses = 17, kBadReads = 9;
  run_as(comm, [] {
    for (int i = 0; i < kBadCloses; ++i) syscall(SYS_close, -1);
    for (int i = 0; i < kBadReads; ++i) syscall(SYS_read, -1, nullptr, 0);
    syscall(SYS_getppid);  // succeeds: no error
  });
  ModuleReading r = m.read();
  CHECK(value_of(r.families, "bpfex_syscall_errors_total", {"close", "EBADF"}) == kBadCloses);
  CHECK(value_of(r.families, "bpfex_syscall_errors_total", {"read", "EBADF"}) == kBadReads);
  CHECK(value_of(r.families, "bpfex_syscall_errors_total", {"getppid", "EBADF"}) == 0);
  CHECK(calls_of(r.families, "close") == kBadCloses);
  CHECK(calls_of(r.families, "getppid") == 1);
  REQUIRE(r.label_overflows);
  CHECK(*r.label_overflows == 0);
}

TEST_CASE("syscall: past max_error_series, failures count as errno=\"other\" and as overflow", "[syscall]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  auto m = start_module(module_config("syscall", comms_option(comm) + "    max_error_series: 1\n"), features);
  run_as(comm, [] {
    for (int i = 0; i < 3; ++i) syscall(SYS_close, -1);             // close EBADF: takes the one slot
    for (int i = 0; i < 4; ++i) syscall(SYS_read, -1, nullptr, 0);  // read EBADF: overflows
    for (int i = 0; i < 5; ++i) syscall(SYS_kill, 999999999, 0);    // kill ESRCH: overflows
  });
  ModuleReading r = m.read();
  CHECK(value_of(r.families, "bpfex_syscall_errors_total", {"close", "EBADF"}) == 3);
  CHECK(value_of(r.families, "bpfex_syscall_errors_total", {"read", "other"}) == 4);
  CHECK(value_of(r.families, "bpfex_syscall_errors_total", {"kill", "other"}) == 5);
  REQUIRE(r.label_overflows);
  CHECK(*r.label_overflows == 9);
}

TEST_CASE("syscall: with a comms filter only the matching process is counted", "[syscall]") {
  KernelFeatures features;
  const std::string counted = unique_comm(), ignored = unique_comm();
  auto m = start_module(module_config("syscall", comms_option(counted)), features);
  auto getppids = [](int n) {
    return [n] {
      for (int i = 0; i < n; ++i) syscall(SYS_getppid);
    };
  };
  run_as(ignored, getppids(50));
  run_as(counted, getppids(30));
  run_as(ignored, getppids(70));
  ModuleReading r = m.read();
  CHECK(calls_of(r.families, "getppid") == 30);
  // The parent (this test process) made plenty of syscalls under its own name: none counted.
  CHECK(calls_of(r.families, "wait4") == 0);
}

TEST_CASE("syscall: include and exclude choose the syscalls traced", "[syscall]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  auto workload = [] {
    for (int i = 0; i < 10; ++i) syscall(SYS_getppid);
    for (int i = 0; i < 6; ++i) syscall(SYS_close, -1);
    for (int i = 0; i < 4; ++i) syscall(SYS_getpid);
  };
  SECTION("include") {
    auto m = start_module(module_config("syscall", comms_option(comm) + "    include: [getppid, close]\n"), features);
    run_as(comm, workload);
    ModuleReading r = m.read();
    CHECK(calls_of(r.families, "getppid") == 10);
    CHECK(calls_of(r.families, "close") == 6);
    CHECK(calls_of(r.families, "getpid") == 0);
    CHECK(latency_series(r.families) == 2);
  }
  SECTION("exclude") {
    auto m = start_module(module_config("syscall", comms_option(comm) + "    exclude: [getppid]\n"), features);
    run_as(comm, workload);
    ModuleReading r = m.read();
    CHECK(calls_of(r.families, "getppid") == 0);
    CHECK(calls_of(r.families, "close") == 6);
    CHECK(calls_of(r.families, "getpid") == 4);
  }
  SECTION("include then exclude") {
    auto m = start_module(
        module_config("syscall", comms_option(comm) + "    include: [getppid, close]\n    exclude: [close]\n"),
        features);
    run_as(comm, workload);
    ModuleReading r = m.read();
    CHECK(calls_of(r.families, "getppid") == 10);
    CHECK(latency_series(r.families) == 1);
  }
}

TEST_CASE("syscall: a call in flight when the module starts is never observed", "[syscall]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  int first[2], second[2], ready[2];
  REQUIRE(pipe(first) == 0);
  REQUIRE(pipe(second) == 0);
  REQUIRE(pipe(ready) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NAME, comm.c_str());
    char c;
    syscall(SYS_write, ready[1], "r", 1);
    syscall(SYS_read, first[0], &c, 1);   // blocked while the module starts: not counted
    syscall(SYS_read, second[0], &c, 1);  // starts after: counted
    _exit(0);
  }
  REQUIRE(pid > 0);
  char c;
  REQUIRE(read(ready[0], &c, 1) == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the child block in read
  auto m = start_module(module_config("syscall", comms_option(comm)), features);
  REQUIRE(write(first[1], "x", 1) == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(write(second[1], "x", 1) == 1);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  for (int fd : {first[0], first[1], second[0], second[1], ready[0], ready[1]}) close(fd);
  auto h = histogram_of(m.read().families, "read");
  REQUIRE(h);
  CHECK(h->count == 1);
  // The counted read waited for the second write, about 20ms; the first read waited far longer.
  CHECK(h->sum >= 0.015);
  CHECK(h->sum < 5.0);
}

TEST_CASE("syscall: a fork child's return from clone is not a second clone observation", "[syscall]") {
  KernelFeatures features;
  for (const auto& denied : std::vector<std::vector<Flavour>>{{}, {Flavour::tp_btf}}) {
    RestrictedFeatures restricted(features, denied);
    const std::string comm = unique_comm();
    auto m = start_module(module_config("syscall", comms_option(comm)), restricted);
    run_as(comm, [] {
      // The child inherits the comm and returns from clone through sys_exit without a stamp.
      pid_t child = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
      if (child == 0) _exit(0);
      syscall(SYS_wait4, child, nullptr, 0, nullptr);
    });
    ModuleReading r = m.read();
    CHECK(calls_of(r.families, "clone") == 1);
    CHECK(calls_of(r.families, "wait4") == 1);
  }
}

TEST_CASE("syscall: a thread killed in the middle of a call makes at most its one real observation", "[syscall]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  auto m = start_module(module_config("syscall", comms_option(comm)), features);
  const auto t0 = std::chrono::steady_clock::now();
  run_as(comm, [] {
    int p[2];
    if (pipe(p) != 0) _exit(1);
    std::thread([fd = p[0]] {
      char c;
      syscall(SYS_read, fd, &c, 1);  // blocks until exit_group kills the thread
    }).detach();
    sleep_ns(20'000'000);
    // _exit(0) from run_as: exit_group kills the reader mid-call.
  });
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto h = histogram_of(m.read().families, "read");
  // The killed read ends through sys_exit (-ERESTARTSYS) before the thread exits: one observation
  // no longer than the process lived, never a stale one.
  if (h) {
    CHECK(h->count <= 1);
    CHECK(h->sum <= wall);
  }
}

TEST_CASE("syscall: the raw_tp and tracepoint fallbacks count exactly", "[syscall]") {
  KernelFeatures kernel;
  struct Case {
    std::vector<Flavour> denied;
    std::string flavour;
  };
  std::vector<Case> cases = {
      {{}, "tp_btf"},
      {{Flavour::tp_btf}, "raw_tp"},
      {{Flavour::tp_btf, Flavour::raw_tp}, "tracepoint"},
  };
  for (const auto& c : cases) {
    INFO("expected flavour " << c.flavour);
    RestrictedFeatures features(kernel, c.denied);
    const std::string comm = unique_comm();
    auto m = start_module(module_config("syscall", comms_option(comm)), features);
    auto programs = m.module->programs();
    REQUIRE(programs.size() == 2);
    for (const auto& p : programs) CHECK(p.flavour == c.flavour);
    run_as(comm, [] {
      for (int i = 0; i < 40; ++i) syscall(SYS_getppid);
      for (int i = 0; i < 7; ++i) syscall(SYS_close, -1);
      sleep_ns(2'000'000);
    });
    ModuleReading r = m.read();
    CHECK(calls_of(r.families, "getppid") == 40);
    CHECK(value_of(r.families, "bpfex_syscall_errors_total", {"close", "EBADF"}) == 7);
    auto h = histogram_of(r.families, "clock_nanosleep");
    REQUIRE(h);
    CHECK(h->count == 1);
    CHECK(h->sum >= 0.002);
  }
}

TEST_CASE("syscall: the cgroup filter counts only tasks in the cgroup", "[syscall]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  SECTION("a missing cgroup fails the start and names the path") {
    const std::string path = "/bpfex-missing-" + unique_token();
    const ModuleConfig mc = module_config("syscall", "    cgroup: " + path + "\n");
    auto module = find_module_spec("syscall")->create(*mc.options);
    ModuleContext context{features};
    Status st = module->start(context);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message.find(path) != std::string::npos);
  }
  SECTION("the root cgroup holds every task") {
    auto m = start_module(module_config("syscall", comms_option(comm) + "    cgroup: /\n"), features);
    run_as(comm, [] {
      for (int i = 0; i < 12; ++i) syscall(SYS_getppid);
    });
    CHECK(calls_of(m.read().families, "getppid") == 12);
  }
}

TEST_CASE("syscall: starting and destroying the module leaks no file descriptors", "[syscall]") {
  KernelFeatures features;
  { auto warm = start_module(module_config("syscall"), features); }
  const int before = open_fd_count();
  for (int i = 0; i < 3; ++i) auto m = start_module(module_config("syscall"), features);
  CHECK(open_fd_count() == before);
}
