// RTM_GETTFILTER dump of one clsact hook, and parsing its RTM_NEWTFILTER answers.
#include "net/tc_filters.h"

#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstring>

#include "base/fd.h"

namespace bpfex {
namespace {

std::string attr_string(const rtattr* a) {
  const auto* p = static_cast<const char*>(RTA_DATA(a));
  return {p, strnlen(p, RTA_PAYLOAD(a))};
}

}  // namespace

bool parse_tc_filter(const nlmsghdr* h, TcFilter& out) {
  if (h->nlmsg_type != RTM_NEWTFILTER || h->nlmsg_len < NLMSG_LENGTH(sizeof(tcmsg))) return false;
  const auto* t = static_cast<const tcmsg*>(NLMSG_DATA(h));
  // A chain's head (its priority and protocol, no filter yet) comes with handle 0.
  if (t->tcm_handle == 0) return false;
  out = TcFilter{};
  out.handle = t->tcm_handle;
  out.priority = static_cast<uint16_t>(TC_H_MAJ(t->tcm_info) >> 16);
  int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(tcmsg)));
  for (auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(t) + NLMSG_ALIGN(sizeof(tcmsg)));
       RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == TCA_KIND) {
      out.kind = attr_string(a);
    } else if (a->rta_type == TCA_OPTIONS) {
      int olen = static_cast<int>(RTA_PAYLOAD(a));
      for (auto* o = static_cast<const rtattr*>(RTA_DATA(a)); RTA_OK(o, olen); o = RTA_NEXT(o, olen)) {
        if (o->rta_type == TCA_BPF_NAME) out.bpf_name = attr_string(o);
        if (o->rta_type == TCA_BPF_ID && RTA_PAYLOAD(o) >= sizeof(uint32_t))
          std::memcpy(&out.bpf_id, RTA_DATA(o), sizeof(uint32_t));
      }
    }
  }
  return true;
}

Result<std::vector<TcFilter>> list_tc_filters(int ifindex, bool ingress) {
  Fd sock(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock) return errno_error("netlink socket");
  // A dump that stops answering must not hang the caller.
  timeval timeout{5, 0};
  setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  struct {
    nlmsghdr n;
    tcmsg t;
  } req{};
  req.n.nlmsg_len = sizeof req;
  req.n.nlmsg_type = RTM_GETTFILTER;
  req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.n.nlmsg_seq = 1;
  req.t.tcm_family = AF_UNSPEC;
  req.t.tcm_ifindex = ifindex;
  req.t.tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
  if (send(sock.get(), &req, sizeof req, 0) < 0) return errno_error("netlink filter dump request");
  std::vector<TcFilter> out;
  std::vector<nlmsghdr> buffer((32 << 10) / sizeof(nlmsghdr));
  for (;;) {
    ssize_t n = recv(sock.get(), buffer.data(), buffer.size() * sizeof(nlmsghdr), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("netlink filter dump of ifindex " + std::to_string(ifindex));
    }
    for (const nlmsghdr* h = buffer.data(); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return out;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        // No such device, or no clsact qdisc: no filters.
        if (e->error == -ENODEV || e->error == -EINVAL || e->error == -ENOENT) return out;
        return errno_error("netlink filter dump of ifindex " + std::to_string(ifindex), -e->error);
      }
      TcFilter f;
      if (parse_tc_filter(h, f)) out.push_back(std::move(f));
    }
  }
}

}  // namespace bpfex
