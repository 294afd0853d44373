// civetweb setup, request routing, the landing page and /healthz.
#include "http/server.h"

#include <civetweb.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "exposition/text_format.h"
#include "gen/version.h"
#include "http/listen_address.h"

namespace bpfex {
namespace {

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

Result<std::string> civetweb_listening_ports(const std::string& listen_address) {
  auto a = parse_listen_address(listen_address);
  if (!a) return Error{EINVAL, "invalid listen address \"" + listen_address + "\""};
  const std::string port = std::to_string(a->port);
  if (a->host.empty()) {
    // All addresses: "+" asks civetweb for a dual-stack IPv4+IPv6 socket when built with IPv6.
    return (mg_check_feature(8) ? "+" : "") + port;
  }
  if (a->ipv6) return "[" + a->host + "]:" + port;
  return a->host + ":" + port;
}

HttpServer::HttpServer(const SnapshotStore& snapshots, std::vector<ModuleStatus> modules, std::string telemetry_path)
    : snapshots_(snapshots), modules_(std::move(modules)), telemetry_path_(std::move(telemetry_path)) {}

Status HttpServer::start(const std::string& listen_address) {
  auto ports = civetweb_listening_ports(listen_address);
  if (!ports) return ports.error();
  mg_init_library(0);
  const char* options[] = {"listening_ports",
                           ports->c_str(),
                           "num_threads",
                           "4",  // scrapes are a memcpy of the snapshot: few threads suffice
                           "request_timeout_ms",
                           "10000",  // a stalled client cannot hold a thread forever
                           "enable_keep_alive",
                           "yes",
                           nullptr};
  mg_callbacks callbacks{};
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = options;
  char error_text[256] = "";
  mg_error_data error{};
  error.text = error_text;
  error.text_buffer_size = sizeof error_text;
  ctx_ = mg_start2(&init, &error);
  if (!ctx_) {
    mg_exit_library();
    return Error{EADDRINUSE,
                 "listen on " + listen_address + ": " + (error_text[0] ? error_text : "civetweb failed to start")};
  }
  mg_set_request_handler(ctx_, "/", &HttpServer::handle, this);
  return {};
}

void HttpServer::stop() {
  if (ctx_) {
    mg_stop(ctx_);
    mg_exit_library();
    ctx_ = nullptr;
  }
}

int HttpServer::handle(mg_connection* conn, void* self_ptr) {
  const auto* self = static_cast<const HttpServer*>(self_ptr);
  const mg_request_info* req = mg_get_request_info(conn);
  const std::string method = req->request_method ? req->request_method : "";
  const std::string path = req->local_uri ? req->local_uri : "/";
  Response r = self->route(method, path);
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
  head += "Content-Type: " + r.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  head += "Cache-Control: no-store\r\n";
  for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
  head += "\r\n";
  mg_write(conn, head.data(), head.size());
  if (method != "HEAD" && !r.body.empty()) mg_write(conn, r.body.data(), r.body.size());
  return r.status;
}

HttpServer::Response HttpServer::route(const std::string& method, const std::string& path) const {
  const bool known = path == "/" || path == "/healthz" || path == telemetry_path_;
  if (!known) return {404, "text/plain; charset=utf-8", "404 page not found\n", {}};
  if (method != "GET" && method != "HEAD")
    return {405, "text/plain; charset=utf-8", "405 method not allowed: use GET or HEAD\n", {{"Allow", "GET, HEAD"}}};
  if (path == telemetry_path_) return {200, std::string(kTextContentType), snapshots_.latest()->text, {}};
  if (path == "/healthz") return healthz();
  return {200, "text/html; charset=utf-8", landing_page(), {}};
}

HttpServer::Response HttpServer::healthz() const {
  std::string problems;
  for (const auto& m : modules_) {
    if (m.enabled && !m.up) problems += "module " + m.name + " is down: " + m.reason + "\n";
  }
  for (const auto& [name, problem] : snapshots_.latest()->problems)
    problems += "module " + name + " is unhealthy: " + problem + "\n";
  if (problems.empty()) return {200, "text/plain; charset=utf-8", "ok\n", {}};
  return {503, "text/plain; charset=utf-8", problems, {}};
}

std::string HttpServer::landing_page() const {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>bpfex</title>"
      "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em 1em;text-align:left;vertical-align:top}"
      ".up{color:#080}.down{color:#b00}.off{color:#888}</style></head><body>\n"
      "<h1>bpfex</h1>\n<p>Prometheus exporter of kernel metrics measured with eBPF. Version " BPFEX_VERSION
      " (" BPFEX_REVISION ").</p>\n";
  html +=
      "<p><a href=\"" + html_escape(telemetry_path_) + "\">Metrics</a> &middot; <a href=\"/healthz\">Health</a></p>\n";
  html += "<h2>Modules</h2>\n<table>\n<tr><th>module</th><th>state</th><th>programs</th></tr>\n";
  const auto snapshot = snapshots_.latest();
  for (const auto& m : modules_) {
    std::string state, cls;
    const auto problem = std::find_if(snapshot->problems.begin(), snapshot->problems.end(),
                                      [&](const auto& p) { return p.first == m.name; });
    if (!m.enabled) {
      state = "disabled";
      cls = "off";
    } else if (m.up && problem != snapshot->problems.end()) {
      state = "unhealthy: " + problem->second;
      cls = "down";
    } else if (m.up) {
      state = "up";
      cls = "up";
    } else {
      state = "down: " + m.reason;
      cls = "down";
    }
    std::string progs;
    for (const auto& p : m.programs) progs += html_escape(p.name) + " (" + html_escape(p.attach_point()) + ")<br>";
    html += "<tr><td>" + html_escape(m.name) + "</td><td class=\"" + cls + "\">" + html_escape(state) + "</td><td>" +
            progs + "</td></tr>\n";
  }
  html += "</table>\n</body></html>\n";
  return html;
}

}  // namespace bpfex
