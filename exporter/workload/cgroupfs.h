// The cgroup v2 hierarchy as bpfex sees it: where it is mounted, and which directory a cgroup ID
// (what bpf_get_current_cgroup_id() returns in the kernel) names, found without privileges.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace bpfex::workload {

// Mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo ("/sys/fs/cgroup" on pure v2
// hosts, "/sys/fs/cgroup/unified" on hybrid ones); "" when there is none (a pure v1 host).
std::string cgroup2_mount();
// Whether path is (the root of a mount of) a cgroup v2 hierarchy.
bool is_cgroup2(const std::string& path);

// cgroup IDs to paths below the mount ("/system.slice/nginx.service"; "/" for the root).
//
// On cgroup2 a cgroup's ID is its directory's inode number, so walking the hierarchy and stat()ing
// each directory finds every live ID without CAP_SYS_ADMIN (open_by_handle_at) or
// CAP_DAC_READ_SEARCH: cgroup directories are world-readable. A walk happens only when an ID is
// not known, at most once per min_walk_interval (a container host creates cgroups all the time).
// IDs are never reused, and a cgroup exists before any event in it: an ID that a walk begun after
// it was first asked for did not find is gone for good (the cgroup died before we looked).
// Directories that vanish during a walk are skipped. Memory: the live cgroups (a walk drops what
// died) plus the IDs asked for and not found (bounded).
class CgroupPaths {
 public:
  using Clock = std::chrono::steady_clock;
  CgroupPaths(std::string mount, std::chrono::milliseconds min_walk_interval);

  struct Lookup {
    enum class State { found, pending, gone } state;
    std::string path;  // when found
  };
  // The path of a cgroup, walking the hierarchy if the ID is new and a walk is allowed now;
  // pending: no walk has run since the ID was first asked for (one will, within min_walk_interval).
  Lookup path_of(uint64_t id, Clock::time_point now);
  // Whether the cgroup of a known ID still exists: its directory is there with that inode.
  bool alive(uint64_t id) const;
  // Walks now, whatever the interval (at start: every cgroup that exists).
  void walk_now(Clock::time_point now) {
    last_walk_ = now;
    walk();
  }
  // IDs known (found by a walk).
  std::vector<uint64_t> known_ids() const;
  // Drops an ID (its cgroup is gone and nothing refers to it any more).
  void forget(uint64_t id) {
    paths_.erase(id);
    unknown_.erase(id);
  }

  const std::string& mount() const { return mount_; }
  size_t known() const { return paths_.size(); }
  uint64_t walks() const { return walks_; }

 private:
  void walk();

  std::string mount_;
  std::chrono::milliseconds min_walk_interval_;
  std::optional<Clock::time_point> last_walk_;
  std::unordered_map<uint64_t, std::string> paths_;
  std::unordered_map<uint64_t, Clock::time_point> unknown_;  // ID -> when it was first asked for
  uint64_t walks_ = 0;
};

}  // namespace bpfex::workload
