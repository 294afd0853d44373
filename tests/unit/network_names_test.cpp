#include <catch2/catch.hpp>

#include <linux/types.h>

#include "modules/network_names.h"
#include "network.h"

using namespace bpfex;

TEST_CASE("network: L4 protocols are named by their IANA keyword, others by number") {
  CHECK(ip_protocol_name(6) == "tcp");
  CHECK(ip_protocol_name(17) == "udp");
  CHECK(ip_protocol_name(1) == "icmp");
  CHECK(ip_protocol_name(58) == "icmpv6");
  CHECK(ip_protocol_name(132) == "sctp");
  CHECK(ip_protocol_name(47) == "gre");
  CHECK(ip_protocol_name(50) == "esp");
  CHECK(ip_protocol_name(51) == "ah");
  CHECK(ip_protocol_name(44) == "ipv6-frag");
  CHECK(ip_protocol_name(253) == "253");
  CHECK(ip_protocol_name(255) == "255");
  CHECK(ip_protocol_name(NETWORK_PROTO_TRUNCATED) == "truncated");
}

TEST_CASE("network: non-IP frames are named by ethertype, from a bounded set") {
  CHECK(ethertype_name(0x0806) == "arp");
  CHECK(ethertype_name(0x88CC) == "lldp");
  CHECK(ethertype_name(0x8847) == "mpls");
  CHECK(ethertype_name(0) == "none");
  CHECK(ethertype_name(NETWORK_ETHERTYPE_OTHER) == "other");
  CHECK(ethertype_name(0x1234) == "other");
}

TEST_CASE("network: families") {
  CHECK(network_family_name(NETWORK_FAMILY_IPV4) == "ipv4");
  CHECK(network_family_name(NETWORK_FAMILY_IPV6) == "ipv6");
  CHECK(network_family_name(NETWORK_FAMILY_OTHER) == "other");
}

TEST_CASE("network: an interface is counted when an include glob matches and no exclude glob does") {
  const std::vector<std::string> all = {"*"};
  CHECK(network_interface_selected("eth0", all, {}));
  CHECK_FALSE(network_interface_selected("veth1a2b", all, {"veth*"}));
  CHECK(network_interface_selected("eth0", all, {"veth*"}));
  CHECK(network_interface_selected("eth1", {"eth[0-9]", "lo"}, {}));
  CHECK_FALSE(network_interface_selected("wlan0", {"eth[0-9]", "lo"}, {}));
  CHECK_FALSE(network_interface_selected("lo", {}, {}));
  CHECK_FALSE(network_interface_selected("lo", all, {"lo", "docker*"}));
}
