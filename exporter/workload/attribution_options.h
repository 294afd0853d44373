// The configuration section attribution: (config/bpfex.yaml): how cgroups become workloads, how
// many are exported, and where Kubernetes names come from.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/duration.h"
#include "base/quote.h"
#include "config/options.h"

namespace bpfex::workload {

struct KubernetesOptions {
  bool enabled = false;
  std::string kubelet_url = "https://127.0.0.1:10250";
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file;  // "": the system trust store
  bool insecure_skip_verify = false;
  std::chrono::nanoseconds refresh_interval = std::chrono::seconds(15);

  template <class V>
  void visit(V& v) {
    v.field("enabled", enabled);
    v.field("kubelet_url", kubelet_url, [](const std::string& url) -> std::optional<std::string> {
      if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0)
        return "must be an http:// or https:// URL, got " + quote_value(url);
      return std::nullopt;
    });
    v.field("token_file", token_file);
    v.field("ca_file", ca_file);
    v.field("insecure_skip_verify", insecure_skip_verify);
    v.field("refresh_interval", refresh_interval, duration_between(std::chrono::seconds(1), std::chrono::hours(1)));
  }
};

struct AttributionOptions {
  std::string cgroup_mount;  // "": the cgroup2 mount of /proc/self/mountinfo
  uint32_t cgroup_depth = 2;
  uint32_t max_workloads = 512;
  std::chrono::nanoseconds min_age = std::chrono::seconds(30);
  std::chrono::nanoseconds retire_after = std::chrono::minutes(2);
  KubernetesOptions kubernetes;

  template <class V>
  void visit(V& v) {
    v.field("cgroup_mount", cgroup_mount, [](const std::string& path) -> std::optional<std::string> {
      if (!path.empty() && path[0] != '/') return "must be an absolute path, got " + quote_value(path);
      return std::nullopt;
    });
    v.field("cgroup_depth", cgroup_depth, in_range(1, 32));
    v.field("max_workloads", max_workloads, in_range(1, 1u << 16));
    v.field("min_age", min_age, duration_between(std::chrono::seconds(0), std::chrono::hours(1)));
    v.field("retire_after", retire_after, duration_between(std::chrono::seconds(0), std::chrono::hours(24)));
    v.group("kubernetes", kubernetes);
  }
};

}  // namespace bpfex::workload
