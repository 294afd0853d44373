// User programs (examples/programs, tests/programs) loaded as bpfex loads them: real BPF, a known
// number of events caused by a thread named "bpfexprobe..." (the examples count only such tasks),
// and the exported series checked exactly: names, labels, values. Then the broken ones: a verifier
// rejection, fentry and kprobe where the kernel refuses them, a full map, the series cap, a key size
// that does not match.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "app/app.h"
#include "helpers.h"
#include "labels/utf8.h"
#include "loader/features.h"
#include "loader/skeleton.h"
#include "programs/program_config.h"
#include "programs/program_module.h"
#include "workload/cgroupfs.h"

using namespace bpfex;
using namespace bpfex::test;
namespace fs = std::filesystem;

namespace {

const std::string kPrograms = std::string(BPFEX_BINARY_DIR) + "/programs";
const std::string kTestPrograms = std::string(BPFEX_BINARY_DIR) + "/test_programs";

programs::ProgramsOptions options_for(const std::string& dir, const std::string& name) {
  programs::ProgramsOptions o;
  o.dir = dir;
  o.names = {name};
  return o;
}

std::vector<programs::ProgramConfig> load(const programs::ProgramsOptions& o) {
  auto r = programs::load_programs(o);
  if (auto* e = std::get_if<std::vector<ConfigError>>(&r)) FAIL(e->front().str());
  return std::get<std::vector<programs::ProgramConfig>>(std::move(r));
}

struct Program {
  std::unique_ptr<Module> module;
  ModuleReading read() {
    ModuleReading r;
    Status st = module->read(r);
    if (!st) FAIL("read: " << st.error().str());
    return r;
  }
};

Program start(const std::string& name, programs::ProgramsOptions o = {}) {
  if (o.names.empty()) o = options_for(kPrograms, name);
  install_libbpf_logger();
  auto configs = load(o);
  KernelFeatures features;
  ModuleContext context{features, nullptr};
  Program p{programs::make_program_module(configs.at(0), o)};
  Status st = p.module->start(context);
  if (!st) FAIL("start " << name << ": " << st.error().str());
  report_attached("program:" + name, p.module->programs());
  return p;
}

// Runs fn on a thread of its own named "bpfexprobe" (optionally pinned to cpu) and waits for it.
void as_probe(const std::function<void()>& fn, int cpu = -1) {
  std::thread t([&] {
    prctl(PR_SET_NAME, "bpfexprobe", 0, 0, 0);
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof set, &set);
    }
    fn();
  });
  t.join();
}

const bpfex::Metric* find_series(const Families& families, const std::string& name,
                                 const std::vector<std::string>& labels) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      if (m.label.size() != labels.size()) continue;
      bool match = true;
      for (size_t i = 0; i < labels.size(); ++i) match = match && m.label[i].value == labels[i];
      if (match) return &m;
    }
  }
  return nullptr;
}

size_t series_count(const Families& families, const std::string& name) {
  for (const auto& f : families)
    if (f.name == name) return f.metric.size();
  return 0;
}

// "le:cumulative" for every finite bucket, then the count and the sum.
std::string histogram_text(const Families& families, const std::string& name) {
  const auto* m = find_series(families, name, {});
  if (!m) return "absent";
  std::ostringstream out;
  for (const auto& b : m->histogram.classic_buckets())
    if (std::isfinite(b.upper_bound)) out << b.upper_bound << ":" << b.cumulative_count << " ";
  out << "count " << m->histogram.sample_count << " sum " << m->histogram.sample_sum;
  return out.str();
}

std::string unique_missing_path() { return "/nonexistent-bpfex-" + unique_token(); }

}  // namespace

