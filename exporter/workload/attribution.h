// Workload attribution as the app owns it: the workload table every module with by_workload shares
// and, with attribution.kubernetes.enabled, the kubelet's names for pods.
#pragma once

#include <memory>
#include <optional>

#include "workload/attribution_options.h"
#include "workload/kubelet.h"
#include "workload/workloads.h"

namespace bpfex::workload {

class Attribution {
 public:
  // Finds the cgroup v2 hierarchy (attribution.cgroup_mount, else /proc/self/mountinfo) and, when
  // asked, starts the kubelet client. nullptr, logged with the reason, when there is no cgroup v2
  // hierarchy: modules then count without workload labels.
  static std::unique_ptr<Attribution> start(const AttributionOptions& options);

  Workloads& workloads() { return *workloads_; }
  const Workloads& workloads() const { return *workloads_; }
  const KubeletPods* kubelet() const { return kubelet_.get(); }

  // Once per poll, before the modules read: passes on whether the kubelet's names changed.
  void begin_poll(Workloads::Clock::time_point now) {
    workloads_->begin_poll(now, kubelet_ && kubelet_->take_changed());
  }

 private:
  // Declared before workloads_, which holds its directory: destroyed after it.
  std::unique_ptr<KubeletPods> kubelet_;
  std::optional<Workloads> workloads_;
};

}  // namespace bpfex::workload
