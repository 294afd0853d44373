// network: packets and bytes per interface, direction, family and L4 protocol.
//
// How packets are seen (kernel/network.bpf.c):
//  - tracepoints (tp_btf netif_receive_skb and net_dev_start_xmit), wherever BTF-typed tracepoints
//    load: two programs for the whole namespace, nothing attached per interface. Attaching per
//    interface costs every link operation of the host: a tcx attach or release holds the rtnl lock
//    across an RCU grace period (17-21 ms per interface on an idle machine), so a container host
//    creating hundreds of veths waited seconds for bpfex (bench/network/burst.sh). Interfaces
//    whose received packets come through their lower device's rx_handler (kRxHandlerKinds) never
//    pass the receive tracepoint: their ingress alone gets a per-interface program.
//  - otherwise one tcx link per interface and direction (Linux 6.6+), tc clsact filters before that
//    (net/netdev_attach.h), attached as interfaces appear. They run after the stack has built the
//    skb and before the driver counts it; tcx links are owned by bpfex (they go away with the
//    process, never leave a qdisc behind) and compose with other tcx programs.
// Either way the totals equal the kernel's per-interface counters. An AF_PACKET socket filter
// would cost more per packet (the kernel clones every packet for the tap). Numbers: bench/README.md.
//
// Interfaces come and go: a LinkWatcher (net/link_watcher.h) tells the module, which gives new
// interfaces their facts (and programs, per interface) as they appear and retires the series of
// those that go.
#include "modules/network.h"

#include <bpf/bpf.h>
#include <fnmatch.h>
#include <linux/if_arp.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <vector>

#include "base/log.h"
#include "kernel/network.h"
#include "labels/network.h"
#include "labels/overflow.h"
#include "loader/hooks.h"
#include "loader/maps.h"
#include "loader/skeleton.h"
#include "modules/module.h"
#include "net/link_watcher.h"
#include "net/netdev_attach.h"
#include "skel/network.skel.h"