TEST_CASE("user program execs: execs by task name (string), and by family through a regexp") {
  Program p = start("execs");
  const std::string dir = "/tmp/bpfex-programs-" + unique_token();
  fs::create_directories(dir);
  const std::string probe = dir + "/bpfexprobe_ex";
  fs::copy_file("/bin/true", probe);
  for (int i = 0; i < 5; ++i) REQUIRE(run_and_wait(probe) == 0);
  const Families f = p.read().families;
  fs::remove_all(dir);
  CHECK(value_of(f, "bpfex_exec_comms_total", {"bpfexprobe_ex"}) == 5);
  CHECK(value_of(f, "bpfex_exec_families_total", {"bpfexprobe"}) == 5);
  // Every other name matched no regexp: dropped, not exported.
  CHECK(series_count(f, "bpfex_exec_families_total") == 1);
}

TEST_CASE("user program syscall_errors: failed syscalls by syscall and errno name (uint + syscall, uint + errno)") {
  Program p = start("syscall_errors");
  as_probe([] {
    for (int i = 0; i < 7; ++i) CHECK(open(unique_missing_path().c_str(), O_RDONLY) == -1);
    for (int i = 0; i < 3; ++i) CHECK(close(-1) == -1);
  });
  const Families f = p.read().families;
  CHECK(value_of(f, "bpfex_syscall_errors_total", {"openat", "ENOENT"}) == 7);
  CHECK(value_of(f, "bpfex_syscall_errors_total", {"close", "EBADF"}) == 3);
}

TEST_CASE("user program read_sizes: one histogram per bucket type, exact buckets, counts and sums") {
  Program p = start("read_sizes");
  as_probe([] {
    char buf[16];
    for (size_t n = 0; n <= 8; ++n) CHECK(read(-1, buf, n) == -1);
  });
  const Families f = p.read().families;
  // exp2 observes 1..8; the rest observe 0..8.
  CHECK(histogram_text(f, "bpfex_read_sizes_exp2") ==
        "1:1 2:2 4:4 8:8 16:8 32:8 64:8 128:8 256:8 512:8 1024:8 count 8 sum 36");
  CHECK(histogram_text(f, "bpfex_read_sizes_exp2zero") ==
        "0:1 1:2 2:3 4:5 8:9 16:9 32:9 64:9 128:9 256:9 512:9 count 9 sum 36");
  CHECK(histogram_text(f, "bpfex_read_sizes_linear") ==
        "0:1 0.001:2 0.002:3 0.003:4 0.004:5 0.005:6 0.006:7 0.007:8 0.008:9 count 9 sum 0.036");
  CHECK(histogram_text(f, "bpfex_read_sizes_fixed") == "1:2 4:5 16:9 count 9 sum 36");
}

TEST_CASE("user program percpu_calls: per-CPU maps with and without the cpu label") {
  Program p = start("percpu_calls");
  cpu_set_t allowed;
  REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
  int cpu = 0;
  while (!CPU_ISSET(cpu, &allowed)) ++cpu;
  as_probe(
      [] {
        for (int i = 0; i < 11; ++i) syscall(SYS_getppid);
      },
      cpu);
  const Families f = p.read().families;
  const std::string c = std::to_string(cpu);
  CHECK(value_of(f, "bpfex_getppid_per_cpu_total", {c}) == 11);
  CHECK(series_count(f, "bpfex_getppid_per_cpu_total") == static_cast<size_t>(libbpf_num_possible_cpus()));
  double elsewhere = 0;
  for (int other = 0; other < libbpf_num_possible_cpus(); ++other)
    if (other != cpu) elsewhere += value_of(f, "bpfex_getppid_per_cpu_total", {std::to_string(other)});
  CHECK(elsewhere == 0);
  CHECK(value_of(f, "bpfex_syscalls_per_cpu_total", {"getppid", c}) == 11);
  CHECK(value_of(f, "bpfex_syscalls_total", {"getppid"}) == 11);
}

