// Starting attribution: where the cgroup v2 hierarchy is, and the kubelet client when asked for.
#include "workload/attribution.h"

#include "base/log.h"
#include "workload/cgroupfs.h"

namespace bpfex::workload {

std::unique_ptr<Attribution> Attribution::start(const AttributionOptions& options) {
  // cgroup v2 only: on hybrid hosts its unified mount; in a container, the host's, mounted where
  // attribution.cgroup_mount says.
  std::string mount = options.cgroup_mount;
  if (mount.empty()) mount = cgroup2_mount();
  if (mount.empty()) {
    log_warn("no cgroup v2 hierarchy is mounted: modules count without workload labels");
    return nullptr;
  }
  if (!is_cgroup2(mount)) {
    log_error("attribution.cgroup_mount is not a cgroup v2 hierarchy: modules count without workload labels",
              {{"path", mount}});
    return nullptr;
  }
  auto a = std::unique_ptr<Attribution>(new Attribution());
  if (options.kubernetes.enabled) a->kubelet_ = std::make_unique<KubeletPods>(options.kubernetes);
  a->workloads_.emplace(options, std::move(mount), a->kubelet_ ? a->kubelet_->directory() : PodDirectory{});
  log_info("workload attribution",
           {{"cgroup2", a->workloads_->paths().mount()},
            {"kubernetes", options.kubernetes.enabled ? options.kubernetes.kubelet_url : "off"}});
  return a;
}

}  // namespace bpfex::workload
