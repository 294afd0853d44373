// The user programs' label decoders (exporter/decoders/): one table per decoder, each row bytes in and
// ebpf_exporter's output for them (its decoder/*_test.go cases among them), fallbacks included.
#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "decoders/decoders.h"

using namespace bpfex::decoders;

namespace {

// A world of known names for the kernel decoders.
class FakeLookups final : public Lookups {
 public:
  std::string symbol_at(uint64_t addr) override { return addr == 0xffffffff81000000 ? "do_sys_openat2" : ""; }
  std::string symbol_containing(uint64_t addr) override {
    if (addr >= 0xffffffff82000000) return "";
    if (addr >= 0xffffffff81000100) return "vfs_read";
    if (addr >= 0xffffffff81000000) return "do_sys_openat2";
    return "";
  }
  std::string interface_name(uint32_t ifindex) override { return ifindex == 1 ? "lo" : ""; }
  std::string partition_name(uint32_t major, uint32_t minor) override {
    return major == 8 && minor == 2 ? "sda2" : major == 259 && minor == 1 ? "nvme0n1p1" : "";
  }
  std::string cgroup_path(uint64_t id) override { return id == 1 ? "/sys/fs/cgroup" : ""; }
};

std::string le(uint64_t v, size_t size) {
  std::string s(size, '\0');
  std::memcpy(s.data(), &v, size);
  return s;
}

struct Row {
  std::string in;
  std::string out;
};

void check_table(DecodeFn decode, const std::vector<Row>& rows, const DecoderConfig& config = {}) {
  FakeLookups lookups;
  for (const Row& r : rows) {
    INFO("input of " << r.in.size() << " bytes: " << r.in);
    auto out = decode(r.in, config, lookups);
    REQUIRE(out.ok());
    REQUIRE(out.value().has_value());
    CHECK(*out.value() == r.out);
  }
}

}  // namespace

TEST_CASE("uint: 1, 2, 4 and 8 bytes in the host's order; other sizes are errors") {
  check_table(decode_uint, {{le(7, 1), "7"},
                            {le(0x0102, 2), "258"},
                            {le(0xdeadbeef, 4), "3735928559"},
                            {le(0xffffffffffffffff, 8), "18446744073709551615"}});
  FakeLookups l;
  CHECK_FALSE(decode_uint(std::string(3, '\0'), {}, l).ok());
}

TEST_CASE("string: up to the first NUL, all of it without one, bytes as they are") {
  check_table(decode_string, {{std::string("bash\0\0\0\0", 8), "bash"},
                              {"nonul", "nonul"},
                              {std::string("\0abc", 4), ""},
                              {"\xff\xfe", "\xff\xfe"}});
}

TEST_CASE("hex: every byte as two lower-case digits") {
  check_table(decode_hex, {{std::string("\x00\x01\xab\xff", 4), "0001abff"}, {"", ""}});
}

TEST_CASE("static_map: mapped values, unknown:<value> or the value itself with allow_unknown, no map") {
  DecoderConfig c;
  c.static_map = std::map<std::string, std::string>{{"1", "read"}, {"2", "write"}};
  check_table(decode_static_map, {{"1", "read"}, {"2", "write"}, {"3", "unknown:3"}}, c);
  c.allow_unknown = true;
  check_table(decode_static_map, {{"1", "read"}, {"3", "3"}}, c);
  check_table(decode_static_map, {{"1", "empty mapping"}}, DecoderConfig{});
}

TEST_CASE("regexp: first capture group, else the whole match; a key matching nothing is dropped") {
  std::vector<DecoderConfig> chain(1);
  chain[0].name = "regexp";
  chain[0].regexps = {"^systemd-(.*)$", "^kworker", "^(a)(b)$"};
  REQUIRE_FALSE(check_chain(chain, 16));
  check_table(decode_regexp, {{"systemd-journald", "journald"}, {"kworker/1:2", "kworker"}}, chain[0]);
  FakeLookups l;
  auto dropped = decode_regexp("bash", chain[0], l);
  REQUIRE(dropped.ok());
  CHECK_FALSE(dropped.value().has_value());
  // Two groups: ebpf_exporter takes neither; nothing else matches, so the key is dropped.
  CHECK_FALSE(decode_regexp("ab", chain[0], l).value().has_value());
}

TEST_CASE("ksym: the symbol at exactly the address, else unknown_addr:0x<hex>") {
  check_table(decode_ksym, {{le(0xffffffff81000000, 8), "do_sys_openat2"},
                            {le(0xffffffff81000001, 8), "unknown_addr:0xffffffff81000001"},
                            {le(0, 8), "unknown_addr:0x0"}});
}

TEST_CASE("kstack: frames up to the first zero, one per line, ?? where no symbol holds the address") {
  check_table(decode_kstack, {{le(0xffffffff81000110, 8) + le(0xffffffff81000010, 8) + le(0x10, 8) + le(0, 8) +
                                   le(0xffffffff81000000, 8),
                               "vfs_read\ndo_sys_openat2\n??"},
                              {le(0, 8), ""}});
}

TEST_CASE("syscall: the name of a number, unknown_syscall:N without one; text that is no number is an error") {
  check_table(decode_syscall, {{"0", "read"}, {"59", "execve"}, {"100000", "unknown_syscall:100000"}});
  FakeLookups l;
  CHECK_FALSE(decode_syscall(std::string("\x01\x00", 2), {}, l).ok());
}

