// Packet header labels; the ethertype names come from the table kernel/network.h shares with the BPF side.
#include "labels/network.h"

#include <algorithm>
#include <iterator>

#include "kernel/network.h"

namespace bpfex::labels {

std::string_view network_family_label(uint64_t family) {
  switch (family) {
    case NETWORK_FAMILY_IPV4: return "ipv4";
    case NETWORK_FAMILY_IPV6: return "ipv6";
    case NETWORK_FAMILY_UNKNOWN: return "unknown";
    default: return "other";
  }
}

std::string ip_protocol_label(uint64_t proto) {
  switch (proto) {
    case 0: return "hopopt";
    case 1: return "icmp";
    case 2: return "igmp";
    case 4: return "ipip";
    case 6: return "tcp";
    case 8: return "egp";
    case 17: return "udp";
    case 27: return "rdp";
    case 33: return "dccp";
    case 41: return "ipv6";
    case 43: return "ipv6-route";
    case 44: return "ipv6-frag";
    case 46: return "rsvp";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "icmpv6";
    case 59: return "ipv6-nonxt";
    case 60: return "ipv6-opts";
    case 88: return "eigrp";
    case 89: return "ospf";
    case 94: return "ipip-ka9q";
    case 97: return "etherip";
    case 103: return "pim";
    case 108: return "ipcomp";
    case 112: return "vrrp";
    case 115: return "l2tp";
    case 132: return "sctp";
    case 136: return "udplite";
    case 137: return "mpls-in-ip";
    case 143: return "ethernet";
    case 262: return "mptcp";  // never on the wire; reserved so a future key cannot clash
    case NETWORK_PROTO_TRUNCATED: return "truncated";
    default: return proto <= 255 ? std::to_string(proto) : "other";
  }
}

namespace {

struct NamedEthertype {
  uint64_t ethertype;
  const char* label;
};
constexpr NamedEthertype kNamedEthertypes[] = {
#define BPFEX_NAMED_ETHERTYPE(ethertype, label) {ethertype, label},
    NETWORK_NAMED_ETHERTYPES(BPFEX_NAMED_ETHERTYPE)
#undef BPFEX_NAMED_ETHERTYPE
};

}  // namespace

std::string ethertype_label(uint64_t ethertype) {
  if (ethertype == NETWORK_ETHERTYPE_NONE) return "none";
  auto it = std::find_if(std::begin(kNamedEthertypes), std::end(kNamedEthertypes),
                         [&](const NamedEthertype& e) { return e.ethertype == ethertype; });
  return it == std::end(kNamedEthertypes) ? "other" : it->label;
}

}  // namespace bpfex::labels
