// The workload table (cgroups -> workloads, ages, slots, retirement) and the per-family fold of dead
// and relabelled cgroups that keeps every series monotonic.
#include "workload/workloads.h"

#include <algorithm>
#include <set>

#include "workload/cgroup_path.h"

namespace bpfex::workload {
namespace {

const WorkloadKey kOther = {"", "", "", "other"};

void add(std::vector<double>& into, const std::vector<double>& v) {
  if (into.size() < v.size()) into.resize(v.size(), 0);
  for (size_t i = 0; i < v.size(); ++i) into[i] += v[i];
}

LabelValues with_workload(const LabelValues& labels, const WorkloadKey& key) {
  LabelValues out = labels;
  out.insert(out.end(), key.begin(), key.end());
  return out;
}

}  // namespace

Workloads::Workloads(AttributionOptions options, std::string cgroup2_mount, PodDirectory pods,
                     std::chrono::milliseconds min_walk_interval)
    : options_(std::move(options)), pods_(std::move(pods)), paths_(std::move(cgroup2_mount), min_walk_interval) {}

WorkloadKey Workloads::key_of(const std::string& path) const {
  const CgroupWorkload w = parse_cgroup_path(path, options_.cgroup_depth);
  if (!w.kubernetes()) return {"", "", "", w.cgroup};
  const PodAnswer answer = pods_ ? pods_(w.pod_uid, w.container_id) : PodAnswer{};
  switch (answer.kind) {
    case PodAnswer::Kind::named: return {answer.names.ns, answer.names.pod, answer.names.container, ""};
    // A pod the kubelet does not know (yet): no names, and never its UID.
    case PodAnswer::Kind::unknown_pod: return {"", "", "", ""};
    // Without the kubelet's names a pod is labelled like any other cgroup.
    case PodAnswer::Kind::not_asked: break;
  }
  return {"", "", "", cut_cgroup_path(path, options_.cgroup_depth)};
}

void Workloads::count_live(const WorkloadKey& key, int delta, Clock::time_point seen) {
  auto [it, inserted] = workloads_.try_emplace(key);
  Workload& w = it->second;
  // A workload is as old as its oldest cgroup (a relabelled cgroup brings its age along).
  if (inserted || seen < w.first_seen) w.first_seen = seen;
  w.live += delta;
  if (w.live > 0) {
    w.went.reset();
  } else if (!w.went) {
    w.went = now_;
  }
}

Workloads::Cgroup* Workloads::cgroup(uint64_t id) {
  if (auto it = cgroups_.find(id); it != cgroups_.end()) return &it->second;
  const CgroupPaths::Lookup found = paths_.path_of(id, now_);
  if (found.state == CgroupPaths::Lookup::State::pending) return nullptr;
  Cgroup c;
  if (found.state == CgroupPaths::Lookup::State::gone) {
    c.dead = true;
    c.died = now_;
    ++unresolved_;
  } else {
    c.seen = preexisting_.erase(id) ? Clock::time_point::min() : now_;
    c.path = found.path;
    c.workload = key_of(found.path);
    count_live(*c.workload, +1, c.seen);
  }
  return &cgroups_.emplace(id, std::move(c)).first->second;
}

void Workloads::begin_poll(Clock::time_point now, bool names_changed) {
  now_ = now;
  if (!started_) {
    started_ = true;
    paths_.walk_now(now);
    for (uint64_t id : paths_.known_ids()) preexisting_.insert(id);
  }
  for (auto it = cgroups_.begin(); it != cgroups_.end();) {
    Cgroup& c = it->second;
    if (c.dead) {
      // Kept as long as its workload may still be exported, so that a late reading folds right.
      if (now - c.died > options_.retire_after) {
        paths_.forget(it->first);
        for (auto& [name, f] : families_) f.folded.erase(it->first);
        it = cgroups_.erase(it);
        continue;
      }
    } else if (!paths_.alive(it->first)) {
      c.dead = true;
      c.died = now;
      if (c.workload) count_live(*c.workload, -1, c.seen);
    } else if (names_changed && c.workload) {
      WorkloadKey key = key_of(c.path);
      if (key != *c.workload) {
        count_live(*c.workload, -1, c.seen);
        count_live(key, +1, c.seen);
        c.workload = std::move(key);
      }
    }
    ++it;
  }
  for (auto it = workloads_.begin(); it != workloads_.end();) {
    Workload& w = it->second;
    if (w.live == 0 && w.went) {
      if (w.slot == Slot::held) w.slot = Slot::other;  // died younger than min_age
      if (now - *w.went >= options_.retire_after) {
        retire(it->first, w);
        it = workloads_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

Workloads::Slot Workloads::slot_of(const WorkloadKey& key) {
  auto it = workloads_.find(key);
  if (it == workloads_.end()) return Slot::other;
  Workload& w = it->second;
  if (w.slot == Slot::held && w.live > 0 &&
      (w.first_seen == Clock::time_point::min() || now_ - w.first_seen >= options_.min_age)) {
    if (own_ < options_.max_workloads) {
      w.slot = Slot::own;
      ++own_;
    } else {
      w.slot = Slot::other;
      w.capped = true;
    }
  }
  return w.slot;
}

void Workloads::retire(const WorkloadKey& key, const Workload& w) {
  if (w.slot == Slot::own) --own_;
  for (auto& [name, f] : families_) {
    for (auto it = f.retired.lower_bound({key, {}}); it != f.retired.end() && it->first.first == key;) {
      if (w.slot == Slot::other) {  // "other" keeps it, and what it owes to the cap stays overflow
        add(f.other[it->first.second], it->second);
        if (w.capped) add(f.other_capped[it->first.second], it->second);
      }
      it = f.retired.erase(it);
    }
  }
}

void Workloads::restart_families(const std::string& prefix) {
  for (auto it = families_.lower_bound(prefix); it != families_.end() && it->first.starts_with(prefix); ++it) {
    Family& f = it->second;
    for (const auto& [key, values] : f.last_live) add(f.retired[key], values);
    f.last_live.clear();
    f.baseline.clear();  // the old instance's raw values
    f.rebase_next = true;
  }
}

Workloads::Rollup Workloads::rollup(const std::string& family, const std::vector<Sample>& samples) {
  Family& f = families_[family];
  std::map<std::pair<WorkloadKey, LabelValues>, std::vector<double>> live;
  std::unordered_map<uint64_t, WorkloadKey> relabelled;  // this poll: cgroup -> workload it leaves
  std::set<uint64_t> dead;
  for (const Sample& s : samples) {
    Cgroup* c = cgroup(s.cgroup_id);
    if (!c) continue;  // not resolved yet: its entries stay in the kernel and count later
    if (f.rebase_next) f.baseline[{s.cgroup_id, s.labels}] = s.values;
    if (c->dead && f.folded.count(s.cgroup_id)) {
      dead.insert(s.cgroup_id);  // folded before; its entries are still to be freed
      continue;
    }
    std::vector<double> v = s.values;
    if (auto base = f.baseline.find({s.cgroup_id, s.labels}); base != f.baseline.end())
      for (size_t i = 0; i < v.size() && i < base->second.size(); ++i) v[i] -= base->second[i];
    if (!c->workload) {
      add(f.other[s.labels], v);
      dead.insert(s.cgroup_id);
      continue;
    }
    const WorkloadKey& key = *c->workload;
    auto [assigned, first] = f.assigned.try_emplace(s.cgroup_id, key);
    if (!first && assigned->second != key) {
      relabelled.emplace(s.cgroup_id, assigned->second);
      assigned->second = key;
    }
    if (auto r = relabelled.find(s.cgroup_id); r != relabelled.end()) {
      // What it counted so far stays with the workload it leaves; from here on it counts anew.
      add(f.retired[{r->second, s.labels}], v);
      f.baseline[{s.cgroup_id, s.labels}] = s.values;
      v.assign(v.size(), 0);
    }
    if (c->dead) {
      add(f.retired[{key, s.labels}], v);
      dead.insert(s.cgroup_id);
    } else {
      add(live[{key, s.labels}], v);
    }
  }
  for (uint64_t id : dead) {
    f.folded.insert(id);
    f.assigned.erase(id);
    for (auto it = f.baseline.lower_bound({id, {}}); it != f.baseline.end() && it->first.first == id;)
      it = f.baseline.erase(it);
  }

  f.rebase_next = false;
  f.last_live = live;

  Rollup out;
  out.dead_cgroups.assign(dead.begin(), dead.end());
  std::map<LabelValues, std::pair<std::vector<double>, std::vector<double>>> other;  // total, capped part
  for (const auto& [labels, v] : f.other) add(other[labels].first, v);
  for (const auto& [labels, v] : f.other_capped) add(other[labels].second, v);
  auto emit = [&](const WorkloadKey& key, const LabelValues& labels, const std::vector<double>& total) {
    switch (slot_of(key)) {
      case Slot::held: return;
      case Slot::own: out.series.push_back({with_workload(labels, key), total, {}}); return;
      case Slot::other: {
        auto& o = other[labels];
        add(o.first, total);
        if (workloads_.count(key) && workloads_.at(key).capped) add(o.second, total);
        return;
      }
    }
  };
  // Every (workload, labels) with a live or a retired part.
  auto lv = live.begin();
  auto rt = f.retired.begin();
  while (lv != live.end() || rt != f.retired.end()) {
    if (rt == f.retired.end() || (lv != live.end() && lv->first < rt->first)) {
      emit(lv->first.first, lv->first.second, lv->second);
      ++lv;
    } else if (lv == live.end() || rt->first < lv->first) {
      emit(rt->first.first, rt->first.second, rt->second);
      ++rt;
    } else {
      std::vector<double> total = lv->second;
      add(total, rt->second);
      emit(lv->first.first, lv->first.second, total);
      ++lv;
      ++rt;
    }
  }
  for (auto& [labels, o] : other) out.series.push_back({with_workload(labels, kOther), o.first, o.second});
  return out;
}

}  // namespace bpfex::workload
