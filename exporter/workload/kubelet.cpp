// The kubelet client: GET /pods over HTTPS (libcurl), the PodList into a table of names, and the
// thread that keeps the table fresh.
#include "workload/kubelet.h"

#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/log.h"

namespace bpfex::workload {
namespace {

using nlohmann::json;

// A kubelet with 110 pods (its default maximum) answers with a few MiB; this is far beyond any.
constexpr size_t kMaxAnswerBytes = 64u << 20;

// The string at key of an object; "" when absent or not a string (optional fields).
std::string string_at(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// containerID is "<runtime>://<id>"; the cgroup carries only the ID.
std::string runtime_id(const std::string& container_id) {
  const size_t sep = container_id.find("://");
  return sep == std::string::npos ? container_id : container_id.substr(sep + 3);
}

// Adds the containers of one status list (containerStatuses, ...) to pod. Returns an error message
// naming the field when the list is not shaped like the kubelet's.
std::optional<std::string> add_containers(const json& status, const char* list, const std::string& where,
                                          PodTable::Pod& pod) {
  const auto it = status.find(list);
  if (it == status.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) return where + ".status." + list + ": expected an array";
  for (size_t i = 0; i < it->size(); ++i) {
    const json& c = (*it)[i];
    if (!c.is_object()) return where + ".status." + list + "[" + std::to_string(i) + "]: expected an object";
    const std::string name = string_at(c, "name");
    if (name.empty()) continue;
    if (const std::string id = runtime_id(string_at(c, "containerID")); !id.empty()) pod.containers[id] = name;
    // The cgroup of the run before a restart still counts until it is folded: keep its name.
    if (const auto last = c.find("lastState"); last != c.end() && last->is_object())
      if (const auto term = last->find("terminated"); term != last->end() && term->is_object())
        if (const std::string id = runtime_id(string_at(*term, "containerID")); !id.empty()) pod.containers[id] = name;
  }
  return std::nullopt;
}

template <class T>
struct Deleter;
template <>
struct Deleter<CURL> {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
template <>
struct Deleter<curl_slist> {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
template <class T>
using CurlPtr = std::unique_ptr<T, Deleter<T>>;

size_t collect(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * n > kMaxAnswerBytes) return 0;  // curl fails the transfer: CURLE_WRITE_ERROR
  body->append(data, size * n);
  return size * n;
}

// libcurl's progress callback, called about once a second while a transfer waits: non-zero aborts.
int abandon_when_cancelled(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

KubeletError curl_error_kind(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT: return KubeletError::timeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: return KubeletError::tls;
    case CURLE_WRITE_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return KubeletError::invalid_response;
    default: return KubeletError::connect;
  }
}

std::string_view hint(KubeletError kind) {
  switch (kind) {
    case KubeletError::token: return "token_file must hold the ServiceAccount token (or be \"\" for no token)";
    case KubeletError::connect: return "is the kubelet at kubelet_url reachable from bpfex (hostNetwork)?";
    case KubeletError::timeout: return "the kubelet did not answer in time";
    case KubeletError::tls:
      return "set attribution.kubernetes.ca_file to the CA of the kubelet's serving certificate (or "
             "insecure_skip_verify: true for a self-signed kubelet certificate)";
    case KubeletError::unauthorized: return "the kubelet refused the token in token_file";
    case KubeletError::forbidden:
      return "bpfex's ServiceAccount needs get on nodes/pods (nodes/proxy before Kubernetes 1.33): "
             "deploy/kubernetes/rbac.yaml";
    case KubeletError::http_status:
    case KubeletError::invalid_response: return "is kubelet_url the kubelet's (port 10250)?";
  }
  return "";
}

KubeletFailure failure(KubeletError kind, std::string message) {
  return {kind, std::move(message) + " (hint: " + std::string(hint(kind)) + ")"};
}

// The token without its trailing newline; an empty file sends no token.
std::variant<std::string, KubeletFailure> read_token(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    return failure(KubeletError::token, "token_file " + path + ": " + errno_error("cannot read", err).str());
  }
  std::stringstream s;
  s << in.rdbuf();
  std::string token = s.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  // A header must stay one header.
  if (token.find_first_of("\r\n") != std::string::npos)
    return failure(KubeletError::token, "token_file " + path + ": the token spans several lines");
  return token;
}

}  // namespace

PodAnswer PodTable::find(const std::string& pod_uid, const std::string& container_id) const {
  const auto pod = pods.find(pod_uid);
  if (pod == pods.end()) return {PodAnswer::Kind::unknown_pod, {}};
  const auto c = pod->second.containers.find(container_id);
  return {PodAnswer::Kind::named,
          {pod->second.ns, pod->second.name, c == pod->second.containers.end() ? "" : c->second}};
}

Result<PodTable> parse_pod_list(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return Error{EINVAL, "not JSON: byte " + std::to_string(e.byte) + ": " + e.what()};
  } catch (const json::exception& e) {
    // A number beyond a double (1e999) is out_of_range, not parse_error: uncaught, it would end bpfex.
    return Error{EINVAL, std::string("not JSON bpfex can read: ") + e.what()};
  }
  if (!doc.is_object()) return Error{EINVAL, "expected a PodList object"};
  const auto items = doc.find("items");
  PodTable table;
  if (items == doc.end() || items->is_null()) return table;  // no pods: Go encodes an empty list as null
  if (!items->is_array()) return Error{EINVAL, "items: expected an array"};
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string where = "items[" + std::to_string(i) + "]";
    const json& item = (*items)[i];
    if (!item.is_object()) return Error{EINVAL, where + ": expected an object"};
    const auto meta = item.find("metadata");
    if (meta == item.end() || !meta->is_object()) return Error{EINVAL, where + ".metadata: missing"};
    const std::string uid = string_at(*meta, "uid");
    if (uid.empty()) return Error{EINVAL, where + ".metadata.uid: missing"};
    PodTable::Pod pod{string_at(*meta, "namespace"), string_at(*meta, "name"), {}};
    if (const auto status = item.find("status"); status != item.end() && status->is_object()) {
      for (const char* list : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"})
        if (auto err = add_containers(*status, list, where, pod)) return Error{EINVAL, *err};
    }
    table.pods[uid] = std::move(pod);
  }
  return table;
}

std::string_view kubelet_error_name(KubeletError e) {
  switch (e) {
    case KubeletError::token: return "token";
    case KubeletError::connect: return "connect";
    case KubeletError::timeout: return "timeout";
    case KubeletError::tls: return "tls";
    case KubeletError::unauthorized: return "unauthorized";
    case KubeletError::forbidden: return "forbidden";
    case KubeletError::http_status: return "http_status";
    case KubeletError::invalid_response: return "invalid_response";
  }
  return "unknown";
}

std::variant<PodTable, KubeletFailure> fetch_pods(const KubernetesOptions& o, const std::atomic<bool>* cancel) {
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  std::string url = o.kubelet_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/pods";
  auto token = read_token(o.token_file);
  if (auto* f = std::get_if<KubeletFailure>(&token)) return std::move(*f);

  CurlPtr<CURL> curl(curl_easy_init());
  if (!curl) return failure(KubeletError::connect, "GET " + url + ": curl_easy_init failed");
  CurlPtr<curl_slist> headers(curl_slist_append(nullptr, "Accept: application/json"));
  const std::string& bearer = std::get<std::string>(token);
  if (!bearer.empty()) headers.reset(curl_slist_append(headers.release(), ("Authorization: Bearer " + bearer).c_str()));
  // The request may take as long as one refresh interval, and never more than 10 s.
  const long timeout_ms = static_cast<long>(std::clamp<int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(o.refresh_interval).count(), 1000, 10000));
  std::string body;
  char error[CURL_ERROR_SIZE] = "";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded process
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever this libcurl decodes (gzip)
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  if (cancel) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, cancel);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &abandon_when_cancelled);
  }
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (o.insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string what = error[0] ? error : curl_easy_strerror(rc);
    if (rc == CURLE_WRITE_ERROR) what = "the answer is larger than " + std::to_string(kMaxAnswerBytes >> 20) + " MiB";
    return failure(curl_error_kind(rc), "GET " + url + ": " + what);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    const KubeletError kind = status == 401   ? KubeletError::unauthorized
                              : status == 403 ? KubeletError::forbidden
                                              : KubeletError::http_status;
    // The kubelet says why in a line of text; keep the log line short.
    std::string said = body.substr(0, 200);
    std::replace_if(
        said.begin(), said.end(), [](char ch) { return ch == '\n' || ch == '\r'; }, ' ');
    return failure(kind, "GET " + url + ": HTTP " + std::to_string(status) + (said.empty() ? "" : ": " + said));
  }
  auto table = parse_pod_list(body);
  if (!table) return failure(KubeletError::invalid_response, "GET " + url + ": " + table.error().message);
  return std::move(table.value());
}

