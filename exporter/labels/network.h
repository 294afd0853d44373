// Label decoders of packet headers: address family, L4 protocol, ethertype.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bpfex::labels {

// enum network_family (kernel/network.h) -> "ipv4", "ipv6", "unknown" (counted before bpfex
// attached); "other" for anything else (4 values).
std::string_view network_family_label(uint64_t family);

// An IP protocol number -> its IANA keyword in lower case ("tcp", "udp", "icmp", "icmpv6", "sctp",
// "gre", "esp", "ah", ...); the number in decimal for 0..255 without a name here; "truncated" for
// NETWORK_PROTO_TRUNCATED (the header ended before the protocol field); "other" for anything else.
// At most 259 values (with "mptcp", 262, which the kernel uses internally: never on the wire).
std::string ip_protocol_label(uint64_t proto);

// The ethertype of a non-IP frame -> its name from NETWORK_NAMED_ETHERTYPES (kernel/network.h:
// "arp", "lldp", ...); "none" for a frame too short to have one; "other" for every other value.
std::string ethertype_label(uint64_t ethertype);

}  // namespace bpfex::labels
