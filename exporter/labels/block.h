// Label decoders of the block module: a disk's kernel name from its dev_t, a request's operation, a
// failed request's block status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace bpfex::labels {

// The kernel name of the block device numbered dev (MKDEV encoding: major << 20 | minor) as sysfs
// has it ("vda", "nvme0n1", "loop3"), the disk's name for a partition's number; nullopt when no such
// device exists (it was removed). sysfs: where sysfs is mounted (tests build a fake tree).
std::optional<std::string> block_device_name(uint32_t dev, const std::string& sysfs = "/sys");

// "read", "write", "flush", "discard", "other" for enum block_op (kernel/block.h); "other" beyond.
std::string block_op_label(uint32_t op);

// A kernel release as uname(2) reports it, the numbers that matter for naming block statuses.
struct KernelRelease {
  int major = 0, minor = 0;
};
// "6.12.107+deb12-amd64" -> {6, 12}; {0, 0} when it does not parse.
KernelRelease parse_kernel_release(const std::string& release);
// The running kernel's.
KernelRelease running_kernel_release();

// The block layer's name of a failed request's status, as kernel/block.h's block_error_key.error
// holds it: a blk_status_t ("BLK_STS_IOERR", "BLK_STS_TIMEOUT", ...; the numbers from 14 on moved in
// Linux 6.10 and again later, hence the release), or BLOCK_ERROR_ERRNO + an errno that
// blk_status_to_errno() made of one. A status this table does not know is "BLK_STS_<n>", an errno
// without a status "E<name>" via its errno name.
std::string block_status_label(uint32_t error, KernelRelease release);

}  // namespace bpfex::labels
