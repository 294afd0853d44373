// tcx links (bpf_link_create) and tc clsact filters (libbpf's bpf_tc_*), undoing each, and telling
// whether they still run.
#include "net/netdev_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/log.h"
#include "loader/features.h"
#include "net/tc_filters.h"

namespace bpfex {
namespace {

// Not in Debian 12's uapi headers (Linux 6.1): the link type of tcx links (Linux 6.6).
constexpr uint32_t kLinkTypeTcx = 11;

// The abstract unix socket address that stands for a live instance with this handle. Abstract
// names live in the network namespace and vanish with the process: no file, no cleanup.
sockaddr_un owner_address(uint32_t handle, socklen_t& len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  char name[32];
  const int n = std::snprintf(name, sizeof name, "bpfex-tc-%08x", handle);
  std::memcpy(a.sun_path + 1, name, static_cast<size_t>(n));  // sun_path[0] = 0: abstract
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + static_cast<size_t>(n));
  return a;
}

// Binds the owner socket of handle: an fd when the name was free, -1 (errno EADDRINUSE) when a live
// instance holds it.
Fd bind_owner(uint32_t handle) {
  Fd s(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return s;
  socklen_t len = 0;
  const sockaddr_un a = owner_address(handle, len);
  if (bind(s.get(), reinterpret_cast<const sockaddr*>(&a), len) != 0) return Fd();
  return s;
}

bool is_bpfex_filter(const TcFilter& f) {
  return f.priority == kTcPriority && f.kind == "bpf" && f.bpf_name.rfind(kTcProgramPrefix, 0) == 0;
}

bpf_tc_attach_point hook_of(bool ingress) { return ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS; }

int detach_filter(int ifindex, bool ingress, uint32_t handle) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = hook_of(ingress));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = kTcPriority);
  return bpf_tc_detach(&hook, &opts);
}

}  // namespace

Result<TcOwner> TcOwner::claim() {
  for (int attempt = 0; attempt < 64; ++attempt) {
    uint32_t handle = 0;
    if (getrandom(&handle, sizeof handle, 0) != sizeof handle) return errno_error("getrandom");
    if (handle == 0) continue;
    Fd s = bind_owner(handle);
    if (s) return TcOwner(handle, std::move(s));
    if (errno != EADDRINUSE) return errno_error("bind the tc owner socket");
  }
  return Error{EADDRINUSE, "no free tc filter handle after 64 tries"};
}

bool TcOwner::alive(uint32_t handle) {
  const Fd probe = bind_owner(handle);
  // Bound: nobody held the name, the owner is gone (our probe socket closes at once). Any other
  // failure than EADDRINUSE says nothing: treat the owner as alive and leave its filters alone.
  return !probe;
}

Result<NetdevAttachment> NetdevAttachment::attach(NetdevFlavour flavour, int ifindex, Programs programs,
                                                  const TcOwner* owner) {
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
  if (!owner) return Error{EINVAL, "tc attach: no tc owner"};
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return errno_error("create clsact qdisc", -err);
  const bool created = err == 0;
  a.tc_handle_ = owner->handle();
  a.tc_attached_ = true;  // from here on, the destructor undoes what was done, also after a failure
  // A qdisc that holds only bpfex's filters was made by a bpfex (perhaps one that is gone): the last
  // instance to leave it empty removes it. One with anything else on it is someone else's.
  size_t bpfex_filters = 0, other_filters = 0;
  for (bool ingress : {true, false}) {
    auto filters = list_tc_filters(ifindex, ingress);
    if (!filters) continue;
    for (const TcFilter& f : *filters) {
      if (!is_bpfex_filter(f)) {
        ++other_filters;
        continue;
      }
      ++bpfex_filters;
      // What a SIGKILLed bpfex left behind: its programs still run and count for nobody.
      if (f.handle == a.tc_handle_ || TcOwner::alive(f.handle)) continue;
      if (detach_filter(ifindex, ingress, f.handle) == 0) {
        ++a.stale_removed_;
        log_info("network: removed the tc filter of a bpfex that is gone",
                 {{"ifindex", std::to_string(ifindex)}, {"filter", f.bpf_name}});
      }
    }
  }
  a.tc_may_remove_qdisc_ = created || (bpfex_filters > 0 && other_filters == 0);
  for (const auto& [fd, ingress] : directions) {
    if (fd < 0) continue;
    LIBBPF_OPTS(bpf_tc_hook, one, .ifindex = ifindex, .attach_point = hook_of(ingress));
    // No BPF_TC_F_REPLACE: a filter under our handle can only be one we made.
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .handle = a.tc_handle_, .priority = kTcPriority);
    if ((err = bpf_tc_attach(&one, &opts)))
      return errno_error(ingress ? "tc attach ingress" : "tc attach egress", -err);
    a.tc_prog_ids_[ingress ? 0 : 1] = opts.prog_id;
  }
  return a;
}

