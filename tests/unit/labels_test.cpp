// The label decoders (exporter/labels/): each maps kernel values to a bounded set of label values.
// Table-driven: every row is an input and the label it must give.
#include <linux/types.h>
#include <sys/syscall.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "kernel/network.h"
#include "labels/errno.h"
#include "labels/network.h"
#include "labels/overflow.h"
#include "labels/string.h"
#include "labels/syscall.h"
#include "labels/utf8.h"

using namespace bpfex::labels;

namespace {

struct Row {
  uint64_t value;
  std::string label;
};

template <class Decode>
void check_table(Decode decode, const std::vector<Row>& rows) {
  for (const auto& r : rows) {
    INFO("value " << r.value);
    CHECK(std::string(decode(r.value)) == r.label);
  }
}

}  // namespace

TEST_CASE("errno: C library names, the kernel's restart codes, numbers up to MAX_ERRNO, then other") {
  check_table(errno_label, {
                               {1, "EPERM"},
                               {2, "ENOENT"},
                               {9, "EBADF"},
                               {13, "EACCES"},
                               {133, "EHWPOISON"},
                               {512, "ERESTARTSYS"},
                               {513, "ERESTARTNOINTR"},
                               {516, "ERESTART_RESTARTBLOCK"},
                               {524, "ENOTSUPP"},
                               {530, "ERECALLCONFLICT"},
                               {531, "E531"},
                               {4000, "E4000"},
                               {4095, "E4095"},
                               {4096, "other"},
                               {0, "other"},
                               {UINT64_MAX, "other"},
                           });
}

TEST_CASE("syscall: names from the uapi headers of the build architecture, numbers without a name, then other") {
  check_table(syscall_label, {
    {SYS_read, "read"}, {SYS_getppid, "getppid"}, {SYS_execve, "execve"}, {SYS_openat, "openat"},
#if defined(__x86_64__)
        {0, "read"}, {59, "execve"}, {231, "exit_group"},
#elif defined(__aarch64__)
                                 {63, "read"},
                                 {221, "execve"},
#endif
        {511, "511"}, {kSyscallLabelLimit - 1, std::to_string(kSyscallLabelLimit - 1)}, {kSyscallLabelLimit, "other"},
        {100000, "other"},
  });
  CHECK(syscall_name(100000).empty());
  CHECK(*syscall_number("getppid") == SYS_getppid);
  CHECK_FALSE(syscall_number("nosuch"));
  CHECK(syscall_table_size() > 300);
  CHECK(syscall_table_size() <= kSyscallLabelLimit);
}

TEST_CASE("syscall: names are unique and numbers in range") {
  for (uint32_t nr = 0; nr < syscall_table_size(); ++nr) {
    auto name = syscall_name(nr);
    if (name.empty()) continue;
    CHECK(syscall_number(name) == nr);
  }
}

TEST_CASE("network family: ipv4, ipv6, unknown (before bpfex attached), other") {
  check_table(network_family_label, {
                                        {NETWORK_FAMILY_IPV4, "ipv4"},
                                        {NETWORK_FAMILY_IPV6, "ipv6"},
                                        {NETWORK_FAMILY_OTHER, "other"},
                                        {NETWORK_FAMILY_UNKNOWN, "unknown"},
                                        {4, "other"},
                                        {UINT64_MAX, "other"},
                                    });
}

TEST_CASE("IP protocol: IANA keywords, numbers 0..255 without a name, truncated, then other") {
  check_table(ip_protocol_label, {
                                     {6, "tcp"},
                                     {17, "udp"},
                                     {1, "icmp"},
                                     {58, "icmpv6"},
                                     {132, "sctp"},
                                     {47, "gre"},
                                     {50, "esp"},
                                     {51, "ah"},
                                     {44, "ipv6-frag"},
                                     {253, "253"},
                                     {255, "255"},
                                     {NETWORK_PROTO_TRUNCATED, "truncated"},
                                     {0x101, "other"},
                                     {UINT64_MAX, "other"},
                                 });
  std::set<std::string> seen;
  for (uint64_t p = 0; p < 0x1000; ++p) seen.insert(ip_protocol_label(p));
  CHECK(seen.size() <= 259);  // 0..255, mptcp (262), truncated, other
}

TEST_CASE("ethertype: every name of the table shared with the BPF side, none, then other") {
  std::vector<Row> rows = {
#define BPFEX_ETHERTYPE_ROW(ethertype, label) {ethertype, label},
      NETWORK_NAMED_ETHERTYPES(BPFEX_ETHERTYPE_ROW)
#undef BPFEX_ETHERTYPE_ROW
  };
  CHECK(rows.size() >= 10);
  rows.push_back({0x0806, "arp"});
  rows.push_back({0x88CC, "lldp"});
  rows.push_back({NETWORK_ETHERTYPE_NONE, "none"});
  rows.push_back({NETWORK_ETHERTYPE_OTHER, "other"});
  rows.push_back({0x1234, "other"});
  rows.push_back({0x0800, "other"});  // IP is never a non-IP frame's label
  check_table(ethertype_label, rows);
}

TEST_CASE("string: the bytes of a fixed-size field before the first NUL") {
  const char comm[16] = "bash";
  CHECK(string_label(comm) == "bash");
  const char full[4] = {'a', 'b', 'c', 'd'};  // no NUL: every byte
  CHECK(string_label(full) == "abcd");
  const char empty[8] = {};
  CHECK(string_label(empty).empty());
}

TEST_CASE("utf8: valid text passes through unchanged") {
  for (std::string s : {"", "bash", "kworker/0:1", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "a\nb\"c\\"}) {
    CHECK(is_valid_utf8(s));
    CHECK(sanitize_utf8(s) == s);
  }
}

TEST_CASE("utf8: invalid bytes become U+FFFD, one per bad byte") {
  const std::string r = "\xEF\xBF\xBD";
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"a\xFF"
       "b",
       "a" + r + "b"},
      {"\xC3", r},                          // truncated 2-byte sequence
      {"ab\xE2\x82", "ab" + r + r},         // comm truncated mid-character by the kernel
      {"\xC0\xAF", r + r},                  // overlong '/'
      {"\xED\xA0\x80", r + r + r},          // UTF-16 surrogate
      {"\xF4\x90\x80\x80", r + r + r + r},  // beyond U+10FFFF
      {"\x80", r},                          // lone continuation byte
  };
  for (const auto& [in, want] : rows) {
    CHECK(sanitize_utf8(in) == want);
    CHECK(is_valid_utf8(sanitize_utf8(in)));
    CHECK_FALSE(is_valid_utf8(in));
  }
}

TEST_CASE("labels: a real value reading \"other\" is kept apart from the overflow value, one to one") {
  CHECK(bpfex::labels::distinct_from_overflow("other") == "_other");
  CHECK(bpfex::labels::distinct_from_overflow("_other") == "__other");
  CHECK(bpfex::labels::distinct_from_overflow("___other") == "____other");
  for (const char* same : {"", "_", "others", "other_", "Other", "xother", "_oth", "eth0", "o"})
    CHECK(bpfex::labels::distinct_from_overflow(same) == same);
  CHECK(bpfex::labels::distinct_from_overflow(std::string(bpfex::labels::kOverflowLabel)) !=
        bpfex::labels::kOverflowLabel);
}
