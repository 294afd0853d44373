// rtnetlink: the link dump, RTM_NEWLINK/RTM_DELLINK parsing, and the watcher thread.
#include "net/link_watcher.h"

#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/log.h"

// Not in Debian 12's uapi headers (Linux 6.1); value from Linux 6.3.
#ifndef IFLA_GSO_IPV4_MAX_SIZE
#define IFLA_GSO_IPV4_MAX_SIZE 63
#endif

namespace bpfex {

std::optional<LinkMessage> parse_link_message(const nlmsghdr* h) {
  if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) return std::nullopt;
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  LinkMessage m;
  m.removed = h->nlmsg_type == RTM_DELLINK;
  m.link.ifindex = ifi->ifi_index;
  m.link.type = ifi->ifi_type;
  int len = static_cast<int>(IFLA_PAYLOAD(h));
  for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    uint32_t u = 0;
    if (RTA_PAYLOAD(a) >= sizeof u) std::memcpy(&u, RTA_DATA(a), sizeof u);
    switch (a->rta_type) {
      case IFLA_IFNAME:
        m.link.name.assign(static_cast<const char*>(RTA_DATA(a)),
                           strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
        break;
      case IFLA_GSO_MAX_SIZE: m.link.gso_max_size = u; break;
      case IFLA_GSO_IPV4_MAX_SIZE: m.link.gso_ipv4_max_size = u; break;
      case IFLA_GSO_MAX_SEGS: m.link.gso_max_segs = u; break;
      case IFLA_LINKINFO: {
        m.link.software = true;
        const rtattr* info = a;
        int info_len = static_cast<int>(RTA_PAYLOAD(info));
        for (auto* k = static_cast<const rtattr*>(RTA_DATA(info)); RTA_OK(k, info_len); k = RTA_NEXT(k, info_len)) {
          if (k->rta_type != IFLA_INFO_KIND) continue;
          m.link.kind.assign(static_cast<const char*>(RTA_DATA(k)),
                             strnlen(static_cast<const char*>(RTA_DATA(k)), RTA_PAYLOAD(k)));
        }
        break;
      }
      default: break;
    }
  }
  return m;
}

Result<Fd> link_query_socket() {
  Fd sock(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock) return errno_error("netlink socket");
  timeval timeout{5, 0};
  setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return sock;
}

Result<LinkCounters> link_counters(int netlink, int ifindex) {
  // A reply that came after an earlier request timed out carries that request's number: skipped.
  static std::atomic<uint32_t> next_seq{1};
  struct {
    nlmsghdr n;
    ifinfomsg i;
  } req{};
  req.n.nlmsg_len = sizeof req;
  req.n.nlmsg_type = RTM_GETLINK;
  req.n.nlmsg_flags = NLM_F_REQUEST;
  req.n.nlmsg_seq = next_seq++;
  req.i.ifi_family = AF_UNSPEC;
  req.i.ifi_index = ifindex;
  const std::string what = "counters of ifindex " + std::to_string(ifindex);
  if (send(netlink, &req, sizeof req, 0) < 0) return errno_error(what);
  std::vector<nlmsghdr> buffer((32 << 10) / sizeof(nlmsghdr));
  for (;;) {
    ssize_t n = 0;
    do {
      n = recv(netlink, buffer.data(), buffer.size() * sizeof(nlmsghdr), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno_error(what);
    for (const nlmsghdr* h = buffer.data(); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != req.n.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return errno_error(what, -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error);
      if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) continue;
      const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
      int len = static_cast<int>(IFLA_PAYLOAD(h));
      for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type != IFLA_STATS64 || RTA_PAYLOAD(a) < 4 * sizeof(uint64_t)) continue;
        uint64_t v[4];  // rtnl_link_stats64 begins rx_packets, tx_packets, rx_bytes, tx_bytes
        std::memcpy(v, RTA_DATA(a), sizeof v);
        return LinkCounters{v[0], v[1], v[2], v[3]};
      }
      return Error{ENODATA, what + ": no IFLA_STATS64 in the answer"};
    }
  }
}

Result<LinkCounters> link_counters(int ifindex) {
  auto sock = link_query_socket();
  if (!sock) return sock.error();
  return link_counters(sock->get(), ifindex);
}

