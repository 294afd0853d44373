// tcx links (bpf_link_create) and tc clsact filters (libbpf's bpf_tc_*), and undoing each.
#include "net/netdev_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <utility>

#include "loader/features.h"

namespace bpfex {
namespace {

// Our filters' handle and priority on a clsact qdisc that other tools may share.
constexpr uint32_t kTcHandle = 0xbfe, kTcPriority = 0xbfe;

}  // namespace

Result<NetdevAttachment> NetdevAttachment::attach(NetdevFlavour flavour, int ifindex, Programs programs) {
  NetdevAttachment a(flavour, ifindex);
  const std::pair<int, bool> directions[] = {{programs.ingress, true}, {programs.egress, false}};
  if (flavour == NetdevFlavour::tcx) {
    for (const auto& [fd, ingress] : directions) {
      if (fd < 0) continue;
      Fd link(bpf_link_create(fd, ifindex, ingress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, nullptr));
      if (!link) return errno_error(ingress ? "tcx attach ingress" : "tcx attach egress");
      a.tcx_links_.push_back(std::move(link));
    }
    return a;
  }
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return errno_error("create clsact qdisc", -err);
  a.tc_created_qdisc_ = err == 0;
  a.tc_attached_ = true;  // from here on, the destructor undoes what was done, also after a failure
  for (const auto& [fd, ingress] : directions) {
    if (fd < 0) continue;
    LIBBPF_OPTS(bpf_tc_hook, one, .ifindex = ifindex, .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle,
                .priority = kTcPriority);
    if ((err = bpf_tc_attach(&one, &opts)))
      return errno_error(ingress ? "tc attach ingress" : "tc attach egress", -err);
  }
  return a;
}

NetdevAttachment::NetdevAttachment(NetdevAttachment&& o) noexcept
    : flavour_(o.flavour_),
      ifindex_(o.ifindex_),
      tcx_links_(std::move(o.tcx_links_)),
      tc_attached_(std::exchange(o.tc_attached_, false)),
      tc_created_qdisc_(o.tc_created_qdisc_),
      gone_(o.gone_) {}

NetdevAttachment& NetdevAttachment::operator=(NetdevAttachment&& o) noexcept {
  if (this != &o) {
    detach();
    flavour_ = o.flavour_;
    ifindex_ = o.ifindex_;
    tcx_links_ = std::move(o.tcx_links_);
    tc_attached_ = std::exchange(o.tc_attached_, false);
    tc_created_qdisc_ = o.tc_created_qdisc_;
    gone_ = o.gone_;
  }
  return *this;
}

void NetdevAttachment::detach() {
  tcx_links_.clear();  // closing a tcx link detaches it (a gone device's links are already defunct)
  if (!tc_attached_) return;
  tc_attached_ = false;
  if (gone_) return;
  if (tc_created_qdisc_) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
                .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
    bpf_tc_hook_destroy(&hook);
    return;
  }
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    LIBBPF_OPTS(bpf_tc_hook, one, .ifindex = ifindex_, .attach_point = point);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    bpf_tc_detach(&one, &opts);
  }
}

}  // namespace bpfex
