// libmicrohttpd setup, the listening socket, request checks and routing, the landing page and
// /healthz.
#include "http/server.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <strings.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "base/quote.h"
#include "exposition/negotiation.h"
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
  if (!a) return Error{EINVAL, "invalid listen address " + quote_value(listen_address)};
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

// Queues a response with the web configuration's headers; HEAD gets the head only (libmicrohttpd
// leaves the body out).
MHD_Result send(MHD_Connection* connection, const HttpServer::Response& r, const WebConfig& web) {
  const std::string_view payload = r.payload();
  MHD_Response* response = nullptr;
  if (r.shared_body) {
    // A snapshot's body: sent from where it is (a 9 MB body is not copied per scrape), the snapshot
    // kept alive by a reference that libmicrohttpd drops when the response is done.
    using Keep = std::shared_ptr<const std::string>;
    auto keep = std::make_unique<Keep>(r.shared_body);
    response = MHD_create_response_from_buffer_with_free_callback_cls(
        payload.size(), const_cast<char*>(payload.data()), [](void* p) { delete static_cast<Keep*>(p); }, keep.get());
    if (response) (void)keep.release();  // libmicrohttpd owns it now
  } else {
    response =
        MHD_create_response_from_buffer(payload.size(), const_cast<char*>(payload.data()), MHD_RESPMEM_MUST_COPY);
  }
  if (!response) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", r.content_type.c_str());
  MHD_add_response_header(response, "Cache-Control", "no-store");
  for (const auto& [k, v] : r.headers) MHD_add_response_header(response, k.c_str(), v.c_str());
  for (const auto& [k, v] : web.headers) MHD_add_response_header(response, k.c_str(), v.c_str());
  const MHD_Result ok = MHD_queue_response(connection, static_cast<unsigned>(r.status), response);
  MHD_destroy_response(response);
  return ok;
}

HttpServer::Response plain(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

// RFC 4648 base64; nullopt when s is not.
std::optional<std::string> base64_decode(std::string_view s) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=') {
      ++padding;
      continue;
    } else {
      return std::nullopt;
    }
    if (padding) return std::nullopt;  // data after padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (padding > 2 || (s.size() % 4) != 0) return std::nullopt;
  return out;
}

std::string sha256(const std::string& s) {
  unsigned char digest[32];
  gnutls_hash_fast(GNUTLS_DIG_SHA256, s.data(), s.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

// Whether the client certificate has a Subject Alternative Name (DNS, IP, e-mail, URI) that is
// exactly one of allowed.
bool san_allowed(const gnutls_datum_t& der, const std::vector<std::string>& allowed) {
  gnutls_x509_crt_t crt = nullptr;
  if (gnutls_x509_crt_init(&crt) < 0) return false;
  bool found = false;
  if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) >= 0) {
    for (unsigned i = 0; !found; ++i) {
      char buf[1024];
      size_t size = sizeof buf;
      unsigned critical = 0;
      const int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, &critical);
      if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
      if (type < 0) continue;
      std::string name(buf, size);
      if (type == GNUTLS_SAN_IPADDRESS) {
        char text[INET6_ADDRSTRLEN] = "";
        if (size == 4) inet_ntop(AF_INET, buf, text, sizeof text);
        if (size == 16) inet_ntop(AF_INET6, buf, text, sizeof text);
        name = text;
      } else if (type != GNUTLS_SAN_DNSNAME && type != GNUTLS_SAN_RFC822NAME && type != GNUTLS_SAN_URI) {
        continue;
      }
      found = std::find(allowed.begin(), allowed.end(), name) != allowed.end();
    }
  }
  gnutls_x509_crt_deinit(crt);
  return found;
}

MHD_Result on_request(void* self, MHD_Connection* connection, const char* url, const char* method, const char*,
                      const char*, size_t* upload_data_size, void** state) {
  return static_cast<HttpServer*>(self)->answer(connection, url, method, upload_data_size, state) ? MHD_YES : MHD_NO;
}

}  // namespace

HttpServer::HttpServer(const SnapshotStore& snapshots, std::vector<ModuleStatus> modules, std::string telemetry_path,
                       HttpLimits limits)
    : snapshots_(snapshots),
      modules_(std::make_shared<const std::vector<ModuleStatus>>(std::move(modules))),
      telemetry_path_(std::move(telemetry_path)),
      limits_(limits) {}

