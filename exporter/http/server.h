// HTTP front: /metrics (the latest snapshot, copied), / (landing page), /healthz. Never enters the
// kernel.
//
// libmicrohttpd, event-driven (epoll): a connection costs a few KiB and no thread, so idle,
// trickling (slowloris) or slowly reading clients cannot take the workers a scrape needs, as they
// could with civetweb's one thread per connection (bench/http/ has the numbers). IPv4 and IPv6.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/module_status.h"
#include "base/fd.h"
#include "base/result.h"
#include "exposition/snapshot.h"
#include "http/web_config.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace bpfex {

struct HttpLimits {
  // Requests handled at once (--web.max-requests, node_exporter's default); more get 503.
  // Handling is copying a snapshot: sending it is the event loop's and does not count.
  unsigned max_requests = 40;
  // Connections open at once (idle or not); raised to what the file descriptor limit allows.
  unsigned max_connections = 16384;
  // A connection with nothing sent or received this long is closed (headers trickling in a byte at a
  // time do not count as idle, but cost only memory: see max_connections).
  std::chrono::seconds idle_timeout{30};
  // Memory per connection for the request line and headers (and the response head): larger
  // requests get 431.
  size_t max_request_bytes = 16 << 10;
  // Event-loop threads (each with its epoll set).
  unsigned threads = 2;
};

// Prometheus' lifecycle endpoint for reloading the configuration.
inline constexpr std::string_view kReloadPath = "/-/reload";

class HttpServer {
 public:
  // snapshots must outlive the server.
  HttpServer(const SnapshotStore& snapshots, std::vector<ModuleStatus> modules, std::string telemetry_path,
             HttpLimits limits = {});
  ~HttpServer() { stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // web: TLS, basic auth, headers and rate limit (--web.config.file); empty: plain HTTP for all.
  Status start(const std::string& listen_address, const WebConfig& web = {});
  // What bpfex kept of its privileges, for the landing page (set while serving: the listener is
  // bound before privileges are dropped, so that a port below 1024 works).
  void describe_privileges(std::string text) {
    const std::lock_guard lock(privileges_mutex_);
    privileges_ = std::move(text);
  }
  // The modules as they now run (after a reload), for /healthz and the landing page.
  void set_modules(std::vector<ModuleStatus> modules) {
    modules_.store(std::make_shared<const std::vector<ModuleStatus>>(std::move(modules)));
  }
  // Prometheus' lifecycle API (--web.enable-lifecycle): POST or PUT /-/reload calls reload with a
  // function to call once done (from any thread; error empty: success), and answers then: 200, or
  // 500 with the error. The request's connection waits suspended, taking no event-loop thread.
  // Without it, /-/reload answers 403.
  using ReloadDone = std::function<void(const std::string& error)>;
  void enable_lifecycle(std::function<void(ReloadDone)> reload) { reload_ = std::move(reload); }
  // A changed web configuration: TLS changes restart the listener's server (on the same socket:
  // connections in flight are dropped, none refused), the rest applies from the next request.
  Status apply(const WebConfig& web);
  void stop();
  // The port it listens on (useful after listening on port 0).
  unsigned port() const { return port_; }

  // Pure request routing, exposed for tests: returns status, content type and body.
  struct Response {
    int status = 200;
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    // /metrics: the snapshot's prebuilt body (kept alive with its snapshot) instead of body.
    std::shared_ptr<const std::string> shared_body;
    std::string_view payload() const { return shared_body ? std::string_view(*shared_body) : std::string_view(body); }
  };
  // accept, accept_encoding: the request's headers, which choose the format and encoding of
  // /metrics (exposition/negotiation.h).
  Response route(const std::string& method, const std::string& path, std::string_view accept = {},
                 std::string_view accept_encoding = {}) const;
  // libmicrohttpd's access handler (called on its threads): checks, then route(); false closes the
  // connection.
  bool answer(MHD_Connection* connection, const char* url, const char* method, size_t* upload_data_size, void** state);
  // The request target as it came, to the path route() compares: absolute-form
  // ("http://host/metrics") becomes its path; %-escapes are decoded, except %00 and other bytes no
  // path has (the target then matches nothing).
  static std::string request_path(std::string_view target);
  // An Authorization header's Basic credentials (RFC 7617): user and password; nullopt when it
  // holds none.
  static std::optional<std::pair<std::string, std::string>> basic_credentials(std::string_view header);
  // Whether a request's headers announce a body (Content-Length other than "0", or any
  // Transfer-Encoding): such a request is answered 413 at once, whatever its target, /-/reload too.
  static bool announces_body(std::optional<std::string_view> content_length, bool transfer_encoding);
  // What /-/reload answers when no reload starts (403 without the lifecycle API, 405 to methods
  // other than POST and PUT); nullopt: the reload starts. Pure, so that tests/fuzz reaches it.
  static std::optional<Response> reload_refusal(bool lifecycle, std::string_view method);

 private:
  std::string landing_page() const;
  Response healthz() const;
  Response metrics(std::string_view accept, std::string_view accept_encoding) const;
  Status start_daemon();
  void stop_daemon();
  // Whether a request may go on: its TLS session meets the web configuration, the rate limit has a
  // token, its credentials are right. Otherwise the response to give (status 0: close instead).
  std::optional<Response> refuse(MHD_Connection* connection, const WebConfig& web);
  bool credentials_ok(const WebConfig& web, const std::string& user, const std::string& password);

  // Answers /-/reload: starts a reload and suspends the connection, or answers the finished one.
  bool lifecycle_reload(MHD_Connection* connection, const std::string& method, const WebConfig& web);
  // Resumes every connection waiting for a reload, with error as its answer (the daemon stops).
  void release_reload_waiters(const std::string& error);

  const SnapshotStore& snapshots_;
  std::atomic<std::shared_ptr<const std::vector<ModuleStatus>>> modules_;
  std::function<void(ReloadDone)> reload_;
  // Connections waiting for a reload: the request's number (a connection's address may be reused
  // by a later one) and, once the reload is done, its error ("" for success).
  struct ReloadWaiter {
    uint64_t id = 0;
    std::optional<std::string> error;
  };
  std::mutex reload_mutex_;  // guards what follows
  std::map<MHD_Connection*, ReloadWaiter> reload_waiters_;
  uint64_t next_reload_id_ = 0;
  std::string telemetry_path_;
  mutable std::mutex privileges_mutex_;
  std::string privileges_;
  HttpLimits limits_;
  Fd listener_;
  unsigned port_ = 0;
  MHD_Daemon* daemon_ = nullptr;
  std::atomic<unsigned> in_flight_{0};
  std::atomic<std::shared_ptr<const WebConfig>> web_{std::make_shared<const WebConfig>()};
  std::shared_ptr<const WebConfig> daemon_web_;  // what the running daemon's TLS was made from

  std::mutex auth_mutex_;                           // guards what follows
  std::map<std::string, std::string> good_logins_;  // user -> SHA-256 of a password that matched
  std::string dummy_hash_;                          // unknown users cost one bcrypt of this, as known ones do
  double tokens_ = 0;
  std::chrono::steady_clock::time_point tokens_at_{};
};

}  // namespace bpfex