Result<std::unique_ptr<LinkWatcher>> LinkWatcher::start(LinkObserver& observer, int receive_buffer) {
  std::unique_ptr<LinkWatcher> w(new LinkWatcher(observer));
  w->netlink_ = Fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!w->netlink_) return errno_error("netlink socket");
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;  // subscribed before the dump: no interface can slip between the two
  if (bind(w->netlink_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
    return errno_error("bind netlink socket");
  // SO_RCVBUF is capped at net.core.rmem_max (208 KiB by default); with CAP_NET_ADMIN, which the
  // network module has anyway, SO_RCVBUFFORCE is not.
  if (setsockopt(w->netlink_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) != 0)
    setsockopt(w->netlink_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  // A dump that stops answering must not block start() forever.
  timeval timeout{5, 0};
  setsockopt(w->netlink_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  w->stop_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!w->stop_) return errno_error("eventfd");
  if (Status st = w->dump(); !st) return st.error();
  w->thread_ = std::thread([raw = w.get()] { raw->watch(); });
  return w;
}

LinkWatcher::~LinkWatcher() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  if (write(stop_.get(), &one, sizeof one) < 0) log_warn("cannot wake the netlink thread");
  thread_.join();
}

Status LinkWatcher::request_dump() {
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

LinkWatcher::DumpProgress LinkWatcher::handle(ssize_t n, std::set<int>* dumped) {
  DumpProgress progress;
  for (const nlmsghdr* h = buffer_.data(); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
    const bool ours = dumped && h->nlmsg_seq == dump_seq_;
    // The kernel may flag any message of the dump, its NLMSG_DONE included.
    if (ours && (h->nlmsg_flags & NLM_F_DUMP_INTR)) progress.interrupted = true;
    if (h->nlmsg_type == NLMSG_DONE) {
      if (ours) progress.done = true;
      continue;
    }
    if (h->nlmsg_type == NLMSG_ERROR) {
      if (ours) {
        dump_error_ = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
        progress.failed = true;
      }
      continue;
    }
    auto m = parse_link_message(h);
    if (!m) continue;
    if (m->removed) {
      // Only what was reported present is reported gone (a device deleted before we saw it, or
      // a RTM_DELLINK for a device of another namespace's broadcast, is not news).
      if (present_.erase(m->link.ifindex)) observer_.link_removed(m->link.ifindex);
      continue;
    }
    if (ours) dumped->insert(m->link.ifindex);
    present_.insert(m->link.ifindex);
    observer_.link_present(m->link);
  }
  return progress;
}

Status LinkWatcher::drain() {
  for (;;) {
    const ssize_t n = recv(netlink_.get(), buffer_.data(), buffer_.size() * sizeof(nlmsghdr), MSG_DONTWAIT);
    if (n >= 0) {
      handle(n, nullptr);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    if (errno != EINTR && errno != ENOBUFS) return errno_error("netlink receive");
  }
}

Status LinkWatcher::dump() {
  // Overruns and interrupted dumps only mean "again"; a kernel that keeps interrupting every
  // dump for this long is not going to settle.
  constexpr int kAttempts = 100;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    // After an overrun the kernel goes on dropping events, without a further ENOBUFS, until the
    // socket's queue has been read empty (netlink's "congested" state): a listing made before
    // that would not be followed by the events of what changes after it, and nothing would tell.
    if (Status st = drain(); !st) return st;
    if (Status st = request_dump(); !st) return st;
    std::set<int> dumped;
    bool incomplete = false;  // events lost or the list changed meanwhile: read it to its end, then again
    for (bool done = false; !done;) {
      const ssize_t n = recv(netlink_.get(), buffer_.data(), buffer_.size() * sizeof(nlmsghdr), 0);
      if (n < 0) {
        if (errno == ENOBUFS) incomplete = true;
        if (errno == EINTR || errno == ENOBUFS) continue;
        return errno_error("netlink dump");
      }
      const DumpProgress progress = handle(n, &dumped);
      if (progress.failed) return errno_error("netlink dump answered", dump_error_);
      incomplete |= progress.interrupted;
      done = progress.done;
    }
    if (incomplete) continue;
    // Whatever was present and is not in the dump went while events were lost.
    for (auto it = present_.begin(); it != present_.end();) {
      if (dumped.count(*it)) {
        ++it;
      } else {
        const int ifindex = *it;
        it = present_.erase(it);
        observer_.link_removed(ifindex);
      }
    }
    return {};
  }
  return Error{EAGAIN, "netlink dump: interrupted or overrun " + std::to_string(kAttempts) + " times in a row"};
}

void LinkWatcher::watch() {
  // Whatever the observer does per event (attach programs: the kernel takes its link lock) must
  // not slow down the host's own link operations: on a busy host they go first, and what an
  // interface carries before the attach is accounted for anyway.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kNice);
  pollfd fds[2] = {{netlink_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  bool relist = false;  // events were lost and the listing that follows has not succeeded yet
  for (;;) {
    // While a re-listing is owed, try again every 100 ms even if no event comes to wake us.
    const int ready = poll(fds, 2, relist ? 100 : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      log_error("netlink poll failed; interface changes are no longer seen", {{"err", std::strerror(errno)}});
      return;
    }
    if (fds[1].revents) return;
    if (ready > 0) {
      ssize_t n = recv(netlink_.get(), buffer_.data(), buffer_.size() * sizeof(nlmsghdr), MSG_DONTWAIT);
      if (n >= 0) {
        handle(n, nullptr);
        // More already queued: handle it first, settle once.
        pollfd more = {netlink_.get(), POLLIN, 0};
        if (poll(&more, 1, 0) <= 0) observer_.links_settled();
        continue;
      }
      if (errno != ENOBUFS) continue;
      // The kernel dropped events: what we know may be wrong in any way. List everything again.
      log_warn("netlink events lost, re-listing interfaces");
      ++relistings_;
      relist = true;
    }
    if (!relist) continue;
    if (Status st = dump(); !st) {
      log_warn("re-listing interfaces failed; trying again", {{"err", st.error().str()}});
      continue;
    }
    relist = false;
    observer_.links_settled();
  }
}

}  // namespace bpfex