Status HttpServer::start(const std::string& listen_address, const WebConfig& web) {
  auto listener = listen_on(listen_address, port_);
  if (!listener) return listener.error();
  listener_ = std::move(listener.value());
  web_.store(std::make_shared<const WebConfig>(web));
  {
    // A bcrypt hash of nothing anyone knows, for unknown users to cost what known ones do.
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    crypt_data data{};
    if (crypt_gensalt_rn("$2y$", 10, nullptr, 0, salt, sizeof salt))
      if (const char* h = crypt_rn(std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()).c_str(),
                                   salt, &data, sizeof data))
        dummy_hash_ = h;
  }
  if (Status st = start_daemon(); !st) {
    listener_.reset();
    return st.error().wrap("listen on " + listen_address);
  }
  return {};
}

Status HttpServer::start_daemon() {
  const std::shared_ptr<const WebConfig> web = web_.load();
  const unsigned connections = connections_allowed(limits_.max_connections);
  // TLS options, when configured: the strings live as long as the daemon (daemon_web_).
  std::vector<MHD_OptionItem> tls;
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
  std::string priorities;
  if (web->tls) {
    flags |= MHD_USE_TLS;
    tls.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(web->tls->key_pem.c_str())});
    tls.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(web->tls->cert_pem.c_str())});
    priorities = web->tls->priorities();
    tls.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0, nullptr});  // filled below, once priorities is final
    // A trust list makes the server ask clients for a certificate. Request and RequireAny verify
    // nothing, so any PEM certificate will do when there is no client CA: the server's own.
    if (web->tls->client_auth != ClientAuth::none) {
      const std::string& trust = web->tls->client_ca_pem.empty() ? web->tls->cert_pem : web->tls->client_ca_pem;
      tls.push_back({MHD_OPTION_HTTPS_MEM_TRUST, 0, const_cast<char*>(trust.c_str())});
    }
  }
  tls.push_back({MHD_OPTION_END, 0, nullptr});
  for (auto& o : tls)
    if (o.option == MHD_OPTION_HTTPS_PRIORITIES) o.ptr_value = const_cast<char*>(priorities.c_str());
  daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &on_request, this, MHD_OPTION_EXTERNAL_LOGGER, &mhd_log,
                             nullptr, MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(listener_.get()),
                             MHD_OPTION_THREAD_POOL_SIZE, limits_.threads, MHD_OPTION_CONNECTION_LIMIT, connections,
                             MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(limits_.idle_timeout.count()),
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits_.max_request_bytes,
                             MHD_OPTION_UNESCAPE_CALLBACK, &keep_escaped, nullptr, MHD_OPTION_STRICT_FOR_CLIENT, 1,
                             MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_ARRAY, tls.data(), MHD_OPTION_END);
  if (!daemon_)
    return Error{EIO, web->tls ? "libmicrohttpd did not start with this TLS configuration (run with "
                                 "--log.level=debug for its words)"
                               : "libmicrohttpd did not start"};
  daemon_web_ = web;
  log_debug("http: serving", {{"connections", std::to_string(connections)}, {"tls", web->tls ? "on" : "off"}});
  return {};
}

void HttpServer::stop_daemon() {
  if (!daemon_) return;
  // libmicrohttpd must not stop with suspended connections: answer those waiting for a reload.
  release_reload_waiters("bpfex's HTTP server is restarting or stopping; the reload goes on");
  // Quiesced first: stopping then leaves the listening socket (ours) open for the next daemon.
  MHD_quiesce_daemon(daemon_);
  MHD_stop_daemon(daemon_);  // joins its threads, closes every connection
  daemon_ = nullptr;
  std::lock_guard lock(reload_mutex_);
  reload_waiters_.clear();
}

Status HttpServer::apply(const WebConfig& web) {
  auto next = std::make_shared<const WebConfig>(web);
  const bool tls_changed = !daemon_web_ || daemon_web_->tls != next->tls;
  {
    std::lock_guard lock(auth_mutex_);
    good_logins_.clear();  // users or their passwords may have changed
  }
  std::shared_ptr<const WebConfig> previous = web_.exchange(next);
  if (!tls_changed || !daemon_) return {};
  stop_daemon();
  if (Status st = start_daemon(); !st) {
    // The new TLS settings do not start: back to what ran.
    web_.store(previous);
    if (Status again = start_daemon(); !again) return again.error().wrap("restoring the previous web configuration");
    return st;
  }
  return {};
}

