// net/link_watcher: what rtnetlink says about a namespace's interfaces, seen from a namespace the
// test creates (nothing else adds or removes interfaces there).
#include <net/if.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "net/link_watcher.h"
#include "netns.h"

using namespace bpfex;
using namespace bpfex::test;

namespace {

// Records what the watcher reports; waits for it with a bound.
class Recorder final : public LinkObserver {
 public:
  void link_present(const LinkInfo& link) override {
    std::lock_guard lock(mutex_);
    present_[link.ifindex] = link;
    ++events_;
    changed_.notify_all();
  }
  void link_removed(int ifindex) override {
    std::lock_guard lock(mutex_);
    present_.erase(ifindex);
    ++removals_;
    ++events_;
    changed_.notify_all();
  }
  // Waits up to 30 s for pred(present interfaces by ifindex): a bound for a watcher that never gets
  // there, not a speed target (a single-threaded TCG guest needs several seconds to relist 200 veths).
  template <class Pred>
  bool wait_for(Pred pred) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(30), [&] { return pred(present_); });
  }
  std::map<int, LinkInfo> present() {
    std::lock_guard lock(mutex_);
    return present_;
  }
  int removals() {
    std::lock_guard lock(mutex_);
    return removals_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int, LinkInfo> present_;
  int events_ = 0, removals_ = 0;
};

bool has_name(const std::map<int, LinkInfo>& links, const std::string& name) {
  for (const auto& [ifindex, link] : links)
    if (link.name == name) return true;
  return false;
}

std::unique_ptr<LinkWatcher> start_in(const NetNs& ns, Recorder& recorder) {
  std::unique_ptr<LinkWatcher> watcher;
  REQUIRE(ns.run_inside([&] {
    auto w = LinkWatcher::start(recorder);
    if (w) watcher = std::move(w.value());
  }));
  REQUIRE(watcher);
  return watcher;
}

}  // namespace

TEST_CASE("link watcher: the interfaces that exist are reported before start returns", "[net]") {
  NetNs ns;
  const std::string tok = unique_token(5);
  sh(ns.exec("ip link add bwa" + tok + " type veth peer name bwb" + tok));
  Recorder recorder;
  auto watcher = start_in(ns, recorder);
  const auto present = recorder.present();  // no waiting: the dump is over
  CHECK(present.size() == 3);
  CHECK(has_name(present, "lo"));
  CHECK(has_name(present, "bwa" + tok));
  CHECK(has_name(present, "bwb" + tok));
  for (const auto& [ifindex, link] : present) {
    INFO(link.name);
    CHECK(ifindex == link.ifindex);
    CHECK(link.software == (link.name != "lo"));  // veths have a link kind, lo has none
    CHECK(link.gso_max_segs > 0);
  }
}

TEST_CASE("link watcher: interfaces created, renamed, deleted and moved away are reported", "[net]") {
  NetNs ns, other;
  Recorder recorder;
  auto watcher = start_in(ns, recorder);
  const std::string tok = unique_token(5), a = "bwa" + tok, b = "bwb" + tok, renamed = "bwr" + tok;
  sh(ns.exec("ip link add " + a + " type veth peer name " + b));
  CHECK(recorder.wait_for([&](const auto& p) { return has_name(p, a) && has_name(p, b); }));
  sh(ns.exec("ip link set " + a + " name " + renamed));
  CHECK(recorder.wait_for([&](const auto& p) { return has_name(p, renamed) && !has_name(p, a); }));
  sh(ns.exec("ip link set " + b + " netns " + other.name));  // what a container runtime does
  CHECK(recorder.wait_for([&](const auto& p) { return !has_name(p, b); }));
  CHECK(has_name(recorder.present(), renamed));
  sh(other.exec("ip link del " + b));  // deletes both ends: renamed goes from ns too
  CHECK(recorder.wait_for([&](const auto& p) { return p.size() == 1 && has_name(p, "lo"); }));
  CHECK(recorder.removals() == 2);
}

TEST_CASE("link watcher: stopping joins its thread and leaks no file descriptors", "[net]") {
  NetNs ns;
  {
    Recorder warm;
    auto w = start_in(ns, warm);
  }
  const int before = open_fd_count();
  for (int i = 0; i < 3; ++i) {
    Recorder recorder;
    auto watcher = start_in(ns, recorder);
    CHECK(open_fd_count() > before);
  }
  CHECK(open_fd_count() == before);
}

namespace {

// An observer that holds the watcher's thread on its first event until released: meanwhile events
// pile up in the socket's buffer, as behind a slow attach.
class SlowRecorder final : public LinkObserver {
 public:
  void link_present(const LinkInfo& link) override {
    hold();
    inner.link_present(link);
  }
  void link_removed(int ifindex) override {
    hold();
    inner.link_removed(ifindex);
  }
  // From now on the watcher's thread waits in its next callback until release().
  void hold_from_now() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    std::lock_guard lock(mutex_);
    held_ = false;
    released_.notify_all();
  }
  Recorder inner;

 private:
  void hold() {
    std::unique_lock lock(mutex_);
    released_.wait(lock, [&] { return !held_; });
  }
  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
};

// The interfaces of the namespace as a fresh dump lists them: ifindex -> name.
std::map<int, std::string> kernel_links(const NetNs& ns) {
  std::map<int, std::string> out;
  std::istringstream lines(sh_output(ns.exec("ip -o link show")));
  for (std::string l; std::getline(lines, l);) {  // "7: name@peer: <FLAGS> ..."
    const size_t colon = l.find(": ");
    if (colon == std::string::npos) continue;
    std::string name = l.substr(colon + 2, l.find(':', colon + 2) - colon - 2);
    out[std::stoi(l.substr(0, colon))] = name.substr(0, name.find('@'));
  }
  return out;
}

}  // namespace

TEST_CASE("link watcher: events lost to a full buffer are recovered by listing again", "[net]") {
  NetNs ns;
  SlowRecorder recorder;
  std::unique_ptr<LinkWatcher> watcher;
  REQUIRE(ns.run_inside([&] {
    // The smallest buffer the kernel allows: a few events fill it.
    auto w = LinkWatcher::start(recorder, 1);
    if (w) watcher = std::move(w.value());
  }));
  REQUIRE(watcher);
  recorder.hold_from_now();
  // Created, some deleted again, while the watcher's thread is held: far more than the buffer holds
  // (and than the watcher reads in one go).
  constexpr int kPairs = 200;
  const std::string tok = unique_token(4);
  std::string batch;
  for (int i = 0; i < kPairs; ++i)
    batch += "link add bla" + tok + std::to_string(i) + " type veth peer name blb" + tok + std::to_string(i) + "\n";
  for (int i = 0; i < kPairs; i += 2) batch += "link del bla" + tok + std::to_string(i) + "\n";
  const std::string file = "/tmp/bpfex-it-batch-" + tok;
  { std::ofstream(file) << batch; }
  sh(ns.exec("ip -batch " + file));
  std::remove(file.c_str());
  recorder.release();
  const auto want = kernel_links(ns);
  REQUIRE(want.size() == 1 + kPairs);  // lo and half the pairs
  const bool converged = recorder.inner.wait_for([&](const std::map<int, LinkInfo>& seen) {
    if (seen.size() != want.size()) return false;
    for (const auto& [ifindex, link] : seen) {
      auto it = want.find(ifindex);
      if (it == want.end() || it->second != link.name) return false;
    }
    return true;
  });
  INFO("the kernel lists " << want.size() << " interfaces, the watcher reported " << recorder.inner.present().size());
  CHECK(converged);
  CHECK(watcher->relistings() >= 1);
}
