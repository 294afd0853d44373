#include <catch2/catch.hpp>

#include "base/duration.h"

using namespace bpfex;
using namespace std::chrono_literals;

TEST_CASE("durations parse like Prometheus'") {
  CHECK(parse_duration("1s") == 1s);
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK(parse_duration("2h") == 2h);
  CHECK(parse_duration("1d") == 24h);
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("1"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("1parsec"));
  CHECK_FALSE(parse_duration("99999999999999999999s"));
  CHECK(format_duration(1s) == "1s");
  CHECK(format_duration(1500ms) == "1s500ms");
  CHECK(format_duration(60s) == "1m");
  // Prometheus has no unit below the millisecond.
  CHECK_FALSE(parse_duration("500us"));
  CHECK_FALSE(parse_duration("1s10ns"));
}

TEST_CASE("fine durations: one term, units down to the nanosecond") {
  CHECK(parse_fine_duration("1024ns") == 1024ns);
  CHECK(parse_fine_duration("1us") == 1us);
  CHECK(parse_fine_duration("500ms") == 500ms);
  CHECK(parse_fine_duration("17s") == 17s);
  CHECK(parse_fine_duration("0ns") == 0ns);
  CHECK_FALSE(parse_fine_duration(""));
  CHECK_FALSE(parse_fine_duration("1"));
  CHECK_FALSE(parse_fine_duration("1s500ms"));
  CHECK_FALSE(parse_fine_duration("1.5us"));
  CHECK_FALSE(parse_fine_duration("-1us"));
  CHECK_FALSE(parse_fine_duration("1us "));
  CHECK_FALSE(parse_fine_duration("9223372036854775808ns"));
  CHECK(parse_fine_duration("9223372036854775807ns") == std::chrono::nanoseconds(INT64_MAX));
}
