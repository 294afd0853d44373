// tcp module: real TCP between two network namespaces the test creates, joined by a veth pair, with
// packet loss from a tc program of the test's own (tcp_dropper.bpf.c). Counts are exact: against the
// kernel's own counters of the namespace (RetransSegs, OutRsts, ListenOverflows from its
// /proc/net/snmp and /proc/net/netstat) or against the connections the test made. Other TCP on the
// machine (the module sees every namespace) is kept out of the checks by the ports option: the test
// binds its sockets to random listed ports and reads only those series.
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "base/fd.h"
#include "cgroups.h"
#include "helpers.h"
#include "loader/features.h"
#include "loader/skeleton.h"
#include "loader/tracepoint_args.h"
#include "netns.h"
#include "skel/tcp_dropper.skel.h"
#include "workload/cgroupfs.h"
#include "workload/workloads.h"

using namespace bpfex;
using namespace bpfex::test;
using namespace std::chrono_literals;

namespace {

// Two namespaces joined by a veth pair: a (client side) 10.252.S.1 and fd00:bf:252:S::1, b (server
// side) .2 and ::2.
struct NsPair {
  NetNs a, b;
  std::string tok = unique_token(5);
  std::string dev_a = "bxa" + tok, dev_b = "bxb" + tok;
  std::string ip4_a, ip4_b, ip6_a, ip6_b;
  explicit NsPair(int subnet) {
    const std::string s = std::to_string(subnet);
    ip4_a = "10.252." + s + ".1";
    ip4_b = "10.252." + s + ".2";
    ip6_a = "fd00:bf:252:" + s + "::1";
    ip6_b = "fd00:bf:252:" + s + "::2";
    const std::string mac_a = "02:bf:fc:00:" + s + ":01", mac_b = "02:bf:fc:00:" + s + ":02";
    sh("ip link add " + dev_a + " netns " + a.name + " address " + mac_a + " type veth peer name " + dev_b + " netns " +
       b.name + " address " + mac_b);
    // Static neighbours and no duplicate address detection: the first SYN of a fresh link is not held
    // back (or lost) waiting for neighbour discovery, so every connect takes one round trip.
    for (const auto& [ns, dev, ip4, ip6, peer4, peer6, peer_mac] :
         {std::tuple{&a, dev_a, ip4_a, ip6_a, ip4_b, ip6_b, mac_b},
          std::tuple{&b, dev_b, ip4_b, ip6_b, ip4_a, ip6_a, mac_a}}) {
      sh(ns->exec("ip link set lo up"));
      sh(ns->exec("sysctl -qw net.ipv6.conf." + dev + ".accept_dad=0"));
      sh(ns->exec("ip addr add " + ip4 + "/24 dev " + dev));
      sh(ns->exec("ip addr add " + ip6 + "/64 dev " + dev + " nodad"));
      sh(ns->exec("ip link set " + dev + " up"));
      sh(ns->exec("ip neigh replace " + peer4 + " lladdr " + peer_mac + " dev " + dev + " nud permanent"));
      sh(ns->exec("ip neigh replace " + peer6 + " lladdr " + peer_mac + " dev " + dev + " nud permanent"));
    }
  }
};

// The kernel's TCP counters of a namespace: "Tcp" from /proc/net/snmp, "TcpExt" from
// /proc/net/netstat (read by a process inside it).
std::map<std::string, uint64_t> kernel_counters(const NetNs& ns, const std::string& file, const std::string& group) {
  std::istringstream in(sh_output(ns.exec("cat /proc/net/" + file)));
  std::map<std::string, uint64_t> out;
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind(group + ":", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    n >> name;
    v >> value;
    while (n >> name && v >> value) out[name] = std::stoull(value);
  }
  REQUIRE(!out.empty());
  return out;
}
uint64_t retrans_segs(const NetNs& ns) { return kernel_counters(ns, "snmp", "Tcp").at("RetransSegs"); }
uint64_t out_rsts(const NetNs& ns) { return kernel_counters(ns, "snmp", "Tcp").at("OutRsts"); }
uint64_t listen_overflows(const NetNs& ns) { return kernel_counters(ns, "netstat", "TcpExt").at("ListenOverflows"); }

// Random listed ports, so that two runs at once (or other TCP on the machine) do not share series.
struct Ports {
  uint16_t base = static_cast<uint16_t>(20000 + std::random_device{}() % 30000);
  uint16_t operator[](int i) const { return static_cast<uint16_t>(base + i); }
  // The ports option listing base .. base+n-1.
  std::string option(int n) const {
    std::string list;
    for (int i = 0; i < n; ++i) list += (i ? ", " : "") + std::to_string(base + i);
    return "    ports: [" + list + "]\n";
  }
};

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

// A TCP socket of ns bound to ip:port (port 0: any), with timeouts so that no test hangs.
Fd bound_socket(const NetNs& ns, const std::string& ip, uint16_t port, bool v6only = true) {
  const bool v6 = ip.find(':') != std::string::npos;
  Fd s = socket_in(ns, v6 ? AF_INET6 : AF_INET, SOCK_STREAM);
  REQUIRE(s.get() >= 0);
  const int one = 1, v6only_value = v6only ? 1 : 0;
  REQUIRE(setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
  if (v6) REQUIRE(setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only_value, sizeof v6only_value) == 0);
  const timeval tv{20, 0};
  setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  socklen_t len = 0;
  sockaddr_storage at = address(ip, port, len);
  REQUIRE(bind(s.get(), reinterpret_cast<sockaddr*>(&at), len) == 0);
  return s;
}

Fd listener(const NetNs& ns, const std::string& ip, uint16_t port, int backlog = 16, bool v6only = true) {
  Fd s = bound_socket(ns, ip, port, v6only);
  REQUIRE(listen(s.get(), backlog) == 0);
  return s;
}

// connect() of a socket to ip:port; errno on failure, 0 on success.
int connect_to(Fd& s, const std::string& ip, uint16_t port) {
  socklen_t len = 0;
  sockaddr_storage to = address(ip, port, len);
  return connect(s.get(), reinterpret_cast<sockaddr*>(&to), len) == 0 ? 0 : errno;
}

// Accepts n connections on a thread; each is read to its end (EOF or a reset) and closed.
class Acceptor {
 public:
  Acceptor(Fd& listening, int n)
      : thread_([&listening, n, this] {
          for (int i = 0; i < n; ++i) {
            Fd c(accept(listening.get(), nullptr, nullptr));
            if (!c) return;
            const timeval tv{20, 0};
            setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            char buf[65536];
            for (ssize_t got; (got = recv(c.get(), buf, sizeof buf, 0)) > 0;) bytes_ += static_cast<size_t>(got);
            ++accepted_;
          }
        }) {}
  ~Acceptor() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  int accepted() const { return accepted_; }
  size_t bytes() const { return bytes_; }

