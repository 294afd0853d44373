// libmicrohttpd setup, the listening socket, request checks and routing, the landing page and
// /healthz.
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "exposition/negotiation.h"
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

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// libmicrohttpd decodes %-escapes in place, and a decoded %00 would end the path early
// ("/metrics%00" read as "/metrics"): it gets the target undecoded, request_path() decodes.
size_t keep_escaped(void*, MHD_Connection*, char* s) { return std::strlen(s); }

void mhd_log(void*, const char* format, va_list ap) {
  if (!log_enabled(LogLevel::debug)) return;
  char line[512];
  std::vsnprintf(line, sizeof line, format, ap);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  log_debug("http", {{"detail", text}});
}

// Enough file descriptors for max_connections plus what the modules hold (BPF objects, links).
unsigned connections_allowed(unsigned wanted) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return std::min(wanted, 512u);
  // The soft limit may be raised to the hard one without privilege (1024 is a common soft default).
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = std::min<rlim_t>(r.rlim_max, 1 << 20);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  constexpr rlim_t kReserve = 256;
  if (r.rlim_cur <= kReserve * 2) return std::min<unsigned>(wanted, static_cast<unsigned>(r.rlim_cur / 2));
  return static_cast<unsigned>(std::min<rlim_t>(wanted, r.rlim_cur - kReserve));
}

// The listening socket for a --web.listen-address: ":PORT" is every IPv6 and IPv4 address (one
// dual-stack socket; IPv4 only where the kernel has no IPv6).
Result<Fd> listen_on(const std::string& listen_address, unsigned& port) {
  auto a = parse_listen_address(listen_address);
  if (!a) return Error{EINVAL, "invalid listen address \"" + listen_address + "\""};
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = a->ipv6 || a->host.empty() ? AF_INET6 : AF_INET;
  Fd s(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s && family == AF_INET6 && a->host.empty() && errno == EAFNOSUPPORT) {
    family = AF_INET;
    s = Fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  }
  if (!s) return errno_error("listen on " + listen_address + ": socket");
  const int one = 1, zero = 0;
  setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(a->port));
    if (a->host.empty()) {
      a6->sin6_addr = in6addr_any;
      setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // and IPv4, mapped
    } else {
      inet_pton(AF_INET6, a->host.c_str(), &a6->sin6_addr);
      setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    len = sizeof *a6;
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(a->port));
    if (a->host.empty())
      a4->sin_addr.s_addr = htonl(INADDR_ANY);
    else
      inet_pton(AF_INET, a->host.c_str(), &a4->sin_addr);
    len = sizeof *a4;
  }
  if (bind(s.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return errno_error("listen on " + listen_address + ": bind");
  if (listen(s.get(), 1024) != 0) return errno_error("listen on " + listen_address + ": listen");
  len = sizeof ss;
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  port = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                  : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return s;
}

// Queues a response; HEAD gets the head only (libmicrohttpd leaves the body out).
MHD_Result send(MHD_Connection* connection, const HttpServer::Response& r) {
  const std::string_view payload = r.payload();
  MHD_Response* response =
      MHD_create_response_from_buffer(payload.size(), const_cast<char*>(payload.data()), MHD_RESPMEM_MUST_COPY);
  if (!response) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", r.content_type.c_str());
  MHD_add_response_header(response, "Cache-Control", "no-store");
  for (const auto& [k, v] : r.headers) MHD_add_response_header(response, k.c_str(), v.c_str());
  const MHD_Result ok = MHD_queue_response(connection, static_cast<unsigned>(r.status), response);
  MHD_destroy_response(response);
  return ok;
}

HttpServer::Response plain(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

MHD_Result on_request(void* self, MHD_Connection* connection, const char* url, const char* method, const char*,
                      const char*, size_t* upload_data_size, void** state) {
  return static_cast<HttpServer*>(self)->answer(connection, url, method, upload_data_size, state) ? MHD_YES : MHD_NO;
}

}  // namespace

HttpServer::HttpServer(const SnapshotStore& snapshots, std::vector<ModuleStatus> modules, std::string telemetry_path,
                       HttpLimits limits)
    : snapshots_(snapshots),
      modules_(std::move(modules)),
      telemetry_path_(std::move(telemetry_path)),
      limits_(limits) {}

Status HttpServer::start(const std::string& listen_address) {
  auto listener = listen_on(listen_address, port_);
  if (!listener) return listener.error();
  listener_ = std::move(listener.value());
  const unsigned connections = connections_allowed(limits_.max_connections);
  daemon_ = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &on_request, this,
                             MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, nullptr, MHD_OPTION_LISTEN_SOCKET,
                             static_cast<MHD_socket>(listener_.get()), MHD_OPTION_THREAD_POOL_SIZE, limits_.threads,
                             MHD_OPTION_CONNECTION_LIMIT, connections, MHD_OPTION_CONNECTION_TIMEOUT,
                             static_cast<unsigned>(limits_.idle_timeout.count()), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                             limits_.max_request_bytes, MHD_OPTION_UNESCAPE_CALLBACK, &keep_escaped, nullptr,
                             MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
  if (!daemon_) {
    listener_.reset();
    return Error{EIO, "listen on " + listen_address + ": libmicrohttpd did not start"};
  }
  log_debug("http: serving", {{"connections", std::to_string(connections)}});
  return {};
}

void HttpServer::stop() {
  if (daemon_) {
    MHD_stop_daemon(daemon_);  // joins its threads, closes every connection
    daemon_ = nullptr;
  }
  listener_.reset();
}

std::string HttpServer::request_path(std::string_view target) {
  // Absolute form (RFC 9112 3.2.2): scheme://authority/path.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && std::equal(scheme.begin(), scheme.end(), target.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      const size_t slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      break;
    }
  }
  std::string out;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' && i + 2 < target.size()) {
      const int hi = hex_value(target[i + 1]), lo = hex_value(target[i + 2]);
      const int byte = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
      // A control byte (%00 among them) is in no path of ours: keep it escaped, matching nothing.
      if (byte > 0x20 && byte != 0x7f) {
        out.push_back(static_cast<char>(byte));
        i += 2;
        continue;
      }
    }
    out.push_back(target[i]);
  }
  return out;
}

