// The task filters that modules observing tasks share (syscall, runqueue): `comms` (task names,
// checked in the kernel against a hash map) and `cgroup` (a cgroup v2 directory, the tasks in it or
// below it). Their option checks and what start() needs to hand them to the BPF side.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"

namespace bpfex::task_filters {

// The kernel keeps 15 bytes of a task name and a NUL (TASK_COMM_LEN).
inline constexpr size_t kCommLen = 16;

// Option check of one `comms` entry.
std::optional<std::string> check_comm(const std::string& comm);

// The `cgroup` option resolved at start: the directory (for BPF_MAP_TYPE_CGROUP_ARRAY and
// bpf_current_task_under_cgroup), its cgroup ID (its inode: what the kernel's kernfs node ID is)
// and its level (0 for the root: the index of its ID among a descendant's ancestors).
struct CgroupFilter {
  Fd fd;
  uint64_t id = 0;
  uint32_t level = 0;
  std::string path;  // as opened
};
// path: absolute under the cgroup v2 mount ("/system.slice/nginx.service") or a full path below it.
// Fails (ENOENT, EINVAL) when there is no cgroup v2 hierarchy or the path is not a cgroup in it.
Result<CgroupFilter> open_cgroup(const std::string& path);

// Puts every comm into a hash map whose keys are char[kCommLen] and values one byte.
Status fill_comm_map(int map_fd, const std::vector<std::string>& comms);

}  // namespace bpfex::task_filters