 private:
  std::atomic<int> accepted_{0};
  std::atomic<size_t> bytes_{0};
  std::thread thread_;
};

// Sum of a counter family over the series whose labels have the given values (others any).
double sum_of(const Families& families, const std::string& name, const std::map<std::string, std::string>& match) {
  double sum = 0;
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      bool ok = true;
      for (const auto& [k, v] : match) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        ok = ok && found;
      }
      if (ok) sum += m.value;
    }
  }
  return sum;
}

bool has_family(const Families& families, const std::string& name) {
  for (const auto& f : families)
    if (f.name == name) return true;
  return false;
}

// The connect latency histograms whose labels match, merged: observations, sum, and cumulative
// counts by upper bound.
struct Latency {
  uint64_t count = 0;
  double sum = 0;
  std::map<double, uint64_t> cumulative;
  std::map<int32_t, uint64_t> native;  // Prometheus' native bucket index -> observations (non-zero only)
};
Latency latency_of(const Families& families, const std::map<std::string, std::string>& match) {
  Latency out;
  for (const auto& f : families) {
    if (f.name != "bpfex_tcp_connect_latency_seconds") continue;
    for (const auto& m : f.metric) {
      bool ok = true;
      for (const auto& [k, v] : match) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        ok = ok && found;
      }
      if (!ok) continue;
      out.count += m.histogram.sample_count;
      out.sum += m.histogram.sample_sum;
      for (const auto& b : m.histogram.classic_buckets()) out.cumulative[b.upper_bound] += b.cumulative_count;
      for (uint32_t slot = 0; slot < m.histogram.counts.size(); ++slot)
        if (m.histogram.counts[slot] > 0) out.native[m.histogram.layout.native_index(slot)] += m.histogram.counts[slot];
    }
  }
  return out;
}

