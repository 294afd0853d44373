// network: packets and bytes per interface, direction, family and L4 protocol.
//
// Attach method: one tcx link per interface and direction (Linux 6.6+), tc clsact filters before
// that. Both run after the stack has built the skb and before the driver counts it, so the totals
// equal the kernel's per-interface counters; tcx links are owned by bpfex (they go away with the
// process, never leave a qdisc behind) and compose with other tcx programs. The alternatives cost
// more per packet (an AF_PACKET socket filter makes the kernel clone every packet for the tap; the
// net_dev tracepoints need three programs). Numbers: bench/README.md.
//
// Interfaces come and go: a netlink thread owned by the module watches RTM_NEWLINK/RTM_DELLINK and
// attaches to new interfaces as they appear; the kernel drops tcx links of a deleted interface.
#include "modules/network_names.h"

#include <bpf/bpf.h>
#include <fnmatch.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/types.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "bpf/fd.h"
#include "bpf/maps.h"
#include "log.h"
#include "modules/module.h"
#include "network.h"
#include "network.skel.h"

// Not in Debian 12's uapi headers (Linux 6.1); value from Linux 6.3.
#ifndef IFLA_GSO_IPV4_MAX_SIZE
#define IFLA_GSO_IPV4_MAX_SIZE 63
#endif

namespace bpfex {

std::string_view network_family_name(uint8_t family) {
  switch (family) {
    case NETWORK_FAMILY_IPV4: return "ipv4";
    case NETWORK_FAMILY_IPV6: return "ipv6";
    default: return "other";
  }
}

std::string ip_protocol_name(uint32_t proto) {
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
    default: return std::to_string(proto);
  }
}

std::string ethertype_name(uint32_t ethertype) {
  switch (ethertype) {
    case 0: return "none";
    case 0x0806: return "arp";
    case 0x8035: return "rarp";
    case 0x8100: return "vlan";
    case 0x88A8: return "qinq";
    case 0x8847: return "mpls";
    case 0x8848: return "mpls-multicast";
    case 0x8863: return "pppoe-discovery";
    case 0x8864: return "pppoe-session";
    case 0x888E: return "eapol";
    case 0x88CC: return "lldp";
    case 0x88E5: return "macsec";
    case 0x88F7: return "ptp";
    case 0x8906: return "fcoe";
    case 0x22F0: return "avtp";
    case 0x0842: return "wake-on-lan";
    default: return "other";
  }
}

bool network_interface_selected(std::string_view name, const std::vector<std::string>& include,
                                const std::vector<std::string>& exclude) {
  const std::string n(name);
  auto matches = [&](const std::string& pattern) { return fnmatch(pattern.c_str(), n.c_str(), 0) == 0; };
  return std::any_of(include.begin(), include.end(), matches) && std::none_of(exclude.begin(), exclude.end(), matches);
}

