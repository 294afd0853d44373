// A total over kernel map entries that bpfex deletes while it runs, which never goes down.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bpfex {

// Sums what each entry added since the previous reading, so that deleting an entry (a dead
// cgroup's, once the workload rollup folded it) takes nothing off the total, as summing the
// entries' absolute counts would: found by bench/soak, where bpfex_label_overflow_total{module="exec"}
// went from 199 down to 136 as the cgroups of execs counted under comm="other" went away.
// An entry is named by its key's bytes; a count below the entry's last one is an entry that was
// deleted and made again between two readings (everything it holds is new).
class EntryTally {
 public:
  // One entry's absolute count in this reading.
  void add(std::string_view key, uint64_t count);
  template <class Key>
  void add(const Key& key, uint64_t count) {
    add(std::string_view(reinterpret_cast<const char*>(&key), sizeof key), count);
  }
  // Ends a reading: entries it did not see are forgotten. Returns the total so far.
  uint64_t finish();
  uint64_t total() const { return total_; }

 private:
  std::unordered_map<std::string, uint64_t> last_, now_;
  uint64_t total_ = 0;
};

}  // namespace bpfex