void HttpServer::stop() {
  stop_daemon();
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
  const std::shared_ptr<const WebConfig> web = web_.load();
  if (*state == nullptr) {
    *state = this;
    // TLS, rate limit and credentials first: nothing else is said to whom they refuse.
    if (auto refused = refuse(connection, *web)) {
      if (refused->status == 0) return false;  // closed, as a failed TLS client check would be
      return send(connection, *refused, *web) == MHD_YES;
    }
    const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Content-Length");
    const bool chunked = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Transfer-Encoding") != nullptr;
    if (announces_body(length ? std::optional<std::string_view>(length) : std::nullopt, chunked))
      return send(connection, plain(413, "413 request bodies are not accepted\n"), *web) == MHD_YES;
    return true;
  }
  if (*upload_data_size != 0) {
    *upload_data_size = 0;  // a body after all: discarded
    return true;
  }
  if (in_flight_.fetch_add(1) >= limits_.max_requests) {
    in_flight_.fetch_sub(1);
    return send(connection, plain(503, "503 too many requests at once, try again\n"), *web) == MHD_YES;
  }
  const std::string path = request_path(url ? url : "");
  if (path == kReloadPath) {
    in_flight_.fetch_sub(1);
    return lifecycle_reload(connection, method ? method : "", *web);
  }
  const char* accept = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Accept");
  const char* accept_encoding = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Accept-Encoding");
  const MHD_Result ok =
      send(connection, route(method ? method : "", path, accept ? accept : "", accept_encoding ? accept_encoding : ""),
           *web);
  in_flight_.fetch_sub(1);
  return ok == MHD_YES;
}

bool HttpServer::lifecycle_reload(MHD_Connection* connection, const std::string& method, const WebConfig& web) {
  if (auto refused = reload_refusal(static_cast<bool>(reload_), method))
    return send(connection, *refused, web) == MHD_YES;
  std::unique_lock lock(reload_mutex_);
  auto it = reload_waiters_.find(connection);
  if (it != reload_waiters_.end()) {
    if (!it->second.error) return true;  // not done yet (a spurious call)
    const std::string error = std::move(*it->second.error);
    reload_waiters_.erase(it);
    lock.unlock();
    return send(connection, error.empty() ? plain(200, "") : plain(500, "failed to reload config: " + error + "\n"),
                web) == MHD_YES;
  }
  const uint64_t id = ++next_reload_id_;
  reload_waiters_[connection] = ReloadWaiter{id, std::nullopt};
  MHD_suspend_connection(connection);
  lock.unlock();
  reload_([this, connection, id](const std::string& error) {
    std::lock_guard done(reload_mutex_);
    auto w = reload_waiters_.find(connection);
    if (w == reload_waiters_.end() || w->second.id != id || w->second.error) return;  // answered already
    w->second.error = error;
    MHD_resume_connection(connection);  // libmicrohttpd calls answer() again: it sends the result
  });
  return true;
}

bool HttpServer::announces_body(std::optional<std::string_view> content_length, bool transfer_encoding) {
  return transfer_encoding || (content_length && *content_length != "0");
}

std::optional<HttpServer::Response> HttpServer::reload_refusal(bool lifecycle, std::string_view method) {
  // Prometheus' answers, word for word where it has them.
  if (!lifecycle) return plain(403, "Lifecycle API is not enabled.\n");
  if (method != "POST" && method != "PUT") {
    Response r = plain(405, "Only POST or PUT requests allowed\n");
    r.headers.push_back({"Allow", "POST, PUT"});
    return r;
  }
  return std::nullopt;
}

void HttpServer::release_reload_waiters(const std::string& error) {
  std::lock_guard lock(reload_mutex_);
  for (auto& [connection, waiter] : reload_waiters_) {
    if (waiter.error) continue;
    waiter.error = error;
    MHD_resume_connection(connection);
  }
}

