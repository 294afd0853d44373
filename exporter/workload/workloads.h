// Workload attribution, one service shared by every module that labels its series by workload.
//
// The kernel side counts per cgroup ID; this turns a module's per-cgroup readings into per-workload
// series: a Kubernetes container (namespace, pod, container) or, for any other process, its cgroup
// cut to attribution.cgroup_depth components (cgroup). The rules, the same for every module:
//   - A cgroup's values count for its workload; a workload sums its cgroups (a container restarted
//     in its pod, the units below a cut), so its counters continue across cgroups.
//   - Counters never go down: a cgroup that dies is folded into its workload's totals (the module
//     then frees its kernel entries); a cgroup whose labels change (the kubelet learned its pod)
//     leaves what it counted so far with its old workload and counts on under the new one.
//   - A workload younger than min_age is held back (not exported); if it dies younger, its counts
//     go to "other". Its age counts from when bpfex first saw one of its cgroups; cgroups that
//     existed when bpfex started are old (a restart of bpfex holds nothing back). Past max_workloads, workloads are
//     summed as cgroup="other" (and count as label overflow). A workload stays where it was put (its own series or
//     "other") until it retires: retire_after after its last cgroup went, its series stop (what "other" held stays
//     there).
//   - A cgroup that died before it could be resolved counts as "other".
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "metrics/families.h"
#include "workload/attribution_options.h"
#include "workload/cgroupfs.h"

namespace bpfex::workload {

// The labels every attributed series carries, after the module's own, in this order.
inline const std::vector<std::string> kWorkloadLabelNames = {"namespace", "pod", "container", "cgroup"};
using WorkloadKey = std::array<std::string, 4>;  // values of kWorkloadLabelNames

// Kubernetes names of a container, as the kubelet has them.
struct ContainerNames {
  std::string ns, pod, container;
};
// What the names source says about a pod's container: its names; that the pod is not known (yet: it
// is labelled with empty names, never its UID); or nothing, because the kubelet could not be asked
// (it is labelled by its cgroup path, as without Kubernetes names).
struct PodAnswer {
  enum class Kind { named, unknown_pod, not_asked } kind = Kind::not_asked;
  ContainerNames names;  // when named
};
using PodDirectory = std::function<PodAnswer(const std::string& pod_uid, const std::string& container_id)>;

class Workloads {
 public:
  using Clock = std::chrono::steady_clock;

  // pods: Kubernetes names (null: pods are labelled like any other cgroup). min_walk_interval: how
  // often the hierarchy may be walked for new cgroup IDs at most (a container host creates them all
  // the time; tests want them at once).
  Workloads(AttributionOptions options, std::string cgroup2_mount, PodDirectory pods = {},
            std::chrono::milliseconds min_walk_interval = std::chrono::seconds(1));

  // Before the modules read, once per poll: finds the cgroups that died, ages and retires workloads.
  // names_changed: the kubelet's names changed since the last poll (cgroups are labelled again).
  void begin_poll(Clock::time_point now, bool names_changed = false);

  // One module family's reading: per cgroup, the module's own label values and absolute values (a
  // counter: one; a histogram: its buckets and sum), summed in the kernel since the cgroup's entries
  // were created.
  struct Sample {
    uint64_t cgroup_id;
    LabelValues labels;
    std::vector<double> values;
  };
  struct Series {
    LabelValues labels;  // the module's, then kWorkloadLabelNames'
    std::vector<double> values;
    std::vector<double> capped;  // of values, what is in cgroup="other" because max_workloads was reached
  };
  struct Rollup {
    std::vector<Series> series;
    std::vector<uint64_t> dead_cgroups;  // folded: the module deletes their kernel entries
  };
  // family: the module's name, "_", its name for the series set ("exec_total"), so that families are
  // kept apart (and restart_families finds a module's).
  Rollup rollup(const std::string& family, const std::vector<Sample>& samples);
  // The module whose families start with prefix ("exec_") is replaced by a new instance (a reload),
  // whose kernel maps count from zero: what the old one counted (its last rollup) is kept as the
  // retired part of each series, and the new instance's first reading is its baseline (those
  // events are in the old counts), so series go on exactly.
  void restart_families(const std::string& prefix);

  // Self-metrics.
  size_t exported() const { return own_; }             // workloads with series of their own
  uint64_t unresolved() const { return unresolved_; }  // cgroups that died before they were resolved
  const CgroupPaths& paths() const { return paths_; }

 private:
  enum class Slot { held, own, other };
  struct Workload {
    Clock::time_point first_seen;
    int live = 0;                           // cgroups alive
    std::optional<Clock::time_point> went;  // when live dropped to 0
    Slot slot = Slot::held;
    bool capped = false;  // other because of max_workloads
  };
  struct Cgroup {
    Clock::time_point seen;               // first seen; time_point::min(): existed as bpfex started
    std::string path;                     // "" when unresolved
    std::optional<WorkloadKey> workload;  // nullopt: unresolved, counts as other
    bool dead = false;
    Clock::time_point died;
  };
  // Per family: what dead (or relabelled) cgroups counted, by workload and module labels.
  struct Family {
    std::map<std::pair<WorkloadKey, LabelValues>, std::vector<double>> retired;
    std::map<LabelValues, std::vector<double>> other;                          // retired into "other" for good
    std::map<LabelValues, std::vector<double>> other_capped;                   // of other, what came from max_workloads
    std::unordered_map<uint64_t, WorkloadKey> assigned;                        // cgroup -> workload it last counted for
    std::map<std::pair<uint64_t, LabelValues>, std::vector<double>> baseline;  // counted before a relabel
    std::unordered_set<uint64_t> folded;                                       // dead cgroups already folded
    std::map<std::pair<WorkloadKey, LabelValues>, std::vector<double>> last_live;  // the last rollup's live part
    bool rebase_next = false;  // restart_families: the next reading is a new instance's baseline
  };

  WorkloadKey key_of(const std::string& path) const;
  // The cgroup record, resolving a new ID; nullptr while a walk is pending.
  Cgroup* cgroup(uint64_t id);
  // seen: when the cgroup counted in or out was first seen; a new workload is as old as that.
  void count_live(const WorkloadKey& key, int delta, Clock::time_point seen);
  Slot slot_of(const WorkloadKey& key);
  void retire(const WorkloadKey& key, const Workload& w);

  AttributionOptions options_;
  PodDirectory pods_;
  CgroupPaths paths_;
  Clock::time_point now_{};
  std::unordered_map<uint64_t, Cgroup> cgroups_;
  bool started_ = false;
  std::unordered_set<uint64_t> preexisting_;  // found by the first walk, not yet seen in a reading
  std::map<WorkloadKey, Workload> workloads_;
  std::map<std::string, Family> families_;
  size_t own_ = 0;
  uint64_t unresolved_ = 0;
};

}  // namespace bpfex::workload
