// The decoders, one small function each, and the one table that registers them.
#include "decoders/decoders.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "labels/errno.h"
#include "labels/syscall.h"

namespace bpfex::decoders {
namespace {

// Map keys are in the host's byte order (little-endian on every architecture bpfex builds for).
uint64_t host_uint(std::string_view in) {
  uint64_t v = 0;
  switch (in.size()) {
    case 1: v = static_cast<uint8_t>(in[0]); break;
    case 2: {
      uint16_t x;
      std::memcpy(&x, in.data(), 2);
      v = x;
      break;
    }
    case 4: {
      uint32_t x;
      std::memcpy(&x, in.data(), 4);
      v = x;
      break;
    }
    default: std::memcpy(&v, in.data(), 8); break;
  }
  return v;
}

std::optional<uint64_t> parse_decimal(std::string_view in) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), v);
  if (ec != std::errc() || end != in.data() + in.size() || in.empty()) return std::nullopt;
  return v;
}

Error not_a_number(std::string_view decoder, std::string_view in) {
  return Error{EINVAL, std::string(decoder) + ": expected a decimal number (put uint before it), got " +
                           std::to_string(in.size()) + " bytes"};
}

std::string hex_of(std::string_view in) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(in.size() * 2);
  for (char c : in) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

// RFC 5952, as Go's net.IP.String writes it: the longest run of two or more zero groups (the first
// of equal ones) becomes "::"; an IPv4-mapped address is written as IPv4.
std::string ipv6_text(const unsigned char* b) {
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, 12) == 0)
    return std::to_string(b[12]) + "." + std::to_string(b[13]) + "." + std::to_string(b[14]) + "." +
           std::to_string(b[15]);
  uint16_t words[8];
  for (size_t i = 0; i < 8; ++i) words[i] = static_cast<uint16_t>(b[2 * i] << 8 | b[2 * i + 1]);
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (words[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && words[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) best = i, best_len = j - i;
    i = j;
  }
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out.push_back(':');
    auto r = std::to_chars(buf, buf + sizeof buf, words[i], 16);
    out.append(buf, r.ptr);
  }
  return out;
}

std::optional<std::string> size_1_2_4_8(size_t size) {
  if (size == 1 || size == 2 || size == 4 || size == 8) return std::nullopt;
  return "uint decodes fields of 1, 2, 4 or 8 bytes, this label has " + std::to_string(size);
}
std::optional<std::string> size_8(size_t size) {
  if (size == 8) return std::nullopt;
  return "ksym decodes an 8-byte kernel address, this label has " + std::to_string(size) + " bytes";
}
std::optional<std::string> size_multiple_of_8(size_t size) {
  if (size % 8 == 0) return std::nullopt;
  return "kstack decodes an array of 8-byte addresses, this label has " + std::to_string(size) + " bytes";
}
std::optional<std::string> size_4_or_16(size_t size) {
  if (size == 4 || size == 16) return std::nullopt;
  return "inet_ip decodes 4 (IPv4) or 16 (IPv6) bytes, this label has " + std::to_string(size);
}
std::optional<std::string> size_at_least_4(size_t size) {
  if (size >= 4) return std::nullopt;
  return "this decoder reads a u32 (4 bytes), this label has " + std::to_string(size);
}

}  // namespace

Decoded decode_uint(std::string_view in, const DecoderConfig&, Lookups&) {
  if (size_1_2_4_8(in.size())) return Error{EINVAL, "uint: unknown value length " + std::to_string(in.size())};
  return std::optional(std::to_string(host_uint(in)));
}

Decoded decode_string(std::string_view in, const DecoderConfig&, Lookups&) {
  return std::optional(std::string(in.substr(0, std::min(in.find('\0'), in.size()))));
}

Decoded decode_hex(std::string_view in, const DecoderConfig&, Lookups&) { return std::optional(hex_of(in)); }

Decoded decode_static_map(std::string_view in, const DecoderConfig& config, Lookups&) {
  if (!config.static_map) return std::optional<std::string>("empty mapping");
  const auto it = config.static_map->find(std::string(in));
  if (it != config.static_map->end()) return std::optional(it->second);
  if (config.allow_unknown) return std::optional(std::string(in));
  return std::optional("unknown:" + std::string(in));
}

