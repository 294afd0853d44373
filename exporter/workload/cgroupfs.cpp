// Finding the cgroup2 mount, and walking it with openat/fdopendir so that a directory removed
// mid-walk costs one skipped entry, never the walk.
#include "workload/cgroupfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <unordered_set>
#include <vector>

namespace bpfex::workload {
namespace {

// Deeper than any real hierarchy (systemd's and the kubelet's stay below 10): bounds a walk.
constexpr int kMaxDepth = 32;
// Unknown IDs remembered at most: a host creating and removing cgroups faster than we look
// cannot grow this without bound.
constexpr size_t kMaxUnknown = 4096;

}  // namespace

std::string cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "36 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw": fstype after " - ".
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream post(line.substr(dash + 3));
    std::string fstype;
    post >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream pre(line.substr(0, dash));
    std::string field, mount_point;
    for (int i = 0; i < 5 && pre >> field; ++i) mount_point = field;
    return mount_point;
  }
  return "";
}

bool is_cgroup2(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

CgroupPaths::CgroupPaths(std::string mount, std::chrono::milliseconds min_walk_interval)
    : mount_(std::move(mount)), min_walk_interval_(min_walk_interval) {}

CgroupPaths::Lookup CgroupPaths::path_of(uint64_t id, Clock::time_point now) {
  if (auto it = paths_.find(id); it != paths_.end()) return {Lookup::State::found, it->second};
  if (!unknown_.count(id) && unknown_.size() >= kMaxUnknown) unknown_.clear();  // each gets one more walk
  const Clock::time_point first = unknown_.try_emplace(id, now).first->second;
  if (last_walk_ && *last_walk_ >= first) return {Lookup::State::gone, ""};
  if (last_walk_ && now - *last_walk_ < min_walk_interval_) return {Lookup::State::pending, ""};
  last_walk_ = now;
  walk();
  if (auto it = paths_.find(id); it != paths_.end()) {
    unknown_.erase(id);
    return {Lookup::State::found, it->second};
  }
  return {Lookup::State::gone, ""};
}

std::vector<uint64_t> CgroupPaths::known_ids() const {
  std::vector<uint64_t> ids;
  ids.reserve(paths_.size());
  for (const auto& [id, path] : paths_) ids.push_back(id);
  return ids;
}

bool CgroupPaths::alive(uint64_t id) const {
  auto it = paths_.find(id);
  if (it == paths_.end()) return false;
  struct stat st {};
  return stat((mount_ + it->second).c_str(), &st) == 0 && static_cast<uint64_t>(st.st_ino) == id;
}

void CgroupPaths::walk() {
  ++walks_;
  struct Dir {
    int fd;
    std::string path;  // below the mount, "" for the root
    int depth;
  };
  int root = open(mount_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return;
  std::unordered_set<uint64_t> found;
  auto record = [&](uint64_t id, const std::string& path) {
    paths_[id] = path;
    found.insert(id);
  };
  struct stat st {};
  if (fstat(root, &st) == 0) record(static_cast<uint64_t>(st.st_ino), "/");
  std::vector<Dir> pending = {{root, "", 0}};
  while (!pending.empty()) {
    Dir d = pending.back();
    pending.pop_back();
    DIR* dir = fdopendir(d.fd);  // owns d.fd from here on
    if (!dir) {
      close(d.fd);
      continue;
    }
    while (dirent* e = readdir(dir)) {
      if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;  // cgroups are the directories
      const int child = openat(dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (child < 0) continue;  // removed since readdir saw it
      std::string path = d.path + "/" + e->d_name;
      if (fstat(child, &st) == 0) record(static_cast<uint64_t>(st.st_ino), path);
      if (d.depth + 1 < kMaxDepth) {
        pending.push_back({child, std::move(path), d.depth + 1});
      } else {
        close(child);
      }
    }
    closedir(dir);
  }
  // What this walk did not find died since an earlier one. Most are forgotten once a module's
  // reading folded them, but a cgroup no event ever named (a pod's own slice, a runtime's monitor
  // scope) would stay forever on a host that churns pods. alive() checks again, in case the walk
  // skipped a directory it could not open.
  std::erase_if(paths_, [&](const auto& entry) { return !found.count(entry.first) && !alive(entry.first); });
}

}  // namespace bpfex::workload
