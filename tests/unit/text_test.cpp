#include <catch2/catch.hpp>

#include "text.h"

using namespace bpfex;
using namespace std::chrono_literals;

TEST_CASE("valid UTF-8 passes through unchanged") {
  for (std::string s : {"", "bash", "kworker/0:1", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "a\nb\"c\\"}) {
    CHECK(is_valid_utf8(s));
    CHECK(sanitize_utf8(s) == s);
  }
}

TEST_CASE("invalid UTF-8 becomes U+FFFD per bad byte") {
  const std::string r = "\xEF\xBF\xBD";
  CHECK(sanitize_utf8("a\xFF"
                      "b") == "a" + r + "b");
  CHECK(sanitize_utf8("\xC3") == r);                          // truncated 2-byte sequence
  CHECK(sanitize_utf8("ab\xE2\x82") == "ab" + r + r);         // comm truncated mid-character by the kernel
  CHECK(sanitize_utf8("\xC0\xAF") == r + r);                  // overlong '/'
  CHECK(sanitize_utf8("\xED\xA0\x80") == r + r + r);          // UTF-16 surrogate
  CHECK(sanitize_utf8("\xF4\x90\x80\x80") == r + r + r + r);  // beyond U+10FFFF
  CHECK(sanitize_utf8("\x80") == r);                          // lone continuation byte
  for (std::string s : {"a\xFF", "\xC3", "\xED\xA0\x80"}) CHECK(is_valid_utf8(sanitize_utf8(s)));
}

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

TEST_CASE("listen addresses") {
  CHECK(parse_listen_address(":9650")->port == 9650);
  CHECK(parse_listen_address(":9650")->host.empty());
  CHECK(parse_listen_address("127.0.0.1:80")->host == "127.0.0.1");
  CHECK(parse_listen_address("localhost:80")->host == "127.0.0.1");
  auto v6 = parse_listen_address("[::1]:9650");
  REQUIRE(v6);
  CHECK(v6->ipv6);
  CHECK(v6->host == "::1");
  CHECK_FALSE(parse_listen_address("9650"));
  CHECK_FALSE(parse_listen_address(":0"));
  CHECK_FALSE(parse_listen_address(":65536"));
  CHECK_FALSE(parse_listen_address("example.com:80"));
  CHECK_FALSE(parse_listen_address("::1:80"));
}