std::string port_label(uint16_t port) { return std::to_string(port); }

// Waits until a kernel counter stops changing for 300 ms (in-flight retransmits and resets have
// happened; the module's programs ran as the kernel counted), at most 10 s; returns its value.
template <class KernelCount>
uint64_t settled(KernelCount kernel) {
  uint64_t k = kernel();
  for (int i = 0; i < 33; ++i) {
    std::this_thread::sleep_for(300ms);
    const uint64_t k2 = kernel();
    if (k2 == k) return k;
    k = k2;
  }
  return k;
}

// The test's packet loss: tcp_dropper on the ingress of dev in ns (tc clsact, which every kernel
// has); gone with the namespace.
class Dropper {
 public:
  Dropper(const NetNs& ns, const std::string& dev, uint16_t port, uint32_t every, uint32_t max_drops, uint32_t syns) {
    auto skel = Skeleton<tcp_dropper_bpf>::open();
    REQUIRE(skel);
    skel_.emplace(std::move(skel.value()));
    tcp_dropper_bpf* s = skel_->get();
    s->rodata->port = port;
    s->rodata->drop_every = every;
    s->rodata->max_drops = max_drops;
    s->rodata->drop_syns = syns;
    Status st = skel_->load();
    if (!st) FAIL("load tcp_dropper: " << st.error().str());
    int err = -1;
    REQUIRE(ns.run_inside([&] {
      const int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
      LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
      err = bpf_tc_hook_create(&hook);
      if (err && err != -EEXIST) return;
      LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(s->progs.tcp_dropper));
      err = bpf_tc_attach(&hook, &opts);
    }));
    REQUIRE(err == 0);
  }
  uint64_t data_dropped() const { return skel_->get()->bss->data_dropped; }
  uint64_t data_segments() const { return skel_->get()->bss->data_segments; }
  uint64_t syns_dropped() const { return skel_->get()->bss->syns_dropped; }

 private:
  std::optional<Skeleton<tcp_dropper_bpf>> skel_;
};

// Whether this kernel's tcp_send_reset tracepoint fires for resets answering segments for no socket
// (a closed port): those that pass a reset reason (Linux 6.10 on) do; before, only full sockets'.
bool traces_socketless_resets() {
  const auto args = tracepoint_args("", "tcp_send_reset");
  return args && args->size() >= 3;
}

}  // namespace

TEST_CASE("tcp: under loss, retransmits equal each namespace's RetransSegs exactly", "[tcp]") {
  KernelFeatures features;
  Ports port;  // 0: server, 1: client
  auto m = start_module(module_config("tcp", "    by_workload: false\n" + port.option(2)), features);
  NsPair net(1);
  // Every 7th data segment to the server is lost, 30 at most: fast retransmits and timeouts both.
  Dropper dropper(net.b, net.dev_b, port[0], 7, 30, 0);
  Fd listening = listener(net.b, net.ip4_b, port[0]);
  const uint64_t a0 = retrans_segs(net.a), b0 = retrans_segs(net.b);
  const Families before = m.read().families;

  constexpr size_t kChunk = 64 << 10, kChunks = 48;  // 3 MB
  {
    Acceptor server(listening, 1);
    Fd client = bound_socket(net.a, net.ip4_a, port[1]);
    REQUIRE(connect_to(client, net.ip4_b, port[0]) == 0);
    const std::string chunk(kChunk, 'r');
    for (size_t i = 0; i < kChunks; ++i) REQUIRE(send(client.get(), chunk.data(), chunk.size(), 0) == kChunk);
    client = Fd();  // FIN after the data
    server.join();
    CHECK(server.bytes() == kChunk * kChunks);
  }
  const uint64_t a1 = settled([&] { return retrans_segs(net.a); });
  const uint64_t b1 = retrans_segs(net.b);
  const Families after = m.read().families;
  auto retransmits = [&](const Families& f, uint16_t p) {
    return sum_of(f, "bpfex_tcp_retransmits_total", {{"family", "ipv4"}, {"port", port_label(p)}});
  };
  INFO("dropped " << dropper.data_dropped() << " of " << dropper.data_segments() << " data segments");
  REQUIRE(dropper.data_dropped() > 0);
  REQUIRE(a1 - a0 >= dropper.data_dropped());  // each loss was repaired by at least one retransmit
  CHECK(retransmits(after, port[1]) - retransmits(before, port[1]) == a1 - a0);
  CHECK(retransmits(after, port[0]) - retransmits(before, port[0]) == b1 - b0);
}

