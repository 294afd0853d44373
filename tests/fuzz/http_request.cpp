// What a request reaches below libmicrohttpd: HttpServer::request_path (the target as route()
// compares it) and HttpServer::route, for any method, target and valid telemetry path. Properties:
// only GET and HEAD of the three paths answer 200 (/metrics with the snapshot in the format and
// encoding Accept and Accept-Encoding negotiate, whatever they say); any other known path
// is 405 with Allow, anything else 404; decoding never makes a control byte (%00 stays escaped) or
// a longer path; every spelling a client may use for the telemetry path (%-escapes in either case,
// absolute form) reaches it. HttpServer::basic_credentials, what basic auth reads of an
// Authorization header: any header, never a user holding ':'; what a client encodes comes back.
// And HttpServer::announces_body and reload_refusal, what answer() decides
// before route(): bodies refused whatever the target, /-/reload (--web.enable-lifecycle) by method.
//
// Input: METHOD \n TARGET \n TELEMETRY_PATH \n ACCEPT \n ACCEPT_ENCODING \n then bytes choosing which characters to
// escape, a byte, then AUTHORIZATION_HEADER \n USER : PASSWORD \n, then a byte (1: lifecycle API on, 2:
// Transfer-Encoding, 4: Content-Length) and the Content-Length value.
#include <algorithm>
#include <array>
#include <optional>
#include <string_view>
#include <utility>

#include "config/config.h"
#include "exposition/negotiation.h"
#include "fuzz.h"
#include "http/server.h"

using bpfex::fuzz::show;

namespace {

bool control(unsigned char c) { return c <= 0x20 || c == 0x7f; }

std::string base64(std::string_view s) {
  static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < s.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << 16;
    if (i + 1 < s.size()) n |= static_cast<uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8;
    if (i + 2 < s.size()) n |= static_cast<unsigned char>(s[i + 2]);
    out += kDigits[n >> 18 & 63];
    out += kDigits[n >> 12 & 63];
    out += i + 1 < s.size() ? kDigits[n >> 6 & 63] : '=';
    out += i + 2 < s.size() ? kDigits[n & 63] : '=';
  }
  return out;
}

