// Shared by the integration tests: real processes, real modules, values read back from families.
#pragma once

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "config/config.h"
#include "modules/module.h"
#include "workload/workloads.h"

namespace bpfex::test {

// Open file descriptors of this process, for leak checks.
inline int open_fd_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// A short random token, so that names created by one test run are unique.
inline std::string unique_token(size_t len = 6) {
  static std::mt19937_64 rng{std::random_device{}()};
  const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (size_t i = 0; i < len; ++i) s.push_back(alphabet[rng() % 36]);
  return s;
}

// Runs path (argv[0] = path) and waits; returns the exit status or -1 when the exec failed.
inline int run_and_wait(const std::string& path) {
  pid_t pid = fork();
  if (pid == 0) {
    execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Module options from a YAML snippet for one module, through the real config parser.
inline ModuleConfig module_config(const std::string& name, const std::string& options_yaml = "") {
  std::string yaml = "modules:\n  " + name + ":\n    enabled: true\n" + options_yaml;
  auto r = parse_config(yaml, "test.yaml");
  if (auto* e = std::get_if<std::vector<ConfigError>>(&r)) FAIL(e->front().str());
  return *std::get<Config>(r).module(name);
}

// What attached, one line per program on stderr ("attached: exec exec_tp_btf tp_btf
// sched_process_exec"), so that a run's log shows which flavours ran on this kernel (the guest lane
// sums them up: tests/guest/suite.sh).
inline void report_attached(const std::string& what, const std::vector<LoadedProgram>& programs) {
  for (const auto& p : programs)
    std::fprintf(stderr, "attached: %s %s %s %s\n", what.c_str(), p.name.c_str(), p.flavour.c_str(), p.target.c_str());
}

struct StartedModule {
  std::unique_ptr<Module> module;
  workload::Workloads* workloads = nullptr;  // begun before each read, as the poller does

  ModuleReading read() {
    if (workloads) workloads->begin_poll(std::chrono::steady_clock::now());
    ModuleReading r;
    Status st = module->read(r);
    if (!st) FAIL("read: " << st.error().str());
    return r;
  }
};

// workloads: the attribution service the module gets (null: none; by_workload then counts without).
inline StartedModule start_module(const ModuleConfig& mc, Features& features,
                                  workload::Workloads* workloads = nullptr) {
  const ModuleSpec* spec = find_module_spec(mc.name);
  REQUIRE(spec);
  StartedModule m{spec->create(*mc.options), workloads};
  ModuleContext context{features, workloads};
  Status st = m.module->start(context);
  if (!st) FAIL("start " << mc.name << ": " << st.error().str());
  report_attached(mc.name, m.module->programs());
  return m;
}

// Value of a counter or gauge series with the given label values (in label order); 0 when absent.
inline double value_of(const Families& families, const std::string& name, const std::vector<std::string>& labels) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      if (m.label.size() != labels.size()) continue;
      bool match = true;
      for (size_t i = 0; i < labels.size(); ++i) match = match && m.label[i].value == labels[i];
      if (match) return m.value;
    }
  }
  return 0;
}

}  // namespace bpfex::test
