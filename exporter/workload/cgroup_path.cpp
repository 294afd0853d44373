// Placeholder until the Kubernetes shapes land: every path is a plain cgroup, cut to depth.
#include "workload/cgroup_path.h"

namespace bpfex::workload {

std::string cut_cgroup_path(std::string_view path, unsigned depth) {
  size_t end = 0;
  for (unsigned i = 0; i < depth && end != std::string_view::npos; ++i) end = path.find('/', end + 1);
  std::string cut(path.substr(0, end == std::string_view::npos ? path.size() : end));
  return cut.empty() ? "/" : cut;
}

CgroupWorkload parse_cgroup_path(std::string_view path, unsigned depth) {
  CgroupWorkload w;
  w.cgroup = cut_cgroup_path(path, depth);
  return w;
}

}  // namespace bpfex::workload