TEST_CASE("tcp: N connects are N active and N passive opens, established, each with a connect latency", "[tcp]") {
  KernelFeatures features;
  // 0: IPv4 server, 1: IPv6 server, 2: dual-stack IPv6 server; 3..12: client ports, one per connect.
  Ports port;
  auto m = start_module(module_config("tcp", "    by_workload: false\n" + port.option(13)), features);
  NsPair net(2);
  constexpr int kV4 = 5, kV6 = 3, kMapped = 2;
  Fd l4 = listener(net.b, net.ip4_b, port[0]), l6 = listener(net.b, net.ip6_b, port[1]);
  Fd dual = listener(net.b, "::", port[2], 16, false);
  const Families before = m.read().families;
  {
    Acceptor s4(l4, kV4), s6(l6, kV6), sd(dual, kMapped);
    int client = 3;
    auto connects = [&](int n, const std::string& from, const std::string& to, uint16_t server) {
      for (int i = 0; i < n; ++i) {
        Fd c = bound_socket(net.a, from, port[client++]);
        REQUIRE(connect_to(c, to, server) == 0);
      }
    };
    connects(kV4, net.ip4_a, net.ip4_b, port[0]);
    connects(kV6, net.ip6_a, net.ip6_b, port[1]);
    connects(kMapped, net.ip4_a, net.ip4_b, port[2]);  // IPv4 to an IPv6 socket: family ipv4
    s4.join();
    s6.join();
    sd.join();
    CHECK(s4.accepted() + s6.accepted() + sd.accepted() == kV4 + kV6 + kMapped);
  }
  const Families f = m.read().families;
  auto delta = [&](const std::map<std::string, std::string>& match) {
    return sum_of(f, "bpfex_tcp_connections_total", match) - sum_of(before, "bpfex_tcp_connections_total", match);
  };
  auto opens = [&](const std::string& family, const std::string& direction, const std::string& result, int from,
                   int to) {
    double n = 0;
    for (int i = from; i < to; ++i)
      n += delta({{"family", family}, {"direction", direction}, {"result", result}, {"port", port_label(port[i])}});
    return n;
  };
  CHECK(opens("ipv4", "passive", "established", 0, 1) == kV4);
  CHECK(opens("ipv6", "passive", "established", 1, 2) == kV6);
  CHECK(opens("ipv4", "passive", "established", 2, 3) == kMapped);
  CHECK(opens("ipv6", "passive", "established", 2, 3) == 0);
  CHECK(opens("ipv4", "active", "established", 3, 3 + kV4) == kV4);
  CHECK(opens("ipv6", "active", "established", 3 + kV4, 3 + kV4 + kV6) == kV6);
  CHECK(opens("ipv4", "active", "established", 3 + kV4 + kV6, 13) == kMapped);
  for (const char* family : {"ipv4", "ipv6"}) {
    CHECK(opens(family, "active", "failed", 0, 13) == 0);
    CHECK(opens(family, "passive", "failed", 0, 13) == 0);
    CHECK(opens(family, "active", "established", 0, 3) == 0);  // the servers' ports are passive only
  }
  // One latency observation per active open, on the client's port, fast (no loss on this link).
  for (int i = 3; i < 13; ++i) {
    const Latency l = latency_of(f, {{"port", port_label(port[i])}});
    INFO("client port " << port[i] << " (connect " << i - 3 << "): latency " << l.sum << " s");
    CHECK(l.count == 1);
    CHECK(l.sum > 0);
    CHECK(l.cumulative.at(0.125) == 1);  // at most 125 ms
  }
  CHECK(latency_of(f, {{"port", port_label(port[0])}}).count ==
        latency_of(before, {{"port", port_label(port[0])}}).count);
}

