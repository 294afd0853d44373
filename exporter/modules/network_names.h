// network: label values of the network module (exporter/modules/network.cpp), exposed for unit tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bpfex {

// "ipv4", "ipv6", "other" for enum network_family.
std::string_view network_family_name(uint8_t family);

// L4 protocol label: the IANA keyword in lower case for common protocols ("tcp", "udp", "icmp",
// "icmpv6", "sctp", "gre", "esp", "ah", ...), the decimal number for others, "truncated" when the
// header ended before the protocol field.
std::string ip_protocol_name(uint32_t proto);

// Protocol label of a non-IP frame: the ethertype's name ("arp", "lldp", ...), "none" for a frame
// too short to have one, "other" for ethertypes without a name.
std::string ethertype_name(uint32_t ethertype);

// Whether an interface is counted: its name matches one include pattern and no exclude pattern
// (fnmatch globs).
bool network_interface_selected(std::string_view name, const std::vector<std::string>& include,
                                const std::vector<std::string>& exclude);

}  // namespace bpfex
