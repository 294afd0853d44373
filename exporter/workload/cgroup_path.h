// What a cgroup v2 path says about the workload its processes belong to.
#pragma once

#include <string>
#include <string_view>

namespace bpfex::workload {

struct CgroupWorkload {
  std::string pod_uid;       // Kubernetes: the pod UID as the kubelet reports metadata.uid; "" when not a pod
  std::string container_id;  // the runtime's 64-hex container ID; "" for the pod's own cgroup
  std::string cgroup;        // not a pod: the path cut to its first `depth` components ("/" for the root)
  bool kubernetes() const { return !pod_uid.empty(); }
};

CgroupWorkload parse_cgroup_path(std::string_view path, unsigned depth);
// path cut to its first depth components ("/system.slice/nginx.service/x", 2 -> "/system.slice/nginx.service").
std::string cut_cgroup_path(std::string_view path, unsigned depth);

}  // namespace bpfex::workload
