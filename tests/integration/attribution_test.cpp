// Workload attribution with real cgroups: the exec and syscall modules with by_workload, processes
// moved into cgroups the test creates, exact counts under their workload's labels and nowhere else.
#include <bpf/bpf.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <chrono>
#include <map>
#include <thread>

#include "cgroups.h"
#include "helpers.h"
#include "loader/features.h"
#include "workload/cgroupfs.h"
#include "workload/kubelet.h"
#include "workload/workloads.h"

using namespace bpfex;
using namespace bpfex::test;
using namespace std::chrono_literals;

namespace {

workload::AttributionOptions attribution(std::chrono::nanoseconds min_age = 0s, uint32_t max_workloads = 512,
                                         std::chrono::nanoseconds retire_after = 120s) {
  workload::AttributionOptions o;
  o.min_age = min_age;
  o.max_workloads = max_workloads;
  o.retire_after = retire_after;
  return o;
}

// A copy of /bin/true under a unique name (its comm).
struct UniqueProgram {
  std::string comm = "at_" + unique_token(10);
  std::string path = std::filesystem::temp_directory_path() / comm;
  UniqueProgram() {
    std::filesystem::copy_file("/bin/true", path);
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  }
  ~UniqueProgram() { std::filesystem::remove(path); }
};

// Sum of a counter over the series whose label `name` is `value` and, when given, whose cgroup is
// `cgroup` (the workload labels follow the module's own).
double sum_where(const Families& families, const std::string& metric, size_t label, const std::string& value,
                 const std::optional<std::string>& cgroup = std::nullopt) {
  double sum = 0;
  for (const auto& f : families) {
    if (f.name != metric) continue;
    for (const auto& m : f.metric) {
      if (m.label.at(label).value != value) continue;
      if (cgroup && m.label.back().value != *cgroup) continue;
      REQUIRE(m.label.back().name == "cgroup");
      sum += m.value;
    }
  }
  return sum;
}

std::string unit() { return "/bpfex-it-" + unique_token(6) + ".slice"; }

// Entries of this process's BPF map called name (its fds, found through /proc/self/fd).
size_t map_entries(const std::string& name) {
  size_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(e.path().filename());
    bpf_map_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || name != info.name) continue;
    std::vector<uint8_t> key(info.key_size), next(info.key_size);
    for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, next.data()) == 0; prev = key.data()) {
      key.swap(next);
      ++total;
    }
  }
  return total;
}

}  // namespace

TEST_CASE("attribution: execs and failed execs count exactly under their cgroup's workload", "[attribution]") {
  if (workload::cgroup2_mount().empty()) FAIL("no cgroup v2 hierarchy: attribution cannot be tested here");
  KernelFeatures features;
  workload::Workloads workloads(attribution(), workload::cgroup2_mount(), {}, 0ms);
  auto m = start_module(module_config("exec"), features, &workloads);
  const std::string slice = unit();
  TestCgroup a(slice + "/a.service"), b(slice + "/b.service"), nested(slice + "/b.service/worker");
  UniqueProgram prog;
  constexpr int kInA = 7, kInB = 4, kInNested = 3;
  a.run([&] {
    for (int i = 0; i < kInA; ++i) run_and_wait(prog.path);
  });
  b.run([&] {
    for (int i = 0; i < kInB; ++i) run_and_wait(prog.path);
    for (int i = 0; i < 5; ++i) run_and_wait("/nonexistent-" + prog.comm);
  });
  nested.run([&] {
    for (int i = 0; i < kInNested; ++i) run_and_wait(prog.path);
  });
  Families f = m.read().families;
  CHECK(sum_where(f, "bpfex_exec_total", 0, prog.comm, slice + "/a.service") == kInA);
  // Depth 2: the nested cgroup rolls up into b.service.
  CHECK(sum_where(f, "bpfex_exec_total", 0, prog.comm, slice + "/b.service") == kInB + kInNested);
  CHECK(sum_where(f, "bpfex_exec_total", 0, prog.comm) == kInA + kInB + kInNested);  // nowhere else
  CHECK(sum_where(f, "bpfex_exec_errors_total", 0, "ENOENT", slice + "/b.service") == 5);
  for (const auto& fam : f)
    if (fam.name == "bpfex_exec_total") {
      REQUIRE_FALSE(fam.metric.empty());
      CHECK(fam.metric[0].label.size() == 5);  // comm, namespace, pod, container, cgroup
    }
}

