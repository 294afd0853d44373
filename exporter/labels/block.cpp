// Block device names from sysfs, operation and status names.
#include "labels/block.h"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>

#include "kernel/block.h"
#include "labels/errno.h"

namespace bpfex::labels {

std::optional<std::string> block_device_name(uint32_t dev, const std::string& sysfs) {
  const std::string link = sysfs + "/dev/block/" + std::to_string(dev >> BLOCK_MINOR_BITS) + ":" +
                           std::to_string(dev & ((1u << BLOCK_MINOR_BITS) - 1));
  // /sys/dev/block/M:m -> ../../devices/.../block/<disk>[/<partition>]
  char target[4096];
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  if (n <= 0) return std::nullopt;
  std::string path(target, static_cast<size_t>(n));
  while (!path.empty() && path.back() == '/') path.pop_back();
  struct stat st {};
  if (stat((link + "/partition").c_str(), &st) == 0 && path.rfind('/') != std::string::npos)
    path.resize(path.rfind('/'));  // a partition: its disk is the directory above
  const size_t slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty()) return std::nullopt;
  return name;
}

std::string block_op_label(uint32_t op) {
#define BLOCK_OP_LABEL(name, label) label,
  static constexpr std::array<const char*, BLOCK_OP_COUNT> kLabels = {BLOCK_OPS(BLOCK_OP_LABEL)};
#undef BLOCK_OP_LABEL
  return op < kLabels.size() ? kLabels[op] : "other";
}

KernelRelease parse_kernel_release(const std::string& release) {
  KernelRelease r;
  if (std::sscanf(release.c_str(), "%d.%d", &r.major, &r.minor) != 2) return {};
  return r;
}

KernelRelease running_kernel_release() {
  struct utsname u {};
  if (uname(&u) != 0) return {};
  return parse_kernel_release(u.release);
}

namespace {

struct Status {
  const char* name;
  int err;  // what blk_status_to_errno() makes of it (block/blk-core.c blk_errors[])
};

// Numbers 0..13 have been the same since Linux 4.17 (6 was BLK_STS_NEXUS before 6.5: the same
// status, renamed).
constexpr std::array<Status, 14> kStable = {{
    {"BLK_STS_OK", 0},
    {"BLK_STS_NOTSUPP", EOPNOTSUPP},
    {"BLK_STS_TIMEOUT", ETIMEDOUT},
    {"BLK_STS_NOSPC", ENOSPC},
    {"BLK_STS_TRANSPORT", ENOLINK},
    {"BLK_STS_TARGET", EREMOTEIO},
    {"BLK_STS_RESV_CONFLICT", EBADE},
    {"BLK_STS_MEDIUM", ENODATA},
    {"BLK_STS_PROTECTION", EILSEQ},
    {"BLK_STS_RESOURCE", ENOMEM},
    {"BLK_STS_IOERR", EIO},
    {"BLK_STS_DM_REQUEUE", EREMCHG},
    {"BLK_STS_AGAIN", EAGAIN},
    {"BLK_STS_DEV_RESOURCE", EBUSY},
}};
// From 14 on: before Linux 6.10 BLK_STS_ZONE_RESOURCE was 14 and the rest one higher; 6.10 removed
// it; BLK_STS_INVAL came as 19 (6.11) and moved to 18 later (18 is unused in between).
constexpr std::array<Status, 5> kBefore610 = {{
    {"BLK_STS_ZONE_RESOURCE", EIO},
    {"BLK_STS_ZONE_OPEN_RESOURCE", ETOOMANYREFS},
    {"BLK_STS_ZONE_ACTIVE_RESOURCE", EOVERFLOW},
    {"BLK_STS_OFFLINE", ENODEV},
    {"BLK_STS_DURATION_LIMIT", ETIME},
}};
constexpr std::array<Status, 6> kSince610 = {{
    {"BLK_STS_ZONE_OPEN_RESOURCE", ETOOMANYREFS},
    {"BLK_STS_ZONE_ACTIVE_RESOURCE", EOVERFLOW},
    {"BLK_STS_OFFLINE", ENODEV},
    {"BLK_STS_DURATION_LIMIT", ETIME},
    {"BLK_STS_INVAL", EINVAL},
    {"BLK_STS_INVAL", EINVAL},
}};

}  // namespace

std::string block_status_label(uint32_t error, KernelRelease release) {
  if (error >= BLOCK_ERROR_ERRNO) {
    const int err = static_cast<int>(error - BLOCK_ERROR_ERRNO);
    // EIO stands for BLK_STS_IOERR and every status without an errno of its own.
    if (err == EIO) return "BLK_STS_IOERR";
    for (const auto& s : kStable)
      if (s.err == err && err != 0) return s.name;
    for (const auto& s : kSince610)
      if (s.err == err) return s.name;
    return errno_label(static_cast<uint64_t>(err));
  }
  if (error < kStable.size()) return kStable[error].name;
  const bool since610 = release.major > 6 || (release.major == 6 && release.minor >= 10);
  const uint32_t i = error - static_cast<uint32_t>(kStable.size());
  if (since610 && i < kSince610.size()) return kSince610[i].name;
  if (!since610 && i < kBefore610.size()) return kBefore610[i].name;
  return "BLK_STS_" + std::to_string(error);
}

}  // namespace bpfex::labels
