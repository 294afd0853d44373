// workload/workloads: the rules of attribution (README "Workload attribution"), on a directory tree
// that stands in for the cgroup2 hierarchy: CgroupPaths only walks directories and compares inode
// numbers, so a temporary tree's directories are cgroups whose IDs are their inodes.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <random>

#include "workload/workloads.h"

using namespace bpfex;
using namespace bpfex::workload;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A cgroup tree in a temporary directory. A removed cgroup's directory moves out of the tree
// instead of being deleted: cgroup IDs are never reused, inode numbers of deleted files are.
class Tree {
 public:
  Tree()
      : dir_(fs::temp_directory_path() / ("bpfex-cgroups-" + std::to_string(::getpid()) + "-" + std::to_string(n_++))),
        root_(dir_ / "root"),
        graveyard_(dir_ / "removed") {
    fs::create_directories(root_);
    fs::create_directories(graveyard_);
  }
  ~Tree() { fs::remove_all(dir_); }
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  // Creates the cgroup (and its parents); returns its ID.
  uint64_t add(const std::string& path) {
    fs::create_directories(root_ / path.substr(1));
    return id(path);
  }
  uint64_t id(const std::string& path) const {
    struct stat st {};
    REQUIRE(stat((root_ / path.substr(1)).c_str(), &st) == 0);
    return st.st_ino;
  }
  void remove(const std::string& path) { fs::rename(root_ / path.substr(1), graveyard_ / std::to_string(removed_++)); }
  std::string mount() const { return root_.string(); }

 private:
  static inline int n_ = 0;
  fs::path dir_, root_, graveyard_;
  int removed_ = 0;
};

AttributionOptions options(std::chrono::seconds min_age = 0s, uint32_t max_workloads = 512,
                           std::chrono::seconds retire_after = 120s, uint32_t depth = 2) {
  AttributionOptions o;
  o.min_age = min_age;
  o.max_workloads = max_workloads;
  o.retire_after = retire_after;
  o.cgroup_depth = depth;
  return o;
}

// One poll: begin, then the family "calls" with samples {cgroup, comm} -> count. Returns
// {comm, namespace, pod, container, cgroup} -> value.
struct Poller {
  Workloads& w;
  Workloads::Clock::time_point now = Workloads::Clock::time_point{} + 1000s;
  std::vector<uint64_t> dead;
  double capped = 0;

  std::map<LabelValues, double> poll(const std::vector<std::tuple<uint64_t, std::string, double>>& samples,
                                     bool names_changed = false) {
    w.begin_poll(now, names_changed);
    std::vector<Workloads::Sample> in;
    in.reserve(samples.size());
    for (const auto& [cg, comm, v] : samples) in.push_back({cg, {comm}, {v}});
    auto r = w.rollup("calls", in);
    dead = r.dead_cgroups;
    capped = 0;
    std::map<LabelValues, double> out;
    for (const auto& s : r.series) {
      REQUIRE(out.count(s.labels) == 0);  // one series per label set
      out[s.labels] = s.values.at(0);
      if (!s.capped.empty()) capped += s.capped.at(0);
    }
    return out;
  }
  void advance(std::chrono::seconds d) { now += d; }
};

LabelValues series(const std::string& comm, const std::string& cgroup) { return {comm, "", "", "", cgroup}; }

}  // namespace

TEST_CASE("workloads: cgroups below one cut are one workload, summed") {
  Tree t;
  const uint64_t a = t.add("/system.slice/nginx.service"), b = t.add("/system.slice/nginx.service/worker");
  const uint64_t c = t.add("/user.slice/user-1000.slice/session-3.scope");
  Workloads w(options(), t.mount());
  Poller p{w};
  auto out = p.poll({{a, "nginx", 3}, {b, "nginx", 4}, {c, "bash", 5}});
  CHECK(out.at(series("nginx", "/system.slice/nginx.service")) == 7);
  CHECK(out.at(series("bash", "/user.slice/user-1000.slice")) == 5);
  CHECK(out.size() == 2);
  CHECK(w.exported() == 2);
}

TEST_CASE("workloads: the root cgroup is /, and depth cuts at each level") {
  Tree t;
  const uint64_t root = t.id("/"), deep = t.add("/a/b/c/d");
  for (uint32_t depth = 1; depth <= 5; ++depth) {
    Workloads w(options(0s, 512, 120s, depth), t.mount());
    Poller p{w};
    auto out = p.poll({{root, "init", 1}, {deep, "x", 1}});
    CHECK(out.count(series("init", "/")) == 1);
    const std::string cut = depth == 1 ? "/a" : depth == 2 ? "/a/b" : depth == 3 ? "/a/b/c" : "/a/b/c/d";
    CHECK(out.count(series("x", cut)) == 1);
  }
}