TEST_CASE("user program xdp_udp: SEC(\"xdp/lo\") attached to lo; ifname, inet_ip, static_map with padding") {
  Program p = start("xdp_udp");
  auto send = [](int family, const char* address, int n) {
    const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(39999);
      inet_pton(AF_INET, address, &sin->sin_addr);
      len = sizeof *sin;
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(39999);
      inet_pton(AF_INET6, address, &sin6->sin6_addr);
      len = sizeof *sin6;
    }
    for (int i = 0; i < n; ++i) CHECK(sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len) == 1);
    close(fd);
  };
  send(AF_INET, "127.0.0.1", 4);
  send(AF_INET6, "::1", 3);
  // sendto() on loopback may leave the packets to ksoftirqd (slow guests do): read until all 7 went
  // through XDP, then check each count exactly.
  Families f = p.read().families;
  for (int i = 0; i < 100 && value_of(f, "bpfex_udp_interfaces_total", {"lo"}) < 7; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    f = p.read().families;
  }
  CHECK(value_of(f, "bpfex_udp_interfaces_total", {"lo"}) == 7);
  CHECK(value_of(f, "bpfex_udp_sources_ipv4_total", {"127.0.0.1"}) == 4);
  CHECK(value_of(f, "bpfex_udp_sources_ipv6_total", {"::1"}) == 3);
  CHECK(value_of(f, "bpfex_udp_protocols_total", {"udp"}) == 7);
}

TEST_CASE("user program kstacks: kaddrs written before load, decoded by ksym; kernel stacks by kstack") {
  Program p = start("kstacks");
  as_probe([] {
    for (int i = 0; i < 6; ++i) syscall(SYS_getppid);
  });
  const Families f = p.read().families;
  // Every name kallsyms has at do_syscall_64's address (an alias would be as right).
  std::set<std::string> names;
  {
    std::ifstream in("/proc/kallsyms");
    std::map<std::string, std::vector<std::string>> by_addr;
    std::string addr, type, name, target;
    for (std::string line; std::getline(in, line);) {
      std::istringstream(line) >> addr >> type >> name;
      by_addr[addr].push_back(name);
      if (name == "do_syscall_64") target = addr;
    }
    REQUIRE_FALSE(target.empty());
    names.insert(by_addr[target].begin(), by_addr[target].end());
  }
  double entries = 0;
  for (const auto& n : names) entries += value_of(f, "bpfex_getppid_entries_total", {n});
  CHECK(entries == 6);
  double stacks = 0;
  for (const auto& fam : f)
    if (fam.name == "bpfex_getppid_stacks_total")
      for (const auto& m : fam.metric) {
        stacks += m.value;
        INFO("stack " << m.label[0].value);
        CHECK_FALSE(m.label[0].value.empty());
        CHECK(m.label[0].value.find("??") == std::string::npos);
      }
  CHECK(stacks == 6);
}

TEST_CASE("user program user_bytes: majorminor, dname, string with any bytes, hex, static_map, cgroup") {
  Program p = start("user_bytes");
  struct stat root {};
  REQUIRE(stat("/", &root) == 0);
  const auto dev = static_cast<uint32_t>(root.st_dev);
  std::string expected_device =
      "unknown:" + std::to_string(major(root.st_dev)) + ":" + std::to_string(minor(root.st_dev));
  {
    std::ifstream in("/proc/partitions");
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      unsigned maj = 0, min = 0;
      unsigned long long blocks = 0;
      std::string name;
      if (fields >> maj >> min >> blocks >> name && maj == major(root.st_dev) && min == minor(root.st_dev))
        expected_device = name;
    }
  }
  std::string cgroup;
  as_probe([&] {
    CHECK(write(-101, &dev, 4) == -1);
    char dname[32] =
        "\x07"
        "example\x03"
        "com";
    CHECK(write(-102, dname, sizeof dname) == -1);
    char text[16] = "bpf\xff\xfeok";
    CHECK(write(-103, text, sizeof text) == -1);
    const unsigned char bytes[8] = {1, 2, 3, 4, 5, 6, 7, 0xab};
    CHECK(write(-104, bytes, sizeof bytes) == -1);
    for (uint32_t code : {1u, 7u, 7u}) CHECK(write(-105, &code, 4) == -1);
    std::ifstream in("/proc/thread-self/cgroup");
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("0::")) cgroup = line.substr(3);
  });
  const Families f = p.read().families;
  CHECK(value_of(f, "bpfex_user_devices_total", {expected_device}) == 1);
  CHECK(value_of(f, "bpfex_user_dnames_total", {"example.com"}) == 1);
  CHECK(value_of(f, "bpfex_user_strings_total", {labels::sanitize_utf8("bpf\xff\xfeok")}) == 1);
  CHECK(value_of(f, "bpfex_user_hex_total", {"01020304050607ab"}) == 1);
  CHECK(value_of(f, "bpfex_user_codes_total", {"one"}) == 1);
  CHECK(value_of(f, "bpfex_user_codes_total", {"7"}) == 2);
  // The directory in the cgroup v2 hierarchy, wherever it is mounted (/sys/fs/cgroup/unified on
  // hybrid hosts).
  const std::string mount = workload::cgroup2_mount();
  const std::string cgroup_path = cgroup == "/" ? mount : mount + cgroup;
  CHECK(value_of(f, "bpfex_user_cgroups_total", {cgroup_path}) == 7);
}

