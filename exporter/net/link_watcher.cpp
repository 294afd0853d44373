// rtnetlink: the link dump, RTM_NEWLINK/RTM_DELLINK parsing, and the watcher thread.
#include "net/link_watcher.h"

#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

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
      case IFLA_LINKINFO: m.link.software = true; break;
      default: break;
    }
  }
  return m;
}

Result<std::unique_ptr<LinkWatcher>> LinkWatcher::start(LinkObserver& observer) {
  std::unique_ptr<LinkWatcher> w(new LinkWatcher(observer));
  w->netlink_ = Fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!w->netlink_) return errno_error("netlink socket");
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;  // subscribed before the dump: no interface can slip between the two
  if (bind(w->netlink_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
    return errno_error("bind netlink socket");
  // Room for bursts of events (a container host creates and deletes veths in batches).
  int rcvbuf = 1 << 20;
  setsockopt(w->netlink_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
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

bool LinkWatcher::handle(ssize_t n, std::set<int>* dumped) {
  bool done = false;
  for (const nlmsghdr* h = buffer_.data(); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
      if (h->nlmsg_seq == dump_seq_) done = true;
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
    if (dumped && h->nlmsg_seq == dump_seq_) dumped->insert(m->link.ifindex);
    present_.insert(m->link.ifindex);
    observer_.link_present(m->link);
  }
  return done;
}

Status LinkWatcher::dump() {
  if (Status st = request_dump(); !st) return st;
  std::set<int> dumped;
  for (;;) {
    ssize_t n = recv(netlink_.get(), buffer_.data(), buffer_.size() * sizeof(nlmsghdr), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) return dump();  // events overran during the dump: again
      return errno_error("netlink dump");
    }
    if (handle(n, &dumped)) break;
  }
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

void LinkWatcher::watch() {
  pollfd fds[2] = {{netlink_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log_error("netlink poll failed; interface changes are no longer seen", {{"err", std::strerror(errno)}});
      return;
    }
    if (fds[1].revents) return;
    ssize_t n = recv(netlink_.get(), buffer_.data(), buffer_.size() * sizeof(nlmsghdr), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == ENOBUFS) {  // the kernel dropped events: list everything again
        log_warn("netlink events lost, re-listing interfaces");
        if (Status st = dump(); !st) log_warn("re-listing interfaces failed", {{"err", st.error().str()}});
      }
      continue;
    }
    handle(n, nullptr);
  }
}

}  // namespace bpfex