TEST_CASE("attribution: syscalls count exactly under their cgroup's workload", "[attribution]") {
  KernelFeatures features;
  workload::Workloads workloads(attribution(), workload::cgroup2_mount(), {}, 0ms);
  const std::string comm = "ats_" + unique_token(8);
  auto m = start_module(module_config("syscall", "    by_workload: true\n    comms: [" + comm + "]\n"), features,
                        &workloads);
  const std::string slice = unit();
  TestCgroup a(slice + "/a.service");
  constexpr int kCalls = 31, kFailures = 6;
  a.run([&] {
    prctl(PR_SET_NAME, comm.c_str());
    for (int i = 0; i < kCalls; ++i) syscall(SYS_getppid);
    for (int i = 0; i < kFailures; ++i) syscall(SYS_close, -1);
  });
  ModuleReading r = m.read();
  uint64_t getppids = 0, elsewhere = 0;
  for (const auto& f : r.families) {
    if (f.name != "bpfex_syscall_latency_seconds") continue;
    for (const auto& s : f.metric) {
      if (s.label[0].value != "getppid") continue;
      REQUIRE(s.label.size() == 5);
      (s.label[4].value == slice + "/a.service" ? getppids : elsewhere) += s.histogram.sample_count;
    }
  }
  CHECK(getppids == kCalls);
  CHECK(elsewhere == 0);
  CHECK(sum_where(r.families, "bpfex_syscall_errors_total", 0, "close", slice + "/a.service") == kFailures);
}

TEST_CASE("attribution: a dead cgroup's counts stay with its workload, which a new cgroup continues, then retires",
          "[attribution]") {
  KernelFeatures features;
  workload::Workloads workloads(attribution(0s, 512, 2s), workload::cgroup2_mount(), {}, 0ms);
  auto m = start_module(module_config("exec"), features, &workloads);
  const std::string slice = unit();
  UniqueProgram prog;
  auto execs = [&] { return sum_where(m.read().families, "bpfex_exec_total", 0, prog.comm, slice + "/app.service"); };
  {
    TestCgroup first(slice + "/app.service/run1");
    first.run([&] {
      for (int i = 0; i < 5; ++i) run_and_wait(prog.path);
    });
    CHECK(execs() == 5);
    first.remove();
    CHECK(execs() == 5);  // folded: the count stays
  }
  TestCgroup second(slice + "/app.service/run2");  // a restart: same workload, new cgroup
  second.run([&] {
    for (int i = 0; i < 3; ++i) run_and_wait(prog.path);
  });
  CHECK(execs() == 8);
  second.remove();
  CHECK(execs() == 8);
  std::this_thread::sleep_for(2500ms);  // retire_after since its last cgroup went
  CHECK(execs() == 0);
}

TEST_CASE("attribution: past max_workloads the rest is summed as cgroup=\"other\" and counted as overflow",
          "[attribution]") {
  KernelFeatures features;
  // One named workload: whatever this process's own cgroup is takes it first.
  workload::Workloads workloads(attribution(0s, 1), workload::cgroup2_mount(), {}, 0ms);
  auto m = start_module(module_config("exec"), features, &workloads);
  const std::string slice = unit();
  UniqueProgram prog;
  run_and_wait(prog.path);  // from the test's own cgroup
  m.read();
  TestCgroup other(slice + "/extra.service");
  other.run([&] {
    for (int i = 0; i < 4; ++i) run_and_wait(prog.path);
  });
  ModuleReading r = m.read();
  // Other processes may have taken the one name before the test's own cgroup did: then its exec is
  // in "other" too. Either way, all five are somewhere, and the extra service's four in "other".
  CHECK(sum_where(r.families, "bpfex_exec_total", 0, prog.comm) == 5);
  CHECK(sum_where(r.families, "bpfex_exec_total", 0, prog.comm, "other") >= 4);
  CHECK(sum_where(r.families, "bpfex_exec_total", 0, prog.comm, slice + "/extra.service") == 0);
  REQUIRE(r.label_overflows);
  CHECK(*r.label_overflows >= 4);
  CHECK(workloads.exported() == 1);
}

