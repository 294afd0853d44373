// comms and cgroup filters: checks, resolving the cgroup, filling the kernel's comm map.
#include "modules/task_filters.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cstring>

#include "base/quote.h"
#include "workload/cgroupfs.h"

namespace bpfex::task_filters {

std::optional<std::string> check_comm(const std::string& comm) {
  if (comm.empty()) return "empty task name";
  if (comm.size() >= kCommLen)
    return "task name " + quote_value(comm) + " is longer than 15 bytes (the kernel truncates task names there)";
  return std::nullopt;
}

Result<CgroupFilter> open_cgroup(const std::string& option) {
  std::string path = option;
  const std::string mount = workload::cgroup2_mount();
  if (mount.empty()) return Error{ENOENT, "cgroup: no cgroup v2 hierarchy is mounted"};
  if (path.rfind(mount + "/", 0) != 0 && path != mount) path = mount + (path.starts_with("/") ? "" : "/") + path;
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errno_error("cgroup: open " + path);
  struct statfs fs {};
  if (fstatfs(fd.get(), &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
    return Error{EINVAL, "cgroup: " + path + " is not in a cgroup v2 hierarchy"};
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errno_error("cgroup: stat " + path);
  // The level is the number of components below the mount ("/a/b" is level 2). Symlinks and ".."
  // are not followed here: open() resolved them, the kernel's own view is the inode.
  uint32_t level = 0;
  const std::string below = path.substr(mount.size());
  size_t i = 0;
  while (i < below.size()) {
    while (i < below.size() && below[i] == '/') ++i;
    if (i == below.size()) break;
    const size_t end = below.find('/', i);
    const std::string part = below.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (part == "..") return Error{EINVAL, "cgroup: " + path + ": \"..\" is not allowed"};
    if (part != ".") ++level;
    i = end == std::string::npos ? below.size() : end;
  }
  return CgroupFilter{std::move(fd), static_cast<uint64_t>(st.st_ino), level, path};
}

Status fill_comm_map(int map_fd, const std::vector<std::string>& comms) {
  const uint8_t yes = 1;
  for (const auto& comm : comms) {
    char key[kCommLen] = {};
    std::memcpy(key, comm.data(), std::min(comm.size(), sizeof key - 1));
    if (bpf_map_update_elem(map_fd, key, &yes, BPF_ANY) != 0) return errno_error("comms: add \"" + comm + "\"");
  }
  return {};
}

}  // namespace bpfex::task_filters