namespace bpfex {

bool network_interface_selected(std::string_view name, const std::vector<std::string>& include,
                                const std::vector<std::string>& exclude) {
  const std::string n(name);
  auto matches = [&](const std::string& pattern) { return fnmatch(pattern.c_str(), n.c_str(), 0) == 0; };
  return std::any_of(include.begin(), include.end(), matches) && std::none_of(exclude.begin(), exclude.end(), matches);
}

namespace {

static_assert(NETWORK_CLASS_REST < NETWORK_CLASSES,
              "a slot has room for every class of NETWORK_SLOT_CLASSES and the rest");

// Family and protocol of each enum network_class, from the same table the BPF side switches on.
struct ClassKey {
  uint8_t family;
  uint16_t proto;
};
constexpr ClassKey kClasses[NETWORK_USED_CLASSES] = {
#define BPFEX_CLASS_KEY(name, family, proto) {family, proto},
    NETWORK_SLOT_CLASSES(BPFEX_CLASS_KEY)
#undef BPFEX_CLASS_KEY
};

// One interface as the module knows it. Written by the link watcher's thread, read by the poller.
struct Interface {
  std::string name;
  bool named = false;  // false: over max_interfaces, exported as interface="other"
  bool loopback = false;
  bool alive = true;                           // false once detached: read() deletes its keys and then the entry
  std::optional<uint32_t> slot;                // index into network_slots
  std::optional<NetdevAttachment> attachment;  // per-interface counting, or the ingress of a stacked device
  uint32_t untraced = 0;                       // network_interface.untraced
  // What it carried before bpfex attached (it appeared after start and was up at once), per
  // direction: exported as family="unknown", protocol="unknown".
  network_value before_attach[2] = {};
};

// Kinds of interfaces whose lower device's rx_handler hands them their packets (RX_HANDLER_ANOTHER)
// or that take VLAN tags off: __netif_receive_skb_core() goes round again with the packet on them,
// past the netif_receive_skb tracepoint, which saw it once, on the lower device.
constexpr std::string_view kRxHandlerKinds[] = {"vlan", "macvlan", "macvtap", "ipvlan", "ipvtap",
                                                "bond", "team",    "macsec",  "hsr",    "net_failover"};
// Kinds of interfaces that count received bytes without the link-layer header (struct
// network_interface, rx_l3_bytes).
constexpr std::string_view kRxL3BytesKinds[] = {"vlan", "team", "bridge"};
bool kind_in(std::span<const std::string_view> kinds, const LinkInfo& link) {
  return std::ranges::find(kinds, link.kind) != kinds.end();
}
bool rx_bypasses_tracepoint(const LinkInfo& link) { return kind_in(kRxHandlerKinds, link); }

constexpr uint32_t kUntracedRx = 1u << NETWORK_RX;
constexpr uint32_t kUntracedTx = 1u << NETWORK_TX;

// The facts the BPF side needs to count like the driver (struct network_interface).
network_interface facts_of(const LinkInfo& link) {
  network_interface f{};
  f.gso_max_ipv6 = link.gso_max_size;
  f.gso_max_ipv4 = link.gso_ipv4_max_size ? link.gso_ipv4_max_size : link.gso_max_size;  // before 6.3: one limit
  f.gso_max_segs = link.gso_max_segs;
  f.loopback = link.type == ARPHRD_LOOPBACK;
  // Hardware NICs count frames before GRO; software devices (veth, bridge, ...) count skbs.
  f.rx_segments = !link.software && link.type == ARPHRD_ETHER;
  f.rx_l3_bytes = kind_in(kRxL3BytesKinds, link);
  return f;
}

class NetworkModule final : public Module, private LinkObserver {
 public:
  struct Options {
    std::vector<std::string> include = {"*"};
    std::vector<std::string> exclude;
    uint32_t max_interfaces = 1024;
    // "tracepoints": two programs for the whole namespace where they load (per interface where not);
    // "interfaces": a program on each interface (tcx, tc before 6.6) even there.
    std::string attach = "tracepoints";
    template <class V>
    void visit(V& v) {
      auto pattern = [](const std::string& p) -> std::optional<std::string> {
        if (p.empty()) return "must not be empty";
        return std::nullopt;
      };
      v.field("include", include, pattern);
      v.field("exclude", exclude, pattern);
      v.field("max_interfaces", max_interfaces, in_range(1, 1u << 16));
      v.field("attach", attach, [](const std::string& a) -> std::optional<std::string> {
        if (a == "tracepoints" || a == "interfaces") return std::nullopt;
        return "must be tracepoints or interfaces";
      });
    }
  };

  explicit NetworkModule(const Options& options) : options_(options) {}

