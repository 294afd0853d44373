// oom module: a real OOM kill of a child process the test runs in a memory-limited cgroup of its own
// (cgroup v2's memory controller where the hierarchy has it, else cgroup v1's memory hierarchy, as
// on hosts whose memory controller is bound to v1), counted exactly under its workload or its task
// name, and by constraint where the kernel lets the module see it.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cgroups.h"
#include "helpers.h"
#include "loader/features.h"
#include "workload/cgroupfs.h"
#include "workload/workloads.h"

using namespace bpfex;
using namespace bpfex::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kLimit = 32 << 20;  // the victim's memory limit
constexpr size_t kChunk = 1 << 20;
constexpr size_t kGiveUp = 1ul << 30;  // a victim that got this far was not limited: it exits 1

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text << std::flush;
  if (!out) FAIL("write \"" << text << "\" to " << path << " failed");
}

// Where the v1 memory controller is mounted ("" when it is not).
std::string v1_memory_mount() {
  std::istringstream in(read_text("/proc/self/mountinfo"));
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mount, options, field;
    f >> id >> parent >> dev >> root >> mount >> options;
    while (f >> field && field != "-") {
    }
    std::string type, source, super;
    f >> type >> source >> super;
    if (type == "cgroup" && ("," + super + ",").find(",memory,") != std::string::npos) return mount;
  }
  return "";
}

// The memory limit of the test's victim: the workload cgroup itself when cgroup v2 has the memory
// controller (enabled down to it), else a cgroup of the v1 memory hierarchy, removed at the end.
class MemoryLimit {
 public:
  explicit MemoryLimit(const TestCgroup& workload) {
    const std::string v2 = workload::cgroup2_mount();
    if (read_text(v2 + "/cgroup.controllers").find("memory") != std::string::npos) {
      // Every ancestor below the root hands the controller down (the root too, when nothing did yet:
      // a guest's fresh hierarchy).
      std::string dir = v2;
      for (std::string rest = workload.path().substr(1);;) {
        if (read_text(dir + "/cgroup.subtree_control").find("memory") == std::string::npos)
          write_text(dir + "/cgroup.subtree_control", "+memory");
        const size_t slash = rest.find('/');
        if (slash == std::string::npos) break;
        dir += "/" + rest.substr(0, slash);
        rest = rest.substr(slash + 1);
      }
      dir_ = v2 + workload.path();
      write_text(dir_ + "/memory.max", std::to_string(kLimit));
      if (fs::exists(dir_ + "/memory.swap.max")) write_text(dir_ + "/memory.swap.max", "0");
      kind_ = "cgroup v2";
      return;
    }
    const std::string v1 = v1_memory_mount();
    if (v1.empty()) FAIL("no memory controller in cgroup v2 or v1: an OOM kill cannot be caused here");
    dir_ = v1 + "/bpfex-it-" + unique_token(8);
    REQUIRE(mkdir(dir_.c_str(), 0755) == 0);
    v1_ = true;
    write_text(dir_ + "/memory.limit_in_bytes", std::to_string(kLimit));
    if (fs::exists(dir_ + "/memory.memsw.limit_in_bytes"))
      write_text(dir_ + "/memory.memsw.limit_in_bytes", std::to_string(kLimit));
    write_text(dir_ + "/memory.swappiness", "0");
    kind_ = "cgroup v1";
  }
  ~MemoryLimit() {
    if (!v1_) return;
    for (int i = 0; i < 50 && rmdir(dir_.c_str()) != 0; ++i) std::this_thread::sleep_for(20ms);
  }
  MemoryLimit(const MemoryLimit&) = delete;
  MemoryLimit& operator=(const MemoryLimit&) = delete;

  const std::string& kind() const { return kind_; }
  // A v1 cgroup the victim must join too (the v2 one it joins as its workload); "" with v2.
  std::string v1_procs() const { return v1_ ? dir_ + "/cgroup.procs" : ""; }

 private:
  std::string dir_, kind_;
  bool v1_ = false;
};