TEST_CASE("attribution: 500 cgroups created and removed leave memory and kernel entries bounded", "[attribution]") {
  KernelFeatures features;
  workload::Workloads workloads(attribution(0s, 512, 0s), workload::cgroup2_mount(), {}, 0ms);
  workload::Workloads syscall_workloads(attribution(0s, 512, 0s), workload::cgroup2_mount(), {}, 0ms);
  auto m = start_module(module_config("exec"), features, &workloads);
  // The syscall module's rows per {cgroup, syscall} and errors per {cgroup, syscall, errno} too.
  const std::string comm = "atb_" + unique_token(8);
  auto calls = start_module(module_config("syscall", "    by_workload: true\n    comms: [" + comm + "]\n"), features,
                            &syscall_workloads);
  const std::string slice = unit();
  UniqueProgram prog;
  for (int i = 0; i < 500; ++i) {
    // Beside each, one that no event ever names (a pod's own slice): a walk sees it, no reading does.
    TestCgroup quiet(slice + "/q" + std::to_string(i) + ".slice");
    TestCgroup c(slice + "/c" + std::to_string(i) + ".service");
    c.run([&] {
      prctl(PR_SET_NAME, comm.c_str());
      syscall(SYS_getppid);
      syscall(SYS_close, -1);
      run_and_wait(prog.path);
    });
    c.remove();
    quiet.remove();
    if (i % 10 == 9) {
      m.read();
      calls.read();
    }
  }
  for (int i = 0; i < 2; ++i) {  // folded, freed, retired
    m.read();
    calls.read();
  }
  // The walker remembers the live cgroups of the host, not the 1000 that went.
  workload::CgroupPaths host(workload::cgroup2_mount(), 0ms);
  host.walk_now(std::chrono::steady_clock::now());
  CHECK(workloads.paths().known() <= host.known() + 20);
  // The kernel entries of the dead cgroups were freed after they were folded.
  CHECK(map_entries("exec_by_comm") < 100);
  size_t series = 0;
  for (const auto& f : m.read().families)
    if (f.name == "bpfex_exec_total") series = f.metric.size();
  CHECK(series < 100);  // the retired workloads' series are gone
  // BPF keeps 15 characters of a map's name.
  CHECK(map_entries(std::string("syscall_workload_rows").substr(0, 15)) < 100);
  CHECK(map_entries("syscall_errors") < 100);
  size_t syscall_series = 0;
  for (const auto& f : calls.read().families)
    if (f.name == "bpfex_syscall_latency_seconds") syscall_series = f.metric.size();
  CHECK(syscall_series < 100);
}

namespace {

// The kubelet's names for the test's pods, as the kubelet client keeps them.
struct TestPods {
  workload::PodTable table;
  workload::PodTable::Pod& operator[](const std::string& uid) { return table.pods[uid]; }
  workload::PodDirectory directory() const {
    return [this](const std::string& uid, const std::string& id) { return table.find(uid, id); };
  }
};

std::string random_hex(size_t n) {
  std::string s = unique_token(n);
  for (char& c : s) c = "0123456789abcdef"[static_cast<unsigned char>(c) % 16];
  return s;
}
std::string random_uid() {
  const std::string h = random_hex(32);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}
std::string underscored(std::string uid) {
  for (char& c : uid)
    if (c == '-') c = '_';
  return uid;
}

// Execs of comm under exactly these workload labels, and under any labels.
double execs_of(const Families& f, const std::string& comm, const workload::WorkloadKey& key) {
  double sum = 0;
  for (const auto& fam : f) {
    if (fam.name != "bpfex_exec_total") continue;
    for (const auto& m : fam.metric)
      if (m.label[0].value == comm && m.label[1].value == key[0] && m.label[2].value == key[1] &&
          m.label[3].value == key[2] && m.label[4].value == key[3])
        sum += m.value;
  }
  return sum;
}

}  // namespace

