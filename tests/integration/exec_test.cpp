#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "exposition/text_format.h"
#include "helpers.h"
#include "labels/utf8.h"
#include "loader/features.h"

using namespace bpfex;
using namespace bpfex::test;
namespace fs = std::filesystem;

namespace {

// A copy of /bin/true under a unique name (at most 15 bytes: the kernel truncates comm there).
struct UniqueTrue {
  fs::path dir, path;
  std::string comm;
  explicit UniqueTrue(const std::string& prefix) {
    comm = prefix + unique_token(15 - prefix.size());  // prefix may hold raw bytes
    dir = fs::temp_directory_path() / ("bpfex-it-" + unique_token());
    fs::create_directories(dir);
    path = dir / comm;
    fs::copy_file("/bin/true", path);
    fs::permissions(path, fs::perms::owner_all);
  }
  ~UniqueTrue() { fs::remove_all(dir); }
};

double execs_of(StartedModule& m, const std::string& comm) {
  return value_of(m.read().families, "bpfex_exec_total", {comm});
}

}  // namespace

TEST_CASE("exec: N execs of a uniquely named program read exactly N", "[exec]") {
  KernelFeatures features;
  auto m = start_module(module_config("exec"), features);
  UniqueTrue prog("it_");
  CHECK(execs_of(m, prog.comm) == 0);
  constexpr int kRuns = 137;
  for (int i = 0; i < kRuns; ++i) REQUIRE(run_and_wait(prog.path) == 0);
  CHECK(execs_of(m, prog.comm) == kRuns);
  // Reading again without new execs gives the same number: reads are not destructive.
  CHECK(execs_of(m, prog.comm) == kRuns);
}

TEST_CASE("exec: a task name that is not UTF-8 is exported repaired, with its exact count", "[exec]") {
  KernelFeatures features;
  auto m = start_module(module_config("exec"), features);
  UniqueTrue prog("u\xff\xc3_");  // a lone 0xFF and a truncated two-byte sequence
  constexpr int kRuns = 9;
  for (int i = 0; i < kRuns; ++i) REQUIRE(run_and_wait(prog.path) == 0);
  ModuleReading r = m.read();
  const std::string repaired = "u\xEF\xBF\xBD\xEF\xBF\xBD_" + prog.comm.substr(4);
  CHECK(value_of(r.families, "bpfex_exec_total", {repaired}) == kRuns);
  CHECK(labels::is_valid_utf8(serialize_text(r.families)));
}

TEST_CASE("exec: failed execs are counted by errno name", "[exec]") {
  KernelFeatures features;
  auto m = start_module(module_config("exec"), features);
  auto before = m.read().families;
  const double enoent0 = value_of(before, "bpfex_exec_errors_total", {"ENOENT"});
  const double eacces0 = value_of(before, "bpfex_exec_errors_total", {"EACCES"});

  constexpr int kMissing = 11;
  const std::string missing = "/nonexistent-bpfex-" + unique_token();
  for (int i = 0; i < kMissing; ++i) CHECK(run_and_wait(missing) == 127);

  // A file without execute permission: EACCES.
  UniqueTrue prog("na_");
  fs::permissions(prog.path, fs::perms::owner_read | fs::perms::owner_write);
  // Root bypasses permission bits except that at least one x bit must be set for exec.
  constexpr int kDenied = 7;
  for (int i = 0; i < kDenied; ++i) CHECK(run_and_wait(prog.path) == 127);

  auto after = m.read().families;
  // Other processes on the machine may fail execs too: at least ours, and ours exactly when quiet.
  CHECK(value_of(after, "bpfex_exec_errors_total", {"ENOENT"}) - enoent0 >= kMissing);
  CHECK(value_of(after, "bpfex_exec_errors_total", {"EACCES"}) - eacces0 == kDenied);
}

TEST_CASE("exec: past max_comms, execs go to comm=\"other\" and count as overflow", "[exec]") {
  KernelFeatures features;
  auto m = start_module(module_config("exec", "    max_comms: 1\n"), features);
  // The one slot fills with whatever execs first; then our distinct programs must overflow.
  UniqueTrue a("ov_"), b("ov_");
  for (int i = 0; i < 3; ++i) {
    REQUIRE(run_and_wait(a.path) == 0);
    REQUIRE(run_and_wait(b.path) == 0);
  }
  ModuleReading r = m.read();
  const double tracked =
      value_of(r.families, "bpfex_exec_total", {a.comm}) + value_of(r.families, "bpfex_exec_total", {b.comm});
  const double other = value_of(r.families, "bpfex_exec_total", {"other"});
  REQUIRE(r.label_overflows);
  CHECK(tracked <= 3);          // at most one of the two names got the single slot
  CHECK(other >= 6 - tracked);  // the rest went to other
  CHECK(static_cast<double>(*r.label_overflows) == other);
  size_t series = 0;
  for (const auto& f : r.families)
    if (f.name == "bpfex_exec_total") series = f.metric.size();
  CHECK(series <= 2);  // one comm plus other
}

