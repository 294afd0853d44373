#include "metrics/entry_tally.h"

namespace bpfex {

void EntryTally::add(std::string_view key, uint64_t count) {
  const auto it = last_.find(std::string(key));
  const uint64_t before = it == last_.end() ? 0 : it->second;
  total_ += count >= before ? count - before : count;
  now_[std::string(key)] = count;
}

uint64_t EntryTally::finish() {
  last_.swap(now_);
  now_.clear();
  return total_;
}

}  // namespace bpfex
