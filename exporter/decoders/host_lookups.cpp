// The host's names for the kernel decoders: /proc/kallsyms, interfaces, /proc/partitions, cgroups.
#include <net/if.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

#include "decoders/decoders.h"
#include "workload/cgroupfs.h"

namespace bpfex::decoders {
namespace {

// Shared by every user program: the poller decodes through it while a reload starts a program that
// preloads the symbols, hence the lock.
class HostLookups final : public Lookups {
 public:
  std::string symbol_at(uint64_t addr) override {
    if (addr == 0) return "";
    std::lock_guard lock(mutex_);
    const Symbol* s = find(addr);
    if (!s || s->addr != addr) {
      reload_kallsyms();
      s = find(addr);
    }
    return s && s->addr == addr ? s->name : "";
  }

  std::string symbol_containing(uint64_t addr) override {
    std::lock_guard lock(mutex_);
    const Symbol* s = find(addr);
    if (!s) {
      reload_kallsyms();
      s = find(addr);
    }
    return s ? s->name : "";
  }

  void preload_symbols() override {
    std::lock_guard lock(mutex_);
    reload_kallsyms();
  }

  std::string interface_name(uint32_t ifindex) override {
    char buf[IF_NAMESIZE] = {};
    if (ifindex == 0 || !if_indextoname(ifindex, buf)) return "";
    return buf;
  }

  std::string partition_name(uint32_t major, uint32_t minor) override {
    std::ifstream in("/proc/partitions");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string maj, min, blocks, name, extra;
      if (!(fields >> maj >> min >> blocks >> name) || (fields >> extra)) continue;
      if (maj == std::to_string(major) && min == std::to_string(minor)) return name;
    }
    return "";
  }

  // The cgroup v2 hierarchy's directory of an ID (the shared workload::CgroupPaths walk), as a full
  // path the way ebpf_exporter reports it ("/sys/fs/cgroup/system.slice/nginx.service"; on hybrid
  // hosts under /sys/fs/cgroup/unified).
  std::string cgroup_path(uint64_t id) override {
    std::lock_guard lock(mutex_);
    if (!cgroups_) {
      const std::string mount = workload::cgroup2_mount();
      if (mount.empty()) return "";
      cgroups_.emplace(mount, std::chrono::milliseconds(1000));
    }
    const auto found = cgroups_->path_of(id, std::chrono::steady_clock::now());
    if (found.state != workload::CgroupPaths::Lookup::State::found) return "";
    return found.path == "/" ? cgroups_->mount() : cgroups_->mount() + found.path;
  }

 private:
  struct Symbol {
    uint64_t addr;
    std::string name;
  };

  // The last symbol at or below addr; null below the first one (or with no addresses: kptr_restrict).
  const Symbol* find(uint64_t addr) const {
    auto it = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                               [](uint64_t a, const Symbol& s) { return a < s.addr; });
    if (it == symbols_.begin()) return nullptr;
    return &*std::prev(it);
  }

  // At most once per second: a key with an address no symbol has must not re-read kallsyms per poll
  // and key.
  void reload_kallsyms() {
    const auto now = std::chrono::steady_clock::now();
    if (loaded_ && now - loaded_at_ < std::chrono::seconds(1)) return;
    loaded_ = true;
    loaded_at_ = now;
    std::vector<Symbol> symbols;
    std::ifstream in("/proc/kallsyms");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string addr, type, name;
      if (!(fields >> addr >> type >> name)) continue;
      const uint64_t a = std::strtoull(addr.c_str(), nullptr, 16);
      if (a != 0) symbols.push_back({a, name});
    }
    // Kept only if there is something (kallsyms unreadable after CAP_SYSLOG went: keep what was read).
    if (symbols.empty()) return;
    std::stable_sort(symbols.begin(), symbols.end(), [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
    symbols_ = std::move(symbols);
  }

  std::mutex mutex_;  // guards everything below
  std::vector<Symbol> symbols_;
  bool loaded_ = false;
  std::chrono::steady_clock::time_point loaded_at_;
  std::optional<workload::CgroupPaths> cgroups_;
};

}  // namespace

std::unique_ptr<Lookups> host_lookups() { return std::make_unique<HostLookups>(); }

}  // namespace bpfex::decoders