  Status start(ModuleContext& context) override {
    Features& features = context.features;
    for (uint32_t s = options_.max_interfaces; s > 0; --s) free_slots_.push_back(s - 1);
    traced_ = options_.attach == "tracepoints" && features.can_attach(Flavour::tp_btf, "netif_receive_skb") &&
              features.can_attach(Flavour::tp_btf, "net_dev_start_xmit");
    // Loaded first: without CAP_BPF and CAP_NET_ADMIN this fails with EPERM and the loader's hint.
    Status loaded = open_and_load(features);
    if (!loaded && traced_) {
      // The tracepoints exist, but this kernel refuses the programs (a verifier or CO-RE
      // difference): counted per interface instead.
      log_warn("network: the tracepoint programs do not load here; attaching to each interface",
               {{"err", loaded.error().str()}});
      traced_ = false;
      loaded = open_and_load(features);
    }
    if (!loaded) return loaded;
    // Per interface (everything without the tracepoints, stacked devices' ingress with them): tcx
    // where the kernel has it (Linux 6.6+); otherwise clsact qdiscs with cls_bpf filters.
    if (features.can_attach(NetdevFlavour::tcx)) {
      flavour_ = NetdevFlavour::tcx;
    } else if (features.can_attach(NetdevFlavour::tc)) {
      flavour_ = NetdevFlavour::tc;
      // Our filters' handle, and the socket that tells other instances we are alive.
      auto owner = TcOwner::claim();
      if (!owner) return owner.error().wrap("tc");
      tc_owner_.emplace(std::move(owner.value()));
      log_info("network: tcx links are not available here; attaching tc clsact filters",
               {{"priority", std::to_string(kTcPriority)}, {"handle", std::to_string(tc_owner_->handle())}});
    } else if (!traced_) {
      return Error{EOPNOTSUPP,
                   "neither BTF-typed tracepoints, tcx links nor tc (clsact) filters can attach programs here"};
    } else {
      per_interface_ = false;
    }
    // Made here, in the namespace watched: read() asks it from the poller's thread.
    auto counters = link_query_socket();
    if (!counters) return counters.error();
    counters_socket_ = std::move(counters.value());
    // The interfaces that exist now are attached before start() returns: the first poll sees them.
    auto watcher = LinkWatcher::start(*this);
    if (!watcher) return watcher.error();
    watcher_ = std::move(watcher.value());
    // After the listing gave every interface its facts: nothing is counted without them.
    for (bpf_program* p : {(*skel_)->progs.network_receive, (*skel_)->progs.network_transmit}) {
      if (!traced_) break;
      LinkPtr link(bpf_program__attach(p));
      if (!link) return errno_error(std::string("attach ") + bpf_program__name(p));
      tracepoint_links_.push_back(std::move(link));
    }
    std::lock_guard lock(mutex_);
    // One interface that refuses a program (logged) must not cost the others their counters.
    if (!traced_ && interfaces_.empty() && !attach_error_.empty()) return Error{0, attach_error_};
    log_info("network: attached", {{"flavour", traced_ ? "tp_btf" : std::string(flavour_name(flavour_))},
                                   {"interfaces", std::to_string(interfaces_.size())}});
    started_ = true;
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
      const std::string protocol = family == NETWORK_FAMILY_OTHER     ? labels::ethertype_label(proto)
                                   : family == NETWORK_FAMILY_UNKNOWN ? "unknown"
                                                                      : labels::ip_protocol_label(proto);
      const LabelValues values = {itf, dir == NETWORK_RX ? "rx" : "tx",
                                  std::string(labels::network_family_label(family)), protocol};
      packets.add(values, static_cast<double>(v.packets));
      bytes.add(values, static_cast<double>(v.bytes));
      if (itf == labels::kOverflowLabel) overflow += v.packets;
    };

