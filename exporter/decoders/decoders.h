// Label decoders in ebpf_exporter's model (its decoder/ package): a label is a slice of a map key,
// turned into text by a chain of small decoders, each taking the previous one's output. One
// function per decoder, registered in one table (decoders.cpp); each produces ebpf_exporter's output
// for the same bytes, fallbacks included ("unknown_addr:0x…", "unknown:N", …).
//
// The names decoders resolve (kernel symbols, interfaces, partitions, cgroups) come from Lookups, so
// that tests can give them a world of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bpfex::decoders {

// What the kernel-facing decoders look up. "" means unknown.
class Lookups {
 public:
  virtual ~Lookups() = default;
  // The symbol at exactly this address (ksym).
  virtual std::string symbol_at(uint64_t addr) = 0;
  // The symbol whose code holds this address: the last one at or below it (kstack).
  virtual std::string symbol_containing(uint64_t addr) = 0;
  virtual std::string interface_name(uint32_t ifindex) = 0;
  // /proc/partitions' name of a block device ("sda2").
  virtual std::string partition_name(uint32_t major, uint32_t minor) = 0;
  // The cgroup v2 directory with this ID (its inode number), as a path under the mount.
  virtual std::string cgroup_path(uint64_t id) = 0;
  // Reads the kernel's symbols now, while bpfex may still read their addresses (CAP_SYSLOG is
  // dropped after start: /proc/kallsyms then shows zeros, and a later re-read keeps what it has).
  virtual void preload_symbols() {}
};

// The host's: /proc/kallsyms, if_indextoname, /proc/partitions, a walk of /sys/fs/cgroup; each read
// again when a name is not found (a module loaded, an interface or cgroup created since).
std::unique_ptr<Lookups> host_lookups();

// One decoder of a label's chain, as the YAML has it.
struct DecoderConfig {
  std::string name;
  std::optional<std::map<std::string, std::string>> static_map;  // static_map
  bool allow_unknown = false;                                    // static_map
  std::vector<std::string> regexps;                              // regexp
  std::vector<std::regex> compiled;                              // regexps, compiled once by check_chain
};

// A decoder's output: the text, or nullopt when the key is to be dropped (a regexp that matched
// nothing: ebpf_exporter's ErrSkipLabelSet). An Error is a decoding error (counted, key dropped).
using Decoded = Result<std::optional<std::string>>;
using DecodeFn = Decoded (*)(std::string_view in, const DecoderConfig& config, Lookups& lookups);

// What a decoder takes from the one before it.
enum class Input {
  bytes,   // the key's raw bytes: it must come first (uint, ksym, inet_ip, ...)
  number,  // decimal text, as uint makes it (syscall, errno, cgroup)
  any,     // whatever came before (string, hex, static_map, regexp, dname)
};

struct DecoderSpec {
  DecodeFn decode = nullptr;
  Input input = Input::any;
  // For Input::bytes: nullopt when a field of this many bytes can be decoded, else why not.
  std::optional<std::string> (*check_size)(size_t size) = nullptr;
  bool outputs_number = false;  // uint
};

// Every decoder by name (the one registration table).
const std::map<std::string_view, DecoderSpec>& registry();

// Checks a label's chain for a field of `size` bytes and compiles its regexps; the error names the
// first decoder (by index) that cannot work: unknown, wrong input, wrong size, bad options.
struct ChainError {
  size_t decoder = 0;
  std::string message;
};
std::optional<ChainError> check_chain(std::vector<DecoderConfig>& chain, size_t size);

// Runs a checked chain over one label's bytes.
Decoded decode_chain(std::string_view in, const std::vector<DecoderConfig>& chain, Lookups& lookups);

// The decoders themselves, for the tests (decoders_test.cpp has each one's table).
Decoded decode_uint(std::string_view in, const DecoderConfig&, Lookups&);
Decoded decode_string(std::string_view in, const DecoderConfig&, Lookups&);
Decoded decode_hex(std::string_view in, const DecoderConfig&, Lookups&);
Decoded decode_static_map(std::string_view in, const DecoderConfig& config, Lookups&);
Decoded decode_regexp(std::string_view in, const DecoderConfig& config, Lookups&);
Decoded decode_ksym(std::string_view in, const DecoderConfig&, Lookups& lookups);
Decoded decode_kstack(std::string_view in, const DecoderConfig&, Lookups& lookups);
Decoded decode_syscall(std::string_view in, const DecoderConfig&, Lookups&);
Decoded decode_errno(std::string_view in, const DecoderConfig&, Lookups&);
Decoded decode_inet_ip(std::string_view in, const DecoderConfig&, Lookups&);
Decoded decode_ifname(std::string_view in, const DecoderConfig&, Lookups& lookups);
Decoded decode_majorminor(std::string_view in, const DecoderConfig&, Lookups& lookups);
Decoded decode_cgroup(std::string_view in, const DecoderConfig&, Lookups& lookups);
Decoded decode_dname(std::string_view in, const DecoderConfig&, Lookups&);

}  // namespace bpfex::decoders
