// HTTP front: /metrics (the latest snapshot, copied), / (landing page), /healthz. Never enters the
// kernel.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/module_status.h"
#include "base/result.h"
#include "exposition/snapshot.h"

struct mg_context;
struct mg_connection;

namespace bpfex {

class HttpServer {
 public:
  // snapshots must outlive the server.
  HttpServer(const SnapshotStore& snapshots, std::vector<ModuleStatus> modules, std::string telemetry_path);
  ~HttpServer() { stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  Status start(const std::string& listen_address);
  void stop();

  // Pure request routing, exposed for tests: returns status, content type and body.
  struct Response {
    int status = 200;
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  Response route(const std::string& method, const std::string& path) const;

 private:
  static int handle(mg_connection* conn, void* self);
  std::string landing_page() const;
  Response healthz() const;

  const SnapshotStore& snapshots_;
  std::vector<ModuleStatus> modules_;
  std::string telemetry_path_;
  mg_context* ctx_ = nullptr;
};

// Converts a --web.listen-address to civetweb's listening_ports syntax.
Result<std::string> civetweb_listening_ports(const std::string& listen_address);

}  // namespace bpfex
