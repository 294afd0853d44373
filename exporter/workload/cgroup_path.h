// What a cgroup v2 path says about the workload its processes belong to: a Kubernetes container
// (pod UID, container ID) or, for any other process, its cgroup cut to a depth — as a label value,
// so that no pod UID, container ID or cgroup ID ever becomes one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bpfex::workload {

struct CgroupWorkload {
  std::string pod_uid;       // Kubernetes: the pod UID as the kubelet reports metadata.uid; "" when not a pod
  std::string container_id;  // the runtime's 64-hex container ID; "" for the pod's own cgroup (sandbox, conmon)
  std::string cgroup;        // not a pod: cut_cgroup_path(path, depth); "" for a pod
  bool kubernetes() const { return !pod_uid.empty(); }
};

// Pod cgroups are found under both kubelet cgroup drivers (systemd kubepods-…-pod<uid>.slice, also in
// the colon form <pod slice>:cri-containerd:<id>; cgroupfs kubepods/[qos/]pod<uid>), wherever the
// kubepods level sits in the path (kind, a kubelet in a container); a cgroup below a container's
// (crun's container/, systemd in the container) is that container's.
CgroupWorkload parse_cgroup_path(std::string_view path, unsigned depth);

// A cgroup label is at most this long: a path can be 4 KiB, a label value is stored and sent per series.
inline constexpr size_t kMaxCgroupLabelBytes = 128;

// The label value of a path: its first depth non-empty components ("/system.slice/nginx.service/x",
// 2 -> "/system.slice/nginx.service"; "/" for the root), valid UTF-8, every word that carries an ID
// (a UUID, a run of 16 or more hex digits) replaced by "*" ("/system.slice/docker-*.scope"), cut at
// a character boundary to kMaxCgroupLabelBytes.
std::string cut_cgroup_path(std::string_view path, unsigned depth);

}  // namespace bpfex::workload