namespace {

constexpr int kHookDirections = 2;  // ingress, egress

// Family and protocol of each enum network_class.
struct ClassKey {
  uint8_t family;
  uint16_t proto;
};
constexpr ClassKey kClasses[NETWORK_CLASSES] = {
    {NETWORK_FAMILY_IPV4, 6},  {NETWORK_FAMILY_IPV4, 17}, {NETWORK_FAMILY_IPV4, 1},       {NETWORK_FAMILY_IPV6, 6},
    {NETWORK_FAMILY_IPV6, 17}, {NETWORK_FAMILY_IPV6, 58}, {NETWORK_FAMILY_OTHER, 0x0806}, {0, 0}};
constexpr int kUsedClasses = NETWORK_CLASS_ARP + 1;
constexpr uint32_t kTcHandle = 0xbfe, kTcPriority = 0xbfe;

enum class AttachMethod { tcx, tc };

// One interface as the module knows it. Written by the netlink thread, read by the poller.
struct Interface {
  std::string name;
  bool named = false;  // false: over max_interfaces, exported as interface="other"
  bool loopback = false;
  bool alive = true;             // false once detached: read() deletes its keys and then the entry
  std::optional<uint32_t> slot;  // index into network_slots
  std::vector<Fd> tcx_links;
  bool tc_attached = false;
  bool tc_created_hook = false;
};

// What one RTM_NEWLINK/RTM_DELLINK message says about an interface.
struct LinkMessage {
  bool deleted = false;
  int ifindex = 0;
  unsigned type = 0;  // ARPHRD_*
  std::string name;
  network_interface facts{};
};

std::optional<LinkMessage> parse_link(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) return std::nullopt;
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  LinkMessage m;
  m.deleted = h->nlmsg_type == RTM_DELLINK;
  m.ifindex = ifi->ifi_index;
  m.type = ifi->ifi_type;
  bool has_link_kind = false;
  int len = static_cast<int>(IFLA_PAYLOAD(h));
  for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    uint32_t u = 0;
    if (RTA_PAYLOAD(a) >= sizeof u) std::memcpy(&u, RTA_DATA(a), sizeof u);
    switch (a->rta_type) {
      case IFLA_IFNAME:
        m.name.assign(static_cast<const char*>(RTA_DATA(a)),
                      strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
        break;
      case IFLA_GSO_MAX_SIZE: m.facts.gso_max_ipv6 = u; break;
      case IFLA_GSO_IPV4_MAX_SIZE: m.facts.gso_max_ipv4 = u; break;
      case IFLA_GSO_MAX_SEGS: m.facts.gso_max_segs = u; break;
      case IFLA_LINKINFO: has_link_kind = true; break;  // veth, bridge, vlan...: software devices
      default: break;
    }
  }
  if (!m.facts.gso_max_ipv4) m.facts.gso_max_ipv4 = m.facts.gso_max_ipv6;  // before Linux 6.3: one limit
  m.facts.loopback = m.type == ARPHRD_LOOPBACK;
  // Hardware NICs (no link kind) count frames before GRO; software devices count skbs.
  m.facts.rx_segments = !has_link_kind && m.type == ARPHRD_ETHER;
  return m;
}

class NetworkModule final : public Module {
 public:
  struct Options {
    std::vector<std::string> include = {"*"};
    std::vector<std::string> exclude;
    uint32_t max_interfaces = 1024;
    template <class V>
    void visit(V& v) {
      auto pattern = [](const std::string& p) -> std::optional<std::string> {
        if (p.empty()) return "must not be empty";
        return std::nullopt;
      };
      v.field("include", include, pattern);
      v.field("exclude", exclude, pattern);
      v.field("max_interfaces", max_interfaces, in_range(1, 1u << 16));
    }
  };

  explicit NetworkModule(const Options& options) : options_(options) {}

  // The netlink thread must be gone before the links and the skeleton it uses.
  ~NetworkModule() override {
    if (watcher_.joinable()) {
      uint64_t one = 1;
      if (write(stop_.get(), &one, sizeof one) < 0) log_warn("network: cannot wake the netlink thread");
      watcher_.join();
    }
    std::lock_guard lock(mutex_);
    for (auto& [ifindex, itf] : interfaces_) detach(ifindex, itf, /*gone=*/false);
  }