// Go's FindSubmatch: the first regexp that matches anywhere gives its one capture group, or the whole
// match when it has none (a regexp with more groups gives nothing); no match drops the key.
Decoded decode_regexp(std::string_view in, const DecoderConfig& config, Lookups&) {
  if (config.compiled.empty()) return Error{EINVAL, "regexp: no regexps defined in config"};
  for (const std::regex& re : config.compiled) {
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_search(in.begin(), in.end(), m, re)) continue;
    if (m.size() == 2) return std::optional(m[1].str());
    if (m.size() == 1) return std::optional(m[0].str());
  }
  return std::optional<std::string>();
}

Decoded decode_ksym(std::string_view in, const DecoderConfig&, Lookups& lookups) {
  if (in.size() != 8) return Error{EINVAL, "ksym: expected 8 bytes, got " + std::to_string(in.size())};
  const uint64_t addr = host_uint(in);
  std::string sym = lookups.symbol_at(addr);
  if (sym.empty()) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, addr, 16);
    sym = "unknown_addr:0x" + std::string(buf, r.ptr);
  }
  return std::optional(std::move(sym));
}

// Frames up to the first zero address, innermost first, one per line; "??" for an address no symbol
// holds.
Decoded decode_kstack(std::string_view in, const DecoderConfig&, Lookups& lookups) {
  std::string out;
  for (size_t off = 0; off + 8 <= in.size(); off += 8) {
    const uint64_t addr = host_uint(in.substr(off, 8));
    if (addr == 0) break;
    std::string sym = lookups.symbol_containing(addr);
    if (off > 0) out.push_back('\n');
    out += sym.empty() ? "??" : sym;
  }
  return std::optional(std::move(out));
}

Decoded decode_syscall(std::string_view in, const DecoderConfig&, Lookups&) {
  const auto nr = parse_decimal(in);
  if (!nr) return not_a_number("syscall", in);
  const std::string_view name = labels::syscall_name(*nr);
  if (name.empty()) return std::optional("unknown_syscall:" + std::to_string(*nr));
  return std::optional(std::string(name));
}

Decoded decode_errno(std::string_view in, const DecoderConfig&, Lookups&) {
  const auto err = parse_decimal(in);
  if (!err) return not_a_number("errno", in);
  std::string name = labels::errno_name(*err);
  if (name.empty()) return std::optional("unknown:" + std::to_string(*err));
  return std::optional(std::move(name));
}

// Go's net.IP.String: 4 bytes dotted, 16 bytes RFC 5952, nothing "<nil>", any other length "?" and hex.
Decoded decode_inet_ip(std::string_view in, const DecoderConfig&, Lookups&) {
  const auto* b = reinterpret_cast<const unsigned char*>(in.data());
  if (in.empty()) return std::optional<std::string>("<nil>");
  if (in.size() == 4)
    return std::optional(std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                         std::to_string(b[3]));
  if (in.size() == 16) return std::optional(ipv6_text(b));
  return std::optional("?" + hex_of(in));
}

Decoded decode_ifname(std::string_view in, const DecoderConfig&, Lookups& lookups) {
  if (in.size() < 4) return Error{EINVAL, "ifname: expected 4 bytes, got " + std::to_string(in.size())};
  const auto index = static_cast<uint32_t>(host_uint(in.substr(0, 4)));
  std::string name = lookups.interface_name(index);
  if (name.empty()) return std::optional("unknown:" + std::to_string(index));
  return std::optional(std::move(name));
}

// A dev_t as new_encode_dev() writes it (the u32 of user space's stat): minor's low byte, major,
// then minor's high bits; named from /proc/partitions.
Decoded decode_majorminor(std::string_view in, const DecoderConfig&, Lookups& lookups) {
  if (in.size() < 4) return Error{EINVAL, "majorminor: expected 4 bytes, got " + std::to_string(in.size())};
  const uint64_t dev = host_uint(in.substr(0, 4));
  const auto major = static_cast<uint32_t>(((dev >> 8) & 0xfff) | ((dev >> 32) & ~uint64_t{0xfff}));
  const auto minor = static_cast<uint32_t>((dev & 0xff) | ((dev >> 12) & ~uint64_t{0xff}));
  std::string name = lookups.partition_name(major, minor);
  if (name.empty()) return std::optional("unknown:" + std::to_string(major) + ":" + std::to_string(minor));
  return std::optional(std::move(name));
}

Decoded decode_cgroup(std::string_view in, const DecoderConfig&, Lookups& lookups) {
  const auto id = parse_decimal(in);
  if (!id) return not_a_number("cgroup", in);
  std::string path = lookups.cgroup_path(*id);
  if (path.empty()) return std::optional("unknown_cgroup_id:" + std::to_string(*id));
  return std::optional(std::move(path));
}