KubeletPods::KubeletPods(KubernetesOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
  // The first poll should have names, but a kubelet that does not answer must not hold up start-up
  // (or a stop during it) for the whole request timeout.
  std::unique_lock lock(mutex_);
  first_answer_.wait_for(lock, kFirstAnswerWait, [&] { return answered_; });
}

KubeletPods::~KubeletPods() {
  cancel_ = true;
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KubeletPods::run() {
  refresh();
  std::unique_lock lock(wake_mutex_);
  while (!wake_.wait_for(lock, options_.refresh_interval, [this] { return stopping_; })) {
    lock.unlock();
    refresh();
    lock.lock();
  }
}

void KubeletPods::refresh() {
  auto answer = fetch_pods(options_, &cancel_);
  std::lock_guard lock(mutex_);
  answered_ = true;
  first_answer_.notify_all();
  if (auto* failed = std::get_if<KubeletFailure>(&answer)) {
    ++stats_.errors[failed->kind];
    // Until the kubelet answers, pods it may not know are labelled by their cgroup.
    if (healthy_) changed_ = true;
    healthy_ = false;
    if (failed->message != last_logged_) {
      log_warn("kubelet: cannot read pod names; pods are labelled by their cgroup until it answers",
               {{"reason", kubelet_error_name(failed->kind)}, {"err", failed->message}});
      last_logged_ = failed->message;
    }
    return;
  }
  auto table = std::make_shared<const PodTable>(std::move(std::get<PodTable>(answer)));
  if (!healthy_ || !table_ || !(*table_ == *table)) changed_ = true;
  if (!healthy_)
    log_info("kubelet: pod names read", {{"url", options_.kubelet_url}, {"pods", std::to_string(table->pods.size())}});
  healthy_ = true;
  last_logged_.clear();
  table_ = std::move(table);
  ++stats_.refreshes;
  stats_.pods = table_->pods.size();
  stats_.last_success_unix_seconds =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

PodDirectory KubeletPods::directory() const {
  return [this](const std::string& pod_uid, const std::string& container_id) -> PodAnswer {
    std::shared_ptr<const PodTable> table;
    bool healthy = false;
    {
      std::lock_guard lock(mutex_);
      table = table_;
      healthy = healthy_;
    }
    if (!table) return {};
    PodAnswer a = table->find(pod_uid, container_id);
    // A pod missing from a stale table may be one the kubelet would name now.
    if (a.kind == PodAnswer::Kind::unknown_pod && !healthy) return {};
    return a;
  };
}

KubeletPods::Stats KubeletPods::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace bpfex::workload