// Writes our pid into a cgroup.procs file with raw syscalls (the child of a threaded process).
bool join(const std::string& procs) {
  const int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char pid[32];
  const int n = snprintf(pid, sizeof pid, "%d", getpid());
  const bool ok = write(fd, pid, static_cast<size_t>(n)) == n;
  close(fd);
  return ok;
}

// A child named comm, in the workload cgroup and under the memory limit, that touches memory until
// the kernel kills it. Returns its wait status.
int run_victim(const TestCgroup& workload, const MemoryLimit& limit, const std::string& comm) {
  const std::string procs = workload::cgroup2_mount() + workload.path() + "/cgroup.procs";
  const std::string v1 = limit.v1_procs();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!join(procs) || (!v1.empty() && !join(v1))) _exit(2);
    prctl(PR_SET_NAME, comm.c_str());
    for (size_t total = 0; total < kGiveUp; total += kChunk) {
      void* p = mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) _exit(3);
      memset(p, 0x5a, kChunk);  // charged as it is touched
    }
    _exit(1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

bool killed_by_oom(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

double total(const Families& families, const std::string& name) {
  double sum = 0;
  for (const auto& f : families)
    if (f.name == name)
      for (const auto& m : f.metric) sum += m.counter.value;
  return sum;
}

bool has_family(const Families& families, const std::string& name) {
  for (const auto& f : families)
    if (f.name == name) return true;
  return false;
}

std::string unit() { return "/bpfex-it-" + unique_token(6) + ".slice"; }

workload::AttributionOptions no_hold_back() {
  workload::AttributionOptions o;
  o.min_age = 0s;
  return o;
}

}  // namespace

TEST_CASE("oom: a process past its memory limit is killed once, counted +1 under its workload", "[oom]") {
  if (workload::cgroup2_mount().empty()) FAIL("no cgroup v2 hierarchy: attribution cannot be tested here");
  KernelFeatures kernel;
  struct Case {
    std::vector<Flavour> denied;
    Flavour want;
  };
  const Case c = GENERATE(Case{{}, Flavour::tp_btf}, Case{{Flavour::tp_btf}, Flavour::raw_tp},
                          Case{{Flavour::tp_btf, Flavour::raw_tp}, Flavour::tracepoint});
  INFO("flavour " << flavour_name(c.want));
  if (c.want != Flavour::tracepoint && !kernel.can_attach(c.want, "mark_victim")) {
    WARN("this kernel cannot attach " << flavour_name(c.want) << " to mark_victim");
    return;
  }
  RestrictedFeatures features(kernel, c.denied);
  workload::Workloads workloads(no_hold_back(), workload::cgroup2_mount(), {}, 0ms);
  auto m = start_module(module_config("oom"), features, &workloads);
  bool victim_hook = false, constraint_hook = false;
  for (const auto& p : m.module->programs()) {
    if (p.target.find("mark_victim") != std::string::npos) {
      victim_hook = true;
      CHECK(p.flavour == flavour_name(c.want));
    }
    constraint_hook = constraint_hook || p.target == "oom_kill_process";
  }
  CHECK(victim_hook);
  const std::string slice = unit();
  TestCgroup app(slice + "/hog.service");
  MemoryLimit limit(app);
  INFO("memory limit through " << limit.kind());
  const Families before = m.read().families;
  const int status = run_victim(app, limit, "oom_" + unique_token(8));
  REQUIRE(killed_by_oom(status));
  const Families after = m.read().families;
  double ours = 0;
  for (const auto& f : after)
    if (f.name == "bpfex_oom_kills_total")
      for (const auto& s : f.metric) {
        REQUIRE(s.label.size() == 4);  // namespace, pod, container, cgroup
        if (s.label[3].value == slice + "/hog.service") ours += s.counter.value;
      }
  CHECK(ours == 1);
  CHECK(total(after, "bpfex_oom_kills_total") - total(before, "bpfex_oom_kills_total") == 1);
  CHECK(has_family(after, "bpfex_oom_kills_constrained_total") == constraint_hook);
  if (constraint_hook) {
    CHECK(value_of(after, "bpfex_oom_kills_constrained_total", {"cgroup"}) -
              value_of(before, "bpfex_oom_kills_constrained_total", {"cgroup"}) ==
          1);
    CHECK(total(after, "bpfex_oom_kills_constrained_total") - total(before, "bpfex_oom_kills_constrained_total") == 1);
  } else {
    WARN("this kernel attaches neither fentry nor kprobes to oom_kill_process: no kills by constraint here");
  }
}

TEST_CASE("oom: without workload labels, a kill counts under the victim's task name", "[oom]") {
  KernelFeatures features;
  auto m = start_module(module_config("oom", "    by_workload: false\n"), features);
  TestCgroup app(unit() + "/hog.service");
  MemoryLimit limit(app);
  const std::string comm = "oom_" + unique_token(8);
  REQUIRE(killed_by_oom(run_victim(app, limit, comm)));
  const ModuleReading r = m.read();
  CHECK(value_of(r.families, "bpfex_oom_kills_total", {comm}) == 1);
  REQUIRE(r.label_overflows);
  CHECK(*r.label_overflows == 0);
}

TEST_CASE("oom: constrained kills with each of fentry and kprobes", "[oom]") {
  KernelFeatures kernel;
  const Flavour want = GENERATE(Flavour::fentry, Flavour::kprobe);
  INFO("flavour " << flavour_name(want));
  if (!kernel.can_attach(want, "oom_kill_process")) {
    WARN("this kernel cannot attach " << flavour_name(want)
                                      << " to oom_kill_process (the guest kernels, tests/guest, cover it)");
    return;
  }
  RestrictedFeatures features(kernel, want == Flavour::kprobe ? std::vector{Flavour::fentry} : std::vector<Flavour>{});
  auto m = start_module(module_config("oom", "    by_workload: false\n"), features);
  bool hooked = false;
  for (const auto& p : m.module->programs())
    if (p.target == "oom_kill_process") {
      hooked = true;
      CHECK(p.flavour == flavour_name(want));
    }
  REQUIRE(hooked);
  TestCgroup app(unit() + "/hog.service");
  MemoryLimit limit(app);
  const Families before = m.read().families;
  REQUIRE(killed_by_oom(run_victim(app, limit, "oom_" + unique_token(8))));
  const Families after = m.read().families;
  CHECK(value_of(after, "bpfex_oom_kills_constrained_total", {"cgroup"}) -
            value_of(before, "bpfex_oom_kills_constrained_total", {"cgroup"}) ==
        1);
  for (const char* other : {"none", "cpuset", "memory_policy"})
    CHECK(value_of(after, "bpfex_oom_kills_constrained_total", {other}) ==
          value_of(before, "bpfex_oom_kills_constrained_total", {other}));
}

TEST_CASE("oom: past max_comms, kills count as comm=\"other\" and as label overflow", "[oom]") {
  KernelFeatures features;
  auto m = start_module(module_config("oom", "    by_workload: false\n    max_comms: 1\n"), features);
  TestCgroup app(unit() + "/hog.service");
  MemoryLimit limit(app);
  const std::string first = "oom_" + unique_token(8), second = "oom_" + unique_token(8);
  REQUIRE(killed_by_oom(run_victim(app, limit, first)));
  REQUIRE(killed_by_oom(run_victim(app, limit, second)));
  const ModuleReading r = m.read();
  // The one slot went to the first victim (unless another OOM kill on this machine took it first).
  CHECK(value_of(r.families, "bpfex_oom_kills_total", {second}) == 0);
  CHECK(value_of(r.families, "bpfex_oom_kills_total", {"other"}) >= 1);
  REQUIRE(r.label_overflows);
  CHECK(static_cast<double>(*r.label_overflows) == value_of(r.families, "bpfex_oom_kills_total", {"other"}));
  CHECK(value_of(r.families, "bpfex_oom_kills_total", {first}) +
            value_of(r.families, "bpfex_oom_kills_total", {"other"}) ==
        total(r.families, "bpfex_oom_kills_total"));
}
