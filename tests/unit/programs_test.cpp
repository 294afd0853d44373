// User programs without the kernel: ebpf_exporter's YAML read strictly (errors with line:column) and
// histogram maps turned into buckets for each bucket type, from crafted map contents.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "programs/histogram.h"
#include "programs/program_config.h"

using namespace bpfex;
using namespace bpfex::programs;

namespace {

ProgramConfig parsed(const std::string& yaml) {
  auto r = parse_program_config(yaml, "p.yaml", "p");
  if (auto* e = std::get_if<std::vector<ConfigError>>(&r)) {
    for (const auto& x : *e) UNSCOPED_INFO(x.str());
    FAIL("expected a valid program config");
  }
  return std::get<ProgramConfig>(std::move(r));
}

std::vector<std::string> errors_of(const std::string& yaml) {
  auto r = parse_program_config(yaml, "p.yaml", "p");
  REQUIRE(std::holds_alternative<std::vector<ConfigError>>(r));
  std::vector<std::string> out;
  for (const auto& e : std::get<std::vector<ConfigError>>(r)) out.push_back(e.str());
  return out;
}

programs::Metric histogram(BucketType type, int64_t min, int64_t max, double multiplier = 1,
                           std::vector<double> keys = {}) {
  programs::Metric m;
  m.histogram = true;
  m.bucket_type = type;
  m.bucket_min = min;
  m.bucket_max = max;
  m.bucket_multiplier = multiplier;
  m.bucket_keys = std::move(keys);
  return m;
}

// Cumulative counts at each bound, then the count (+Inf).
std::vector<uint64_t> cumulative(const HistogramData& h) {
  std::vector<uint64_t> out;
  uint64_t c = 0;
  for (uint64_t n : h.counts) out.push_back(c += n);
  return out;
}

}  // namespace

TEST_CASE("exp2: values 1..8 in log2 slots give le 1:1, 2:2, 4:4, 8:8, count 8, sum 36") {
  // Slot k holds values in (2^(k-1), 2^k]: 1 -> 0, 2 -> 1, 3..4 -> 2, 5..8 -> 3; the sum at key max + 1.
  const programs::Metric m = histogram(BucketType::exp2, 0, 3);
  const HistogramData h = histogram_of({{0, 1}, {1, 1}, {2, 2}, {3, 4}, {4, 36}}, m);
  CHECK(h.upper_bounds == std::vector<double>{1, 2, 4, 8});
  CHECK(cumulative(h) == std::vector<uint64_t>{1, 2, 4, 8, 8});
  CHECK(h.sum == 36);
}

TEST_CASE("exp2zero: values 0..8 give le 0:1, 1:2, 2:3, 4:5, 8:9, count 9, sum 36") {
  const programs::Metric m = histogram(BucketType::exp2zero, 0, 4);
  const HistogramData h = histogram_of({{0, 1}, {1, 1}, {2, 1}, {3, 2}, {4, 4}, {5, 36}}, m);
  CHECK(h.upper_bounds == std::vector<double>{0, 1, 2, 4, 8});
  CHECK(cumulative(h) == std::vector<uint64_t>{1, 2, 3, 5, 9, 9});
  CHECK(h.sum == 36);
}

TEST_CASE("linear: key k is bound k times the multiplier; missing keys are empty buckets") {
  const programs::Metric m = histogram(BucketType::linear, 1, 4, 0.5);
  const HistogramData h = histogram_of({{1, 3}, {4, 2}, {5, 10}}, m);
  CHECK(h.upper_bounds == std::vector<double>{0.5, 1, 1.5, 2});
  CHECK(cumulative(h) == std::vector<uint64_t>{3, 3, 3, 5, 5});
  CHECK(h.sum == 5);
}

TEST_CASE("fixed: bucket_keys are the bounds; the sum at the last key + 1; keys between count above") {
  const programs::Metric m = histogram(BucketType::fixed, 0, 0, 0.001, {1, 10, 100});
  const HistogramData h = histogram_of({{1, 1}, {5, 2}, {10, 1}, {100, 1}, {101, 250}}, m);
  CHECK(h.upper_bounds == std::vector<double>{0.001, 0.01, 0.1});
  CHECK(cumulative(h) == std::vector<uint64_t>{1, 4, 5, 5});
  CHECK(h.sum == Approx(0.25));
}

TEST_CASE("keys outside the range are counted, not dropped: below in the first bucket, above in +Inf") {
  const programs::Metric m = histogram(BucketType::exp2, 2, 4);
  const HistogramData h = histogram_of({{0, 1}, {3, 1}, {9, 1}, {5, 7}}, m);
  CHECK(cumulative(h) == std::vector<uint64_t>{1, 2, 2, 3});
  CHECK(h.sum == 7);
}

