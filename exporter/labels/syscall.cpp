// The syscall table generated from <asm/unistd.h> (build/gen/syscall_table.inc), indexed by number.
#include "labels/syscall.h"

#include <asm/unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace bpfex::labels {
namespace {

struct Entry {
  uint32_t nr;
  const char* name;
};

constexpr Entry kTable[] = {
#include "gen/syscall_table.inc"
};

const std::vector<std::string_view>& by_number() {
  static const std::vector<std::string_view> names = [] {
    uint32_t size = 0;
    for (const Entry& e : kTable) size = std::max(size, e.nr + 1);
    std::vector<std::string_view> v(size);
    for (const Entry& e : kTable) v[e.nr] = e.name;
    return v;
  }();
  return names;
}

}  // namespace

std::string_view syscall_name(uint64_t nr) {
  const auto& names = by_number();
  return nr < names.size() ? names[nr] : std::string_view();
}

std::string syscall_label(uint64_t nr) {
  if (nr >= kSyscallLabelLimit) return "other";
  std::string_view name = syscall_name(nr);
  return name.empty() ? std::to_string(nr) : std::string(name);
}

std::optional<uint32_t> syscall_number(std::string_view name) {
  for (const Entry& e : kTable)
    if (name == e.name) return e.nr;
  return std::nullopt;
}

uint32_t syscall_table_size() { return static_cast<uint32_t>(by_number().size()); }

}  // namespace bpfex::labels
