// The tc filters on an interface's clsact hook, listed over rtnetlink (RTM_GETTFILTER dump): what
// netdev_attach.cpp needs to share a clsact qdisc with other tools and other bpfex instances, which
// libbpf's bpf_tc_* calls (one handle at a time) cannot tell.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace bpfex {

struct TcFilter {
  uint32_t handle = 0;
  uint16_t priority = 0;
  std::string kind;      // "bpf", "u32", "flower", ...
  std::string bpf_name;  // cls_bpf: TCA_BPF_NAME, as libbpf and tc write it ("network_ingres:[42]")
  uint32_t bpf_id = 0;   // cls_bpf: the program's ID (TCA_BPF_ID)
};

// The filters at the ingress or egress hook of the clsact qdisc of ifindex; empty when the
// interface has no clsact qdisc.
Result<std::vector<TcFilter>> list_tc_filters(int ifindex, bool ingress);

// One RTM_NEWTFILTER message of a dump; false when it is not one or describes a filter chain head
// (handle 0) rather than a filter.
bool parse_tc_filter(const nlmsghdr* message, TcFilter& out);

}  // namespace bpfex