    std::vector<network_key> stale;
    std::map<int, bool> unknown_exists;  // ifindexes counted but not (yet) told by the watcher
    {
      std::lock_guard lock(mutex_);
      settle_owed(std::chrono::steady_clock::now());
      // The common protocols of interfaces with a slot: merged into raw (a key is in one place only).
      for (const auto& [ifindex, itf] : interfaces_) {
        if (!itf.slot) continue;
        auto slot = read_slot(*itf.slot);
        if (!slot) return slot.error().wrap("read network_slots");
        for (uint8_t dir = 0; dir < 2; ++dir) {
          for (int c = 0; c < NETWORK_USED_CLASSES; ++c) {
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
        // Tracepoints count an interface from its first packet, maybe before the watcher has told
        // us about it: kept (not exported yet) while it exists and is not left out.
        if (it == interfaces_.end() && traced_ && !excluded_.contains(ifindex)) {
          auto [known, inserted] = unknown_exists.try_emplace(ifindex, false);
          if (inserted) known->second = link_exists(ifindex);
          if (known->second) continue;
        }
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
        const std::string label = label_of(itf);
        add(label, dir, family, proto, v);
        // lo: only received packets are counted; loopback counts every packet once as rx and once as tx.
        if (itf.loopback && dir == NETWORK_RX) add(label, NETWORK_TX, family, proto, v);
      }
      for (const auto& [ifindex, itf] : interfaces_) {
        if (!itf.alive) continue;
        for (uint8_t dir = 0; dir < 2; ++dir)
          if (itf.before_attach[dir].packets || itf.before_attach[dir].bytes)
            add(label_of(itf), dir, NETWORK_FAMILY_UNKNOWN, 0, itf.before_attach[dir]);
      }
      out.problem = verify_attachments();
      for (auto it = interfaces_.begin(); it != interfaces_.end();) {
        if (it->second.alive) {
          ++it;
        } else {
          if (!it->second.named) retire_before_attach(it->second);
          forget(it->second);
          it = interfaces_.erase(it);
        }
      }
    }
    for (const auto& [key, v] : retired_other_)
      add(std::string(labels::kOverflowLabel), std::get<0>(key), std::get<1>(key), std::get<2>(key), v);
    const int fd = bpf_map__fd((*skel_)->maps.network_counts);
    for (const auto& k : stale) bpf_map_delete_elem(fd, &k);

    out.families.push_back(packets.build());
    out.families.push_back(bytes.build());
    out.label_overflows = overflow;
    out.retire_vanished_series = true;
    return {};
  }

  Status open_and_load(Features& features) {
    skel_.reset();
    auto skel = Skeleton<network_bpf>::open(features.btf_path());
    if (!skel) return skel.error().wrap("open");
    skel_.emplace(std::move(skel.value()));
    // An upper bound (the map is not preallocated): two directions times the rarer protocols seen.
    bpf_map__set_max_entries((*skel_)->maps.network_counts,
                             std::min<uint32_t>(std::max<uint32_t>(options_.max_interfaces * 64, 4096), 1u << 20));
    bpf_map__set_max_entries((*skel_)->maps.network_slots, options_.max_interfaces);
    // Interfaces counted and, with the tracepoints, those left out (their facts say so).
    bpf_map__set_max_entries((*skel_)->maps.network_interfaces_large,
                             std::max<uint32_t>(options_.max_interfaces * 4, 4096));
    bpf_program__set_autoload((*skel_)->progs.network_receive, traced_);
    bpf_program__set_autoload((*skel_)->progs.network_transmit, traced_);
    if (traced_) {
      // The tracepoints see every namespace's packets: they count this thread's, the one watched.
      struct stat ns {};
      if (stat("/proc/thread-self/ns/net", &ns) != 0) return errno_error("stat /proc/thread-self/ns/net");
      (*skel_)->rodata->watched_netns = static_cast<uint32_t>(ns.st_ino);
    }
    return skel_->load();
  }

  std::vector<CapabilityNeed> capabilities_after_start() const override {
    if (!per_interface_) return {};
    return {{"CAP_NET_ADMIN", std::string("network: attaches its programs to ") +
                                  (traced_ ? "stacked interfaces (vlan, macvlan, bond, ...)" : "interfaces") +
                                  " created later (" + std::string(flavour_name(flavour_)) + ")"}};
  }

  std::vector<LoadedProgram> programs() const override {
    std::vector<LoadedProgram> out;
    const std::string flavour(flavour_name(flavour_));
    auto add = [&](bpf_program* p, const std::string& how, const char* what) {
      out.push_back({bpf_program__name(p), how, what, bpf_program__fd(p)});
    };
    if (traced_) {
      add((*skel_)->progs.network_receive, "tp_btf", "received (netif_receive_skb)");
      add((*skel_)->progs.network_transmit, "tp_btf", "sent (net_dev_start_xmit)");
      if (!per_interface_) return out;
      add((*skel_)->progs.network_ingress, flavour, "ingress of stacked devices (Ethernet)");
      add((*skel_)->progs.network_ingress_l3, flavour, "ingress of stacked devices (no link-layer header)");
      return out;
    }
    add((*skel_)->progs.network_ingress, flavour, "ingress (Ethernet, loopback)");
    add((*skel_)->progs.network_egress, flavour, "egress (Ethernet)");
    add((*skel_)->progs.network_ingress_l3, flavour, "ingress (no link-layer header)");
    add((*skel_)->progs.network_egress_l3, flavour, "egress (no link-layer header)");
    return out;
  }

 private:
  NetdevAttachment::Programs programs_for(const LinkInfo& link) const {
    const bool l2 = link.type == ARPHRD_ETHER || link.type == ARPHRD_LOOPBACK;
    const auto& p = (*skel_)->progs;
    NetdevAttachment::Programs out{bpf_program__fd(l2 ? p.network_ingress : p.network_ingress_l3),
                                   bpf_program__fd(l2 ? p.network_egress : p.network_egress_l3)};
    // Loopback: ingress only (see read()).
    if (link.type == ARPHRD_LOOPBACK) out.egress = -1;
    return out;
  }

  void link_present(const LinkInfo& link) override {
    std::lock_guard lock(mutex_);
    auto it = interfaces_.find(link.ifindex);
    bool known = it != interfaces_.end() && it->second.alive;
    // A deletion the watcher never saw (events lost) and another interface under the same ifindex:
    // the old tcx links are defunct. Start over, as for a new interface.
    if (known && flavour_ == NetdevFlavour::tcx && it->second.attachment && !it->second.attachment->verify()) {
      log_debug("network: interface replaced under its ifindex, or going", {{"interface", link.name}});
      detach(it->second, /*gone=*/true);
      known = false;
    }
    const bool wanted = network_interface_selected(link.name, options_.include, options_.exclude);
    if (known && !wanted) {  // renamed out of the selection
      detach(it->second, /*gone=*/false);
      leave_out(link.ifindex);
      return;
    }
    if (known) {
      it->second.name = link.name;  // renamed, or another attribute changed (GSO limits): keep the facts current
      network_interface facts = facts_of(link);
      facts.slot = it->second.slot ? *it->second.slot + 1 : 0;
      facts.untraced = it->second.untraced;
      set_facts(link.ifindex, facts);
      return;
    }
    if (!wanted) {
      leave_out(link.ifindex);
      return;
    }
    excluded_.erase(link.ifindex);
    if (it != interfaces_.end()) {  // detached but not yet collected by read(): start over
      // What the old interface counted must not become the new one's: folded (into "other" if
      // it was counted there) and its keys deleted now, before anything counts under the ifindex.
      const TrafficCounts old = drain_counts(link.ifindex, it->second);
      if (!it->second.named) {
        add_retired_other(old);
        retire_before_attach(it->second);
      }
      forget(it->second);
      interfaces_.erase(it);
    }
    Interface itf;
    itf.name = link.name;
    itf.loopback = link.type == ARPHRD_LOOPBACK;
    itf.named = named_ < options_.max_interfaces;
    if (itf.named) ++named_;
    NetdevAttachment::Programs programs = programs_for(link);
    if (traced_) {
      // lo: its rx mirrored (read()); stacked devices: their ingress program counts what they receive.
      const bool stacked = rx_bypasses_tracepoint(link);
      itf.untraced = (itf.loopback ? kUntracedTx : 0) | (stacked ? kUntracedRx : 0);
      programs.egress = -1;
      if (!stacked) programs.ingress = -1;
      if (stacked && !per_interface_) {
        log_warn("network: no tcx or tc here for what a stacked device receives; left out",
                 {{"interface", link.name}, {"kind", link.kind}});
        forget(itf);
        leave_out(link.ifindex);
        return;
      }
    }
    // Facts and a zeroed slot first: the programs must never see the interface without them.
    network_interface facts = facts_of(link);
    facts.untraced = itf.untraced;
    if (link.ifindex > 0) {
      if (!free_slots_.empty() && zero_slot(free_slots_.back())) {
        itf.slot = free_slots_.back();
        free_slots_.pop_back();
        facts.slot = *itf.slot + 1;
      }
      set_facts(link.ifindex, facts);
    }
    if (programs.ingress < 0 && programs.egress < 0) {  // counted by the tracepoints from its first packet
      interfaces_.emplace(link.ifindex, std::move(itf));
      return;
    }
    auto attached = NetdevAttachment::attach(flavour_, link.ifindex, programs, tc_owner_ ? &*tc_owner_ : nullptr);
    if (!attached) {
      // Deleted before its creation event got here (a burst): nothing to count, nothing to say.
      if (attached.error().err == ENODEV) {
        log_debug("network: gone before attach", {{"interface", link.name}});
        forget(itf);
        return;
      }
      log_warn("network: cannot attach", {{"interface", link.name}, {"err", attached.error().str()}});
      if (attach_error_.empty() && !started_) attach_error_ = attached.error().str();
      forget(itf);
      // Its facts named the slot just given back: the tracepoints must not count into it.
      if (traced_)
        leave_out(link.ifindex);
      else
        clear_facts(link.ifindex);
      return;
    }
    itf.attachment.emplace(std::move(attached.value()));
    log_debug("network: attached", {{"interface", link.name}, {"ifindex", std::to_string(link.ifindex)}});
    const bool owed = started_ && !itf.loopback && !traced_;
    interfaces_.emplace(link.ifindex, std::move(itf));
    // An interface that appeared while bpfex runs is counted from its first packet: what it carried
    // before the attach (it was brought up and used faster than bpfex attached) comes from its own
    // counters once they have settled (settle_owed, after each batch of events and at each poll,
    // so that the watcher never waits for it). Interfaces that existed at start are counted from
    // then.
    if (owed) {
      // Readings owed for an interface that had this ifindex before are not this one's.
      std::erase_if(owed_, [&](const OwedReading& o) { return o.reading.ifindex == link.ifindex; });
      if (auto r = read_attach(link.ifindex)) owed_.push_back({*r, std::chrono::steady_clock::now()});
    }
  }

  void links_settled() override {
    std::lock_guard lock(mutex_);
    settle_owed(std::chrono::steady_clock::now());
  }

  std::string label_of(const Interface& itf) const {
    return itf.named ? labels::distinct_from_overflow(itf.name) : std::string(labels::kOverflowLabel);
  }

  // An interface's counters and what the programs counted on it since the attach, read together.
  struct AttachReading {
    int ifindex = 0;
    LinkCounters kernel;
    network_value counted[2] = {};
    bool operator==(const AttachReading& o) const {
      auto same = [](const network_value& a, const network_value& b) {
        return a.packets == b.packets && a.bytes == b.bytes;
      };
      return kernel == o.kernel && same(counted[0], o.counted[0]) && same(counted[1], o.counted[1]);
    }
  };
  // Reads an alive interface with mutex_ held; nullopt when it is gone or cannot be read.
  std::optional<AttachReading> read_attach(int ifindex) {
    auto it = interfaces_.find(ifindex);
    if (it == interfaces_.end() || !it->second.alive) return std::nullopt;
    auto kernel = link_counters(counters_socket_.get(), ifindex);
    if (!kernel) {
      log_debug("network: no counters before attach", {{"interface", it->second.name}, {"err", kernel.error().str()}});
      return std::nullopt;
    }
    AttachReading r{ifindex, *kernel};
    counted_since_attach(ifindex, it->second, r.counted);
    return r;
  }

  // Called with mutex_ held. What a new interface carried before its attach is its counters minus
  // what the programs counted since. The two only agree when no packet is between the counter and
  // the hook: one that went past the hook just before our program was on it, or one a veth counted
  // as received when its peer queued it, which the ingress hook sees only when a softirq (possibly
  // ksoftirqd, much later) takes it off the queue. So each reading is compared with one taken at
  // least kSettle later, until two agree (also for an interface that read all zeros: a packet in
  // flight may be about to land); traffic that keeps flowing gets kTries, then the last difference
  // stands.
  void settle_owed(std::chrono::steady_clock::time_point now) {
    static constexpr auto kSettle = std::chrono::milliseconds(20);
    static constexpr int kTries = 10;
    std::vector<OwedReading> unsettled;
    for (OwedReading& o : owed_) {
      if (now - o.at < kSettle) {
        unsettled.push_back(o);
        continue;
      }
      auto r = read_attach(o.reading.ifindex);
      if (!r) continue;  // gone
      if (*r == o.reading || ++o.tries >= kTries) {
        set_before_attach(interfaces_.at(r->ifindex), *r);
        continue;
      }
      unsettled.push_back({*r, now, o.tries});
    }
    owed_.swap(unsettled);
  }

  static void set_before_attach(Interface& itf, const AttachReading& r) {
    auto minus = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
    itf.before_attach[NETWORK_RX] = {minus(r.kernel.rx_packets, r.counted[NETWORK_RX].packets),
                                     minus(r.kernel.rx_bytes, r.counted[NETWORK_RX].bytes)};
    itf.before_attach[NETWORK_TX] = {minus(r.kernel.tx_packets, r.counted[NETWORK_TX].packets),
                                     minus(r.kernel.tx_bytes, r.counted[NETWORK_TX].bytes)};
  }

  // What the programs counted on an interface, per direction: its slot (every class and the rest)
  // when it has one, else its network_counts entries.
  void counted_since_attach(int ifindex, const Interface& itf, network_value (&counted)[2]) {
    if (itf.slot) {
      if (auto slot = read_slot(*itf.slot)) {
        for (uint8_t dir = 0; dir < 2; ++dir)
          for (int c = 0; c <= NETWORK_CLASS_REST; ++c) {
            counted[dir].packets += slot->counts[dir][c].packets;
            counted[dir].bytes += slot->counts[dir][c].bytes;
          }
      }
      return;
    }
    for_each_count(ifindex, [&](const network_key& k, const network_value& v) {
      counted[k.direction & 1].packets += v.packets;
      counted[k.direction & 1].bytes += v.bytes;
    });
  }

  // Calls fn with every network_counts entry of ifindex, summed over CPUs.
  template <class Fn>
  void for_each_count(int ifindex, Fn&& fn) {
    const int fd = bpf_map__fd((*skel_)->maps.network_counts);
    std::vector<network_value> percpu(static_cast<size_t>(possible_cpus()));
    network_key key{}, next{};
    for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
      key = next;
      if (static_cast<int>(key.ifindex) != ifindex) continue;
      if (bpf_map_lookup_elem(fd, &key, percpu.data()) != 0) continue;
      network_value sum{};
      for (const network_value& v : percpu) {
        sum.packets += v.packets;
        sum.bytes += v.bytes;
      }
      fn(key, sum);
    }
  }