TEST_CASE("attribution: kubelet-made cgroups (both drivers, every runtime) count under namespace, pod, container",
          "[attribution]") {
  KernelFeatures features;
  TestPods pods;
  workload::Workloads workloads(attribution(), workload::cgroup2_mount(), pods.directory(), 0ms);
  auto m = start_module(module_config("exec"), features, &workloads);
  // The kubepods hierarchy below a prefix of the test's own, as kind nests a node's.
  const std::string prefix = unit();
  struct Shape {
    std::string name;
    std::function<std::string(const std::string& uid, const std::string& id)> path;
  };
  const Shape shapes[] = {
      {"systemd/burstable/containerd",
       [&](auto& uid, auto& id) {
         return prefix + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + underscored(uid) +
                ".slice/cri-containerd-" + id + ".scope";
       }},
      {"systemd/guaranteed/crio",
       [&](auto& uid, auto& id) {
         return prefix + "/kubepods.slice/kubepods-pod" + underscored(uid) + ".slice/crio-" + id + ".scope";
       }},
      {"systemd/besteffort/docker",
       [&](auto& uid, auto& id) {
         return prefix + "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + underscored(uid) +
                ".slice/docker-" + id + ".scope";
       }},
      {"cgroupfs/burstable", [&](auto& uid, auto& id) { return prefix + "/kubepods/burstable/pod" + uid + "/" + id; }},
      {"cgroupfs/guaranteed", [&](auto& uid, auto& id) { return prefix + "/kubepods/pod" + uid + "/" + id; }},
      {"runc cgroupfs under systemd kubelet",
       [&](auto& uid, auto& id) {
         return prefix + "/kubepods-besteffort-pod" + underscored(uid) + ".slice:cri-containerd:" + id;
       }},
  };
  UniqueProgram prog;
  int n = 0;
  for (const Shape& shape : shapes) {
    INFO(shape.name);
    const std::string uid = random_uid(), id = random_hex(64), ns = "ns" + std::to_string(n),
                      pod = "pod" + std::to_string(n);
    pods[uid] = {ns, pod, {{id, "app"}}};
    const int in_container = 3 + n, in_leaf = 2;
    {
      TestCgroup container(shape.path(uid, id)), leaf(shape.path(uid, id) + "/container");  // crun's leaf
      container.run([&] {
        for (int i = 0; i < in_container; ++i) run_and_wait(prog.path);
      });
      leaf.run([&] {
        for (int i = 0; i < in_leaf; ++i) run_and_wait(prog.path);
      });
      const Families f = m.read().families;
      CHECK(execs_of(f, prog.comm, {ns, pod, "app", ""}) == in_container + in_leaf);
      leaf.remove();
    }
    // The container restarted in its pod: a new ID, the same name, the same series, counting on.
    const std::string restarted = random_hex(64);
    pods[uid].containers[restarted] = "app";
    TestCgroup again(shape.path(uid, restarted));
    again.run([&] { run_and_wait(prog.path); });
    CHECK(execs_of(m.read().families, prog.comm, {ns, pod, "app", ""}) == in_container + in_leaf + 1);
    ++n;
  }
  // A pod the kubelet does not know: empty names, never its UID; the sum is exact nowhere else.
  const std::string stranger = random_uid(), id = random_hex(64);
  TestCgroup unknown(prefix + "/kubepods/besteffort/pod" + stranger + "/" + id);
  unknown.run([&] { run_and_wait(prog.path); });
  const Families f = m.read().families;
  CHECK(execs_of(f, prog.comm, {"", "", "", ""}) == 1);
  CHECK(sum_where(f, "bpfex_exec_total", 0, prog.comm) == 3 + 4 + 5 + 6 + 7 + 8 + 6 * (2 + 1) + 1);
  for (const auto& fam : f)
    for (const auto& s : fam.metric)
      for (const auto& l : s.label) CHECK(l.value.find(stranger) == std::string::npos);
}