TEST_CASE("tcp: connects to a closed port fail and count their resets; an abortive close sends one", "[tcp]") {
  KernelFeatures features;
  Ports port;  // 0: closed, 1: client of the closed port, 2: server, 3: client that aborts
  auto m = start_module(module_config("tcp", "    by_workload: false\n" + port.option(4)), features);
  NsPair net(3);
  const Families before = m.read().families;
  auto delta = [&](const Families& f, const std::string& name, const std::map<std::string, std::string>& match) {
    return sum_of(f, name, match) - sum_of(before, name, match);
  };

  constexpr int kRefused = 4, kAborted = 3;
  const uint64_t b_rsts0 = out_rsts(net.b);
  for (int i = 0; i < kRefused; ++i) {
    Fd c = bound_socket(net.a, net.ip4_a, port[1]);
    CHECK(connect_to(c, net.ip4_b, port[0]) == ECONNREFUSED);
  }
  const uint64_t b_rsts = settled([&] { return out_rsts(net.b); }) - b_rsts0;
  Families f = m.read().families;
  CHECK(b_rsts == kRefused);
  const std::map<std::string, std::string> client = {{"family", "ipv4"}, {"port", port_label(port[1])}};
  CHECK(delta(f, "bpfex_tcp_connections_total",
              {{"direction", "active"}, {"result", "failed"}, {"port", port_label(port[1])}}) == kRefused);
  CHECK(delta(f, "bpfex_tcp_connections_total", {{"result", "established"}, {"port", port_label(port[1])}}) == 0);
  CHECK(delta(f, "bpfex_tcp_resets_total", {{"direction", "received"}, {"port", port_label(port[1])}}) == kRefused);
  // The closed port's resets have no socket: counted by the port they answered, where the kernel's
  // tracepoint reports them.
  const double sent =
      delta(f, "bpfex_tcp_resets_total", {{"direction", "sent"}, {"family", "ipv4"}, {"port", port_label(port[0])}});
  if (traces_socketless_resets()) {
    CHECK(sent == static_cast<double>(b_rsts));
  } else {
    WARN("this kernel's tcp_send_reset tracepoint does not fire for segments without a socket (no reason argument)");
    CHECK(sent == 0);
  }

  // SO_LINGER {on, 0}: close() aborts the connection with a reset (tcp_send_active_reset).
  Fd l = listener(net.b, net.ip4_b, port[2]);
  const uint64_t a_rsts0 = out_rsts(net.a);
  {
    Acceptor server(l, kAborted);
    for (int i = 0; i < kAborted; ++i) {
      Fd c = bound_socket(net.a, net.ip4_a, port[3]);
      REQUIRE(connect_to(c, net.ip4_b, port[2]) == 0);
      const linger abort{1, 0};
      REQUIRE(setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort) == 0);
    }
    server.join();
  }
  const uint64_t a_rsts = settled([&] { return out_rsts(net.a); }) - a_rsts0;
  f = m.read().families;
  CHECK(a_rsts == kAborted);
  CHECK(delta(f, "bpfex_tcp_resets_total", {{"direction", "sent"}, {"port", port_label(port[3])}}) == a_rsts);
  CHECK(delta(f, "bpfex_tcp_resets_total", {{"direction", "received"}, {"port", port_label(port[2])}}) == kAborted);
  CHECK(delta(f, "bpfex_tcp_connections_total", {{"result", "established"}, {"port", port_label(port[3])}}) ==
        kAborted);
  CHECK(delta(f, "bpfex_tcp_connections_total", {{"result", "failed"}, {"port", port_label(port[2])}}) == 0);
}

TEST_CASE("tcp: a lost SYN puts the connect latency in the bucket of the kernel's 1 s initial RTO", "[tcp]") {
  KernelFeatures features;
  Ports port;  // 0: server, 1: client
  auto m = start_module(module_config("tcp", "    by_workload: false\n" + port.option(2)), features);
  NsPair net(4);
  Dropper dropper(net.b, net.dev_b, port[0], 0, 0, 1);
  Fd listening = listener(net.b, net.ip4_b, port[0]);
  const uint64_t a0 = retrans_segs(net.a);
  {
    Acceptor server(listening, 1);
    Fd c = bound_socket(net.a, net.ip4_a, port[1]);
    REQUIRE(connect_to(c, net.ip4_b, port[0]) == 0);
  }
  const uint64_t a1 = settled([&] { return retrans_segs(net.a); });
  const Families f = m.read().families;
  CHECK(dropper.syns_dropped() == 1);
  const Latency l = latency_of(f, {{"family", "ipv4"}, {"port", port_label(port[1])}});
  CHECK(l.count == 1);
  // SYN, lost; the retransmit 1 s later (TCP_TIMEOUT_INIT) is answered: 1 s plus a round trip, in
  // the classic bucket le=2 s and not le=1 s, and in the native bucket (1, 2^(1/2)] s (schema 1).
  CHECK(l.sum >= 1.0);
  CHECK(l.sum < std::sqrt(2.0));
  CHECK(l.cumulative.at(1.0) == 0);
  CHECK(l.cumulative.at(2.0) == 1);
  CHECK(l.native.size() == 1);
  CHECK(l.native.count(1) == 1);
  // The SYN retransmit is a retransmit, as RetransSegs counts it.
  CHECK(a1 - a0 == 1);
  CHECK(sum_of(f, "bpfex_tcp_retransmits_total", {{"port", port_label(port[1])}}) == 1);
}

