// What modules with by_workload share around Workloads::rollup(): label names and values, adding a
// rollup to a family, capping a label of their own, freeing the kernel entries of folded cgroups.
#pragma once

#include <bpf/bpf.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "metrics/families.h"
#include "workload/workloads.h"

namespace bpfex::workload {

// The module's label names, then the workload's.
std::vector<std::string> with_workload_labels(std::vector<std::string> names);
// The module's label values, then the "other" workload's (cgroup="other").
LabelValues with_other_workload(LabelValues values);

// Adds a rollup's series to a family; returns the observations in "other" because max_workloads was
// reached (label overflow). A histogram's values are its slot counts and then its sum.
double add_rollup(ScalarFamily& family, const Workloads::Rollup& rollup);
double add_rollup(HistogramFamily& family, const Workloads::Rollup& rollup, const native_buckets::Layout& layout);
// A histogram's values as a rollup sample: its slot counts, then the sum.
std::vector<double> histogram_values(const uint64_t* counts, size_t slots, double sum);

// One label of the module's own capped at `cap` distinct values, first come first served, the rest
// "other" (labels/overflow.h: real values are made distinct from it first). A value keeps its answer
// (a series cannot move to "other" and back).
class CappedLabels {
 public:
  explicit CappedLabels(size_t cap) : cap_(cap) {}
  std::string label(const std::string& value);

 private:
  size_t cap_;
  std::set<std::string, std::less<>> named_;
};

// Deletes the keys (structs with a cgroup_id) of a map whose cgroup was folded by any of the
// rollups: the kernel entries of cgroups that are gone.
template <class Key>
void delete_cgroup_keys(int map_fd, const std::vector<Key>& keys, const std::vector<uint64_t>& dead,
                        const std::vector<uint64_t>& more_dead = {}) {
  if (dead.empty() && more_dead.empty()) return;
  for (const Key& k : keys) {
    if (std::binary_search(dead.begin(), dead.end(), k.cgroup_id) ||
        std::binary_search(more_dead.begin(), more_dead.end(), k.cgroup_id))
      bpf_map_delete_elem(map_fd, &k);
  }
}

}  // namespace bpfex::workload