std::string percent_encode(std::string_view path, bpfex::fuzz::Input& in) {
  std::string out;
  uint8_t bits = 0;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i % 4 == 0) bits = in.byte();
    const unsigned choice = (bits >> (2 * (i % 4))) & 3;
    const auto c = static_cast<unsigned char>(path[i]);
    if (choice == 0 || c == '/') {  // an escaped '/' is not a path separator: never written so
      out.push_back(static_cast<char>(c));
      continue;
    }
    char hex[4];
    std::snprintf(hex, sizeof hex, choice == 1 ? "%%%02X" : "%%%02x", c);
    out += hex;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bpfex::fuzz::Input in(data, size);
  const std::string method = in.until('\n'), target = in.until('\n');
  std::string telemetry = in.until('\n');
  if (bpfex::check_telemetry_path(telemetry)) telemetry = "/metrics";  // the server only gets valid ones
  const std::string accept = in.until('\n'), accept_encoding = in.until('\n');

  bpfex::SnapshotStore snapshots;
  auto counter = bpfex::counter_family("bpfex_fuzz_total", "x");
  counter.add({}, 1);
  snapshots.publish(std::make_shared<const bpfex::Snapshot>(bpfex::Families{counter.build()}));
  bpfex::HttpServer server(snapshots, {bpfex::ModuleStatus{"exec", true, true, "", {}}}, telemetry);

  const std::string path = bpfex::HttpServer::request_path(target);
  FUZZ_CHECK(path.size() <= std::max<size_t>(target.size(), 1), show(target) + " -> " + show(path));
  std::array<size_t, 256> in_target{}, in_path{};
  for (char c : target) ++in_target[static_cast<unsigned char>(c)];
  for (char c : path) ++in_path[static_cast<unsigned char>(c)];
  for (unsigned c = 0; c < 256; ++c)
    if (control(static_cast<unsigned char>(c)))
      FUZZ_CHECK(in_path[c] <= in_target[c], "decoding made a control byte: " + show(target) + " -> " + show(path));
  if (!target.empty() && target[0] == '/' && target.find('%') == std::string::npos)
    FUZZ_CHECK(path == target, show(target) + " -> " + show(path));

  const bpfex::HttpServer::Response r = server.route(method, path, accept, accept_encoding);
  const bool known = path == "/" || path == "/healthz" || path == telemetry;
  const bool readable = method == "GET" || method == "HEAD";
  FUZZ_CHECK(!r.content_type.empty(), "no Content-Type");
  if (!known) {
    FUZZ_CHECK(r.status == 404, method + " " + show(path) + ": " + std::to_string(r.status));
  } else if (!readable) {
    FUZZ_CHECK(r.status == 405, show(method) + " " + path + ": " + std::to_string(r.status));
    FUZZ_CHECK(!r.headers.empty() && r.headers[0].first == "Allow", "405 without Allow");
  } else {
    FUZZ_CHECK(r.status == 200, method + " " + path + ": " + std::to_string(r.status));
    if (path == telemetry) {
      // Any Accept and Accept-Encoding get metrics: the negotiated format, gzip only when accepted,
      // text 0.0.4 when nothing else fits; never an error.
      const bpfex::Format format = bpfex::negotiate_format(accept);
      const bool gzip = bpfex::negotiate_encoding(accept_encoding) == bpfex::Encoding::gzip;
      FUZZ_CHECK(r.content_type == bpfex::content_type(format), show(accept) + " -> " + r.content_type);
      const bool says_gzip = std::any_of(r.headers.begin(), r.headers.end(), [](const auto& h) {
        return h.first == "Content-Encoding" && h.second == "gzip";
      });
      FUZZ_CHECK(says_gzip == gzip,
                 show(accept_encoding) + ": Content-Encoding gzip " + (says_gzip ? "sent" : "missing"));
      const std::string_view body = r.payload();
      if (gzip)
        FUZZ_CHECK(body.size() > 2 && body[0] == '\x1f' && body[1] == '\x8b', "gzip body without gzip's magic");
      else if (format != bpfex::Format::protobuf)
        FUZZ_CHECK(body.find("bpfex_fuzz_total 1") != std::string_view::npos, "telemetry path without the snapshot");
      else
        FUZZ_CHECK(body.find("bpfex_fuzz_total") != std::string_view::npos, "protobuf body without the family");
    }
  }
  // Headers never carry what a client sent (no response splitting).
  for (const auto& [k, v] : r.headers)
    FUZZ_CHECK(k.find_first_of("\r\n") == std::string::npos && v.find_first_of("\r\n") == std::string::npos, k);

  // The telemetry path as clients may spell it.
  const std::string encoded = percent_encode(telemetry, in);
  FUZZ_CHECK(bpfex::HttpServer::request_path(encoded) == telemetry, show(encoded));
  const std::string absolute = (in.byte() & 1 ? "HTTP://node:9650" : "http://[::1]:9650") + encoded;
  FUZZ_CHECK(bpfex::HttpServer::request_path(absolute) == telemetry, show(absolute));

  const std::string authorization = in.until('\n');
  if (const auto got = bpfex::HttpServer::basic_credentials(authorization))
    FUZZ_CHECK(got->first.find(':') == std::string::npos, show(authorization) + " -> user " + show(got->first));
  std::string user = in.until(':');
  const std::string password = in.until('\n');
  std::erase(user, ':');
  const std::string scheme = authorization.size() % 3 == 0   ? "Basic "
                             : authorization.size() % 3 == 1 ? "basic "
                                                             : "BASIC ";
  const std::string header = scheme + base64(user + ":" + password);
  const auto got = bpfex::HttpServer::basic_credentials(header);
  FUZZ_CHECK(got && got->first == user && got->second == password, show(header));

  // What answer() decides before route() (which never sees /-/reload): a request announcing a body
  // is 413 whatever its target; /-/reload starts a reload on POST and PUT only, with the lifecycle
  // API on (--web.enable-lifecycle), and is 403 to everyone without it.
  const uint8_t how = in.byte();
  const bool lifecycle = (how & 1) != 0, chunked = (how & 2) != 0;
  const std::string length = in.rest();
  const auto content_length = (how & 4) != 0 ? std::optional<std::string_view>(length) : std::nullopt;
  const bool body = bpfex::HttpServer::announces_body(content_length, chunked);
  if (chunked || (content_length && content_length->find_first_of("123456789") != std::string_view::npos))
    FUZZ_CHECK(body, "a body not seen: Content-Length " + show(length) + (chunked ? ", chunked" : ""));
  if (!chunked && !content_length) FUZZ_CHECK(!body, "a body seen without Content-Length or Transfer-Encoding");
  FUZZ_CHECK(telemetry != bpfex::kReloadPath, "the telemetry path hides /-/reload");
  if (path == bpfex::kReloadPath) {
    const auto refused = bpfex::HttpServer::reload_refusal(lifecycle, method);
    const std::string what = show(method) + (lifecycle ? " with" : " without") + " the lifecycle API";
    if (!lifecycle) {
      FUZZ_CHECK(refused && refused->status == 403, what + ": not 403");
    } else if (method == "POST" || method == "PUT") {
      FUZZ_CHECK(!refused, what + ": no reload");
    } else {
      FUZZ_CHECK(refused && refused->status == 405, what + ": not 405");
      const bool allow = !refused->headers.empty() && refused->headers[0].first == "Allow" &&
                         refused->headers[0].second == "POST, PUT";
      FUZZ_CHECK(allow, what + ": 405 without Allow: POST, PUT");
    }
  }
  return 0;
}
