// Kubernetes names for pod cgroups, from the kubelet's /pods: which namespace, pod and container a
// pod UID and container ID belong to. A thread asks the kubelet every refresh_interval; the poller
// looks names up in the last good answer without waiting for the network.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <variant>

#include "base/result.h"
#include "workload/attribution_options.h"
#include "workload/workloads.h"

namespace bpfex::workload {

// The kubelet's pods: UID -> namespace, name and its containers' IDs -> names.
struct PodTable {
  struct Pod {
    std::string ns, name;
    std::unordered_map<std::string, std::string> containers;  // runtime container ID (64 hex) -> name
    bool operator==(const Pod&) const = default;
  };
  std::unordered_map<std::string, Pod> pods;  // metadata.uid (a static pod's: its 32-hex hash)
  bool operator==(const PodTable&) const = default;

  // A container of a known pod whose ID is not among its statuses is the pod's sandbox (pause)
  // container, or one the kubelet has not reported yet: container "" either way, until it does.
  // named, or unknown_pod.
  PodAnswer find(const std::string& pod_uid, const std::string& container_id) const;
};

// A v1 PodList as the kubelet's /pods serves it. Containers are taken from containerStatuses,
// initContainerStatuses and ephemeralContainerStatuses, each with its current and its last
// terminated ID (a container that restarted keeps its name for the cgroup it left). containerID is
// "<runtime>://<id>" (containerd://, cri-o://, docker://); the runtime part is dropped. Errors say
// where in the document.
Result<PodTable> parse_pod_list(std::string_view json);

// Why a refresh failed, as the label reason of bpfex_attribution_kubelet_errors_total.
enum class KubeletError { token, connect, timeout, tls, unauthorized, forbidden, http_status, invalid_response };
std::string_view kubelet_error_name(KubeletError e);
inline constexpr KubeletError kKubeletErrors[] = {
    KubeletError::token,        KubeletError::connect,   KubeletError::timeout,     KubeletError::tls,
    KubeletError::unauthorized, KubeletError::forbidden, KubeletError::http_status, KubeletError::invalid_response};

struct KubeletFailure {
  KubeletError kind;
  std::string message;  // what happened, where: the URL, curl's or the kubelet's words, a hint
};

// One GET of <kubelet_url>/pods with the bearer token from token_file (read each time: projected
// tokens rotate), verifying the kubelet's certificate against ca_file (or the system trust store)
// unless insecure_skip_verify. Redirects are not followed (the token must not travel elsewhere);
// answers over 64 MiB are refused.
// cancel: when it turns true the request is abandoned (within about a second).
std::variant<PodTable, KubeletFailure> fetch_pods(const KubernetesOptions& options,
                                                  const std::atomic<bool>* cancel = nullptr);

// The kubelet's names, refreshed in the background.
class KubeletPods {
 public:
  // Asks the kubelet at once and every options.refresh_interval after, on a thread of its own;
  // waits up to kFirstAnswerWait for the first answer, so that the first poll usually has names.
  explicit KubeletPods(KubernetesOptions options);
  ~KubeletPods();
  KubeletPods(const KubeletPods&) = delete;
  KubeletPods& operator=(const KubeletPods&) = delete;

  // For Workloads: names from the last good answer. Until the kubelet has answered once, and while
  // it is failing, a pod it does not know is not_asked (labelled by its cgroup, as without
  // Kubernetes names) rather than unknown_pod (empty names).
  PodDirectory directory() const;
  // Whether the names changed since the last call (then cgroups are labelled again).
  bool take_changed() { return changed_.exchange(false); }

  struct Stats {
    uint64_t refreshes = 0;  // successful
    std::map<KubeletError, uint64_t> errors;
    std::optional<double> last_success_unix_seconds;
    size_t pods = 0;
  };
  Stats stats() const;

 private:
  void refresh();
  void run();

  static constexpr std::chrono::seconds kFirstAnswerWait{2};

  KubernetesOptions options_;
  mutable std::mutex mutex_;  // guards table_, healthy_, stats_, answered_
  std::condition_variable first_answer_;
  bool answered_ = false;
  std::shared_ptr<const PodTable> table_;
  bool healthy_ = false;  // the last refresh succeeded
  Stats stats_;
  std::string last_logged_;  // the last failure logged: a failure that repeats is logged once
  std::atomic<bool> changed_{false};

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};  // stopping_, for a request in progress
  std::thread thread_;
};

}  // namespace bpfex::workload