namespace {

// The value (a counter's, or a histogram's count) of metric's series whose first label is first and
// whose workload labels (the last four) are key, summed.
double value_under(const Families& families, const std::string& metric, const std::string& first,
                   const workload::WorkloadKey& key) {
  double sum = 0;
  for (const auto& f : families) {
    if (f.name != metric) continue;
    for (const auto& s : f.metric) {
      REQUIRE(s.label.size() >= 5);
      const size_t w = s.label.size() - 4;  // the workload labels come last
      if (s.label[0].value != first) continue;
      if (s.label[w].value != key[0] || s.label[w + 1].value != key[1] || s.label[w + 2].value != key[2] ||
          s.label[w + 3].value != key[3])
        continue;
      sum += f.type == MetricType::Histogram ? static_cast<double>(s.histogram.sample_count) : s.value;
    }
  }
  return sum;
}

}  // namespace

TEST_CASE(
    "attribution: failed execs, syscalls and their failures in a pod's container count under its names; a "
    "second container ID continues them, and they retire after the pod's last container went",
    "[attribution]") {
  KernelFeatures features;
  TestPods pods;
  workload::Workloads exec_workloads(attribution(0s, 512, 2s), workload::cgroup2_mount(), pods.directory(), 0ms);
  workload::Workloads syscall_workloads(attribution(0s, 512, 2s), workload::cgroup2_mount(), pods.directory(), 0ms);
  const std::string comm = "atp_" + unique_token(8);
  auto execs = start_module(module_config("exec"), features, &exec_workloads);
  auto calls = start_module(module_config("syscall", "    by_workload: true\n    comms: [" + comm + "]\n"), features,
                            &syscall_workloads);
  const std::string uid = random_uid(), id = random_hex(64);
  pods[uid] = {"shop", "web-0", {{id, "nginx"}}};
  const std::string pod_path = unit() + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                               underscored(uid) + ".slice/cri-containerd-";
  constexpr int kFailedExecs = 4, kCalls = 17, kFailures = 5;
  const std::string missing = "/nonexistent-" + comm;
  auto work = [&] {
    for (int i = 0; i < kFailedExecs; ++i) run_and_wait(missing);
    prctl(PR_SET_NAME, comm.c_str());
    for (int i = 0; i < kCalls; ++i) syscall(SYS_getppid);
    for (int i = 0; i < kFailures; ++i) syscall(SYS_close, -1);
  };
  const workload::WorkloadKey key = {"shop", "web-0", "nginx", ""};
  // Under the pod's names, and (for the calls, which the comms filter keeps to this test) nowhere else.
  auto check = [&](int runs) {
    const Families e = execs.read().families, c = calls.read().families;
    CHECK(value_under(e, "bpfex_exec_errors_total", "ENOENT", key) == runs * kFailedExecs);
    CHECK(value_under(c, "bpfex_syscall_latency_seconds", "getppid", key) == runs * kCalls);
    CHECK(value_under(c, "bpfex_syscall_errors_total", "close", key) == runs * kFailures);
    double getppids = 0;
    for (const auto& f : c)
      if (f.name == "bpfex_syscall_latency_seconds")
        for (const auto& s : f.metric)
          if (s.label[0].value == "getppid") getppids += static_cast<double>(s.histogram.sample_count);
    CHECK(getppids == runs * kCalls);
  };
  {
    TestCgroup container(pod_path + id + ".scope");
    container.run(work);
    check(1);
    container.remove();  // the container is killed: its counts stay with the pod's series
    check(1);
  }
  // Restarted in the same pod: a new container ID, the same name, the series counting on.
  const std::string restarted = random_hex(64);
  pods[uid].containers[restarted] = "nginx";
  TestCgroup again(pod_path + restarted + ".scope");
  again.run(work);
  check(2);
  again.remove();
  check(2);
  std::this_thread::sleep_for(2500ms);  // retire_after since the pod's last container went
  const Families e = execs.read().families, c = calls.read().families;
  CHECK(value_under(e, "bpfex_exec_errors_total", "ENOENT", key) == 0);
  CHECK(value_under(c, "bpfex_syscall_latency_seconds", "getppid", key) == 0);
  CHECK(value_under(c, "bpfex_syscall_errors_total", "close", key) == 0);
}