TEST_CASE("workloads: a young workload is held back, then exported with everything it counted") {
  Tree t;
  Workloads w(options(30s), t.mount());
  Poller p{w};
  p.poll({});  // bpfex has started: what comes now is young
  const uint64_t a = t.add("/system.slice/job.service");
  p.advance(1s);
  CHECK(p.poll({{a, "job", 5}}).empty());
  p.advance(20s);
  CHECK(p.poll({{a, "job", 8}}).empty());
  p.advance(10s);
  auto out = p.poll({{a, "job", 9}});
  CHECK(out.at(series("job", "/system.slice/job.service")) == 9);
}

TEST_CASE("workloads: cgroups that existed when bpfex started are not held back") {
  Tree t;
  const uint64_t a = t.add("/system.slice/db.service");
  Workloads w(options(30s), t.mount());
  Poller p{w};
  CHECK(p.poll({{a, "db", 5}}).at(series("db", "/system.slice/db.service")) == 5);
  // A second cgroup of the same workload created later: the workload is old already.
  const uint64_t b = t.add("/system.slice/db.service/worker");
  p.advance(1s);
  CHECK(p.poll({{a, "db", 5}, {b, "db", 2}}).at(series("db", "/system.slice/db.service")) == 7);
}

TEST_CASE("workloads: a workload that dies younger than min_age is counted in other") {
  Tree t;
  Workloads w(options(30s), t.mount());
  Poller p{w};
  p.poll({});
  const uint64_t a = t.add("/system.slice/short.service");
  p.advance(1s);
  CHECK(p.poll({{a, "short", 4}}).empty());
  t.remove("/system.slice/short.service");
  p.advance(5s);
  auto out = p.poll({{a, "short", 4}});
  CHECK(out.at(series("short", "other")) == 4);
  CHECK(p.dead == std::vector<uint64_t>{a});
  CHECK(p.capped == 0);  // not a cap: it died young
  // Its kernel entries are gone; other keeps the count, also after the workload retires.
  p.advance(200s);
  out = p.poll({});
  CHECK(out.at(series("short", "other")) == 4);
}

TEST_CASE("workloads: past max_workloads, workloads go to other and count as capped") {
  Tree t;
  const uint64_t a = t.add("/a.slice/x"), b = t.add("/b.slice/y"), c = t.add("/c.slice/z");
  Workloads w(options(0s, 1), t.mount());
  Poller p{w};
  auto out = p.poll({{a, "x", 1}, {b, "y", 2}, {c, "y", 3}});
  CHECK(out.at(series("x", "/a.slice/x")) == 1);
  CHECK(out.at(series("y", "other")) == 5);
  CHECK(p.capped == 5);
  CHECK(w.exported() == 1);
  // Sticky: when the first workload goes, the others stay in other (other never goes down).
  t.remove("/a.slice/x");
  p.advance(1s);
  p.poll({{a, "x", 1}, {b, "y", 2}, {c, "y", 3}});
  p.advance(200s);
  out = p.poll({{b, "y", 2}, {c, "y", 3}});
  CHECK(out.count(series("x", "/a.slice/x")) == 0);
  CHECK(out.at(series("y", "other")) == 5);
  // A workload first seen after the slot freed gets it.
  const uint64_t d = t.add("/d.slice/w");
  p.advance(1s);
  out = p.poll({{b, "y", 2}, {c, "y", 3}, {d, "w", 7}});
  CHECK(out.at(series("w", "/d.slice/w")) == 7);
  // A capped workload that dies and retires: its counts stay in other, and stay overflow.
  t.remove("/b.slice/y");
  p.advance(1s);
  p.poll({{b, "y", 2}, {c, "y", 3}, {d, "w", 7}});
  p.advance(200s);
  out = p.poll({{c, "y", 3}, {d, "w", 7}});
  CHECK(out.at(series("y", "other")) == 5);
  CHECK(p.capped == 5);
}

TEST_CASE("workloads: the walker forgets cgroups that died, whether an event named them or not") {
  Tree t;
  Workloads w(options(), t.mount(), {}, 0ms);
  Poller p{w};
  for (int i = 0; i < 10; ++i) t.add("/pod" + std::to_string(i) + ".slice");  // no event ever names these
  const uint64_t a = t.add("/a.slice/x");
  p.poll({{a, "x", 1}});
  const size_t before = w.paths().known();
  CHECK(before == 13);  // the root, a.slice, x and the ten
  for (int i = 0; i < 10; ++i) t.remove("/pod" + std::to_string(i) + ".slice");
  const uint64_t b = t.add("/b.slice/y");  // a new ID: the next rollup walks
  p.advance(1s);
  p.poll({{a, "x", 1}, {b, "y", 1}});
  CHECK(w.paths().known() == 5);
}