TEST_CASE("tcp: listen overflows equal the namespace's ListenOverflows, with each hook's first choice and with kprobes",
          "[tcp]") {
  KernelFeatures kernel;
  const bool deny_fentry = GENERATE(false, true);
  INFO((deny_fentry ? "fentry denied: kprobes" : "each hook's first choice"));
  RestrictedFeatures features(kernel, deny_fentry ? std::vector{Flavour::fentry} : std::vector<Flavour>{});
  for (const char* target : {"tcp_conn_request", "tcp_v4_syn_recv_sock"})
    if (!features.can_attach(Flavour::fentry, target) && !features.can_attach(Flavour::kprobe, target)) {
      WARN("this kernel attaches neither fentry nor kprobes to "
           << target << " (fentry " << (deny_fentry ? "denied" : "unavailable")
           << "): listen overflows are not counted here (the guest kernels, tests/guest, cover it)");
      return;
    }
  Ports port;  // 0: a listener that never accepts
  auto m = start_module(module_config("tcp", "    by_workload: false\n" + port.option(1)), features);
  size_t hooked = 0;
  for (const auto& p : m.module->programs())
    if (p.target.find("syn_recv_sock") != std::string::npos || p.target == "tcp_conn_request") {
      if (deny_fentry) CHECK(p.flavour == "kprobe");
      ++hooked;
    }
  CHECK(hooked >= 2);
  NsPair net(5);
  // Backlog 1: the accept queue is full once it holds two connections; the rest of the SYNs (and
  // their retransmits) overflow.
  Fd l = listener(net.b, net.ip4_b, port[0], 1);
  const uint64_t b0 = listen_overflows(net.b);
  const Families before = m.read().families;
  std::vector<Fd> clients;
  for (int i = 0; i < 6; ++i) {
    Fd c = bound_socket(net.a, net.ip4_a, 0);
    const int flags = fcntl(c.get(), F_GETFL);
    REQUIRE(fcntl(c.get(), F_SETFL, flags | O_NONBLOCK) == 0);
    const int err = connect_to(c, net.ip4_b, port[0]);
    CHECK((err == 0 || err == EINPROGRESS));
    clients.push_back(std::move(c));
  }
  std::this_thread::sleep_for(2500ms);  // the SYN retransmits at 1 s and 3 s: at least one round
  clients.clear();                      // closing a connecting socket sends nothing
  const uint64_t b1 = settled([&] { return listen_overflows(net.b); });
  const Families f = m.read().families;
  REQUIRE(has_family(f, "bpfex_tcp_listen_overflows_total"));
  auto overflows = [&](const Families& fs) {
    return sum_of(fs, "bpfex_tcp_listen_overflows_total", {{"family", "ipv4"}, {"port", port_label(port[0])}});
  };
  CHECK(b1 - b0 > 0);
  CHECK(overflows(f) - overflows(before) == b1 - b0);
}

