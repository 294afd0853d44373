// The interfaces of a network namespace as rtnetlink reports them: a dump of those that exist, then
// RTM_NEWLINK/RTM_DELLINK as they come, go, change or move to another namespace. For modules that
// attach per interface (network) or label by interface.
#pragma once

#include <linux/netlink.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "base/result.h"

namespace bpfex {

// What bpfex needs to know about one interface.
struct LinkInfo {
  int ifindex = 0;
  unsigned type = 0;  // ARPHRD_*
  std::string name;
  bool software = false;           // IFLA_LINKINFO present: veth, bridge, vlan, ... (not a NIC's driver)
  std::string kind;                // IFLA_INFO_KIND: "veth", "vlan", "bond", ...; "" for a NIC
  uint32_t gso_max_size = 0;       // IFLA_GSO_MAX_SIZE: IPv6 (and IPv4 before Linux 6.3); 0 when absent
  uint32_t gso_ipv4_max_size = 0;  // IFLA_GSO_IPV4_MAX_SIZE (Linux 6.3+); 0 when absent
  uint32_t gso_max_segs = 0;       // IFLA_GSO_MAX_SEGS
};

// An interface's own counters (IFLA_STATS64), as /sys/class/net/<if>/statistics shows them.
struct LinkCounters {
  uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
  bool operator==(const LinkCounters&) const = default;
};
// Asks the kernel now (RTM_GETLINK for one interface) over `netlink`, a socket from
// link_query_socket(): it asks the namespace the socket was made in, whichever namespace the
// calling thread is in. One request at a time per socket.
Result<LinkCounters> link_counters(int netlink, int ifindex);
// A NETLINK_ROUTE socket for link_counters, of the calling thread's network namespace.
Result<Fd> link_query_socket();
// The same for an interface of the calling thread's namespace, over a socket of its own.
Result<LinkCounters> link_counters(int ifindex);

// What one RTM_NEWLINK/RTM_DELLINK message says; nullopt for any other message or a short one.
struct LinkMessage {
  bool removed = false;  // RTM_DELLINK: deleted, or moved to another namespace
  LinkInfo link;
};
std::optional<LinkMessage> parse_link_message(const nlmsghdr* message);

// Told about interfaces: on the thread that calls LinkWatcher::start() for the interfaces that
// exist then, later on the watcher's own thread.
class LinkObserver {
 public:
  virtual ~LinkObserver() = default;
  // The interface exists: first seen, or an attribute changed (renamed, new GSO limits).
  virtual void link_present(const LinkInfo& link) = 0;
  // The interface is gone from this namespace (deleted, or moved to another one).
  virtual void link_removed(int ifindex) = 0;
  // Everything the kernel has said so far is handled (a batch of events, or a listing): a point to
  // do once what many link_present() calls asked for.
  virtual void links_settled() {}
};

class LinkWatcher {
 public:
  // Subscribes to link events of the calling thread's network namespace and lists the interfaces
  // that exist (subscribed first: none can slip between the two); they are reported before start()
  // returns. Then reports changes from a thread of its own. When the kernel drops events (the
  // socket's buffer overran: ENOBUFS), it lists everything again and reports as removed what
  // vanished meanwhile.
  // receive_buffer: the socket's buffer for events (bytes); tests make it tiny to force overruns.
  static Result<std::unique_ptr<LinkWatcher>> start(LinkObserver& observer, int receive_buffer = kReceiveBuffer);
  // Room for bursts of events: a container host creates and deletes veths in batches of hundreds,
  // each RTM_NEWLINK about 1.5 KiB. Overruns are survived (a fresh dump) but cost a re-listing.
  static constexpr int kReceiveBuffer = 4 << 20;
  // The watcher thread's nice value (bench/network/burst.sh).
  static constexpr int kNice = 10;
  // Stops and joins the thread: no callback runs once it returns.
  ~LinkWatcher();
  // Times events were lost and the interfaces listed again (the first listing, at start, not counted).
  uint64_t relistings() const { return relistings_.load(); }
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

 private:
  explicit LinkWatcher(LinkObserver& observer) : observer_(observer) {}
  Status request_dump();
  // Reads and handles what is queued until nothing is.
  Status drain();
  // Lists every interface and reconciles what is known with it.
  Status dump();
  // What a batch of messages said about the dump in progress.
  struct DumpProgress {
    bool done = false;         // its NLMSG_DONE came
    bool interrupted = false;  // the interface list changed under it (NLM_F_DUMP_INTR): it may miss some
    bool failed = false;       // the kernel refused it (NLMSG_ERROR): errno in dump_error_
  };
  // Handles every message in n bytes of buffer_.
  DumpProgress handle(ssize_t n, std::set<int>* dumped);
  void watch();

  LinkObserver& observer_;
  Fd netlink_, stop_;
  uint32_t dump_seq_ = 0;
  int dump_error_ = 0;     // errno of a dump the kernel answered with NLMSG_ERROR
  std::set<int> present_;  // ifindexes reported present and not removed since
  std::atomic<uint64_t> relistings_{0};
  // Receive buffer (start(), then the watcher thread only); nlmsghdr-aligned.
  std::vector<nlmsghdr> buffer_ = std::vector<nlmsghdr>((64 << 10) / sizeof(nlmsghdr));
  std::thread thread_;  // last: joined before anything above goes
};

}  // namespace bpfex