TEST_CASE("user program open_errors: an array by errno, every index a series") {
  Program p = start("open_errors");
  as_probe([] {
    for (int i = 0; i < 5; ++i) CHECK(open(unique_missing_path().c_str(), O_RDONLY) == -1);
    for (int i = 0; i < 2; ++i) CHECK(open("/", O_WRONLY) == -1);
  });
  const Families f = p.read().families;
  CHECK(value_of(f, "bpfex_open_errors_total", {"ENOENT"}) == 5);
  CHECK(value_of(f, "bpfex_open_errors_total", {"EISDIR"}) == 2);
  CHECK(find_series(f, "bpfex_open_errors_total", {"unknown:0"}) != nullptr);  // index 0
  CHECK(series_count(f, "bpfex_open_errors_total") == 134);
}

TEST_CASE("broken user programs fail alone, each with its reason; the others run") {
  install_libbpf_logger();
  Config config = default_config();
  for (ModuleConfig& m : config.modules) m.enabled = false;
  config.programs.dir = kTestPrograms;
  config.programs.names = {"verifier_reject", "fentry_only", "kprobe_only", "full_map"};
  config.program_configs = load(config.programs);
  KernelFeatures features;
  ModuleContext context{features, nullptr};
  std::vector<RunningModule> modules = start_modules(config, context);
  std::map<std::string, const RunningModule*> by_name;
  for (const auto& m : modules) by_name[m.status.name] = &m;

  const RunningModule* rejected = by_name.at("program:verifier_reject");
  CHECK_FALSE(rejected->status.up);
  CHECK_THAT(rejected->status.reason, Catch::Contains("invalid mem access 'map_value_or_null'"));

  // fentry and kprobe: down with the kernel's reason where it refuses them, up where it has them.
  const bool fentry = features.can_attach(Flavour::fentry, "do_sys_openat2");
  const bool kprobe = features.can_attach(Flavour::kprobe, "do_sys_openat2");
  std::fprintf(stderr, "programs: fentry %s, kprobe %s on this kernel\n", fentry ? "yes" : "no", kprobe ? "yes" : "no");
  const RunningModule* fe = by_name.at("program:fentry_only");
  CHECK(fe->status.up == fentry);
  if (!fentry) CHECK_THAT(fe->status.reason, Catch::Contains("load BPF programs"));
  const RunningModule* kp = by_name.at("program:kprobe_only");
  CHECK(kp->status.up == kprobe);
  if (!kprobe) CHECK_THAT(kp->status.reason, Catch::Contains("attach kprobe_only_kprobe"));

  // The full map: running, and its fill visible.
  RunningModule* full = const_cast<RunningModule*>(by_name.at("program:full_map"));
  REQUIRE(full->status.up);
  as_probe([] {
    syscall(SYS_getppid);
    syscall(SYS_getpid);
    syscall(SYS_getuid);
    syscall(SYS_getgid);
    syscall(SYS_geteuid);
    syscall(SYS_getegid);
  });
  ModuleReading r;
  REQUIRE(full->module->read(r).ok());
  CHECK(value_of(r.families, "bpfex_program_map_entries", {"program:full_map", "crowded_syscalls_total"}) == 4);
  CHECK(value_of(r.families, "bpfex_program_map_max_entries", {"program:full_map", "crowded_syscalls_total"}) == 4);
}