  using TrafficCounts = std::map<std::tuple<uint8_t, uint8_t, uint16_t>, network_value>;  // direction, family, proto

  // Called with mutex_ held: deletes ifindex's network_counts entries and returns what they and the
  // interface's slot held.
  TrafficCounts drain_counts(int ifindex, const Interface& itf) {
    TrafficCounts out;
    std::vector<network_key> keys;
    for_each_count(ifindex, [&](const network_key& k, const network_value& v) {
      network_value& r = out[{k.direction, k.family, k.proto}];
      r.packets += v.packets;
      r.bytes += v.bytes;
      keys.push_back(k);
    });
    const int fd = bpf_map__fd((*skel_)->maps.network_counts);
    for (const network_key& k : keys) bpf_map_delete_elem(fd, &k);
    if (itf.slot) {
      if (auto slot = read_slot(*itf.slot)) {
        for (uint8_t dir = 0; dir < 2; ++dir)
          for (int c = 0; c < NETWORK_USED_CLASSES; ++c) {
            network_value& r = out[{dir, kClasses[c].family, kClasses[c].proto}];
            r.packets += slot->counts[dir][c].packets;
            r.bytes += slot->counts[dir][c].bytes;
          }
      }
    }
    return out;
  }

  // Called with mutex_ held: what an interface counted as "other" stays in "other" after it goes.
  void add_retired_other(const TrafficCounts& counts) {
    for (const auto& [key, v] : counts) {
      network_value& r = retired_other_[key];
      r.packets += v.packets;
      r.bytes += v.bytes;
    }
  }
  void retire_before_attach(const Interface& itf) {
    for (uint8_t dir = 0; dir < 2; ++dir) {
      network_value& r = retired_other_[{dir, NETWORK_FAMILY_UNKNOWN, 0}];
      r.packets += itf.before_attach[dir].packets;
      r.bytes += itf.before_attach[dir].bytes;
    }
  }

