// Pieces of the tcp module with no kernel in them, exposed for unit tests: the label values of each
// kernel counter (the table kernel/tcp.h defines once), the connect latency buckets (the BPF side's
// own rule) and the ports option.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bpfex::tcp {

// A counter slot of a kernel row: the metric family it belongs to and its label values.
struct CounterSeries {
  uint32_t slot;
  std::string family;     // "bpfex_tcp_connections_total"
  std::string direction;  // "" where the family has no direction label
  std::string result;     // "" where the family has no result label
};
const std::vector<CounterSeries>& counter_series();

// "ipv4", "ipv6" for the kernel's family index; "other" for anything else.
std::string_view family_label(uint8_t family);

// Connect latency bucket upper bounds in seconds (le=2^13 ns .. 2^37 ns), ascending, without +Inf.
std::vector<double> connect_latency_bounds_seconds();
// The bucket index the kernel puts a latency of ns in (the last, TCP_CONNECT_BUCKETS, is +Inf).
uint32_t connect_bucket_index(uint64_t ns);

// An entry of the ports option: a port number 1..65535, in decimal. nullopt when it is not.
std::optional<uint16_t> parse_port(std::string_view text);
// The ports option's check: what is wrong with one entry, nullopt when nothing.
std::optional<std::string> check_port(const std::string& text);
// The most ports the option may list (each adds series of every tcp metric).
inline constexpr size_t kMaxPorts = 256;

}  // namespace bpfex::tcp
