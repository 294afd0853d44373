// The runqueue module with real tasks: a thread with a unique name woken a known number of times, and
// pinned to one CPU beside a CPU hog. The oracle is the kernel's own scheduler accounting of that
// thread (/proc/PID/task/TID/schedstat: switch-ins and time spent waiting on a runqueue), read before
// and after, while the thread sleeps. (While another process attaches a program to the same sched
// tracepoints, the kernel may skip a probe call now and then: the integration tests run alone.)
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "cgroups.h"
#include "helpers.h"
#include "loader/features.h"
#include "workload/cgroupfs.h"
#include "workload/workloads.h"

using namespace bpfex;
using namespace bpfex::test;
using namespace std::chrono_literals;

namespace {

struct Waits {
  uint64_t count = 0;
  double sum = 0;
  std::vector<bpfex::Histogram::Bucket> buckets;
};

// The runqueue histogram whose cgroup label is `cgroup` (nullopt: the node's, without workload labels).
Waits latency(const Families& families, const std::optional<std::string>& cgroup = std::nullopt) {
  for (const auto& f : families) {
    if (f.name != "bpfex_runqueue_latency_seconds") continue;
    for (const auto& m : f.metric) {
      if (cgroup ? (m.label.empty() || m.label.back().value != *cgroup) : !m.label.empty()) continue;
      return {m.histogram.sample_count, m.histogram.sample_sum, m.histogram.classic_buckets()};
    }
  }
  return {};
}

// What the scheduler accounts for a thread (CONFIG_SCHED_INFO): time on a CPU, time waiting on a
// runqueue, and the number of times it was switched in.
struct SchedStat {
  uint64_t run_ns = 0, wait_ns = 0, switch_ins = 0;
};

// A child process whose main thread (the task under test, named comm) obeys commands on a pipe:
// 'w' wake up and answer, 's' spin for spin_ms of its own CPU time and answer, 'q' exit. With a CPU,
// it and a CPU hog thread (named "rq_hog") are pinned to it.
class TaskUnderTest {
 public:
  TaskUnderTest(const std::string& comm, std::optional<int> cpu = std::nullopt, bool hog = false, int spin_ms = 0,
                const std::optional<std::string>& cgroup_procs = std::nullopt) {
    REQUIRE(pipe2(cmd_, O_CLOEXEC) == 0);
    REQUIRE(pipe2(ack_, O_CLOEXEC) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) child(comm, cpu, hog, spin_ms, cgroup_procs);
    close(cmd_[0]);
    close(ack_[1]);
    REQUIRE(::read(ack_[0], &tid_, sizeof tid_) == sizeof tid_);
    wait_asleep();
  }
  ~TaskUnderTest() {
    [[maybe_unused]] auto n = ::write(cmd_[1], "q", 1);
    close(cmd_[1]);
    close(ack_[0]);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  TaskUnderTest(const TaskUnderTest&) = delete;
  TaskUnderTest& operator=(const TaskUnderTest&) = delete;

  // One command, answered; returns once the task sleeps again.
  void command(char c) {
    REQUIRE(::write(cmd_[1], &c, 1) == 1);
    char a;
    REQUIRE(::read(ack_[0], &a, 1) == 1);
    wait_asleep();
  }

  SchedStat schedstat() const {
    std::ifstream in(task_dir() + "/schedstat");
    SchedStat s;
    REQUIRE(in >> s.run_ns >> s.wait_ns >> s.switch_ins);
    return s;
  }

 private:
  std::string task_dir() const { return "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(tid_); }

  // Until the task is blocked in its read (state S): between two commands nothing of it is pending.
  void wait_asleep() const {
    for (int i = 0; i < 5000; ++i) {
      std::ifstream in(task_dir() + "/stat");
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const auto paren = stat.rfind(')');
      if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S') return;
      std::this_thread::sleep_for(1ms);
    }
    FAIL("the task under test did not go back to sleep within 5 s");
  }

  [[noreturn]] void child(const std::string& comm, std::optional<int> cpu, bool hog, int spin_ms,
                          const std::optional<std::string>& cgroup_procs) {
    if (cgroup_procs) {
      std::ofstream procs(*cgroup_procs);
      procs << getpid() << std::flush;
      if (!procs) _exit(3);
    }
    if (cpu) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(*cpu, &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(4);
    }
    if (hog) {
      std::thread([] {
        prctl(PR_SET_NAME, "rq_hog");
        std::atomic<uint64_t> spins{0};
        for (;;) spins.fetch_add(1, std::memory_order_relaxed);
      }).detach();
    }
    prctl(PR_SET_NAME, comm.c_str());
    const auto tid = static_cast<pid_t>(syscall(SYS_gettid));
    if (::write(ack_[1], &tid, sizeof tid) != sizeof tid) _exit(5);
    for (;;) {
      char c;
      if (::read(cmd_[0], &c, 1) != 1) _exit(6);
      if (c == 'q') _exit(0);
      if (c == 's') spin(spin_ms);
      if (::write(ack_[1], "a", 1) != 1) _exit(7);
    }
  }

  static void spin(int ms) {
    auto cpu_ns = [] {
      timespec t{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
      return t.tv_sec * 1'000'000'000LL + t.tv_nsec;
    };
    const auto end = cpu_ns() + ms * 1'000'000LL;
    while (cpu_ns() < end) {
    }
  }

  int cmd_[2] = {-1, -1}, ack_[2] = {-1, -1};
  pid_t pid_ = -1, tid_ = -1;
};

std::string unique_comm() { return "rq_" + unique_token(10); }
std::string comms_option(const std::string& comm) { return "    comms: [" + comm + "]\n"; }
const std::string kNodeOnly = "    by_workload: false\n";

int last_cpu() { return static_cast<int>(std::thread::hardware_concurrency()) - 1; }

// The upper bound of the bucket holding the q-quantile of h (cumulative counts).
double quantile_bound(const Waits& h, double q) {
  for (const auto& b : h.buckets)
    if (static_cast<double>(b.cumulative_count) >= q * static_cast<double>(h.count)) return b.upper_bound;
  return INFINITY;
}

}  // namespace

TEST_CASE("runqueue: N wakeups of a uniquely named thread are exactly its switch-ins, N of them", "[runqueue]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  auto m = start_module(module_config("runqueue", comms_option(comm) + kNodeOnly), features);
  TaskUnderTest task(comm);
  const Waits before = latency(m.read().families);
  const SchedStat s0 = task.schedstat();
  constexpr int kWakeups = 40;
  for (int i = 0; i < kWakeups; ++i) task.command('w');
  const SchedStat s1 = task.schedstat();
  const Waits after = latency(m.read().families);

  const uint64_t switch_ins = s1.switch_ins - s0.switch_ins;
  INFO("switch-ins by the kernel's accounting: " << switch_ins);
  // Every switch-in follows a wakeup or a preemption: each is one observation, nothing else is.
  CHECK(after.count - before.count == switch_ins);
  // At least one per wakeup; more only if the scheduler preempted the thread on a busy machine.
  CHECK(switch_ins >= kWakeups);
  if (switch_ins == kWakeups) CHECK(after.count - before.count == kWakeups);
  CHECK(after.sum > before.sum);
  REQUIRE_FALSE(after.buckets.empty());
  CHECK(std::isinf(after.buckets.back().upper_bound));
  CHECK(after.buckets.back().cumulative_count == after.count);
  CHECK(after.buckets.size() == 26);  // 2^10..2^34 ns, then +Inf
}

TEST_CASE("runqueue: a thread sharing one CPU with a hog waits the hog's time slices", "[runqueue]") {
  KernelFeatures features;
  const std::string comm = unique_comm();
  auto m = start_module(module_config("runqueue", comms_option(comm) + kNodeOnly), features);
  // The task spins 400 ms of its own CPU time on the last CPU while the hog spins there too: it
  // gets about half the CPU, and waits while the hog runs its slices.
  TaskUnderTest task(comm, last_cpu(), true, 400);
  const Waits before = latency(m.read().families);
  const SchedStat s0 = task.schedstat();
  task.command('s');
  const SchedStat s1 = task.schedstat();
  const Waits after = latency(m.read().families);

  const uint64_t switch_ins = s1.switch_ins - s0.switch_ins;
  const double waited = static_cast<double>(s1.wait_ns - s0.wait_ns) / 1e9;
  const uint64_t count = after.count - before.count;
  const double sum = after.sum - before.sum;
  INFO("kernel: " << switch_ins << " switch-ins, " << waited << " s waiting; bpfex: " << count << " waits, " << sum
                  << " s");
  // Every switch-in is a wait (the exact count is the wakeup test's; here the hundreds of switch-ins
  // of a busy CPU leave room for the kernel skipping a probe call while another process on the
  // machine attaches a program to sched_switch: never more, at most 1% fewer).
  CHECK(count <= switch_ins);
  CHECK(count + std::max<uint64_t>(2, switch_ins / 100) >= switch_ins);
  // Taking turns with the hog: many waits, summing to what the kernel accounts as time waiting (its
  // runqueue clock, ours bpf_ktime_get_ns: the same intervals, stamped a few instructions apart).
  CHECK(count >= 10);
  CHECK(sum == Approx(waited).epsilon(0.05).margin(0.002));
  // The hog had about as much CPU as the task (400 ms): the waits are its time slices, not wakeups.
  CHECK(sum > 0.2);
  // Each wait is one slice of the hog (a few ms: the scheduler's base slice, rounded to ticks). The
  // median wait's bucket is within a factor of 4 of the mean wait either way, never in the
  // microsecond buckets a mere wakeup lands in.
  Waits delta{count, sum, after.buckets};
  for (size_t i = 0; i < delta.buckets.size(); ++i)
    delta.buckets[i].cumulative_count -= before.buckets.empty() ? 0 : before.buckets[i].cumulative_count;
  const double mean = sum / static_cast<double>(count);
  const double median = quantile_bound(delta, 0.5);
  CHECK(median >= mean / 4);
  CHECK(median <= mean * 4);
  CHECK(median >= 131072e-9);  // 2^17 ns
}

TEST_CASE("runqueue: the comms filter leaves other tasks out", "[runqueue]") {
  KernelFeatures features;
  const std::string counted = unique_comm(), ignored = unique_comm();
  auto m = start_module(module_config("runqueue", comms_option(counted) + kNodeOnly), features);
  TaskUnderTest other(ignored);
  for (int i = 0; i < 20; ++i) other.command('w');
  // Only the filtered name is counted, and nothing has that name yet.
  CHECK(latency(m.read().families).count == 0);
}

TEST_CASE("runqueue: tp_btf, raw_tp and tracepoint count the same switch-ins", "[runqueue]") {
  KernelFeatures kernel;
  struct Case {
    std::vector<Flavour> denied;
    std::string flavour;
  };
  for (const auto& c : std::vector<Case>{
           {{}, "tp_btf"}, {{Flavour::tp_btf}, "raw_tp"}, {{Flavour::tp_btf, Flavour::raw_tp}, "tracepoint"}}) {
    INFO("expected flavour " << c.flavour);
    RestrictedFeatures features(kernel, c.denied);
    const std::string comm = unique_comm();
    auto m = start_module(module_config("runqueue", comms_option(comm) + kNodeOnly), features);
    auto programs = m.module->programs();
    REQUIRE(programs.size() == 3);
    for (const auto& p : programs) CHECK(p.flavour == c.flavour);
    // The tracepoint flavour learns a thread when it first switches out: the task has by now.
    TaskUnderTest task(comm);
    const uint64_t before = latency(m.read().families).count;
    const SchedStat s0 = task.schedstat();
    for (int i = 0; i < 25; ++i) task.command('w');
    const SchedStat s1 = task.schedstat();
    const uint64_t counted = latency(m.read().families).count - before;
    CHECK(counted == s1.switch_ins - s0.switch_ins);
    CHECK(counted >= 25);
  }
}

TEST_CASE("runqueue: by_workload counts a task's waits under its cgroup, and the cgroup filter", "[runqueue]") {
  KernelFeatures kernel;
  if (workload::cgroup2_mount().empty()) {
    WARN("no cgroup v2 hierarchy: by_workload and the cgroup filter are not tested here");
    return;
  }
  const std::string unit = "/bpfex-it-" + unique_token(6) + ".slice";
  TestCgroup cg(unit + "/rq.service");
  workload::AttributionOptions options;
  options.min_age = 0s;
  for (const auto& denied : std::vector<std::vector<Flavour>>{{}, {Flavour::tp_btf, Flavour::raw_tp}}) {
    RestrictedFeatures features(kernel, denied);
    INFO("denied flavours: " << denied.size());
    workload::Workloads workloads(options, workload::cgroup2_mount(), {}, 0ms);
    const std::string comm = unique_comm();
    auto m = start_module(module_config("runqueue", comms_option(comm) + "    cgroup: " + unit + "\n"), features,
                          &workloads);
    const std::string procs = workload::cgroup2_mount() + cg.path() + "/cgroup.procs";
    TaskUnderTest inside(comm, std::nullopt, false, 0, procs);
    TaskUnderTest outside(comm);  // the same name, but outside the filter's cgroup
    // attribution.cgroup_depth 2 keeps /<unit>/rq.service whole: the workload is the service.
    const std::string workload = unit + "/rq.service";
    const uint64_t before = latency(m.read().families, workload).count;
    const SchedStat s0 = inside.schedstat();
    for (int i = 0; i < 15; ++i) {
      inside.command('w');
      outside.command('w');
    }
    const SchedStat s1 = inside.schedstat();
    const Families families = m.read().families;
    // Only the task inside counts; the one outside is not in the cgroup filter.
    CHECK(latency(families, workload).count - before == s1.switch_ins - s0.switch_ins);
    uint64_t elsewhere = 0;
    for (const auto& f : families)
      if (f.name == "bpfex_runqueue_latency_seconds")
        for (const auto& mm : f.metric)
          if (mm.label.back().value != workload) elsewhere += mm.histogram.sample_count;
    CHECK(elsewhere == 0);
  }
}

TEST_CASE("runqueue: past max_workload_rows, a workload's waits count as cgroup=\"other\" and as label overflow",
          "[runqueue]") {
  if (workload::cgroup2_mount().empty()) {
    WARN("no cgroup v2 hierarchy: by_workload is not tested here");
    return;
  }
  KernelFeatures features;
  const std::string unit = "/bpfex-it-" + unique_token(6) + ".slice";
  TestCgroup a(unit + "/a.service"), b(unit + "/b.service");
  workload::AttributionOptions options;
  options.min_age = 0s;
  workload::Workloads workloads(options, workload::cgroup2_mount(), {}, 0ms);
  const std::string comm = unique_comm();
  auto m =
      start_module(module_config("runqueue", comms_option(comm) + "    max_workload_rows: 1\n"), features, &workloads);
  const std::string root = workload::cgroup2_mount();
  TaskUnderTest in_a(comm, std::nullopt, false, 0, root + a.path() + "/cgroup.procs");
  TaskUnderTest in_b(comm, std::nullopt, false, 0, root + b.path() + "/cgroup.procs");
  auto counts = [&](const Families& f) {
    return std::array<uint64_t, 3>{latency(f, a.path()).count, latency(f, b.path()).count, latency(f, "other").count};
  };
  const auto before = counts(m.read().families);
  const SchedStat a0 = in_a.schedstat(), b0 = in_b.schedstat();
  for (int i = 0; i < 15; ++i) {
    in_a.command('w');
    in_b.command('w');
  }
  const SchedStat a1 = in_a.schedstat(), b1 = in_b.schedstat();
  const ModuleReading r = m.read();
  const auto after = counts(r.families);
  const uint64_t in_a_row = after[0] - before[0], in_b_row = after[1] - before[1], other = after[2] - before[2];
  INFO("a " << in_a_row << ", b " << in_b_row << ", other " << other << "; switch-ins a "
            << a1.switch_ins - a0.switch_ins << ", b " << b1.switch_ins - b0.switch_ins);
  // The one row went to whichever waited first; the other's waits are in the node's "other" row.
  CHECK(in_a_row + in_b_row + other == (a1.switch_ins - a0.switch_ins) + (b1.switch_ins - b0.switch_ins));
  CHECK((in_a_row == 0) != (in_b_row == 0));
  CHECK(other > 0);
  REQUIRE(r.label_overflows);
  CHECK(*r.label_overflows >= other);
}

TEST_CASE("runqueue: starting and destroying the module leaks no file descriptors", "[runqueue]") {
  KernelFeatures features;
  { auto warm = start_module(module_config("runqueue"), features); }
  const int before = open_fd_count();
  for (int i = 0; i < 3; ++i) auto m = start_module(module_config("runqueue"), features);
  CHECK(open_fd_count() == before);
}