bool HttpServer::answer(MHD_Connection* connection, const char* url, const char* method, size_t* upload_data_size,
                        void** state) {
  // Called once as the headers are in, then for each piece of a body, then with no data when the
  // request is complete. A request with a body is answered at once, so the body is never read
  // (and the connection is closed); any other on its last call, so keep-alive and pipelining work.
  if (*state == nullptr) {
    *state = this;
    const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Content-Length");
    const bool body = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Transfer-Encoding") != nullptr ||
                      (length && std::strcmp(length, "0") != 0);
    if (body) return send(connection, plain(413, "413 request bodies are not accepted\n")) == MHD_YES;
    return true;
  }
  if (*upload_data_size != 0) {
    *upload_data_size = 0;  // a body after all: discarded
    return true;
  }
  if (in_flight_.fetch_add(1) >= limits_.max_requests) {
    in_flight_.fetch_sub(1);
    return send(connection, plain(503, "503 too many requests at once, try again\n")) == MHD_YES;
  }
  const char* accept = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Accept");
  const char* accept_encoding = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Accept-Encoding");
  const MHD_Result ok = send(connection, route(method ? method : "", request_path(url ? url : ""), accept ? accept : "",
                                               accept_encoding ? accept_encoding : ""));
  in_flight_.fetch_sub(1);
  return ok == MHD_YES;
}

HttpServer::Response HttpServer::route(const std::string& method, const std::string& path, std::string_view accept,
                                       std::string_view accept_encoding) const {
  const bool known = path == "/" || path == "/healthz" || path == telemetry_path_;
  if (!known) return plain(404, "404 page not found\n");
  if (method != "GET" && method != "HEAD") {
    Response r = plain(405, "405 method not allowed: use GET or HEAD\n");
    r.headers.push_back({"Allow", "GET, HEAD"});
    return r;
  }
  if (path == telemetry_path_) return metrics(accept, accept_encoding);
  if (path == "/healthz") return healthz();
  return {200, "text/html; charset=utf-8", landing_page(), {}};
}

// The latest snapshot's body in the negotiated format and encoding, serialized at most once per
// poll whoever asks: only copied from here on.
HttpServer::Response HttpServer::metrics(std::string_view accept, std::string_view accept_encoding) const {
  const Format format = negotiate_format(accept);
  const Encoding encoding = negotiate_encoding(accept_encoding);
  const BodyKind kind = BodyKind::of(format, encoding);
  snapshots_.wanted(kind);
  const auto snapshot = snapshots_.latest();
  Response r{200, std::string(content_type(format)), {}, {}, {}};
  // Accept too: a cache must not hand a protobuf body to a text scraper.
  r.headers.push_back({"Vary", "Accept, Accept-Encoding"});
  if (encoding == Encoding::gzip) r.headers.push_back({"Content-Encoding", "gzip"});
  r.shared_body = std::shared_ptr<const std::string>(snapshot, &snapshot->body(kind));
  return r;
}

HttpServer::Response HttpServer::healthz() const {
  std::string problems;
  for (const auto& m : modules_) {
    if (m.enabled && !m.up) problems += "module " + m.name + " is down: " + m.reason + "\n";
  }
  for (const auto& [name, problem] : snapshots_.latest()->problems)
    problems += "module " + name + " is unhealthy: " + problem + "\n";
  if (problems.empty()) return plain(200, "ok\n");
  return plain(503, problems);
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