TEST_CASE("a program config in ebpf_exporter's format") {
  const ProgramConfig c = parsed(R"(
metrics:
  counters:
    - name: syscalls_total
      help: Syscalls by name
      labels:
        - name: syscall
          size: 8
          decoders:
            - name: uint
            - name: syscall
  histograms:
    - name: read_sizes
      help: Read sizes
      bucket_type: exp2
      bucket_min: 0
      bucket_max: 3
      labels:
        - name: comm
          size: 16
          decoders:
            - name: string
        - name: bucket
          size: 4
          padding: 4
          decoders:
            - name: uint
kaddrs:
  - do_sys_openat2
)");
  REQUIRE(c.metrics.size() == 2);
  CHECK(c.metrics[0].name == "syscalls_total");
  CHECK(c.metrics[0].key_bytes() == 8);
  CHECK(c.metrics[1].histogram);
  CHECK(c.metrics[1].key_bytes() == 24);
  CHECK(c.kaddrs == std::vector<std::string>{"do_sys_openat2"});
}

TEST_CASE("tracing: is accepted and ignored; unknown keys are errors with line and column") {
  const ProgramConfig c = parsed("metrics:\n  counters:\n    - name: a\n      help: b\ntracing:\n  spans: []\n");
  CHECK(c.has_tracing);
  const auto errors = errors_of("metrics:\n  counters:\n    - name: a\n      help: b\n      colour: red\n");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("p.yaml:5:7: error: metrics.counters[0].colour: unknown key"));
}

TEST_CASE("broken program configs: every error at once, each at its line and column") {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"metrics: [\n", "p.yaml:2:1: error: invalid YAML"},
      {"{}\n", "neither metrics nor tracing"},
      {"metrics:\n  counters:\n    - help: x\n", "p.yaml:3:7: error: metrics.counters[0]: name: is required"},
      {"metrics:\n  counters:\n    - name: a\n", "help: is required"},
      {"metrics:\n  counters:\n    - name: a\n      help: b\n      labels:\n        - name: x\n          decoders:\n"
       "            - name: uint\n",
       "p.yaml:6:11: error: metrics.counters[0].labels[0]: size: is required"},
      {"metrics:\n  counters:\n    - name: a\n      help: b\n      labels:\n        - name: x\n          size: 3\n"
       "          decoders:\n            - name: uint\n",
       "p.yaml:9:15: error: metrics.counters[0].labels[0].decoders: uint decodes fields of 1, 2, 4 or 8 bytes"},
      {"metrics:\n  counters:\n    - name: a\n      help: b\n      labels:\n        - name: x\n          size: 4\n"
       "          decoders:\n            - name: uint\n            - name: ksym\n",
       "p.yaml:10:15: error: metrics.counters[0].labels[0].decoders: ksym decodes the key's bytes"},
      {"metrics:\n  histograms:\n    - name: h\n      help: b\n      bucket_type: exp3\n      labels:\n"
       "        - {name: bucket, size: 4, decoders: [{name: uint}]}\n",
       "bucket_type: expected exp2, exp2zero, linear or fixed"},
      {"metrics:\n  histograms:\n    - name: h\n      help: b\n      bucket_type: exp2\n      bucket_min: 3\n"
       "      bucket_max: 3\n      labels:\n        - {name: bucket, size: 4, decoders: [{name: uint}]}\n",
       "bucket_max must be above bucket_min"},
      {"metrics:\n  histograms:\n    - name: h\n      help: b\n      bucket_type: fixed\n      labels:\n"
       "        - {name: bucket, size: 4, decoders: [{name: uint}]}\n",
       "bucket_type fixed needs bucket_keys"},
      {"metrics:\n  counters:\n    - name: a-b\n      help: b\n", "is not a Prometheus metric name"},
      {"metrics:\n  counters:\n    - name: a\n      help: b\n      labels:\n        - {name: 0x, size: 4, decoders: "
       "[{name: uint}]}\n",
       "is not a Prometheus label name"},
      {"metrics:\n  counters:\n    - name: a\n      help: b\n    - name: a\n      help: c\n", "two metrics named"},
      {"metrics:\n  counters:\n    - name: a\n      help: b\n      perf_event_array: true\n", "not supported"},
      {"cgroup_id_map:\n  name: x\nmetrics:\n  counters:\n    - name: a\n      help: b\n", "not supported by bpfex"},
  };
  for (const Case& c : cases) {
    INFO(c.yaml);
    const auto errors = errors_of(c.yaml);
    bool found = false;
    for (const auto& e : errors) found = found || e.find(c.error) != std::string::npos;
    if (!found)
      for (const auto& e : errors) UNSCOPED_INFO(e);
    CHECK(found);
  }
  // Two broken metrics: both reported.
  CHECK(errors_of("metrics:\n  counters:\n    - name: a\n    - name: b\n").size() == 2);
}

TEST_CASE("--programs.names splits on commas") {
  CHECK(split_names("a,b,,c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(split_names("").empty());
}
