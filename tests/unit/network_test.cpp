// The network module's interface selection and the link watcher's message parsing, without a
// kernel: rtnetlink messages built here byte by byte, as the kernel lays them out.
#include <linux/if_arp.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "modules/network.h"
#include "net/link_watcher.h"

using namespace bpfex;

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

namespace {

// An RTM_NEWLINK/RTM_DELLINK message with the attributes added by attr().
class LinkMessageBuilder {
 public:
  LinkMessageBuilder(uint16_t type, int ifindex, unsigned short arphrd) : bytes_(NLMSG_LENGTH(sizeof(ifinfomsg))) {
    auto* h = header();
    h->nlmsg_type = type;
    auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
    ifi->ifi_index = ifindex;
    ifi->ifi_type = arphrd;
  }
  LinkMessageBuilder& attr(uint16_t type, const void* data, size_t size) {
    const size_t at = NLMSG_ALIGN(bytes_.size());
    bytes_.resize(at + RTA_SPACE(size));
    auto* rta = reinterpret_cast<rtattr*>(bytes_.data() + at);
    rta->rta_type = type;
    rta->rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
    std::memcpy(RTA_DATA(rta), data, size);
    return *this;
  }
  LinkMessageBuilder& u32(uint16_t type, uint32_t v) { return attr(type, &v, sizeof v); }
  LinkMessageBuilder& name(const std::string& n) { return attr(IFLA_IFNAME, n.c_str(), n.size() + 1); }
  const nlmsghdr* message() {
    header()->nlmsg_len = static_cast<uint32_t>(bytes_.size());
    return header();
  }

 private:
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(bytes_.data()); }
  std::vector<uint8_t> bytes_;  // vector storage is aligned for nlmsghdr
};

}  // namespace

TEST_CASE("link messages: name, type, GSO limits and whether the device is software") {
  const uint32_t linkinfo = 0;
  LinkMessageBuilder veth(RTM_NEWLINK, 7, ARPHRD_ETHER);
  veth.name("veth0")
      .u32(IFLA_GSO_MAX_SIZE, 65536)
      .u32(IFLA_GSO_MAX_SEGS, 65535)
      .u32(63 /* IFLA_GSO_IPV4_MAX_SIZE */, 524280);
  veth.attr(IFLA_LINKINFO, &linkinfo, sizeof linkinfo);
  auto m = parse_link_message(veth.message());
  REQUIRE(m);
  CHECK_FALSE(m->removed);
  CHECK(m->link.ifindex == 7);
  CHECK(m->link.type == ARPHRD_ETHER);
  CHECK(m->link.name == "veth0");
  CHECK(m->link.gso_max_size == 65536);
  CHECK(m->link.gso_ipv4_max_size == 524280);
  CHECK(m->link.gso_max_segs == 65535);
  CHECK(m->link.software);

  LinkMessageBuilder nic(RTM_NEWLINK, 2, ARPHRD_ETHER);
  nic.name("eth0");
  m = parse_link_message(nic.message());
  REQUIRE(m);
  CHECK_FALSE(m->link.software);
  CHECK(m->link.gso_ipv4_max_size == 0);  // before Linux 6.3: absent

  LinkMessageBuilder gone(RTM_DELLINK, 7, ARPHRD_ETHER);
  m = parse_link_message(gone.message());
  REQUIRE(m);
  CHECK(m->removed);
  CHECK(m->link.ifindex == 7);
}

TEST_CASE("link messages: other messages and short ones are not links") {
  LinkMessageBuilder addr(RTM_NEWADDR, 1, ARPHRD_ETHER);
  CHECK_FALSE(parse_link_message(addr.message()));
  nlmsghdr short_one{};
  short_one.nlmsg_type = RTM_NEWLINK;
  short_one.nlmsg_len = NLMSG_LENGTH(0);
  CHECK_FALSE(parse_link_message(&short_one));
}

TEST_CASE("link messages: a name without its NUL stops at the attribute's end") {
  LinkMessageBuilder m(RTM_NEWLINK, 3, ARPHRD_NONE);
  m.attr(IFLA_IFNAME, "wg0xx", 3);
  auto parsed = parse_link_message(m.message());
  REQUIRE(parsed);
  CHECK(parsed->link.name == "wg0");
}