TEST_CASE("errno: the C library's names, unknown:N for 0, the kernel's internal codes and beyond") {
  check_table(decode_errno, {{"1", "EPERM"},
                             {"2", "ENOENT"},
                             {"11", "EAGAIN"},
                             {"110", "ETIMEDOUT"},
                             {"0", "unknown:0"},
                             {"512", "unknown:512"},
                             {"99999", "unknown:99999"}});
}

TEST_CASE("inet_ip: IPv4 dotted, IPv6 as RFC 5952 (Go's net.IP), IPv4-mapped as IPv4") {
  check_table(decode_inet_ip, {{std::string("\x01\x02\x03\x04", 4), "1.2.3.4"},
                               {std::string("\x24\x00\xcb\x00\x00\x04\x10\x24\x00\x00\x00\x00\xa2\x9e\xfd\x8f", 16),
                                "2400:cb00:4:1024::a29e:fd8f"},
                               {std::string(15, '\0') + "\x01", "::1"},
                               {std::string(16, '\0'), "::"},
                               {std::string("\x20\x01\x0d\xb8\x00\x00\x00\x01\x00\x01\x00\x01\x00\x01\x00\x01", 16),
                                "2001:db8:0:1:1:1:1:1"},
                               {std::string(10, '\0') + std::string("\xff\xff\x7f\x00\x00\x01", 6), "127.0.0.1"},
                               {std::string(12, '\0') + "\x01\x02\x03\x04", "::102:304"},
                               {"", "<nil>"},
                               {"\x01\x02", "?0102"}});
}

TEST_CASE("ifname: the interface of an index, unknown:N when there is none") {
  check_table(decode_ifname, {{le(1, 4), "lo"}, {le(77, 4), "unknown:77"}, {le(1, 8), "lo"}});
}

TEST_CASE("majorminor: new_encode_dev numbers named from /proc/partitions, unknown:M:m otherwise") {
  // new_encode_dev(MKDEV(8, 2)) = 0x802; MKDEV(259, 1): 259 << 8 | 1 = 0x10301.
  check_table(decode_majorminor,
              {{le(0x802, 4), "sda2"},
               {le(0x10301, 4), "nvme0n1p1"},
               {le((0x12345 & 0xff) | (7 << 8) | ((0x12345 & ~0xffu) << 12), 4), "unknown:7:74565"}});
}

TEST_CASE("cgroup: the cgroup v2 path of an ID, unknown_cgroup_id:N when gone") {
  check_table(decode_cgroup, {{"1", "/sys/fs/cgroup"}, {"12345", "unknown_cgroup_id:12345"}});
}

TEST_CASE("dname: DNS wire format with dots; a length past the end returns the input") {
  check_table(decode_dname, {{"", "."},
                             {"\x03"
                              "com",
                              "com"},
                             {"\x07"
                              "example\x03"
                              "com",
                              "example.com"},
                             {"\x05"
                              "com",
                              "\x05"
                              "com"},
                             {std::string("\x03"
                                          "www\x00",
                                          5),
                              "www."}});
}

TEST_CASE("chains: decoders run in order; uint then static_map, syscall, errno") {
  FakeLookups l;
  std::vector<DecoderConfig> chain(2);
  chain[0].name = "uint";
  chain[1].name = "syscall";
  REQUIRE_FALSE(check_chain(chain, 4));
  CHECK(*decode_chain(le(59, 4), chain, l).value() == "execve");
  chain[1] = DecoderConfig{};
  chain[1].name = "static_map";
  chain[1].static_map = std::map<std::string, std::string>{{"3", "three"}};
  REQUIRE_FALSE(check_chain(chain, 8));
  CHECK(*decode_chain(le(3, 8), chain, l).value() == "three");
}

TEST_CASE("chains that cannot work are refused, naming the decoder") {
  struct Case {
    std::vector<std::string> names;
    size_t size;
    size_t decoder;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, 4, 0, "at least one decoder"},
      {{"nosuch"}, 4, 0, "unknown decoder \"nosuch\""},
      {{"uint"}, 3, 0, "1, 2, 4 or 8 bytes"},
      {{"ksym"}, 4, 0, "8-byte kernel address"},
      {{"kstack"}, 12, 0, "array of 8-byte addresses"},
      {{"inet_ip"}, 8, 0, "4 (IPv4) or 16 (IPv6)"},
      {{"syscall"}, 4, 0, "takes a number: put uint before it"},
      {{"errno"}, 4, 0, "takes a number"},
      {{"cgroup"}, 8, 0, "takes a number"},
      {{"string", "uint"}, 4, 1, "must be the first decoder"},
      {{"uint", "ifname"}, 4, 1, "must be the first decoder"},
      {{"regexp"}, 4, 0, "regexp needs regexps"},
  };
  for (const Case& c : cases) {
    std::vector<DecoderConfig> chain;
    for (const auto& n : c.names) chain.push_back(DecoderConfig{n});
    INFO("chain of " << c.names.size() << " for " << c.size << " bytes");
    auto e = check_chain(chain, c.size);
    REQUIRE(e);
    CHECK(e->decoder == c.decoder);
    CHECK_THAT(e->message, Catch::Contains(c.message));
  }
  std::vector<DecoderConfig> bad_regexp(1);
  bad_regexp[0].name = "regexp";
  bad_regexp[0].regexps = {"(unclosed"};
  CHECK_THAT(check_chain(bad_regexp, 4)->message, Catch::Contains("does not compile"));
  std::vector<DecoderConfig> misplaced(1);
  misplaced[0].name = "string";
  misplaced[0].allow_unknown = true;
  CHECK_THAT(check_chain(misplaced, 4)->message, Catch::Contains("options of the static_map decoder"));
}