// A domain name in DNS wire format (length-prefixed labels) with dots; the input unchanged when a
// length runs past the end.
Decoded decode_dname(std::string_view in, const DecoderConfig&, Lookups&) {
  if (in.empty()) return std::optional<std::string>(".");
  std::string out(in);
  for (size_t off = 0; off < in.size();) {
    const size_t n = static_cast<unsigned char>(in[off]);
    out[off] = '.';
    ++off;
    if (off + n > in.size()) return std::optional(std::string(in));
    off += n;
  }
  return std::optional(out.substr(1));
}

const std::map<std::string_view, DecoderSpec>& registry() {
  static const std::map<std::string_view, DecoderSpec> table = {
      {"cgroup", {decode_cgroup, Input::number}},
      {"dname", {decode_dname, Input::any}},
      {"errno", {decode_errno, Input::number}},
      {"hex", {decode_hex, Input::any}},
      {"ifname", {decode_ifname, Input::bytes, size_at_least_4}},
      {"inet_ip", {decode_inet_ip, Input::bytes, size_4_or_16}},
      {"kstack", {decode_kstack, Input::bytes, size_multiple_of_8}},
      {"ksym", {decode_ksym, Input::bytes, size_8}},
      {"majorminor", {decode_majorminor, Input::bytes, size_at_least_4}},
      {"regexp", {decode_regexp, Input::any}},
      {"static_map", {decode_static_map, Input::any}},
      {"string", {decode_string, Input::any}},
      {"syscall", {decode_syscall, Input::number}},
      {"uint", {decode_uint, Input::bytes, size_1_2_4_8, true}},
  };
  return table;
}

std::optional<ChainError> check_chain(std::vector<DecoderConfig>& chain, size_t size) {
  if (chain.empty()) return ChainError{0, "a label needs at least one decoder"};
  // What the decoder at i receives: the key's bytes, a number (uint's output) or text.
  enum class Have { bytes, number, text } have = Have::bytes;
  for (size_t i = 0; i < chain.size(); ++i) {
    DecoderConfig& d = chain[i];
    const auto it = registry().find(d.name);
    if (it == registry().end()) {
      std::string known;
      for (const auto& [name, spec] : registry()) known += (known.empty() ? "" : ", ") + std::string(name);
      return ChainError{i, "unknown decoder \"" + d.name + "\" (known: " + known + ")"};
    }
    const DecoderSpec& spec = it->second;
    if (spec.input == Input::bytes) {
      if (have != Have::bytes)
        return ChainError{i, d.name + " decodes the key's bytes: it must be the first decoder of the label"};
      if (auto problem = spec.check_size(size)) return ChainError{i, *problem};
    }
    if (spec.input == Input::number && have == Have::bytes)
      return ChainError{i, d.name + " takes a number: put uint before it"};
    if (d.name == "regexp") {
      if (d.regexps.empty()) return ChainError{i, "regexp needs regexps: [...]"};
      d.compiled.clear();
      for (const std::string& r : d.regexps) {
        try {
          d.compiled.emplace_back(r, std::regex::ECMAScript | std::regex::optimize);
        } catch (const std::regex_error& e) {
          return ChainError{i, "regexp \"" + r + "\" does not compile: " + e.what()};
        }
      }
    } else if (!d.regexps.empty()) {
      return ChainError{i, "regexps: is an option of the regexp decoder, not of " + d.name};
    }
    if (d.name != "static_map" && (d.static_map || d.allow_unknown))
      return ChainError{i, "static_map: and allow_unknown: are options of the static_map decoder, not of " + d.name};
    // regexp passes a part of what it got: bytes stay bytes, a number stays a number.
    if (spec.outputs_number)
      have = Have::number;
    else if (d.name != "regexp")
      have = Have::text;
  }
  return std::nullopt;
}

Decoded decode_chain(std::string_view in, const std::vector<DecoderConfig>& chain, Lookups& lookups) {
  std::string value(in);
  for (const DecoderConfig& d : chain) {
    const auto it = registry().find(d.name);
    if (it == registry().end()) return Error{EINVAL, "unknown decoder " + d.name};
    Decoded out = it->second.decode(value, d, lookups);
    if (!out) return out.error().wrap("decoder " + d.name);
    if (!out.value()) return out;  // dropped
    value = std::move(*out.value());
  }
  return std::optional(std::move(value));
}

}  // namespace bpfex::decoders
