// BPF programs attached to one network interface, ingress and egress, with tcx links (Linux 6.6+)
// or tc clsact filters (loader/flavour.h); detached when the attachment is destroyed.
#pragma once

#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "loader/flavour.h"

namespace bpfex {

class NetdevAttachment {
 public:
  // Program fds per direction; -1 leaves that direction alone.
  struct Programs {
    int ingress = -1;
    int egress = -1;
  };

  // Attaches the programs to ifindex. On failure nothing stays attached.
  static Result<NetdevAttachment> attach(NetdevFlavour flavour, int ifindex, Programs programs);

  NetdevAttachment(NetdevAttachment&& o) noexcept;
  NetdevAttachment& operator=(NetdevAttachment&& o) noexcept;
  NetdevAttachment(const NetdevAttachment&) = delete;
  NetdevAttachment& operator=(const NetdevAttachment&) = delete;
  ~NetdevAttachment() { detach(); }

  // The interface is gone (deleted or moved to another namespace): its tcx links and tc filters
  // went with it, and its ifindex may already name another interface, which must not be touched.
  void abandon() { gone_ = true; }

 private:
  NetdevAttachment(NetdevFlavour flavour, int ifindex) : flavour_(flavour), ifindex_(ifindex) {}
  void detach();

  NetdevFlavour flavour_;
  int ifindex_ = 0;
  std::vector<Fd> tcx_links_;
  bool tc_attached_ = false;       // filters (and perhaps the qdisc) to remove
  bool tc_created_qdisc_ = false;  // the clsact qdisc is ours: removing it removes our filters too
  bool gone_ = false;
};

}  // namespace bpfex
