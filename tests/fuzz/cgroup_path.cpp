// The cgroup path parser (parse_cgroup_path, cut_cgroup_path) on any path and depth: a pod is a
// well-formed pod UID with, at most, a 64-hex container ID; anything else is a cgroup label that is
// valid UTF-8, at most kMaxCgroupLabelBytes, "/" plus at most depth components, and carries no ID
// (no UUID, no run of 16 hex digits); empty components never matter.
//
// Input: DEPTH \n PATH (DEPTH in decimal; without a newline, depth 2 and the whole input as path).
#include <algorithm>
#include <charconv>

#include "fuzz.h"
#include "labels/utf8.h"
#include "workload/cgroup_path.h"

using bpfex::fuzz::show;

namespace {

bool lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool hex(char c) { return lower_hex(c) || (c >= 'A' && c <= 'F'); }

// The kubelet's metadata.uid: a UUID, or a static pod's 32-hex hash.
bool pod_uid(std::string_view s) {
  if (s.size() == 32) return std::all_of(s.begin(), s.end(), lower_hex);
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !lower_hex(s[i])) return false;
  return true;
}

void check_label(std::string_view label, unsigned depth, std::string_view path) {
  const std::string where = show(path) + " depth " + std::to_string(depth) + " -> " + show(label);
  FUZZ_CHECK(bpfex::labels::is_valid_utf8(label), where);
  FUZZ_CHECK(!label.empty() && label.size() <= bpfex::workload::kMaxCgroupLabelBytes && label[0] == '/', where);
  FUZZ_CHECK(static_cast<size_t>(std::count(label.begin(), label.end(), '/')) <= std::max(depth, 1u), where);
  FUZZ_CHECK(label == "/" || label.find("//") == std::string_view::npos, where);
  size_t run = 0;
  for (char c : label) {
    run = hex(c) ? run + 1 : 0;
    FUZZ_CHECK(run < 16, "an ID in a label: " + where);
  }
  // A UUID with either separator, systemd's '_' or '-'.
  for (size_t i = 0; i + 36 <= label.size(); ++i) {
    bool uuid = true;
    for (size_t k = 0; k < 36 && uuid; ++k)
      uuid =
          (k == 8 || k == 13 || k == 18 || k == 23) ? (label[i + k] == '-' || label[i + k] == '_') : hex(label[i + k]);
    FUZZ_CHECK(!uuid, "a UUID in a label: " + where);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  unsigned depth = 2;
  std::string_view path = input;
  if (const size_t nl = input.find('\n'); nl != std::string_view::npos) {
    unsigned d = 0;
    auto [end, ec] = std::from_chars(input.data(), input.data() + nl, d);
    if (ec == std::errc() && end == input.data() + nl) {
      depth = d % 65;
      path = input.substr(nl + 1);
    }
  }

  const auto w = bpfex::workload::parse_cgroup_path(path, depth);
  if (w.kubernetes()) {
    FUZZ_CHECK(pod_uid(w.pod_uid), show(path) + " -> pod " + show(w.pod_uid));
    FUZZ_CHECK(w.container_id.empty() || (w.container_id.size() == 64 &&
                                          std::all_of(w.container_id.begin(), w.container_id.end(), lower_hex)),
               show(path) + " -> container " + show(w.container_id));
    FUZZ_CHECK(w.cgroup.empty(), show(path));
  } else {
    FUZZ_CHECK(w.container_id.empty(), show(path));
    FUZZ_CHECK(w.cgroup == bpfex::workload::cut_cgroup_path(path, depth), show(path));
    check_label(w.cgroup, depth, path);
  }

  // Empty components do not matter: "//a//b/" is "/a/b".
  std::string normal;
  for (size_t i = 0; i < path.size();) {
    const size_t end = std::min(path.find('/', i), path.size());
    if (end > i) normal += "/" + std::string(path.substr(i, end - i));
    i = end + 1;
  }
  const auto n = bpfex::workload::parse_cgroup_path(normal, depth);
  FUZZ_CHECK(n.pod_uid == w.pod_uid && n.container_id == w.container_id && n.cgroup == w.cgroup,
             show(path) + " and " + show(normal) + " differ");
  return 0;
}