  // Called with mutex_ held, from read(): every kVerifyInterval, whether the programs still run on
  // every interface (tc: someone may remove or replace bpfex's filter). "" when they do.
  std::string verify_attachments() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_verify_) return problem_;
    next_verify_ = now + kVerifyInterval;
    std::string problem;
    size_t failing = 0;
    for (const auto& [ifindex, itf] : interfaces_) {
      if (!itf.alive || !itf.attachment) continue;
      if (Status st = itf.attachment->verify(); !st) {
        if (failing++ == 0) problem = "interface " + itf.name + ": " + st.error().message;
      }
    }
    if (failing > 1) problem += " (and " + std::to_string(failing - 1) + " more interfaces)";
    problem_ = problem;
    return problem_;
  }

  void link_removed(int ifindex) override {
    std::lock_guard lock(mutex_);
    auto it = interfaces_.find(ifindex);
    if (it != interfaces_.end()) detach(it->second, /*gone=*/true);
    excluded_.erase(ifindex);
    // The tracepoints count whatever takes the ifindex next from its first packet: with no facts
    // (no slot, all directions traced) until the watcher gives it its own.
    clear_facts(ifindex);
  }

  // Called with mutex_ held: an interface that is not selected. The tracepoints leave it alone from
  // now on; what they counted before the watcher told us is dropped at the next read().
  void leave_out(int ifindex) {
    if (!traced_) return;
    network_interface facts{};
    facts.untraced = kUntracedRx | kUntracedTx;
    set_facts(ifindex, facts);
    excluded_.insert(ifindex);
  }

