// The syscall module's arithmetic and configuration, without a kernel.
#include <catch2/catch.hpp>

#include "config/config.h"
#include "metrics/native_buckets.h"

using namespace bpfex;

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

TEST_CASE("bucket bounds parse as one fine duration term") {
  using native_buckets::parse_bucket_bound_ns;
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
}

TEST_CASE("syscall config: valid options") {
  CHECK(valid("    include: [read, write]\n    exclude: [futex]\n"));
  CHECK(valid("    min_bucket: 1ns\n    max_bucket: 256ns\n"));
  CHECK(valid("    min_bucket: 1ms\n    max_bucket: 1ms\n"));    // 2^-10 s .. 2^-9 s: rounded outward
  CHECK(valid("    min_bucket: 1ns\n    max_bucket: 1000s\n"));  // 40 doublings at schema 1
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
        "3:17 modules.syscall.max_bucket: bucket bound \"2000s\" is above the limit of 2^10s (1024s, about 17m)");
  CHECK(only_error("    min_bucket: 1ms\n    max_bucket: 1us\n") ==
        "4:17 modules.syscall.max_bucket: max_bucket must be above min_bucket (1ms)");
  CHECK(only_error("    min_bucket: 1s\n    max_bucket: 1s\n") ==
        "4:17 modules.syscall.max_bucket: max_bucket must be above min_bucket (1s)");
  CHECK(only_error("    comms: [ok, waytoolongforacomm]\n") ==
        "3:17 modules.syscall.comms: task name \"waytoolongforacomm\" is longer than 15 bytes (the kernel truncates "
        "task names there)");
  CHECK(only_error("    max_error_series: 0\n") ==
        "3:23 modules.syscall.max_error_series: must be between 1 and 1048576, got 0");
}

TEST_CASE("native_histogram_schema: 0..8, and every latency histogram's range must fit a kernel row") {
  auto errors_of = [](const std::string& yaml) {
    auto r = parse_config(yaml, "test.yaml");
    if (std::holds_alternative<Config>(r)) return std::vector<std::string>{};
    std::vector<std::string> out;
    for (const auto& e : std::get<std::vector<ConfigError>>(r))
      out.push_back(std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.key + ": " + e.message);
    return out;
  };
  CHECK(errors_of("native_histogram_schema: 3\n").empty());
  CHECK(std::get<Config>(parse_config("native_histogram_schema: 4\n", "t")).native_histogram_schema == 4);
  CHECK(std::get<Config>(parse_config("", "t")).native_histogram_schema == native_buckets::kDefaultSchema);
  CHECK(errors_of("native_histogram_schema: 9\n") ==
        std::vector<std::string>{"1:26 native_histogram_schema: must be 0..8 (2^schema buckets per doubling)"});
  // Schema 8 over the default 1us..16s (tcp: 8us..128s) is 6144 buckets: every latency module
  // (syscall, runqueue, block, tcp) is told, at the schema.
  const auto wide = errors_of("native_histogram_schema: 8\n");
  REQUIRE(wide.size() == 4);
  CHECK(wide[0] ==
        "1:26 native_histogram_schema: with native_histogram_schema 8, 1us..16s is 6144 buckets, more than a kernel "
        "row holds (4086): narrow min_bucket..max_bucket or lower the schema");
  // A module whose range fits does not complain; one that sets max_bucket is told there.
  CHECK(errors_of("native_histogram_schema: 8\nmodules:\n  syscall:\n    min_bucket: 1ms\n    max_bucket: 1s\n"
                  "  runqueue:\n    enabled: false\n  block:\n    max_bucket: 1s\n    min_bucket: 1us\n"
                  "  tcp:\n    enabled: false\n") ==
        std::vector<std::string>{"9:17 modules.block.max_bucket: with native_histogram_schema 8, 1us..1s is 5120 "
                                 "buckets, more than a kernel row holds (4086): narrow min_bucket..max_bucket or "
                                 "lower the schema"});
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
