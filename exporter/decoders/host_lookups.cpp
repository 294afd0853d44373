// The host's names for the kernel decoders: /proc/kallsyms, interfaces, /proc/partitions, cgroups.
#include <net/if.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "decoders/decoders.h"

namespace bpfex::decoders {
namespace {

class HostLookups final : public Lookups {
 public:
  std::string symbol_at(uint64_t addr) override {
    if (addr == 0) return "";
    const Symbol* s = find(addr);
    if (!s || s->addr != addr) {
      reload_kallsyms();
      s = find(addr);
    }
    return s && s->addr == addr ? s->name : "";
  }

  std::string symbol_containing(uint64_t addr) override {
    const Symbol* s = find(addr);
    if (!s) {
      reload_kallsyms();
      s = find(addr);
    }
    return s ? s->name : "";
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

  std::string cgroup_path(uint64_t id) override {
    auto it = cgroups_.find(id);
    if (it == cgroups_.end()) {
      walk_cgroups();
      it = cgroups_.find(id);
      if (it == cgroups_.end()) return "";
    }
    return it->second;
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
    symbols_.clear();
    std::ifstream in("/proc/kallsyms");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string addr, type, name;
      if (!(fields >> addr >> type >> name)) continue;
      const uint64_t a = std::strtoull(addr.c_str(), nullptr, 16);
      if (a != 0) symbols_.push_back({a, name});
    }
    std::stable_sort(symbols_.begin(), symbols_.end(),
                     [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
  }

  // cgroup IDs are the inode numbers of the cgroup v2 directories. The path is the directory's, as
  // ebpf_exporter reports it ("/sys/fs/cgroup/system.slice/nginx.service").
  void walk_cgroups() {
    const auto now = std::chrono::steady_clock::now();
    if (walked_ && now - walked_at_ < std::chrono::seconds(1)) return;
    walked_ = true;
    walked_at_ = now;
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path root = "/sys/fs/cgroup";
    auto add = [&](const fs::path& p) {
      struct stat st {};
      if (::stat(p.c_str(), &st) == 0) cgroups_[st.st_ino] = p.string();
    };
    add(root);
    for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec)) add(it->path());
    }
  }

  std::vector<Symbol> symbols_;
  bool loaded_ = false;
  std::chrono::steady_clock::time_point loaded_at_;
  std::unordered_map<uint64_t, std::string> cgroups_;
  bool walked_ = false;
  std::chrono::steady_clock::time_point walked_at_;
};

}  // namespace

std::unique_ptr<Lookups> host_lookups() { return std::make_unique<HostLookups>(); }

}  // namespace bpfex::decoders