TEST_CASE("tcp: every tracepoint flavour counts connections, resets and retransmits exactly", "[tcp]") {
  KernelFeatures kernel;
  struct Case {
    std::vector<Flavour> denied;
    Flavour want;
  };
  const std::vector<Case> cases = {
      {{}, Flavour::tp_btf},
      {{Flavour::tp_btf}, Flavour::raw_tp},
      {{Flavour::tp_btf, Flavour::raw_tp}, Flavour::tracepoint},
  };
  int subnet = 10;
  for (const auto& c : cases) {
    INFO("flavour " << flavour_name(c.want));
    if (!kernel.can_attach(c.want, "inet_sock_set_state") && c.want != Flavour::tracepoint) {
      WARN("this kernel cannot attach " << flavour_name(c.want));
      continue;
    }
    RestrictedFeatures features(kernel, c.denied);
    Ports port;  // 0: server (its first SYN lost), 1: client, 2: closed, 3: client of the closed port
    auto m = start_module(module_config("tcp", "    by_workload: false\n" + port.option(4)), features);
    size_t tracepoints = 0;
    for (const auto& p : m.module->programs())
      if (p.name.rfind("tcp_", 0) == 0 && p.flavour != "fentry" && p.flavour != "kprobe") {
        CHECK(p.flavour == flavour_name(c.want));
        ++tracepoints;
      }
    CHECK(tracepoints == 5);
    NsPair net(subnet++);
    Dropper dropper(net.b, net.dev_b, port[0], 0, 0, 1);
    Fd l = listener(net.b, net.ip4_b, port[0]);
    const uint64_t a0 = retrans_segs(net.a);
    {
      Acceptor server(l, 1);
      Fd client = bound_socket(net.a, net.ip4_a, port[1]);
      REQUIRE(connect_to(client, net.ip4_b, port[0]) == 0);
    }
    constexpr int kRefused = 2;
    for (int i = 0; i < kRefused; ++i) {
      Fd refused = bound_socket(net.a, net.ip4_a, port[3]);
      CHECK(connect_to(refused, net.ip4_b, port[2]) == ECONNREFUSED);
    }
    const uint64_t a1 = settled([&] { return retrans_segs(net.a); });
    const Families f = m.read().families;
    auto n = [&](const std::string& name, const std::map<std::string, std::string>& match) {
      return sum_of(f, name, match);
    };
    CHECK(n("bpfex_tcp_connections_total",
            {{"direction", "active"}, {"result", "established"}, {"port", port_label(port[1])}}) == 1);
    CHECK(n("bpfex_tcp_connections_total",
            {{"direction", "passive"}, {"result", "established"}, {"port", port_label(port[0])}}) == 1);
    CHECK(n("bpfex_tcp_connections_total",
            {{"direction", "active"}, {"result", "failed"}, {"port", port_label(port[3])}}) == kRefused);
    CHECK(n("bpfex_tcp_resets_total", {{"direction", "received"}, {"port", port_label(port[3])}}) == kRefused);
    CHECK(n("bpfex_tcp_retransmits_total", {{"port", port_label(port[1])}}) == a1 - a0);
    CHECK(a1 - a0 == 1);
    CHECK(latency_of(f, {{"port", port_label(port[1])}}).count == 1);
  }
}

