// errno names: the C library's, and the kernel's internal codes it does not know.
#include "labels/errno.h"

#include <string.h>

#include <array>
#include <string_view>

namespace bpfex::labels {

std::string errno_label(uint64_t err) {
  if (err == 0 || err > kMaxErrno) return "other";
  // include/linux/errno.h: never returned to user space, but visible at the sys_exit tracepoint.
  static constexpr std::array<std::string_view, 19> kKernelInternal = {
      "ERESTARTSYS",  "ERESTARTNOINTR", "ERESTARTNOHAND", "ENOIOCTLCMD",    "ERESTART_RESTARTBLOCK",
      "EPROBE_DEFER", "EOPENSTALE",     "ENOPARAM",       "E520",           "EBADHANDLE",
      "ENOTSYNC",     "EBADCOOKIE",     "ENOTSUPP",       "ETOOSMALL",      "ESERVERFAULT",
      "EBADTYPE",     "EJUKEBOX",       "EIOCBQUEUED",    "ERECALLCONFLICT"};
  if (err >= 512 && err < 512 + kKernelInternal.size()) return std::string(kKernelInternal[err - 512]);
  if (std::string name = errno_name(err); !name.empty()) return name;
  return "E" + std::to_string(err);
}

std::string errno_name(uint64_t err) {
  if (err == 0 || err > kMaxErrno) return "";
  const char* name = strerrorname_np(static_cast<int>(err));
  return name ? name : "";
}

}  // namespace bpfex::labels
