// network module: real traffic through veth pairs whose peer lives in a network namespace the test
// creates, counted exactly; and the real BPF program run on crafted frames (BPF_PROG_TEST_RUN).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "base/fd.h"
#include "kernel/network.h"
#include "labels/network.h"
#include "loader/features.h"
#include "loader/maps.h"
#include "netns.h"
#include "skel/network.skel.h"

using namespace bpfex;
using namespace bpfex::test;

namespace {

uint64_t sysfs_stat(const std::string& dev, const std::string& name) {
  std::ifstream f("/sys/class/net/" + dev + "/statistics/" + name);
  uint64_t v = 0;
  f >> v;
  return v;
}

struct Totals {
  double rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  bool operator==(const Totals&) const = default;
};

Totals kernel_totals(const std::string& dev) {
  return {static_cast<double>(sysfs_stat(dev, "rx_packets")), static_cast<double>(sysfs_stat(dev, "rx_bytes")),
          static_cast<double>(sysfs_stat(dev, "tx_packets")), static_cast<double>(sysfs_stat(dev, "tx_bytes"))};
}

Totals module_totals(const Families& families, const std::string& dev) {
  Totals t;
  for (const auto& f : families) {
    const bool is_bytes = f.name == "bpfex_network_bytes_total";
    if (!is_bytes && f.name != "bpfex_network_packets_total") continue;
    for (const auto& m : f.metric) {
      if (m.label[0].value != dev) continue;
      const bool rx = m.label[1].value == "rx";
      (is_bytes ? (rx ? t.rx_bytes : t.tx_bytes) : (rx ? t.rx_packets : t.tx_packets)) += m.value;
    }
  }
  return t;
}

double packets(const Families& f, const std::string& dev, const std::string& dir, const std::string& family,
               const std::string& proto) {
  return value_of(f, "bpfex_network_packets_total", {dev, dir, family, proto});
}
double bytes(const Families& f, const std::string& dev, const std::string& dir, const std::string& family,
             const std::string& proto) {
  return value_of(f, "bpfex_network_bytes_total", {dev, dir, family, proto});
}

// Reads the module and the kernel's counters of dev until two consecutive readings agree on the
// kernel side (traffic has settled), then returns the module's families and the kernel totals.
std::pair<Families, Totals> settled(StartedModule& m, const std::string& dev) {
  Totals k = kernel_totals(dev);
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Families f = m.read().families;
    Totals k2 = kernel_totals(dev);
    if (k2 == k && module_totals(f, dev) == k2) return {f, k2};
    k = k2;
  }
  return {m.read().families, kernel_totals(dev)};
}

sockaddr_storage address(const std::string& ip, uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    len = sizeof *a4;
  } else {
    REQUIRE(inet_pton(AF_INET6, ip.c_str(), &a6->sin6_addr) == 1);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    len = sizeof *a6;
  }
  return ss;
}

// Sends n UDP datagrams of `payload` bytes from a socket to a receiver bound at to_ip:port, and
// checks that all of them arrived.
void udp_exchange(Fd& sender, Fd& receiver, const std::string& to_ip, uint16_t port, int n, size_t payload) {
  socklen_t len = 0;
  sockaddr_storage to = address(to_ip, port, len);
  REQUIRE(bind(receiver.get(), reinterpret_cast<sockaddr*>(&to), len) == 0);
  std::string data(payload, 'x');
  timeval tv{2, 0};
  setsockopt(receiver.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[2048];
  // One at a time: a burst could overflow the receive buffer (counted on the link, then dropped).
  for (int i = 0; i < n; ++i) {
    REQUIRE(sendto(sender.get(), data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), len) ==
            static_cast<ssize_t>(payload));
    REQUIRE(recv(receiver.get(), buf, sizeof buf, 0) == static_cast<ssize_t>(payload));
  }
}

