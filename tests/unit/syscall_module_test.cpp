// The syscall module's arithmetic and configuration, without a kernel.
#include <catch2/catch.hpp>

#include "config/config.h"
#include "kernel/log2_histogram.h"
#include "modules/syscall.h"

using namespace bpfex;
using namespace bpfex::syscall_latency;

namespace {

std::vector<ConfigError> syscall_errors_of(const std::string& options) {
  auto r = parse_config("modules:\n  syscall:\n" + options, "test.yaml");
  REQUIRE(std::holds_alternative<std::vector<ConfigError>>(r));
  return std::get<std::vector<ConfigError>>(r);
}

// The single error as "line:col key: message".
std::string only_error(const std::string& options) {
  auto errors = syscall_errors_of(options);
  REQUIRE(errors.size() == 1);
  const auto& e = errors[0];
  return std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.key + ": " + e.message;
}

bool valid(const std::string& options) {
  return std::holds_alternative<Config>(parse_config("modules:\n  syscall:\n" + options, "test.yaml"));
}

}  // namespace

TEST_CASE("the kernel's log2 rule: ceil(log2 v), exact powers of two in their own bucket") {
  // kernel/log2_histogram.h is the BPF programs' own code, compiled here as well.
  const std::vector<std::pair<uint64_t, uint32_t>> rows = {
      {0, 0},
      {1, 0},
      {2, 1},
      {3, 2},
      {4, 2},
      {5, 3},
      {1000, 10},
      {1024, 10},
      {1025, 11},
      {uint64_t{1} << 32, 32},
      {(uint64_t{1} << 32) + 1, 33},
      {uint64_t{1} << 63, 63},
      {UINT64_MAX, 64},
  };
  for (const auto& [v, want] : rows) {
    INFO("v = " << v);
    CHECK(bpfex_log2_ceil(v) == want);
  }
  for (uint32_t k = 1; k < 64; ++k) {
    CHECK(bpfex_log2_ceil(uint64_t{1} << k) == k);
    CHECK(bpfex_log2_ceil((uint64_t{1} << k) + 1) == k + 1);
  }
}

TEST_CASE("syscall buckets: a latency of exactly 2^k ns is in bucket le=2^k, 2^k+1 in the next") {
  const Buckets b{10, 25};  // le = 2^10 .. 2^34 ns, then +Inf
  CHECK(b.index_of(uint64_t{1} << 10) == 0);
  CHECK(b.index_of((uint64_t{1} << 10) + 1) == 1);
  CHECK(b.index_of(uint64_t{1} << 11) == 1);
  CHECK(b.index_of(uint64_t{1} << 20) == 10);
  CHECK(b.index_of((uint64_t{1} << 20) + 1) == 11);
  CHECK(b.index_of((uint64_t{1} << 21) - 1) == 11);
  CHECK(b.index_of(uint64_t{1} << 34) == 24);  // the last finite bucket
}

TEST_CASE("syscall buckets: below the range folds into the first bucket, above into +Inf") {
  const Buckets b{10, 25};
  CHECK(b.index_of(0) == 0);
  CHECK(b.index_of(1) == 0);
  CHECK(b.index_of(2) == 0);
  CHECK(b.index_of(1000) == 0);
  CHECK(b.index_of((uint64_t{1} << 34) + 1) == 25);  // +Inf
  CHECK(b.index_of(UINT64_MAX) == 25);
  const Buckets one{0, 1};  // le=1ns, then +Inf
  CHECK(one.index_of(0) == 0);
  CHECK(one.index_of(1) == 0);
  CHECK(one.index_of(2) == 1);
}

TEST_CASE("syscall buckets: upper bounds are powers of two of nanoseconds written in seconds") {
  const auto bounds = Buckets{10, 25}.upper_bounds_seconds();
  REQUIRE(bounds.size() == 25);
  CHECK(bounds.front() == Approx(1.024e-6));
  CHECK(bounds[1] == Approx(2.048e-6));
  CHECK(bounds.back() == Approx(17.179869184));
  for (size_t i = 1; i < bounds.size(); ++i) CHECK(bounds[i] == Approx(2 * bounds[i - 1]));
}