  Status start(Features& features) override {
    auto skel = Skeleton<network_bpf>::open();
    if (!skel) return skel.error().wrap("open");
    skel_.emplace(std::move(skel.value()));
    // An upper bound (the map is not preallocated): two directions times the rarer protocols seen.
    bpf_map__set_max_entries((*skel_)->maps.network_counts,
                             std::min<uint32_t>(std::max<uint32_t>(options_.max_interfaces * 64, 4096), 1u << 20));
    bpf_map__set_max_entries((*skel_)->maps.network_slots, options_.max_interfaces);
    for (uint32_t s = options_.max_interfaces; s > 0; --s) free_slots_.push_back(s - 1);
    // Loaded first: without CAP_BPF and CAP_NET_ADMIN this fails with EPERM and the loader's hint.
    if (Status st = skel_->load(); !st) return st;
    // tcx where the kernel has it (Linux 6.6+); otherwise clsact qdiscs with cls_bpf filters.
    if (features.can_attach(AttachKind::tcx, "")) {
      method_ = AttachMethod::tcx;
    } else if (features.can_attach(AttachKind::tc, "")) {
      method_ = AttachMethod::tc;
      log_info("network: tcx links are not available here; attaching tc clsact filters");
    } else {
      return Error{EOPNOTSUPP, "neither tcx links nor tc (clsact) filters can attach programs here"};
    }

    Fd nl(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (nl.get() < 0) return errno_error("netlink socket");
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK;  // subscribed before the dump: no interface can slip between the two
    if (bind(nl.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return errno_error("bind netlink socket");
    int rcvbuf = 1 << 20;
    setsockopt(nl.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    timeval timeout{5, 0};
    setsockopt(nl.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    netlink_ = std::move(nl);
    stop_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (stop_.get() < 0) return errno_error("eventfd");

    // The interfaces that exist now are attached before start() returns: the first poll sees them.
    if (Status st = dump_links(); !st) return st;
    {
      std::lock_guard lock(mutex_);
      // One interface that refuses a program (logged) must not cost the others their counters.
      if (interfaces_.empty() && !attach_error_.empty()) return Error{0, attach_error_};
      log_info("network: attached", {{"method", method_name()}, {"interfaces", std::to_string(interfaces_.size())}});
      watching_ = true;
    }
    watcher_ = std::thread([this] { watch_links(); });
    return {};
  }

  Status read(ModuleReading& out) override {
    using SeriesKey = std::tuple<int, uint8_t, uint8_t, uint16_t>;  // ifindex, direction, family, proto
    std::map<SeriesKey, network_value> raw;
    Status st = read_percpu_map<network_key, network_value>(
        bpf_map__fd((*skel_)->maps.network_counts), [&](const network_key& k, const network_value& v) {
          raw[{static_cast<int>(k.ifindex), k.direction, k.family, k.proto}] = v;
        });
    if (!st) return st.error().wrap("read network_counts");
    auto stats = read_percpu_u64_array(bpf_map__fd((*skel_)->maps.network_stats), NETWORK_STAT_MAX);
    if (!stats) return stats.error().wrap("read network_stats");

    auto packets = counter_family(
        "bpfex_network_packets_total",
        "Packets by interface, direction, address family and L4 protocol, as the interface's own counters count "
        "them. Interfaces past max_interfaces are summed under interface=\"other\".",
        {"interface", "direction", "family", "protocol"});
    auto bytes = counter_family("bpfex_network_bytes_total",
                                "Bytes by interface, direction, address family and L4 protocol, as the interface's "
                                "own counters count them (link-layer header included where the driver counts it).",
                                {"interface", "direction", "family", "protocol"});
    uint64_t overflow = (*stats)[NETWORK_STAT_MAP_FULL];
    auto add = [&](const std::string& itf, uint8_t dir, uint8_t family, uint16_t proto, const network_value& v) {
      const std::string protocol = family == NETWORK_FAMILY_OTHER ? ethertype_name(proto) : ip_protocol_name(proto);
      LabelValues labels = {itf, dir == NETWORK_RX ? "rx" : "tx", std::string(network_family_name(family)), protocol};
      packets.add(labels, static_cast<double>(v.packets));
      bytes.add(labels, static_cast<double>(v.bytes));
      if (itf == "other") overflow += v.packets;
    };

    std::vector<network_key> stale;
    {
      std::lock_guard lock(mutex_);
      // The common protocols of interfaces with a slot: merged into raw (a key is in one place only).
      for (const auto& [ifindex, itf] : interfaces_) {
        if (!itf.slot) continue;
        auto slot = read_slot(*itf.slot);
        if (!slot) return slot.error().wrap("read network_slots");
        for (uint8_t dir = 0; dir < 2; ++dir) {
          for (int c = 0; c < kUsedClasses; ++c) {
            const network_value& v = slot->counts[dir][c];
            if (v.packets == 0) continue;
            network_value& r = raw[{ifindex, dir, kClasses[c].family, kClasses[c].proto}];
            r.packets += v.packets;
            r.bytes += v.bytes;
          }
        }
      }
      for (const auto& [key, v] : raw) {
        const auto& [ifindex, dir, family, proto] = key;
        auto it = interfaces_.find(ifindex);
        if (it == interfaces_.end() || !it->second.alive) {
          // Detached: its series stop being exported; what interface="other" had counted stays.
          if (it != interfaces_.end() && !it->second.named) {
            network_value& r = retired_other_[{dir, family, proto}];
            r.packets += v.packets;
            r.bytes += v.bytes;
          }
          stale.push_back(network_key{static_cast<uint32_t>(ifindex), dir, family, proto});
          continue;
        }
        const Interface& itf = it->second;
        const std::string label = itf.named ? itf.name : "other";
        add(label, dir, family, proto, v);
        // lo: only ingress is attached; loopback counts every packet once as rx and once as tx.
        if (itf.loopback && dir == NETWORK_RX) add(label, NETWORK_TX, family, proto, v);
      }
      for (auto it = interfaces_.begin(); it != interfaces_.end();) {
        if (it->second.alive) {
          ++it;
        } else {
          forget(it->second);
          it = interfaces_.erase(it);
        }
      }
    }
    for (const auto& [key, v] : retired_other_) add("other", std::get<0>(key), std::get<1>(key), std::get<2>(key), v);
    const int fd = bpf_map__fd((*skel_)->maps.network_counts);
    for (const auto& k : stale) bpf_map_delete_elem(fd, &k);

    out.families.push_back(packets.build());
    out.families.push_back(bytes.build());
    out.label_overflows = overflow;
    out.retire_vanished_series = true;
    return {};
  }

  std::vector<LoadedProgram> programs() const override {
    std::vector<LoadedProgram> out;
    const std::string method = method_name();
    auto add = [&](bpf_program* p, const char* what) {
      out.push_back({bpf_program__name(p), method + " " + what, bpf_program__fd(p)});
    };
    add((*skel_)->progs.network_ingress, "ingress (Ethernet, loopback)");
    add((*skel_)->progs.network_egress, "egress (Ethernet)");
    add((*skel_)->progs.network_ingress_l3, "ingress (no link-layer header)");
    add((*skel_)->progs.network_egress_l3, "egress (no link-layer header)");
    return out;
  }

 private:
  std::string method_name() const { return method_ == AttachMethod::tcx ? "tcx" : "tc"; }

  int program_fd(unsigned type, bool ingress) const {
    const bool l2 = type == ARPHRD_ETHER || type == ARPHRD_LOOPBACK;
    const auto& p = (*skel_)->progs;
    if (l2) return bpf_program__fd(ingress ? p.network_ingress : p.network_egress);
    return bpf_program__fd(ingress ? p.network_ingress_l3 : p.network_egress_l3);
  }

  // Called with mutex_ held.
  void on_link(const LinkMessage& m) {
    auto it = interfaces_.find(m.ifindex);
    const bool known = it != interfaces_.end() && it->second.alive;
    const bool wanted = !m.deleted && network_interface_selected(m.name, options_.include, options_.exclude);
    if (known && (!wanted || m.deleted)) {
      detach(m.ifindex, it->second, m.deleted);
      return;
    }
    if (known) {
      it->second.name = m.name;  // renamed, or another attribute changed (GSO limits): keep the facts current
      network_interface facts = m.facts;
      facts.slot = it->second.slot ? *it->second.slot + 1 : 0;
      set_facts(m.ifindex, facts);
      return;
    }
    if (!wanted) return;
    if (it != interfaces_.end()) {  // detached but not yet collected by read(): start over
      forget(it->second);
      interfaces_.erase(it);
    }
    Interface itf;
    itf.name = m.name;
    itf.loopback = m.facts.loopback != 0;
    itf.named = named_ < options_.max_interfaces;
    if (itf.named) ++named_;
    // Facts and a zeroed slot first: the programs must never see the interface without them.
    network_interface facts = m.facts;
    if (m.ifindex > 0 && m.ifindex < NETWORK_MAX_IFINDEX) {
      if (!free_slots_.empty() && zero_slot(free_slots_.back())) {
        itf.slot = free_slots_.back();
        free_slots_.pop_back();
        facts.slot = *itf.slot + 1;
      }
      set_facts(m.ifindex, facts);
    }
    if (Status st = attach(m.ifindex, m.type, itf); !st) {
      log_warn("network: cannot attach", {{"interface", m.name}, {"err", st.error().str()}});
      if (attach_error_.empty() && !watching_) attach_error_ = st.error().str();
      forget(itf);
      return;
    }
    log_debug("network: attached", {{"interface", m.name}, {"ifindex", std::to_string(m.ifindex)}});
    interfaces_.emplace(m.ifindex, std::move(itf));
  }

  Status attach(int ifindex, unsigned type, Interface& itf) {
    // Loopback: ingress only (see read()).
    const int hooks = itf.loopback ? 1 : kHookDirections;
    if (method_ == AttachMethod::tcx) {
      for (int h = 0; h < hooks; ++h) {
        Fd link(bpf_link_create(program_fd(type, h == 0), ifindex, h == 0 ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, nullptr));
        if (link.get() < 0) {
          const int err = errno;
          itf.tcx_links.clear();
          return errno_error("tcx attach", err);
        }
        itf.tcx_links.push_back(std::move(link));
      }
      return {};
    }
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
    int err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) return errno_error("create clsact qdisc", -err);
    itf.tc_created_hook = err == 0;
    itf.tc_attached = true;  // from here on, detach() undoes what was done, also after a failure
    for (int h = 0; h < hooks; ++h) {
      LIBBPF_OPTS(bpf_tc_hook, one, .ifindex = ifindex, .attach_point = h == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS);
      LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = program_fd(type, h == 0), .flags = BPF_TC_F_REPLACE,
                  .handle = kTcHandle, .priority = kTcPriority);
      if ((err = bpf_tc_attach(&one, &opts))) {
        detach(ifindex, itf, /*gone=*/false);
        return errno_error("tc attach", -err);
      }
    }
    return {};
  }

  // Called with mutex_ held: gives back what an interface that is no longer tracked held.
  void forget(Interface& itf) {
    if (itf.named) --named_;
    itf.named = false;
    if (itf.slot) free_slots_.push_back(*itf.slot);
    itf.slot.reset();
  }

  void set_facts(int ifindex, const network_interface& facts) {
    if (ifindex <= 0 || ifindex >= NETWORK_MAX_IFINDEX) return;
    uint32_t key = static_cast<uint32_t>(ifindex);
    bpf_map_update_elem(bpf_map__fd((*skel_)->maps.network_interfaces), &key, &facts, BPF_ANY);
  }

  bool zero_slot(uint32_t slot) {
    std::vector<network_slot> zero(static_cast<size_t>(possible_cpus()));
    return bpf_map_update_elem(bpf_map__fd((*skel_)->maps.network_slots), &slot, zero.data(), BPF_ANY) == 0;
  }

  // One slot summed over CPUs.
  Result<network_slot> read_slot(uint32_t slot) {
    constexpr size_t kWords = sizeof(network_slot) / sizeof(uint64_t);
    std::vector<uint64_t> percpu(kWords * static_cast<size_t>(possible_cpus()));
    if (bpf_map_lookup_elem(bpf_map__fd((*skel_)->maps.network_slots), &slot, percpu.data()) != 0)
      return errno_error("lookup slot " + std::to_string(slot));
    network_slot sum{};
    sum_percpu_words(reinterpret_cast<const uint8_t*>(percpu.data()), kWords, possible_cpus(),
                     reinterpret_cast<uint64_t*>(&sum));
    return sum;
  }

  // Called with mutex_ held. gone: the interface no longer exists here (deleted or moved away).
  void detach(int ifindex, Interface& itf, bool gone) {
    if (!itf.alive) return;
    itf.tcx_links.clear();
    if (itf.tc_attached && !gone) {
      if (itf.tc_created_hook) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                    .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
        bpf_tc_hook_destroy(&hook);
      } else {
        for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
          LIBBPF_OPTS(bpf_tc_hook, one, .ifindex = ifindex, .attach_point = point);
          LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
          bpf_tc_detach(&one, &opts);
        }
      }
    }
    itf.tc_attached = false;
    itf.alive = false;
    log_debug("network: detached", {{"interface", itf.name}, {"ifindex", std::to_string(ifindex)}});
  }

  Status request_dump() {
    struct {
      nlmsghdr n;
      ifinfomsg i;
    } req{};
    req.n.nlmsg_len = sizeof req;
    req.n.nlmsg_type = RTM_GETLINK;
    req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.n.nlmsg_seq = ++dump_seq_;
    req.i.ifi_family = AF_UNSPEC;
    if (send(netlink_.get(), &req, sizeof req, 0) < 0) return errno_error("netlink dump request");
    return {};
  }

  // Handles every message in buf; returns true when it held the end of our dump.
  bool handle(const nlmsghdr* buf, ssize_t n, std::set<int>* dumped) {
    bool done = false;
    std::lock_guard lock(mutex_);
    for (const nlmsghdr* h = buf; NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_seq == dump_seq_) done = true;
        continue;
      }
      auto m = parse_link(h);
      if (!m) continue;
      if (dumped && h->nlmsg_seq == dump_seq_ && !m->deleted) dumped->insert(m->ifindex);
      on_link(*m);
    }
    return done;
  }

  // Lists every interface and reconciles: attaches new ones, detaches those that are gone (a dump
  // after lost events, ENOBUFS, must also catch deletions it missed).
  Status dump_links() {
    if (Status st = request_dump(); !st) return st;
    std::set<int> dumped;
    for (;;) {
      ssize_t n = recv(netlink_.get(), buffer_.data(), buffer_.size() * sizeof(nlmsghdr), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) return dump_links();  // events overran during the dump: again
        return errno_error("netlink dump");
      }
      if (handle(buffer_.data(), n, &dumped)) break;
    }
    std::lock_guard lock(mutex_);
    for (auto& [ifindex, itf] : interfaces_)
      if (itf.alive && !dumped.count(ifindex)) detach(ifindex, itf, /*gone=*/true);
    return {};
  }

  void watch_links() {
    pollfd fds[2] = {{netlink_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        log_error("network: netlink poll failed; new interfaces are not attached", {{"err", strerror(errno)}});
        return;
      }
      if (fds[1].revents) return;
      ssize_t n = recv(netlink_.get(), buffer_.data(), buffer_.size() * sizeof(nlmsghdr), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == ENOBUFS) {  // the kernel dropped events: list everything again
          log_warn("network: netlink events lost, re-listing interfaces");
          if (Status st = dump_links(); !st) log_warn("network: re-listing failed", {{"err", st.error().str()}});
        }
        continue;
      }
      handle(buffer_.data(), n, nullptr);
    }
  }

  Options options_;
  std::optional<Skeleton<network_bpf>> skel_;
  Fd netlink_, stop_;
  uint32_t dump_seq_ = 0;
  // Receive buffer of the netlink socket (start(), then the netlink thread only); nlmsghdr-aligned.
  std::vector<nlmsghdr> buffer_ = std::vector<nlmsghdr>((64 << 10) / sizeof(nlmsghdr));
  AttachMethod method_ = AttachMethod::tcx;  // chosen by probing in start()

  std::mutex mutex_;  // guards everything below
  std::map<int, Interface> interfaces_;
  uint32_t named_ = 0;
  std::vector<uint32_t> free_slots_;  // indexes of network_slots not in use
  std::string attach_error_;          // first attach failure during start(): fails it if nothing attached
  bool watching_ = false;             // the netlink thread runs: attach failures no longer fail start()
  // Totals of interfaces exported as "other" that are gone: "other" must not go down.
  std::map<std::tuple<uint8_t, uint8_t, uint16_t>, network_value> retired_other_;

  std::thread watcher_;  // last: joined (by the destructor) before anything above goes
};

}  // namespace

ModuleSpec network_module_spec() {
  return make_module_spec<NetworkModule>(
      "network", "Counts packets and bytes per interface, direction, address family and L4 protocol.");
}

}  // namespace bpfex