TEST_CASE("workloads: a dead cgroup is folded once; a restarted one continues its workload's series") {
  Tree t;
  const std::string path = "/system.slice/app.service";
  const uint64_t first = t.add(path + "/run1");
  Workloads w(options(0s, 512, 60s), t.mount());
  Poller p{w};
  CHECK(p.poll({{first, "app", 10}}).at(series("app", path)) == 10);
  t.remove(path + "/run1");
  p.advance(1s);
  CHECK(p.poll({{first, "app", 12}}).at(series("app", path)) == 12);
  CHECK(p.dead == std::vector<uint64_t>{first});
  p.advance(1s);  // the module deleted the entries: no sample any more, the series stays
  CHECK(p.poll({}).at(series("app", path)) == 12);
  p.advance(1s);  // a late reading of the dead cgroup is not folded twice
  CHECK(p.poll({{first, "app", 12}}).at(series("app", path)) == 12);
  const uint64_t second = t.add(path + "/run2");
  p.advance(10s);
  CHECK(p.poll({{second, "app", 3}}).at(series("app", path)) == 15);
}

TEST_CASE("workloads: a workload with no live cgroup retires retire_after after it went") {
  Tree t;
  const uint64_t a = t.add("/system.slice/gone.service");
  Workloads w(options(0s, 512, 60s), t.mount());
  Poller p{w};
  p.poll({{a, "g", 1}});
  t.remove("/system.slice/gone.service");
  p.advance(1s);
  p.poll({{a, "g", 1}});
  p.advance(58s);
  CHECK(p.poll({}).count(series("g", "/system.slice/gone.service")) == 1);
  p.advance(2s);
  CHECK(p.poll({}).empty());
  CHECK(w.exported() == 0);
}

TEST_CASE("workloads: a cgroup that died before it was resolved counts in other") {
  Tree t;
  const uint64_t gone = t.add("/system.slice/blip.service");
  t.remove("/system.slice/blip.service");
  Workloads w(options(), t.mount());
  Poller p{w};
  auto out = p.poll({{gone, "blip", 2}});
  CHECK(out.at(series("blip", "other")) == 2);
  CHECK(p.dead == std::vector<uint64_t>{gone});
  CHECK(w.unresolved() == 1);
}

TEST_CASE("workloads: under random churn every series only grows, and nothing is lost") {
  Tree t;
  std::mt19937 rng(42);
  // No retirement within the test: at the end, every count must be in some series.
  Workloads w(options(3s, 3, 10000s, 2), t.mount());
  Poller p{w};
  struct Live {
    std::string path;
    double count = 0;
  };
  std::map<uint64_t, Live> live;
  std::map<LabelValues, double> last;
  double counted = 0;  // every increment the "kernel" made
  int next = 0;
  auto samples_of = [&] {
    std::vector<std::tuple<uint64_t, std::string, double>> samples;
    samples.reserve(live.size());
    for (const auto& [id, l] : live) samples.emplace_back(id, "c", l.count);
    return samples;
  };
  auto check_grows = [&](const std::map<LabelValues, double>& out) {
    for (const auto& [labels, v] : last) {
      INFO("series " << labels.back());
      REQUIRE(out.count(labels));  // nothing retires: no series disappears
      CHECK(out.at(labels) >= v);
    }
    last = out;
  };
  for (int round = 0; round < 300; ++round) {
    if (live.size() < 8 && rng() % 3 == 0) {
      const std::string path = "/u" + std::to_string(rng() % 5) + ".slice/c" + std::to_string(next++);
      live[t.add(path)] = {path};
    }
    std::vector<uint64_t> died;
    for (auto& [id, l] : live) {
      const double inc = rng() % 4;
      l.count += inc;
      counted += inc;
      if (rng() % 10 == 0) {
        t.remove(l.path);
        died.push_back(id);
      }
    }
    check_grows(p.poll(samples_of()));
    for (uint64_t id : p.dead) live.erase(id);  // the module deletes the entries of folded cgroups
    CHECK(p.dead.size() == died.size());
    p.advance(1s);
  }
  // Once the live workloads are old enough to be exported, every count is in exactly one series.
  p.advance(10s);
  auto out = p.poll(samples_of());
  check_grows(out);
  double exported = 0;
  for (const auto& [labels, v] : out) exported += v;
  CHECK(exported == counted);
  CHECK(w.exported() <= 3);
}
