// Network namespaces and veth pairs for integration tests: created by the test, deleted on scope
// exit (also when a check failed), so tests never touch the host's own interfaces or send traffic
// anywhere else.
#pragma once

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/fd.h"
#include "helpers.h"
#include "loader/features.h"

namespace bpfex::test {

// Runs a shell command; fails the test when it does not exit 0.
inline void sh(const std::string& cmd) {
  const int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  if (rc != 0) FAIL("command failed (" << rc << "): " << cmd);
}

// Output of a shell command (stdout and stderr).
inline std::string sh_output(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen((cmd + " 2>&1").c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  return out;
}

// The network module's ways of counting, the default first, and what a test denies to force each:
// the tracepoints (tp_btf), or programs attached per interface, tcx or tc.
struct NetworkCounting {
  const char* flavour;  // of the programs that count most packets
  std::vector<Flavour> denied;
  std::vector<NetdevFlavour> denied_netdev;
};
inline const NetworkCounting kNetworkCountings[] = {
    {"tp_btf", {}, {}},
    {"tcx", {Flavour::tp_btf}, {}},
    {"tc", {Flavour::tp_btf}, {NetdevFlavour::tcx}},
};
// Features that force counting; false (with a warning) when this kernel lacks it (tcx before 6.6).
inline bool force_counting(const NetworkCounting& c, KernelFeatures& kernel, std::optional<RestrictedFeatures>& out) {
  if (c.flavour == std::string("tcx") && !kernel.can_attach(NetdevFlavour::tcx)) {
    WARN("this kernel has no tcx (Linux 6.6+): the tcx case does not apply");
    return false;
  }
  out.emplace(kernel, c.denied, c.denied_netdev);
  return true;
}

struct NetNs {
  std::string name = "bpfex-it-" + unique_token();
  NetNs() { sh("ip netns add " + name); }
  ~NetNs() { std::system(("ip netns del " + name + " >/dev/null 2>&1").c_str()); }
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;
  // cmd run inside the namespace.
  std::string exec(const std::string& cmd) const { return "ip netns exec " + name + " " + cmd; }

  // Runs fn on a thread that has entered the namespace, and waits for it. setns affects only the
  // calling thread, and threads that thread creates inherit the namespace: a module started from
  // fn watches and attaches inside. False when the namespace could not be entered.
  bool run_inside(const std::function<void()>& fn) const {
    bool entered = false;
    std::thread t([&] {
      Fd nsfd(open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
      if (nsfd.get() < 0 || setns(nsfd.get(), CLONE_NEWNET) != 0) return;
      entered = true;
      fn();
    });
    t.join();
    return entered;
  }
};

// A socket created inside a network namespace.
inline Fd socket_in(const NetNs& ns, int domain, int type) {
  int fd = -1;
  ns.run_inside([&] { fd = socket(domain, type | SOCK_CLOEXEC, 0); });
  return Fd(fd);
}

// A veth pair: `host` in the host namespace, `peer` in ns, addresses and static neighbours set so
// that no ARP or neighbour discovery adds packets of its own. Deleting one end deletes both.
struct Veth {
  const NetNs& ns;
  int id;
  std::string tok = unique_token(5);
  std::string host = "bxh" + tok, peer = "bxp" + tok;
  std::string host_mac, peer_mac, host_ip4, peer_ip4, host_ip6, peer_ip6;
  Veth(const NetNs& n, int subnet) : ns(n), id(subnet) {
    host_mac = "02:bf:00:00:" + std::to_string(10 + subnet) + ":01";
    peer_mac = "02:bf:00:00:" + std::to_string(10 + subnet) + ":02";
    host_ip4 = "10.251." + std::to_string(subnet) + ".1";
    peer_ip4 = "10.251." + std::to_string(subnet) + ".2";
    host_ip6 = "fd00:bf:" + std::to_string(subnet) + "::1";
    peer_ip6 = "fd00:bf:" + std::to_string(subnet) + "::2";
    sh("ip link add " + host + " address " + host_mac + " type veth peer name " + peer + " address " + peer_mac +
       " netns " + ns.name);
    for (const auto& [dev, in_ns] : {std::pair{host, false}, std::pair{peer, true}}) {
      auto run = [&, inside = in_ns](const std::string& c) { sh(inside ? ns.exec(c) : c); };
      run("sysctl -qw net.ipv6.conf." + dev + ".accept_ra=0");
      run("sysctl -qw net.ipv6.conf." + dev + ".router_solicitations=0");
    }
    sh("ip addr add " + host_ip4 + "/24 dev " + host);
    sh("ip addr add " + host_ip6 + "/64 dev " + host + " nodad");
    sh(ns.exec("ip addr add " + peer_ip4 + "/24 dev " + peer));
    sh(ns.exec("ip addr add " + peer_ip6 + "/64 dev " + peer + " nodad"));
    sh("ip neigh replace " + peer_ip4 + " lladdr " + peer_mac + " dev " + host + " nud permanent");
    sh("ip neigh replace " + peer_ip6 + " lladdr " + peer_mac + " dev " + host + " nud permanent");
    sh(ns.exec("ip neigh replace " + host_ip4 + " lladdr " + host_mac + " dev " + peer + " nud permanent"));
    sh(ns.exec("ip neigh replace " + host_ip6 + " lladdr " + host_mac + " dev " + peer + " nud permanent"));
    sh(ns.exec("ip link set lo up"));
    sh(ns.exec("ip link set " + peer + " up"));
    sh("ip link set " + host + " up");
  }
  ~Veth() { std::system(("ip link del " + host + " >/dev/null 2>&1").c_str()); }
  Veth(const Veth&) = delete;
  Veth& operator=(const Veth&) = delete;
};

// IDs of the programs on an interface's tcx hook (BPF_PROG_QUERY). A kernel without tcx (before
// 6.6) answers EINVAL for the tcx attach types: it has no tcx hook, so nothing is attached there.
// Any other failure fails the test.
inline std::vector<uint32_t> tcx_program_ids(int ifindex, bpf_attach_type hook) {
  std::vector<uint32_t> ids(64);
  __u32 count = static_cast<__u32>(ids.size());
  if (bpf_prog_query(ifindex, hook, 0, nullptr, ids.data(), &count) != 0) {
    const int err = errno;
    KernelFeatures kernel;
    if (err == EINVAL && !kernel.can_attach(NetdevFlavour::tcx)) return {};
    FAIL("BPF_PROG_QUERY of ifindex " << ifindex << " failed: " << strerror(err));
  }
  ids.resize(count);
  return ids;
}

inline uint32_t program_id(int prog_fd) {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  REQUIRE(bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0);
  return info.id;
}

// How many times the program is on the interface's tcx hook. Other programs may be there too:
// another bpfex on this host attaches to every interface of its namespace.
inline int tcx_attached(int ifindex, bpf_attach_type hook, uint32_t prog_id) {
  const auto ids = tcx_program_ids(ifindex, hook);
  return static_cast<int>(std::count(ids.begin(), ids.end(), prog_id));
}

}  // namespace bpfex::test