TEST_CASE("tcp: by workload, opens count under the socket's cgroup: the client's and the listener's", "[tcp]") {
  if (workload::cgroup2_mount().empty()) FAIL("no cgroup v2 hierarchy: attribution cannot be tested here");
  // Capped: one workload row in the kernel, for the two cgroups (and whatever else on the machine
  // used TCP first): a cgroup without one counts in cgroup="other", and as label overflow.
  const bool capped = GENERATE(false, true);
  INFO("max_workload_rows: " << (capped ? "1" : "default"));
  KernelFeatures features;
  workload::AttributionOptions options;
  options.min_age = 0s;
  workload::Workloads workloads(options, workload::cgroup2_mount(), {}, 0ms);
  Ports port;  // 0: server, 1..4: clients
  auto m = start_module(module_config("tcp", port.option(5) + (capped ? "    max_workload_rows: 1\n" : "")), features,
                        &workloads);
  NsPair net(6);
  const std::string slice = "/bpfex-it-" + unique_token(6) + ".slice";
  TestCgroup clients(slice + "/client.service"), servers(slice + "/server.service");
  constexpr int kConnects = 4;
  // The listener is created by a process in the server's cgroup; accepted sockets inherit it. The
  // handshakes complete in softirq, whatever task is current: only the socket knows its workload.
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t server = fork();
  REQUIRE(server >= 0);
  if (server == 0) {
    std::ofstream(workload::cgroup2_mount() + servers.path() + "/cgroup.procs") << getpid() << std::flush;
    Fd nsfd(open(("/var/run/netns/" + net.b.name).c_str(), O_RDONLY | O_CLOEXEC));
    if (setns(nsfd.get(), CLONE_NEWNET) != 0) _exit(2);
    Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len = 0;
    sockaddr_storage at = address(net.ip4_b, port[0], len);
    if (bind(s.get(), reinterpret_cast<sockaddr*>(&at), len) != 0 || listen(s.get(), 16) != 0) _exit(3);
    if (write(ready[1], "x", 1) != 1) _exit(4);
    for (int i = 0; i < kConnects; ++i) {
      Fd c(accept(s.get(), nullptr, nullptr));
      char buf[16];
      while (recv(c.get(), buf, sizeof buf, 0) > 0) {
      }
    }
    _exit(0);
  }
  char byte;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  clients.run([&] {
    Fd nsfd(open(("/var/run/netns/" + net.a.name).c_str(), O_RDONLY | O_CLOEXEC));
    if (setns(nsfd.get(), CLONE_NEWNET) != 0) _exit(2);
    for (int i = 0; i < kConnects; ++i) {
      Fd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      socklen_t len = 0;
      sockaddr_storage from = address(net.ip4_a, port[1 + i], len);
      if (bind(c.get(), reinterpret_cast<sockaddr*>(&from), len) != 0) _exit(5);
      sockaddr_storage to = address(net.ip4_b, port[0], len);
      if (connect(c.get(), reinterpret_cast<sockaddr*>(&to), len) != 0) _exit(6);
    }
  });
  int status = 0;
  REQUIRE(waitpid(server, &status, 0) == server);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  close(ready[0]);
  close(ready[1]);
  const ModuleReading r = m.read();
  const Families& f = r.families;
  auto opens = [&](const std::string& direction, int port_index, const std::string& cgroup) {
    std::map<std::string, std::string> match = {
        {"direction", direction}, {"result", "established"}, {"port", port_label(port[port_index])}};
    if (!cgroup.empty()) match["cgroup"] = cgroup;
    return sum_of(f, "bpfex_tcp_connections_total", match);
  };
  double active = 0, active_anywhere = 0, active_other = 0;
  for (int i = 1; i <= kConnects; ++i) {
    active += opens("active", i, slice + "/client.service");
    active_anywhere += opens("active", i, "");
    active_other += opens("active", i, "other");
  }
  CHECK(active_anywhere == kConnects);
  CHECK(opens("passive", 0, "") == kConnects);
  if (capped) {
    // Each side entirely under its own cgroup or entirely in "other"; not both with a row.
    const double passive = opens("passive", 0, slice + "/server.service"), passive_other = opens("passive", 0, "other");
    CHECK(active + active_other == kConnects);
    CHECK(passive + passive_other == kConnects);
    CHECK(active_other + passive_other >= kConnects);
    REQUIRE(r.label_overflows);
    CHECK(*r.label_overflows >= active_other + passive_other);
    return;
  }
  CHECK(active == kConnects);
  CHECK(opens("passive", 0, slice + "/server.service") == kConnects);
  for (const auto& fam : f)
    if (fam.name == "bpfex_tcp_connections_total") {
      REQUIRE_FALSE(fam.metric.empty());
      CHECK(fam.metric[0].label.size() == 8);  // family, direction, result, port, namespace, pod, container, cgroup
    }
  const Latency l = latency_of(f, {{"cgroup", slice + "/client.service"}});
  CHECK(l.count == kConnects);
}

TEST_CASE("tcp: without ports and by_workload the labels are the family's own, and every family has series", "[tcp]") {
  KernelFeatures features;
  auto m = start_module(module_config("tcp", "    by_workload: false\n"), features);
  const Families f = m.read().families;
  std::map<std::string, std::vector<std::string>> labels;
  for (const auto& fam : f) {
    REQUIRE_FALSE(fam.metric.empty());
    for (const auto& l : fam.metric[0].label) labels[fam.name].push_back(l.name);
  }
  using V = std::vector<std::string>;
  CHECK(labels["bpfex_tcp_retransmits_total"] == V{"family"});
  CHECK(labels["bpfex_tcp_resets_total"] == V{"family", "direction"});
  CHECK(labels["bpfex_tcp_connections_total"] == V{"family", "direction", "result"});
  CHECK(labels["bpfex_tcp_connect_latency_seconds"] == V{"family"});
  bool overflow_hooks = false;
  for (const auto& p : m.module->programs()) overflow_hooks = overflow_hooks || p.target == "tcp_conn_request";
  CHECK(has_family(f, "bpfex_tcp_listen_overflows_total") == overflow_hooks);
  if (overflow_hooks) CHECK(labels["bpfex_tcp_listen_overflows_total"] == V{"family"});
}