TEST_CASE("syscall buckets: bounds parse as one fine duration term and round up to a power of two") {
  CHECK(parse_bucket_bound_ns("1us") == 1000u);
  CHECK(parse_bucket_bound_ns("1024ns") == 1024u);
  CHECK(parse_bucket_bound_ns("5ms") == 5'000'000u);
  CHECK(parse_bucket_bound_ns("17s") == 17'000'000'000u);
  CHECK_FALSE(parse_bucket_bound_ns("0us"));
  CHECK_FALSE(parse_bucket_bound_ns("1"));
  CHECK_FALSE(parse_bucket_bound_ns("us"));
  CHECK(parse_bucket_bound_ns("1m") == 60'000'000'000u);  // minutes, as in every other duration
  CHECK_FALSE(parse_bucket_bound_ns("1m30s"));            // one term
  CHECK_FALSE(parse_bucket_bound_ns("1.5s"));
  CHECK_FALSE(parse_bucket_bound_ns("99999999999999999999s"));
  CHECK(ceil_log2(1) == 0);
  CHECK(ceil_log2(1000) == 10);
  CHECK(ceil_log2(1024) == 10);
  CHECK(ceil_log2(1025) == 11);
  CHECK(ceil_log2(17'000'000'000) == 34);
}

TEST_CASE("syscall config: valid options") {
  CHECK(valid("    include: [read, write]\n    exclude: [futex]\n"));
  CHECK(valid("    min_bucket: 1ns\n    max_bucket: 256ns\n"));
  CHECK(valid("    min_bucket: 1ms\n    max_bucket: 1ms\n"));
  CHECK(valid("    comms: [nginx, postgres]\n    cgroup: /system.slice\n"));
}

TEST_CASE("syscall config: errors name the line, column and key") {
  CHECK(only_error("    include: [read, nosuchcall, write]\n") ==
        "3:21 modules.syscall.include: unknown syscall \"nosuchcall\"");
  CHECK(only_error("    exclude:\n      - futex\n      - fuetx\n") ==
        "5:9 modules.syscall.exclude: unknown syscall \"fuetx\"");
  CHECK(only_error("    min_bucket: 1minute\n") ==
        "3:17 modules.syscall.min_bucket: invalid bucket bound \"1minute\" (a number and a unit: ns, us, ms or s; "
        "e.g. 1us)");
  CHECK(only_error("    max_bucket: 2000s\n") ==
        "3:17 modules.syscall.max_bucket: bucket bound \"2000s\" is above the limit of 2^40ns (about 18m)");
  CHECK(only_error("    min_bucket: 1ms\n    max_bucket: 1us\n") ==
        "4:17 modules.syscall.max_bucket: max_bucket must not be below min_bucket (1ms)");
  CHECK(only_error("    min_bucket: 1ns\n    max_bucket: 1s\n") ==
        "4:17 modules.syscall.max_bucket: at most 29 buckets: max_bucket may be at most 2^28ns for this min_bucket");
  CHECK(only_error("    comms: [ok, waytoolongforacomm]\n") ==
        "3:17 modules.syscall.comms: task name \"waytoolongforacomm\" is longer than 15 bytes (the kernel truncates "
        "task names there)");
  CHECK(only_error("    max_error_series: 0\n") ==
        "3:23 modules.syscall.max_error_series: must be between 1 and 1048576, got 0");
}

// Found by tests/fuzz (config): these messages echoed the value raw, bytes that are not UTF-8 and all.
TEST_CASE("comm, syscall and bucket errors quote the value: bytes that are not UTF-8 escaped, long ones cut") {
  CHECK(only_error("    comms: [\"p\xff\xffostgres-checkpointer\"]\n") ==
        "3:13 modules.syscall.comms: task name \"p\\xff\\xffostgres-checkpointer\" is longer than 15 bytes (the "
        "kernel truncates task names there)");
  CHECK(only_error("    include: [\"re\\x01d\"]\n") == "3:15 modules.syscall.include: unknown syscall \"re\\x01d\"");
  CHECK(only_error("    min_bucket: \"" + std::string(100, 'x') + "\"\n") ==
        "3:17 modules.syscall.min_bucket: invalid bucket bound \"" + std::string(64, 'x') +
            "\"... (100 bytes) (a number and a unit: ns, us, ms or s; e.g. 1us)");
}
