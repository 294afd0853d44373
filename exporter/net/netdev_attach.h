// BPF programs attached to one network interface, ingress and egress, with tcx links (Linux 6.6+)
// or tc clsact filters (loader/flavour.h); detached when the attachment is destroyed.
//
// tcx links belong to the process that made them and compose with other programs by design. A tc
// clsact qdisc is shared with every other tool and every other bpfex on the host, so on tc bpfex
// keeps to rules of its own:
//   - its filters sit at priority kTcPriority, each instance under a handle of its own (TcOwner),
//     never replacing a filter it did not make;
//   - an instance is alive while it holds an abstract unix socket named after its handle in the
//     network namespace; filters of bpfex's programs whose owner is gone (a SIGKILLed bpfex) are
//     removed when an instance attaches to the interface;
//   - it removes only its own filters, and the clsact qdisc only when nothing is left on it and the
//     qdisc is bpfex's: it created it, or found only bpfex filters on it (live or dead instances');
//   - verify() tells when someone else removed or replaced its filter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "loader/flavour.h"

namespace bpfex {

// bpfex's tc filter priority: a band of its own on a qdisc other tools share.
inline constexpr uint16_t kTcPriority = 0xbfe;
// Programs whose tc filter names (libbpf: "<program name>:[<id>]") start with this are bpfex's.
inline constexpr const char* kTcProgramPrefix = "network_";

// One bpfex instance's identity on tc: its filter handle, and the abstract unix socket that says it
// is alive. Made once per network module, in the network namespace it watches.
class TcOwner {
 public:
  static Result<TcOwner> claim();
  uint32_t handle() const { return handle_; }
  // Whether the instance with this handle still runs (in the calling thread's network namespace).
  static bool alive(uint32_t handle);

 private:
  TcOwner(uint32_t handle, Fd socket) : handle_(handle), socket_(std::move(socket)) {}
  uint32_t handle_;
  Fd socket_;
};

class NetdevAttachment {
 public:
  // Program fds per direction; -1 leaves that direction alone.
  struct Programs {
    int ingress = -1;
    int egress = -1;
  };

  // Attaches the programs to ifindex. On failure nothing stays attached. tc needs owner.
  static Result<NetdevAttachment> attach(NetdevFlavour flavour, int ifindex, Programs programs,
                                         const TcOwner* owner = nullptr);

  NetdevAttachment(NetdevAttachment&& o) noexcept;
  NetdevAttachment& operator=(NetdevAttachment&& o) noexcept;
  NetdevAttachment(const NetdevAttachment&) = delete;
  NetdevAttachment& operator=(const NetdevAttachment&) = delete;
  ~NetdevAttachment() { detach(); }

  // The interface is gone (deleted or moved to another namespace): its tcx links and tc filters
  // went with it, and its ifindex may already name another interface, which must not be touched.
  void abandon() { gone_ = true; }

  // Whether the programs still run on the interface: a tcx link whose device went away (a deletion
  // the link watcher missed) or a tc filter someone else removed or replaced is an error saying so.
  Status verify() const;

  // Filters of dead bpfex instances removed when this one attached (tc only).
  int stale_filters_removed() const { return stale_removed_; }

 private:
  NetdevAttachment(NetdevFlavour flavour, int ifindex) : flavour_(flavour), ifindex_(ifindex) {}
  void detach();

  NetdevFlavour flavour_;
  int ifindex_ = 0;
  std::vector<Fd> tcx_links_;
  // tc: our filters, per hook (ingress, egress): the program ID each must run, 0 where none.
  uint32_t tc_handle_ = 0;
  uint32_t tc_prog_ids_[2] = {0, 0};
  bool tc_attached_ = false;          // filters (and perhaps the qdisc) to remove
  bool tc_may_remove_qdisc_ = false;  // the qdisc is bpfex's (see above)
  int stale_removed_ = 0;
  bool gone_ = false;
};

}  // namespace bpfex