TEST_CASE("exec: the attach point falls back when the preferred one is unavailable", "[exec]") {
  KernelFeatures kernel;
  struct Case {
    std::vector<Flavour> denied;
    std::string expect_exec_flavour;
  };
  // tp_btf -> raw_tp -> tracepoint for the exec hook; fexit -> kretprobe -> tracepoint for returns.
  std::vector<Case> cases = {
      {{}, kernel.can_attach(Flavour::tp_btf, "sched_process_exec") ? "tp_btf" : "raw_tp"},
      {{Flavour::tp_btf}, "raw_tp"},
      {{Flavour::tp_btf, Flavour::raw_tp}, "tracepoint"},
  };
  for (const auto& c : cases) {
    RestrictedFeatures features(kernel, c.denied);
    auto m = start_module(module_config("exec"), features);
    bool found = false;
    for (const auto& p : m.module->programs()) {
      if (p.target.find("sched_process_exec") != std::string::npos) {
        found = true;
        CHECK(p.flavour == c.expect_exec_flavour);
      }
    }
    CHECK(found);
    UniqueTrue prog("fb_");
    for (int i = 0; i < 5; ++i) REQUIRE(run_and_wait(prog.path) == 0);
    CHECK(execs_of(m, prog.comm) == 5);
  }
}

TEST_CASE("exec: failed execs are counted exactly with each flavour of the return hooks", "[exec]") {
  KernelFeatures kernel;
  const std::string execve = kernel.syscall_symbol("execve");
  struct Case {
    std::vector<Flavour> denied;
    Flavour want;
    std::string target;  // what the flavour needs on this kernel
  };
  // fexit -> kretprobe -> the syscall exit tracepoints, each forced by denying the ones before it.
  const std::vector<Case> cases = {
      {{}, Flavour::fexit, execve},
      {{Flavour::fexit}, Flavour::kretprobe, execve},
      {{Flavour::fexit, Flavour::kretprobe}, Flavour::tracepoint, "syscalls/sys_exit_execve"},
  };
  for (const auto& c : cases) {
    INFO("flavour " << flavour_name(c.want));
    if (!kernel.can_attach(c.want, c.target)) {
      WARN("this kernel cannot attach " << flavour_name(c.want) << ": the guest kernels (tests/guest) cover it");
      continue;
    }
    RestrictedFeatures features(kernel, c.denied);
    auto m = start_module(module_config("exec"), features);
    size_t returns = 0;
    for (const auto& p : m.module->programs()) {
      if (p.target.find("execve") == std::string::npos) continue;
      ++returns;
      CHECK(p.flavour == flavour_name(c.want));
    }
    CHECK(returns >= 1);
    const double eacces0 = value_of(m.read().families, "bpfex_exec_errors_total", {"EACCES"});
    UniqueTrue prog("rf_");
    fs::permissions(prog.path, fs::perms::owner_read | fs::perms::owner_write);
    constexpr int kDenied = 9;
    for (int i = 0; i < kDenied; ++i) CHECK(run_and_wait(prog.path) == 127);
    CHECK(value_of(m.read().families, "bpfex_exec_errors_total", {"EACCES"}) - eacces0 == kDenied);
  }
}

TEST_CASE("exec: on a kernel without fexit and kprobes, failed execs use the syscall tracepoints", "[exec]") {
  KernelFeatures kernel;
  const std::string execve = kernel.syscall_symbol("execve");
  const bool fexit = kernel.can_attach(Flavour::fexit, execve);
  const bool kretprobe = kernel.can_attach(Flavour::kretprobe, execve);
  auto m = start_module(module_config("exec"), kernel);
  std::string attach_point;
  for (const auto& p : m.module->programs())
    if (p.target.find("execve") != std::string::npos) attach_point = p.attach_point();
  if (fexit)
    CHECK(attach_point.rfind("fexit ", 0) == 0);
  else if (kretprobe)
    CHECK(attach_point.rfind("kretprobe ", 0) == 0);
  else
    CHECK(attach_point.rfind("tracepoint syscalls/sys_exit_execve", 0) == 0);
}

TEST_CASE("exec: starting and destroying the module leaks no file descriptors", "[exec]") {
  KernelFeatures features;
  features.can_attach(Flavour::tp_btf, "sched_process_exec");  // warm the probe cache (holds BTF)
  { auto warm = start_module(module_config("exec"), features); }
  const int before = open_fd_count();
  for (int i = 0; i < 3; ++i) {
    auto m = start_module(module_config("exec"), features);
    CHECK(open_fd_count() > before);
  }
  CHECK(open_fd_count() == before);
}

TEST_CASE("exec: a module that cannot attach reports why", "[exec]") {
  KernelFeatures kernel;
  RestrictedFeatures nothing(kernel, {Flavour::tp_btf, Flavour::raw_tp, Flavour::tracepoint});
  const ModuleConfig mc = module_config("exec");
  auto module = find_module_spec("exec")->create(*mc.options);
  ModuleContext context{nothing};
  Status st = module->start(context);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("no usable attach point for exec") != std::string::npos);
}

TEST_CASE("exec: a program named \"other\" is exported as \"_other\", never as the overflow", "[exec]") {
  KernelFeatures features;
  auto m = start_module(module_config("exec"), features);
  const fs::path dir = fs::temp_directory_path() / ("bpfex-it-" + unique_token());
  fs::create_directories(dir);
  const fs::path prog = dir / "other";
  fs::copy_file("/bin/true", prog);
  fs::permissions(prog, fs::perms::owner_all);
  constexpr int kRuns = 4;
  for (int i = 0; i < kRuns; ++i) REQUIRE(run_and_wait(prog) == 0);
  ModuleReading r = m.read();
  fs::remove_all(dir);
  CHECK(value_of(r.families, "bpfex_exec_total", {"_other"}) == kRuns);
  CHECK(value_of(r.families, "bpfex_exec_total", {"other"}) == 0);
  REQUIRE(r.label_overflows);
  CHECK(*r.label_overflows == 0);
}