TEST_CASE("a user program with nothing attached is down, strict or not") {
  install_libbpf_logger();
  KernelFeatures features;
  if (features.can_attach(Flavour::kprobe, "do_sys_openat2")) {
    std::fprintf(stderr, "programs: kprobes attach here; the strict case is covered on kernels without them\n");
    return;
  }
  const std::string dir = "/tmp/bpfex-programs-" + unique_token();
  fs::create_directories(dir);
  fs::create_symlink(kTestPrograms + "/kprobe_only.bpf.o", dir + "/kprobe_only.bpf.o");
  fs::copy_file(kTestPrograms + "/kprobe_only.yaml", dir + "/kprobe_only.yaml");
  for (bool strict : {false, true}) {
    programs::ProgramsOptions o = options_for(dir, "kprobe_only");
    o.strict = strict;
    auto configs = load(o);
    ModuleContext context{features, nullptr};
    auto m = programs::make_program_module(configs.at(0), o);
    Status st = m->start(context);
    CHECK_FALSE(st.ok());
  }
  fs::remove_all(dir);
}

TEST_CASE("the series cap: label sets past max_series_per_metric are summed into \"other\" and counted") {
  programs::ProgramsOptions o = options_for(kPrograms, "user_bytes");
  o.max_series_per_metric = 2;
  Program p = start("user_bytes", o);
  as_probe([] {
    for (uint32_t code : {1u, 2u, 3u, 4u, 4u, 5u}) CHECK(write(-105, &code, 4) == -1);
  });
  const ModuleReading r = p.read();
  double total = 0;
  for (const auto& fam : r.families)
    if (fam.name == "bpfex_user_codes_total")
      for (const auto& m : fam.metric) total += m.value;
  CHECK(total == 6);
  CHECK(series_count(r.families, "bpfex_user_codes_total") == 3);
  const double other = value_of(r.families, "bpfex_user_codes_total", {"other"});
  CHECK((other == 3 || other == 4));  // two of the five codes kept their series
  CHECK(value_of(r.families, "bpfex_program_series_overflow", {"program:user_bytes", "user_codes_total"}) == 3);
  REQUIRE(r.label_overflows);
  CHECK(static_cast<double>(*r.label_overflows) == other);
}

TEST_CASE("a program config whose labels do not add up to the map's key size is a config error at the metric") {
  const std::string dir = "/tmp/bpfex-programs-" + unique_token();
  fs::create_directories(dir);
  fs::create_symlink(kPrograms + "/open_errors.bpf.o", dir + "/open_errors.bpf.o");
  std::ofstream(dir + "/open_errors.yaml") << "metrics:\n  counters:\n    - name: open_errors_total\n      help: x\n"
                                              "      labels:\n        - name: errno\n          size: 8\n"
                                              "          decoders:\n            - name: uint\n"
                                              "    - name: no_such_map\n      help: y\n";
  auto r = programs::load_programs(options_for(dir, "open_errors"));
  fs::remove_all(dir);
  REQUIRE(std::holds_alternative<std::vector<ConfigError>>(r));
  const auto& errors = std::get<std::vector<ConfigError>>(r);
  REQUIRE(errors.size() == 2);
  CHECK_THAT(errors[0].str(), Catch::EndsWith("open_errors.yaml:3:7: error: map \"open_errors_total\" has 4-byte keys, "
                                              "the labels' sizes and paddings add up to 8"));
  CHECK_THAT(errors[1].str(), Catch::Contains("open_errors.yaml:10:7: error: no map named \"no_such_map\""));
}