  bool link_exists(int ifindex) {
    auto counters = link_counters(counters_socket_.get(), ifindex);
    return counters || counters.error().err != ENODEV;
  }

  // Called with mutex_ held: gives back what an interface that is no longer tracked held.
  void forget(Interface& itf) {
    if (itf.named) --named_;
    itf.named = false;
    if (itf.slot) free_slots_.push_back(*itf.slot);
    itf.slot.reset();
  }

  // The BPF side's facts of an interface: in the array up to NETWORK_MAX_IFINDEX, past it in the
  // hash map.
  void set_facts(int ifindex, const network_interface& facts) {
    if (ifindex <= 0) return;
    uint32_t key = static_cast<uint32_t>(ifindex);
    const bool large = ifindex >= NETWORK_MAX_IFINDEX;
    bpf_map* map = large ? (*skel_)->maps.network_interfaces_large : (*skel_)->maps.network_interfaces;
    if (bpf_map_update_elem(bpf_map__fd(map), &key, &facts, BPF_ANY) != 0)
      log_warn("network: cannot store an interface's facts",
               {{"ifindex", std::to_string(ifindex)}, {"err", errno_error("update").str()}});
  }
  // No facts: an interface the programs know nothing about (no slot, every direction counted).
  void clear_facts(int ifindex) {
    if (ifindex <= 0) return;
    uint32_t key = static_cast<uint32_t>(ifindex);
    if (ifindex >= NETWORK_MAX_IFINDEX)
      bpf_map_delete_elem(bpf_map__fd((*skel_)->maps.network_interfaces_large), &key);
    else
      set_facts(ifindex, network_interface{});
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
  void detach(Interface& itf, bool gone) {
    if (!itf.alive) return;
    if (gone && itf.attachment) itf.attachment->abandon();
    itf.attachment.reset();
    itf.alive = false;
    log_debug("network: detached", {{"interface", itf.name}});
  }

  Options options_;
  std::optional<Skeleton<network_bpf>> skel_;
  bool traced_ = false;        // counted by the tracepoints (chosen by probing in start())
  bool per_interface_ = true;  // flavour_ can attach programs to interfaces
  std::vector<LinkPtr> tracepoint_links_;
  NetdevFlavour flavour_ = NetdevFlavour::tcx;  // chosen by probing in start()
  std::optional<TcOwner> tc_owner_;             // tc only: our filters' handle; outlives every attachment

  std::mutex mutex_;                     // guards everything below but watcher_
  std::map<int, Interface> interfaces_;  // by ifindex; their attachments go before skel_
  std::set<int> excluded_;               // tracepoints: interfaces not selected (ifindex)
  uint32_t named_ = 0;
  std::vector<uint32_t> free_slots_;  // indexes of network_slots not in use
  std::string attach_error_;          // first attach failure during start(): fails it if nothing attached
  bool started_ = false;              // start() is over: attach failures no longer fail it
  // Totals of interfaces exported as "other" that are gone: "other" must not go down.
  std::map<std::tuple<uint8_t, uint8_t, uint16_t>, network_value> retired_other_;

  // tc filters can be removed by others at any time: checked this often (a few netlink requests per
  // interface), reported as the module's problem.
  static constexpr std::chrono::seconds kVerifyInterval{10};
  std::chrono::steady_clock::time_point next_verify_{};
  std::string problem_;
  // New interfaces whose before-attach traffic is not settled yet: the last reading and when.
  struct OwedReading {
    AttachReading reading;
    std::chrono::steady_clock::time_point at;
    int tries = 0;
  };
  std::vector<OwedReading> owed_;
  Fd counters_socket_;  // link_query_socket() of the namespace watched

  std::unique_ptr<LinkWatcher> watcher_;  // last: stopped before anything above goes
};

}  // namespace

ModuleSpec network_module_spec() {
  return make_module_spec<NetworkModule>(
      "network", "Counts packets and bytes per interface, direction, address family and L4 protocol.");
}

}  // namespace bpfex