std::optional<HttpServer::Response> HttpServer::refuse(MHD_Connection* connection, const WebConfig& web) {
  if (web.tls && daemon_web_ && daemon_web_->tls) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    auto* session = info ? static_cast<gnutls_session_t>(info->tls_session) : nullptr;
    if (!session) return Response{0, "", "", {}};
    const TlsSettings& tls = *daemon_web_->tls;
    if (gnutls_protocol_get_version(session) != GNUTLS_TLS1_3) {
      const char* kx = gnutls_kx_get_name(gnutls_kx_get(session));
      const char* cipher = gnutls_cipher_get_name(gnutls_cipher_get(session));
      const char* mac = gnutls_mac_get_name(gnutls_mac_get(session));
      if (!tls.suite_allowed(kx ? kx : "", cipher ? cipher : "", mac ? mac : "")) {
        log_debug("http: TLS cipher suite not in cipher_suites",
                  {{"kx", kx ? kx : ""}, {"cipher", cipher ? cipher : ""}});
        return Response{0, "", "", {}};
      }
    }
    unsigned peers = 0;
    const gnutls_datum_t* chain = gnutls_certificate_get_peers(session, &peers);
    const bool has_cert = chain && peers > 0;
    const bool must_have =
        tls.client_auth == ClientAuth::require_any || tls.client_auth == ClientAuth::require_and_verify;
    const bool must_verify = tls.client_auth == ClientAuth::require_and_verify ||
                             (tls.client_auth == ClientAuth::verify_if_given && has_cert);
    if (must_have && !has_cert) {
      log_debug("http: no client certificate");
      return Response{0, "", "", {}};
    }
    if (must_verify) {
      unsigned status = 0;
      if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0) {
        log_debug("http: client certificate not verified");
        return Response{0, "", "", {}};
      }
    }
    if (!tls.client_allowed_sans.empty() && !(has_cert && san_allowed(chain[0], tls.client_allowed_sans))) {
      log_debug("http: client certificate has no allowed SAN");
      return Response{0, "", "", {}};
    }
  }
  if (web.rate_interval.count() > 0) {
    std::lock_guard lock(auth_mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (tokens_at_ == std::chrono::steady_clock::time_point{}) tokens_ = web.rate_burst;
    tokens_ = std::min<double>(web.rate_burst, tokens_ + std::chrono::duration<double>(now - tokens_at_) /
                                                             std::chrono::duration<double>(web.rate_interval));
    tokens_at_ = now;
    if (tokens_ < 1) return plain(429, "429 too many requests\n");
    tokens_ -= 1;
  }
  if (!web.basic_auth_users.empty()) {
    Response unauthorized = plain(401, "401 unauthorized\n");
    unauthorized.headers.push_back({"WWW-Authenticate", "Basic"});
    const char* header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
    const auto credentials = header ? basic_credentials(header) : std::nullopt;
    if (!credentials || !credentials_ok(web, credentials->first, credentials->second)) return unauthorized;
  }
  return std::nullopt;
}

bool HttpServer::credentials_ok(const WebConfig& web, const std::string& user, const std::string& password) {
  const std::string digest = sha256(password);
  {
    std::lock_guard lock(auth_mutex_);
    auto it = good_logins_.find(user);
    if (it != good_logins_.end() && it->second == digest) return true;
  }
  // bcrypt costs tens of milliseconds on purpose; an unknown user costs one too, so that the time a
  // refusal takes does not tell which users exist.
  auto known = web.basic_auth_users.find(user);
  const bool ok = bcrypt_matches(password, known == web.basic_auth_users.end() ? dummy_hash_ : known->second) &&
                  known != web.basic_auth_users.end();
  if (ok) {
    std::lock_guard lock(auth_mutex_);
    if (good_logins_.size() > 1024) good_logins_.clear();  // bounded: users are few
    good_logins_[user] = digest;
  }
  return ok;
}

std::optional<std::pair<std::string, std::string>> HttpServer::basic_credentials(std::string_view header) {
  if (header.size() < 6 || strncasecmp(header.data(), "Basic ", 6) != 0) return std::nullopt;
  auto decoded = base64_decode(header.substr(6));
  if (!decoded) return std::nullopt;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded->substr(0, colon), decoded->substr(colon + 1)};
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
// poll whoever asks, and never copied: the response shares it (and keeps the snapshot alive) until
// libmicrohttpd has sent it, gzipped or not, GET or HEAD.
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
  for (const auto& m : *modules_.load()) {
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
  for (const auto& m : *modules_.load()) {
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
  html += "</table>\n";
  {
    const std::lock_guard lock(privileges_mutex_);
    if (!privileges_.empty()) html += "<h2>Privileges</h2>\n<p>" + html_escape(privileges_) + "</p>\n";
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace bpfex