// n TCP connection attempts to a closed port: exactly one SYN out and one RST back each.
void tcp_refused(const std::string& ip, int n) {
  for (int i = 0; i < n; ++i) {
    socklen_t len = 0;
    sockaddr_storage to = address(ip, 9, len);
    Fd s(socket(to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(connect(s.get(), reinterpret_cast<sockaddr*>(&to), len) == -1);
    REQUIRE(errno == ECONNREFUSED);
  }
}

constexpr uint16_t kUdpPort = 47000;
constexpr size_t kEth = 14, kIpv4 = 20, kIpv6 = 40, kUdp = 8;

}  // namespace

TEST_CASE("network: ICMP, UDP and TCP through a veth created after start are counted exactly", "[network]") {
  // The tracepoints where BTF-typed ones load; else tcx where the kernel has it, and the tc
  // (clsact) fallback of older kernels.
  const NetworkCounting& counting = kNetworkCountings[GENERATE(0, 1, 2)];
  const std::string flavour = counting.flavour;
  const bool traced = flavour == "tp_btf", deny_tcx = flavour == "tc";
  INFO("counted by: " << flavour);
  KernelFeatures kernel;
  std::optional<RestrictedFeatures> features;
  if (!force_counting(counting, kernel, features)) return;
  auto m = start_module(module_config("network"), *features);
  REQUIRE(!m.module->programs().empty());
  for (const auto& p : m.module->programs()) {
    INFO(p.name << ": " << p.target);
    // with the tracepoints, stacked devices' ingress still gets a program per interface
    if (traced && p.target.find("stacked") != std::string::npos) continue;
    CHECK(p.flavour == flavour);
  }
  NetNs ns;
  Veth veth(ns, 1);  // created after the module started: told by the netlink thread
  auto [before, kernel_before] = settled(m, veth.host);

  constexpr int kPings = 7, kUdpOut = 13, kUdpIn = 5, kUdp6 = 11, kTcp = 3;
  constexpr size_t kUdpPayload = 100;
  sh("ping -q -c " + std::to_string(kPings) + " -i 0.01 -s 56 -W 2 " + veth.peer_ip4);
  {
    Fd out(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), in = socket_in(ns, AF_INET, SOCK_DGRAM);
    udp_exchange(out, in, veth.peer_ip4, kUdpPort, kUdpOut, kUdpPayload);
  }
  {
    Fd out = socket_in(ns, AF_INET, SOCK_DGRAM), in(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    udp_exchange(out, in, veth.host_ip4, kUdpPort, kUdpIn, kUdpPayload);
  }
  {
    Fd out(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)), in = socket_in(ns, AF_INET6, SOCK_DGRAM);
    udp_exchange(out, in, veth.peer_ip6, kUdpPort, kUdp6, kUdpPayload);
  }
  tcp_refused(veth.peer_ip4, kTcp);
  auto [after, kernel_after] = settled(m, veth.host);

  auto delta = [&, &after = after, &before = before](auto fn, const char* dir, const char* family, const char* proto) {
    return fn(after, veth.host, dir, family, proto) - fn(before, veth.host, dir, family, proto);
  };
  // ICMP echo of 56 bytes: 8 + 56 ICMP, 20 IP, 14 Ethernet.
  CHECK(delta(packets, "tx", "ipv4", "icmp") == kPings);
  CHECK(delta(packets, "rx", "ipv4", "icmp") == kPings);
  CHECK(delta(bytes, "tx", "ipv4", "icmp") == kPings * (kEth + kIpv4 + 8 + 56));
  CHECK(delta(bytes, "rx", "ipv4", "icmp") == kPings * (kEth + kIpv4 + 8 + 56));
  CHECK(delta(packets, "tx", "ipv4", "udp") == kUdpOut);
  CHECK(delta(bytes, "tx", "ipv4", "udp") == kUdpOut * (kEth + kIpv4 + kUdp + kUdpPayload));
  CHECK(delta(packets, "rx", "ipv4", "udp") == kUdpIn);
  CHECK(delta(bytes, "rx", "ipv4", "udp") == kUdpIn * (kEth + kIpv4 + kUdp + kUdpPayload));
  CHECK(delta(packets, "tx", "ipv6", "udp") == kUdp6);
  CHECK(delta(bytes, "tx", "ipv6", "udp") == kUdp6 * (kEth + kIpv6 + kUdp + kUdpPayload));
  CHECK(delta(packets, "rx", "ipv6", "udp") == 0);
  // SYN (20-byte header + 20 bytes of options) out, RST back.
  CHECK(delta(packets, "tx", "ipv4", "tcp") == kTcp);
  CHECK(delta(packets, "rx", "ipv4", "tcp") == kTcp);
  CHECK(delta(bytes, "rx", "ipv4", "tcp") == kTcp * (kEth + kIpv4 + 20));
  // Whatever else crossed the link (neighbour discovery, MLD), the totals are the kernel's.
  const Totals mod_before = module_totals(before, veth.host), mod_after = module_totals(after, veth.host);
  CHECK(mod_after.rx_packets - mod_before.rx_packets == kernel_after.rx_packets - kernel_before.rx_packets);
  CHECK(mod_after.tx_packets - mod_before.tx_packets == kernel_after.tx_packets - kernel_before.tx_packets);
  CHECK(mod_after.rx_bytes - mod_before.rx_bytes == kernel_after.rx_bytes - kernel_before.rx_bytes);
  CHECK(mod_after.tx_bytes - mod_before.tx_bytes == kernel_after.tx_bytes - kernel_before.tx_bytes);
  // Since the interface appeared, the module saw everything the kernel counted on it.
  CHECK(mod_after == kernel_after);

  // The kernel shows the programs where the flavour puts them, and nothing is left after stop.
  const int ifindex = static_cast<int>(if_nametoindex(veth.host.c_str()));
  REQUIRE(ifindex > 0);
  const std::string qdiscs = sh_output("tc qdisc show dev " + veth.host);
  REQUIRE(qdiscs.find("qdisc") != std::string::npos);  // tc itself works (every device has a root qdisc)
  uint32_t ingress = 0, egress = 0;
  for (const auto& p : m.module->programs()) {
    if (p.name == "network_ingress") ingress = program_id(p.fd);
    if (p.name == "network_egress") egress = program_id(p.fd);
  }
  if (traced) {  // nothing on the interface
    CHECK(tcx_program_ids(ifindex, BPF_TCX_INGRESS).empty());
    CHECK(tcx_program_ids(ifindex, BPF_TCX_EGRESS).empty());
    CHECK(qdiscs.find("clsact") == std::string::npos);
    return;
  }
  REQUIRE(ingress);
  REQUIRE(egress);
  if (deny_tcx) {
    CHECK(tcx_attached(ifindex, BPF_TCX_INGRESS, ingress) == 0);
    CHECK(tcx_attached(ifindex, BPF_TCX_EGRESS, egress) == 0);
    CHECK(qdiscs.find("clsact") != std::string::npos);
    CHECK(sh_output("tc filter show dev " + veth.host + " ingress").find("network_ingress") != std::string::npos);
    CHECK(sh_output("tc filter show dev " + veth.host + " egress").find("network_egress") != std::string::npos);
  } else {
    CHECK(tcx_attached(ifindex, BPF_TCX_INGRESS, ingress) == 1);
    CHECK(tcx_attached(ifindex, BPF_TCX_EGRESS, egress) == 1);
    CHECK(qdiscs.find("clsact") == std::string::npos);
  }
  m.module.reset();
  CHECK(tcx_attached(ifindex, BPF_TCX_INGRESS, ingress) == 0);
  CHECK(tcx_attached(ifindex, BPF_TCX_EGRESS, egress) == 0);
  CHECK(sh_output("tc qdisc show dev " + veth.host).find("clsact") == std::string::npos);
}

TEST_CASE("network: loopback counts every packet once as rx and once as tx, like lo's counters", "[network]") {
  // The module started from a thread inside a test namespace watches and attaches there (a thread's
  // network namespace is inherited by the threads it creates), so this lo carries only our traffic.
  const NetworkCounting& counting = kNetworkCountings[GENERATE(0, 1, 2)];
  INFO("counted by: " << counting.flavour);
  KernelFeatures kernel;
  std::optional<RestrictedFeatures> features;
  if (!force_counting(counting, kernel, features)) return;
  NetNs ns;
  sh(ns.exec("ip link set lo up"));
  std::optional<StartedModule> m;
  const ModuleConfig mc = module_config("network");
  REQUIRE(ns.run_inside([&] {
    auto module = find_module_spec("network")->create(*mc.options);
    ModuleContext context{*features};
    if (module->start(context).ok()) m.emplace(StartedModule{std::move(module)});
  }));
  REQUIRE(m);
  report_attached("network", m->module->programs());
  // /sys/class/net shows the test process's namespace: read lo's counters from inside ours.
  auto lo_totals = [&] {
    Totals t;
    std::istringstream in(
        sh_output(ns.exec("sh -c 'cd /sys/class/net/lo/statistics && cat rx_packets rx_bytes tx_packets tx_bytes'")));
    REQUIRE(in >> t.rx_packets >> t.rx_bytes >> t.tx_packets >> t.tx_bytes);
    return t;
  };
  const Totals before = lo_totals();
  constexpr int kDatagrams = 1000;
  constexpr size_t kPayload = 200;
  {
    Fd out = socket_in(ns, AF_INET, SOCK_DGRAM), in = socket_in(ns, AF_INET, SOCK_DGRAM);
    udp_exchange(out, in, "127.0.0.1", kUdpPort, kDatagrams, kPayload);
    Fd out6 = socket_in(ns, AF_INET6, SOCK_DGRAM), in6 = socket_in(ns, AF_INET6, SOCK_DGRAM);
    udp_exchange(out6, in6, "::1", kUdpPort, kDatagrams, kPayload);
    // The test process's own lo, ifindex 1 as well: another namespace's, not to be counted.
    Fd host_out(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), host_in(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    udp_exchange(host_out, host_in, "127.0.0.1", kUdpPort, kDatagrams, kPayload);
  }
  const Totals after = lo_totals();
  Families f = m->read().families;
  // Loopback counts from the IP header: no Ethernet header in its bytes.
  CHECK(packets(f, "lo", "rx", "ipv4", "udp") == kDatagrams);
  CHECK(packets(f, "lo", "tx", "ipv4", "udp") == kDatagrams);
  CHECK(bytes(f, "lo", "rx", "ipv4", "udp") == kDatagrams * (kIpv4 + kUdp + kPayload));
  CHECK(bytes(f, "lo", "tx", "ipv4", "udp") == kDatagrams * (kIpv4 + kUdp + kPayload));
  CHECK(packets(f, "lo", "rx", "ipv6", "udp") == kDatagrams);
  CHECK(bytes(f, "lo", "tx", "ipv6", "udp") == kDatagrams * (kIpv6 + kUdp + kPayload));
  const Totals counted = module_totals(f, "lo");
  CHECK(counted.rx_packets == after.rx_packets - before.rx_packets);
  CHECK(counted.tx_packets == after.tx_packets - before.tx_packets);
  CHECK(counted.rx_bytes == after.rx_bytes - before.rx_bytes);
  CHECK(counted.tx_bytes == after.tx_bytes - before.tx_bytes);
}

TEST_CASE("network: a TCP transfer and IPv6 traffic agree with the interface's counters", "[network]") {
  const NetworkCounting& counting = kNetworkCountings[GENERATE(0, 1, 2)];
  INFO("counted by: " << counting.flavour);
  KernelFeatures kernel;
  std::optional<RestrictedFeatures> features;
  if (!force_counting(counting, kernel, features)) return;
  auto m = start_module(module_config("network"), *features);
  NetNs ns;
  Veth veth(ns, 2);
  sh("ping -q -c 5 -i 0.01 -W 2 " + veth.peer_ip6);
  // A real TCP transfer: listener in the namespace, 1 MB from the host.
  Fd listener = socket_in(ns, AF_INET, SOCK_STREAM);
  socklen_t len = 0;
  sockaddr_storage at = address(veth.peer_ip4, 47001, len);
  REQUIRE(bind(listener.get(), reinterpret_cast<sockaddr*>(&at), len) == 0);
  REQUIRE(listen(listener.get(), 1) == 0);
  std::thread client([&] {
    Fd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (connect(c.get(), reinterpret_cast<sockaddr*>(&at), len) != 0) return;
    std::string chunk(64 << 10, 'y');
    for (int i = 0; i < 16; ++i)
      if (send(c.get(), chunk.data(), chunk.size(), 0) < 0) return;
  });
  Fd conn(accept(listener.get(), nullptr, nullptr));
  size_t received = 0;
  char buf[65536];
  for (ssize_t n; (n = recv(conn.get(), buf, sizeof buf, 0)) > 0;) received += static_cast<size_t>(n);
  client.join();
  CHECK(received == 16u << 16);
  auto [f, kernel_totals] = settled(m, veth.host);
  CHECK(module_totals(f, veth.host) == kernel_totals);
  CHECK(packets(f, veth.host, "tx", "ipv4", "tcp") > 0);
  CHECK(packets(f, veth.host, "rx", "ipv4", "tcp") > 0);
  CHECK(packets(f, veth.host, "tx", "ipv6", "icmpv6") >= 5);
  CHECK(packets(f, veth.host, "rx", "ipv6", "icmpv6") >= 5);
}

TEST_CASE("network: a vlan, a macvlan and a bridge agree with their own counters, and their veths with theirs",
          "[network]") {
  // The vlan's and the macvlan's received packets reach them through the veth's rx_handler or VLAN
  // untagging, past the receive tracepoint: with the tracepoints, their ingress still gets a
  // program of its own. A bridge and the vlan count received bytes without the Ethernet header.
  const NetworkCounting& counting = kNetworkCountings[GENERATE(0, 1, 2)];
  INFO("counted by: " << counting.flavour);
  KernelFeatures kernel;
  std::optional<RestrictedFeatures> features;
  if (!force_counting(counting, kernel, features)) return;
  auto m = start_module(module_config("network"), *features);
  NetNs ns;
  Veth veth(ns, 4);
  const std::string vlan = "bxv" + veth.tok, macvlan = "bxm" + veth.tok;
  sh("ip link add link " + veth.host + " name " + macvlan + " type macvlan mode bridge");
  // This development host's kernel has no 802.1Q (CONFIG_VLAN_8021Q unset); Debian's kernels in the
  // guests (tests/guest) have, and there the vlan must be tested.
  const bool has_vlan =
      std::system(("ip link add link " + veth.host + " name " + vlan + " type vlan id 7 >/dev/null 2>&1").c_str()) == 0;
  if (!has_vlan) {
    if (std::getenv("BPFEX_GUEST")) FAIL("no 802.1Q VLAN support in a Debian guest kernel");
    WARN("this kernel cannot make VLAN devices (8021q): the macvlan alone is tested");
  }
  // A bridge with a veth of its own as its port, the port's peer in the namespace.
  const std::string bridge = "bxb" + veth.tok, port = "bxq" + veth.tok, port_peer = "bxr" + veth.tok;
  struct Deleted {  // on every way out of the test
    std::string dev;
    ~Deleted() { std::system(("ip link del " + dev + " >/dev/null 2>&1").c_str()); }
  } bridge_deleted{bridge}, port_deleted{port};
  sh("ip link add " + bridge + " type bridge");
  sh("ip link add " + port + " type veth peer name " + port_peer + " netns " + ns.name);
  sh("ip link set " + port + " master " + bridge);
  std::vector<std::string> stacked = {macvlan, bridge, port};
  if (has_vlan) {
    stacked.push_back(vlan);
    sh(ns.exec("ip link add link " + veth.peer + " name v7 type vlan id 7"));
  }
  for (const std::string& dev : stacked) {
    sh("sysctl -qw net.ipv6.conf." + dev + ".accept_ra=0");
    sh("sysctl -qw net.ipv6.conf." + dev + ".router_solicitations=0");
  }
  sh("ip addr add 10.253.4.1/24 dev " + macvlan);
  sh(ns.exec("ip addr add 10.253.4.2/24 dev " + veth.peer));
  sh("ip link set " + macvlan + " up");
  sh("ip addr add 10.254.4.1/24 dev " + bridge);
  sh(ns.exec("ip addr add 10.254.4.2/24 dev " + port_peer));
  sh(ns.exec("ip link set " + port_peer + " up"));
  sh("ip link set " + port + " up");
  sh("ip link set " + bridge + " up");
  // The port forwards once the kernel's link watcher has seen its carrier (up to a second later).
  for (int i = 0; i < 100 && sh_output("bridge link show dev " + port).find("state forwarding") == std::string::npos;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  constexpr int kVlanPings = 9, kMacvlanPings = 6, kBridgePings = 5;
  sh("ping -q -c " + std::to_string(kMacvlanPings) + " -i 0.01 -W 2 -I " + macvlan + " 10.253.4.2");
  sh("ping -q -c " + std::to_string(kBridgePings) + " -i 0.01 -W 2 10.254.4.2");
  // Broadcasts: the kernel loops a copy of each back to the sender's stack, on the interface it
  // was sent from (dev_loopback_xmit), which no driver received. Nobody answers them.
  std::system(("ping -q -b -c 3 -i 0.05 -W 1 -I " + veth.host + " 255.255.255.255 >/dev/null 2>&1").c_str());
  if (has_vlan) {
    sh("ip addr add 10.252.4.1/24 dev " + vlan);
    sh(ns.exec("ip addr add 10.252.4.2/24 dev v7"));
    sh(ns.exec("ip link set v7 up"));
    sh("ip link set " + vlan + " up");
    sh("ping -q -c " + std::to_string(kVlanPings) + " -i 0.01 -W 2 10.252.4.2");
  }
  stacked.push_back(veth.host);
  constexpr int kBroadcasts = 3;
  for (const std::string& dev : stacked) {
    INFO("interface " << dev);
    auto [f, kernel_totals] = settled(m, dev);
    const Totals mine = module_totals(f, dev);
    INFO("bpfex rx " << mine.rx_packets << "/" << mine.rx_bytes << " tx " << mine.tx_packets << "/" << mine.tx_bytes
                     << "; kernel rx " << kernel_totals.rx_packets << "/" << kernel_totals.rx_bytes << " tx "
                     << kernel_totals.tx_packets << "/" << kernel_totals.tx_bytes);
    CHECK(mine == kernel_totals);
    int pings = kBridgePings;
    if (dev == vlan) pings = kVlanPings;
    if (dev == macvlan) pings = kMacvlanPings;
    // the veth carries the vlan's frames (the tag in the skb's metadata: VLAN offload) and the
    // macvlan's; the broadcast echo requests go out, none come back
    if (dev == veth.host) pings = kMacvlanPings + (has_vlan ? kVlanPings : 0);
    CHECK(packets(f, dev, "tx", "ipv4", "icmp") == pings + (dev == veth.host ? kBroadcasts : 0));
    CHECK(packets(f, dev, "rx", "ipv4", "icmp") == pings);
  }
}

TEST_CASE("network: a deleted interface stops being exported", "[network]") {
  KernelFeatures features;
  auto m = start_module(module_config("network"), features);
  NetNs ns;
  std::string name;
  {
    Veth veth(ns, 3);
    name = veth.host;
    sh("ping -q -c 2 -i 0.01 -W 2 " + veth.peer_ip4);
    auto [f, kernel] = settled(m, veth.host);
    CHECK(packets(f, name, "tx", "ipv4", "icmp") == 2);
  }
  Families f;
  for (int i = 0; i < 50; ++i) {  // the netlink thread sees RTM_DELLINK shortly
    f = m.read().families;
    if (module_totals(f, name) == Totals{}) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(module_totals(f, name) == Totals{});
}

TEST_CASE("network: an interface moved to another namespace stops being exported", "[network]") {
  KernelFeatures features;
  auto m = start_module(module_config("network"), features);
  NetNs ns;
  const std::string tok = unique_token(5), a = "bxa" + tok, b = "bxb" + tok;
  struct Cleanup {
    std::string dev;
    ~Cleanup() { std::system(("ip link del " + dev + " >/dev/null 2>&1").c_str()); }
  } cleanup{a};
  sh("ip link add " + a + " type veth peer name " + b);
  sh("ip link set " + a + " up");
  sh("ip link set " + b + " up");
  auto seen = [&](const std::string& dev) {
    for (const auto& f : m.read().families)
      for (const auto& metric : f.metric)
        if (metric.label[0].value == dev) return true;
    return false;
  };
  // A broadcast ping out of a is received by b (nobody answers): both ends get series.
  sh("ip addr add 10.252.0.1/24 dev " + a);
  sh("ping -q -b -c 2 -i 0.05 -W 1 -I " + a + " 10.252.0.255 >/dev/null 2>&1 || true");
  for (int i = 0; i < 100 && !(seen(a) && seen(b)); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(seen(b));
  sh("ip link set " + b + " netns " + ns.name);  // what a container runtime does with a veth end
  for (int i = 0; i < 50 && seen(b); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(seen(b));
  CHECK(seen(a));
}

TEST_CASE("network: include/exclude patterns and the max_interfaces cap", "[network]") {
  KernelFeatures features;
  NetNs ns;
  SECTION("an excluded interface gets no series") {
    auto m = start_module(module_config("network", "    exclude: [\"bxh*\"]\n"), features);
    Veth veth(ns, 4);
    sh("ping -q -c 2 -i 0.01 -W 2 " + veth.peer_ip4);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(module_totals(m.read().families, veth.host) == Totals{});
  }
  SECTION("past max_interfaces, interfaces are counted as other") {
    auto m = start_module(module_config("network", "    max_interfaces: 1\n"), features);
    Veth veth(ns, 5);  // lo took the one named slot
    sh("ping -q -c 3 -i 0.01 -W 2 " + veth.peer_ip4);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ModuleReading r = m.read();
    CHECK(module_totals(r.families, veth.host) == Totals{});
    CHECK(packets(r.families, "other", "tx", "ipv4", "icmp") >= 3);
    REQUIRE(r.label_overflows);
    CHECK(*r.label_overflows >= 6);
  }
}

TEST_CASE("network: starting and destroying the module leaks no file descriptors", "[network]") {
  KernelFeatures features;
  { auto warm = start_module(module_config("network"), features); }
  const int before = open_fd_count();
  for (int i = 0; i < 2; ++i) {
    auto m = start_module(module_config("network"), features);
    CHECK(open_fd_count() > before);
  }
  CHECK(open_fd_count() == before);
}

// ---------------------------------------------------------------- BPF_PROG_TEST_RUN

namespace {

using Frame = std::vector<uint8_t>;

Frame ethernet(uint16_t type) {
  Frame f(12, 0x02);
  f.push_back(static_cast<uint8_t>(type >> 8));
  f.push_back(static_cast<uint8_t>(type));
  return f;
}
void append(Frame& f, const Frame& x) { f.insert(f.end(), x.begin(), x.end()); }
Frame cat(std::initializer_list<Frame> parts) {
  Frame f;
  for (const auto& p : parts) append(f, p);
  return f;
}
// The first n bytes of a header.
Frame cut(Frame f, size_t n) {
  f.resize(n);
  return f;
}
void be16(Frame& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}
// A VLAN tag after the ethertype that announced it: TCI, then the next ethertype.
Frame vlan(uint16_t tci, uint16_t next) {
  Frame t;
  be16(t, tci);
  be16(t, next);
  return t;
}
Frame ipv4(uint8_t proto, uint16_t payload) {
  Frame h = {0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2};
  h[2] = static_cast<uint8_t>((20 + payload) >> 8);
  h[3] = static_cast<uint8_t>(20 + payload);
  return h;
}
Frame ipv6(uint8_t nexthdr, uint16_t payload) {
  Frame h = {0x60, 0, 0, 0, static_cast<uint8_t>(payload >> 8), static_cast<uint8_t>(payload), nexthdr, 64};
  for (int i = 0; i < 32; ++i) h.push_back(i == 15 || i == 31 ? 1 : 0xfd);
  return h;
}
Frame udp(size_t n = 8) {
  Frame u(8 + n, 0xaa);
  u[4] = 0;
  u[5] = static_cast<uint8_t>(8 + n);
  return u;
}
Frame tcp() {
  Frame t(20, 0);
  t[12] = 5 << 4;
  return t;
}
// Extension header of (len + 1) * 8 bytes.
Frame ext(uint8_t nexthdr, uint8_t len) {
  Frame e((static_cast<size_t>(len) + 1) * 8, 0);
  e[0] = nexthdr;
  e[1] = len;
  return e;
}
Frame fragment(uint8_t nexthdr) {
  Frame e(8, 0);
  e[0] = nexthdr;
  e[3] = 1;
  return e;
}
// Authentication header: (len + 2) * 4 bytes.
Frame ah(uint8_t nexthdr) {
  Frame e(16, 0);
  e[0] = nexthdr;
  e[1] = 2;
  return e;
}

struct Classified {
  int err = 0;
  int retval = 0;
  network_key key{};
  network_value value{};
  size_t keys = 0;
};

// Slot 0 of network_slots, summed over CPUs.
network_slot read_slot0(network_bpf* skel) {
  std::vector<network_slot> percpu(static_cast<size_t>(possible_cpus()));
  uint32_t slot = 0;
  REQUIRE(bpf_map_lookup_elem(bpf_map__fd(skel->maps.network_slots), &slot, percpu.data()) == 0);
  network_slot sum{};
  for (const auto& s : percpu)
    for (int dir = 0; dir < 2; ++dir)
      for (int c = 0; c < NETWORK_CLASSES; ++c) {
        sum.counts[dir][c].packets += s.counts[dir][c].packets;
        sum.counts[dir][c].bytes += s.counts[dir][c].bytes;
      }
  return sum;
}

// Runs the ingress (or egress) program once on frame, as if it arrived on ifindex 1, after
// emptying the hash map and slot 0; returns what the hash map then holds.
Classified run_program(network_bpf* skel, const Frame& frame, bool egress = false) {
  const int counts = bpf_map__fd(skel->maps.network_counts);
  network_key k{};
  while (bpf_map_get_next_key(counts, nullptr, &k) == 0) bpf_map_delete_elem(counts, &k);
  std::vector<network_slot> zero(static_cast<size_t>(possible_cpus()));
  const uint32_t slot0 = 0;
  REQUIRE(bpf_map_update_elem(bpf_map__fd(skel->maps.network_slots), &slot0, zero.data(), BPF_ANY) == 0);
  __sk_buff ctx{};
  ctx.ifindex = 1;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<__u32>(frame.size()),
              .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = 1);
  Classified c;
  c.err =
      bpf_prog_test_run_opts(bpf_program__fd(egress ? skel->progs.network_egress : skel->progs.network_ingress), &opts);
  c.retval = static_cast<int>(opts.retval);
  Status st = read_percpu_map<network_key, network_value>(counts, [&](const network_key& key, const network_value& v) {
    c.key = key;
    c.value = v;
    ++c.keys;
  });
  REQUIRE(st.ok());
  return c;
}

}  // namespace

TEST_CASE("network: header parsing of crafted frames (BPF_PROG_TEST_RUN)", "[network]") {
  network_bpf* skel = network_bpf::open_and_load();
  REQUIRE(skel);
  struct Case {
    std::string name;
    Frame frame;
    uint8_t family;
    uint16_t proto;
  };
  const Frame any8(8, 0);
  // The kernel's test run refuses an outer ethertype of IP with a short IP header, so truncated
  // headers are tried behind a VLAN tag, which only our parser looks through.
  const std::vector<Case> cases = {
      {"IPv4 UDP", cat({ethernet(0x0800), ipv4(17, 16), udp(8)}), NETWORK_FAMILY_IPV4, 17},
      {"IPv4 GRE", cat({ethernet(0x0800), ipv4(47, 8), any8}), NETWORK_FAMILY_IPV4, 47},
      {"IPv4 protocol without a name", cat({ethernet(0x0800), ipv4(253, 8), any8}), NETWORK_FAMILY_IPV4, 253},
      {"VLAN + IPv4 header cut at 5 bytes", cat({ethernet(0x8100), vlan(1, 0x0800), cut(ipv4(6, 20), 5)}),
       NETWORK_FAMILY_IPV4, NETWORK_PROTO_TRUNCATED},
      {"VLAN + IPv4 header cut right after the protocol",
       cat({ethernet(0x8100), vlan(1, 0x0800), cut(ipv4(6, 20), 10)}), NETWORK_FAMILY_IPV4, 6},
      {"VLAN + IPv6 header cut before next header", cat({ethernet(0x8100), vlan(1, 0x86DD), cut(ipv6(6, 0), 5)}),
       NETWORK_FAMILY_IPV6, NETWORK_PROTO_TRUNCATED},
      {"802.1Q + IPv4 UDP", cat({ethernet(0x8100), vlan(100, 0x0800), ipv4(17, 16), udp(8)}), NETWORK_FAMILY_IPV4, 17},
      {"QinQ (802.1ad + 802.1Q) + IPv6 TCP",
       cat({ethernet(0x88A8), vlan(10, 0x8100), vlan(20, 0x86DD), ipv6(6, 20), tcp()}), NETWORK_FAMILY_IPV6, 6},
      {"VLAN tag cut before its ethertype", cat({ethernet(0x8100), cut(vlan(100, 0), 2)}), NETWORK_FAMILY_OTHER, 0},
      {"IPv6 ICMPv6", cat({ethernet(0x86DD), ipv6(58, 8), any8}), NETWORK_FAMILY_IPV6, 58},
      {"IPv6 hop-by-hop + fragment + TCP", cat({ethernet(0x86DD), ipv6(0, 8 + 8 + 20), ext(44, 0), fragment(6), tcp()}),
       NETWORK_FAMILY_IPV6, 6},
      {"IPv6 destination options + AH + routing + UDP",
       cat({ethernet(0x86DD), ipv6(60, 24 + 16 + 8 + 8), ext(51, 2), ah(43), ext(17, 0), udp(0)}), NETWORK_FAMILY_IPV6,
       17},
      {"IPv6 says hop-by-hop, no bytes follow", cat({ethernet(0x86DD), ipv6(0, 8)}), NETWORK_FAMILY_IPV6,
       NETWORK_PROTO_TRUNCATED},
      {"IPv6 chain longer than followed reports where it stopped",
       cat({ethernet(0x86DD), ipv6(0, 7 * 8), ext(60, 0), ext(60, 0), ext(60, 0), ext(60, 0), ext(60, 0), ext(60, 0),
            ext(17, 0)}),
       NETWORK_FAMILY_IPV6, 60},
      {"ARP", cat({ethernet(0x0806), Frame(28, 0)}), NETWORK_FAMILY_OTHER, 0x0806},
      {"ethertype without a name", cat({ethernet(0x88B5), Frame(46, 0)}), NETWORK_FAMILY_OTHER,
       NETWORK_ETHERTYPE_OTHER},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    Classified r = run_program(skel, c.frame);
    REQUIRE(r.err == 0);
    CHECK(r.retval == -1);  // TCX_NEXT / TC_ACT_UNSPEC: never ends the program chain
    REQUIRE(r.keys == 1);
    CHECK(r.key.ifindex == 1);
    CHECK(r.key.direction == NETWORK_RX);
    CHECK(static_cast<int>(r.key.family) == c.family);
    CHECK(r.key.proto == c.proto);
    CHECK(r.value.packets == 1);
    CHECK(r.value.bytes == c.frame.size());  // no interface facts: the frame as tc sees it
  }
  SECTION("an interface with a slot counts common protocols there; lo counts from the L3 header") {
    network_interface facts{};
    facts.slot = 1;  // slot index 0
    facts.loopback = 1;
    uint32_t ifindex = 1;
    REQUIRE(bpf_map_update_elem(bpf_map__fd(skel->maps.network_interfaces), &ifindex, &facts, BPF_ANY) == 0);
    Frame f = ethernet(0x0800);
    append(f, ipv4(17, 16));
    append(f, udp(8));
    Classified r = run_program(skel, f);
    CHECK(r.keys == 0);  // not in the hash map
    const network_slot sum = read_slot0(skel);
    CHECK(sum.counts[NETWORK_RX][NETWORK_CLASS_IPV4_UDP].packets == 1);
    CHECK(sum.counts[NETWORK_RX][NETWORK_CLASS_IPV4_UDP].bytes == f.size() - 14);
    // A protocol without a class still goes to the hash map, with the loopback adjustment.
    Frame gre = ethernet(0x0800);
    append(gre, ipv4(47, 8));
    append(gre, Frame(8, 0));
    r = run_program(skel, gre);
    REQUIRE(r.keys == 1);
    CHECK(r.key.proto == 47);
    CHECK(r.value.bytes == gre.size() - 14);
  }
  SECTION("egress counts as tx") {
    Frame f = ethernet(0x0800);
    append(f, ipv4(1, 8));
    append(f, Frame(8, 0));
    Classified r = run_program(skel, f, /*egress=*/true);
    REQUIRE(r.keys == 1);
    CHECK(r.key.direction == NETWORK_TX);
    CHECK(r.key.proto == 1);
  }
  network_bpf::destroy(skel);
}

// The tables of kernel/network.h, row by row, through the real program: what the BPF side does
// with each row is what user space names it.

TEST_CASE("network: every named ethertype keeps its value, and its label is the table's (BPF_PROG_TEST_RUN)",
          "[network]") {
  network_bpf* skel = network_bpf::open_and_load();
  REQUIRE(skel);
  struct Row {
    uint16_t ethertype;
    std::string label;
  };
  const std::vector<Row> rows = {
#define BPFEX_ETHERTYPE_ROW(ethertype, label) {ethertype, label},
      NETWORK_NAMED_ETHERTYPES(BPFEX_ETHERTYPE_ROW)
#undef BPFEX_ETHERTYPE_ROW
  };
  for (const auto& row : rows) {
    INFO("ethertype " << std::hex << row.ethertype << " " << row.label);
    // Two VLAN tags are looked through: a third one is what such a frame carries.
    const bool tag = row.ethertype == 0x8100 || row.ethertype == 0x88A8;
    const Frame f = tag ? cat({ethernet(0x88A8), vlan(10, 0x8100), vlan(20, row.ethertype), Frame(46, 0)})
                        : cat({ethernet(row.ethertype), Frame(46, 0)});
    Classified r = run_program(skel, f);
    REQUIRE(r.err == 0);
    REQUIRE(r.keys == 1);
    CHECK(r.key.family == NETWORK_FAMILY_OTHER);
    CHECK(r.key.proto == row.ethertype);
    CHECK(labels::ethertype_label(r.key.proto) == row.label);
  }
  network_bpf::destroy(skel);
}

TEST_CASE("network: each slot class counts exactly its family and protocol (BPF_PROG_TEST_RUN)", "[network]") {
  network_bpf* skel = network_bpf::open_and_load();
  REQUIRE(skel);
  network_interface facts{};
  facts.slot = 1;  // slot index 0
  uint32_t ifindex = 1;
  REQUIRE(bpf_map_update_elem(bpf_map__fd(skel->maps.network_interfaces), &ifindex, &facts, BPF_ANY) == 0);
  struct Row {
    int cls;
    uint8_t family;
    uint16_t proto;
  };
  const std::vector<Row> rows = {
#define BPFEX_CLASS_ROW(name, family, proto) {NETWORK_CLASS_##name, family, proto},
      NETWORK_SLOT_CLASSES(BPFEX_CLASS_ROW)
#undef BPFEX_CLASS_ROW
  };
  REQUIRE(rows.size() == NETWORK_USED_CLASSES);
  for (const auto& row : rows) {
    INFO("class " << row.cls << ": " << labels::network_family_label(row.family) << " "
                  << (row.family == NETWORK_FAMILY_OTHER ? labels::ethertype_label(row.proto)
                                                         : labels::ip_protocol_label(row.proto)));
    Frame f;
    if (row.family == NETWORK_FAMILY_IPV4) {
      f = ethernet(0x0800);
      append(f, ipv4(static_cast<uint8_t>(row.proto), 8));
    } else if (row.family == NETWORK_FAMILY_IPV6) {
      f = ethernet(0x86DD);
      append(f, ipv6(static_cast<uint8_t>(row.proto), 8));
    } else {
      f = ethernet(row.proto);
      append(f, Frame(20, 0));
    }
    append(f, Frame(8, 0));
    Classified r = run_program(skel, f);
    REQUIRE(r.err == 0);
    CHECK(r.keys == 0);  // in the slot, not the hash map
    const network_slot sum = read_slot0(skel);
    for (int c = 0; c < NETWORK_CLASSES; ++c) {
      INFO("slot class " << c);
      CHECK(sum.counts[NETWORK_RX][c].packets == (c == row.cls ? 1u : 0u));
      CHECK(sum.counts[NETWORK_TX][c].packets == 0);
    }
    CHECK(sum.counts[NETWORK_RX][row.cls].bytes == f.size());  // not loopback: the frame as tc sees it
  }
  network_bpf::destroy(skel);
}