NetdevAttachment::NetdevAttachment(NetdevAttachment&& o) noexcept
    : flavour_(o.flavour_),
      ifindex_(o.ifindex_),
      tcx_links_(std::move(o.tcx_links_)),
      tc_handle_(o.tc_handle_),
      tc_prog_ids_{o.tc_prog_ids_[0], o.tc_prog_ids_[1]},
      tc_attached_(std::exchange(o.tc_attached_, false)),
      tc_may_remove_qdisc_(o.tc_may_remove_qdisc_),
      stale_removed_(o.stale_removed_),
      gone_(o.gone_) {}

NetdevAttachment& NetdevAttachment::operator=(NetdevAttachment&& o) noexcept {
  if (this != &o) {
    detach();
    flavour_ = o.flavour_;
    ifindex_ = o.ifindex_;
    tcx_links_ = std::move(o.tcx_links_);
    tc_handle_ = o.tc_handle_;
    tc_prog_ids_[0] = o.tc_prog_ids_[0];
    tc_prog_ids_[1] = o.tc_prog_ids_[1];
    tc_attached_ = std::exchange(o.tc_attached_, false);
    tc_may_remove_qdisc_ = o.tc_may_remove_qdisc_;
    stale_removed_ = o.stale_removed_;
    gone_ = o.gone_;
  }
  return *this;
}

Status NetdevAttachment::verify() const {
  for (const Fd& link : tcx_links_) {
    // A tcx link whose device is gone stays open but is defunct: its ifindex reads 0.
    struct {
      bpf_link_info info;
      uint8_t room[64];  // newer kernels' link info is longer than Debian 12's headers know
    } buf{};
    __u32 len = sizeof buf;
    if (bpf_obj_get_info_by_fd(link.get(), &buf.info, &len) != 0) return errno_error("tcx link info");
    if (buf.info.type != kLinkTypeTcx) continue;
    uint32_t ifindex = 0;  // the first field of the union's tcx member
    std::memcpy(&ifindex, reinterpret_cast<const uint8_t*>(&buf.info) + offsetof(bpf_link_info, raw_tracepoint),
                sizeof ifindex);
    if (ifindex == 0) return Error{ENODEV, "the interface of ifindex " + std::to_string(ifindex_) + " went away"};
  }
  if (!tc_attached_) return {};
  for (bool ingress : {true, false}) {
    const uint32_t want = tc_prog_ids_[ingress ? 0 : 1];
    if (want == 0) continue;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = hook_of(ingress));
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = tc_handle_, .priority = kTcPriority);
    const int err = bpf_tc_query(&hook, &opts);
    const char* where = ingress ? "ingress" : "egress";
    if (err == -ENOENT || err == -EINVAL)
      return Error{ENOENT, std::string("bpfex's tc filter on ifindex ") + std::to_string(ifindex_) + " " + where +
                               " was removed by someone else"};
    if (err) return errno_error("query the tc filter", -err);
    if (opts.prog_id != want)
      return Error{EEXIST, std::string("bpfex's tc filter on ifindex ") + std::to_string(ifindex_) + " " + where +
                               " was replaced by someone else's program (id " + std::to_string(opts.prog_id) + ")"};
  }
  return {};
}

void NetdevAttachment::detach() {
  tcx_links_.clear();  // closing a tcx link detaches it (a gone device's links are already defunct)
  if (!tc_attached_) return;
  tc_attached_ = false;
  if (gone_) return;
  for (bool ingress : {true, false}) {
    // Only a filter that still runs our program: one someone replaced is theirs now.
    const uint32_t ours = tc_prog_ids_[ingress ? 0 : 1];
    if (ours == 0) continue;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = hook_of(ingress));
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = tc_handle_, .priority = kTcPriority);
    if (bpf_tc_query(&hook, &opts) == 0 && opts.prog_id == ours) detach_filter(ifindex_, ingress, tc_handle_);
  }
  if (!tc_may_remove_qdisc_) return;
  // The qdisc goes only when nothing is left on it: other tools' and other instances' filters stay.
  for (bool ingress : {true, false}) {
    auto left = list_tc_filters(ifindex_, ingress);
    if (!left || !left->empty()) return;
  }
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  bpf_tc_hook_destroy(&hook);
}

}  // namespace bpfex
