// The web configuration file: parsing with file:line:column errors, loading and pairing the
// certificates, the GnuTLS priorities, bcrypt.
#include "http/web_config.h"

#include <crypt.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "base/duration.h"
#include "base/fd.h"
#include "base/quote.h"

namespace bpfex {
namespace {

// Go's cipher suite names (crypto/tls) and the GnuTLS key exchange, cipher and MAC that make each.
struct Suite {
  const char* go;
  const char* kx;
  const char* cipher;
  const char* mac;
};
constexpr Suite kSuites[] = {
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES-128-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "AES-256-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "AES-128-GCM", "AEAD"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD"},
    // TLS 1.3 suites: Go accepts their names and ignores them (TLS 1.3 suites are not configurable).
    {"TLS_AES_128_GCM_SHA256", nullptr, nullptr, nullptr},
    {"TLS_AES_256_GCM_SHA384", nullptr, nullptr, nullptr},
    {"TLS_CHACHA20_POLY1305_SHA256", nullptr, nullptr, nullptr},
};

// Go's tls.CurveID names and GnuTLS's groups.
constexpr std::pair<const char*, const char*> kCurves[] = {
    {"CurveP256", "SECP256R1"}, {"CurveP384", "SECP384R1"}, {"CurveP521", "SECP521R1"}, {"X25519", "X25519"}};

constexpr std::pair<const char*, unsigned> kVersions[] = {
    {"TLS10", 0x0301}, {"TLS11", 0x0302}, {"TLS12", 0x0303}, {"TLS13", 0x0304}};

constexpr std::pair<const char*, ClientAuth> kClientAuth[] = {
    {"NoClientCert", ClientAuth::none},
    {"RequestClientCert", ClientAuth::request},
    {"RequireAnyClientCert", ClientAuth::require_any},
    {"VerifyClientCertIfGiven", ClientAuth::verify_if_given},
    {"RequireAndVerifyClientCert", ClientAuth::require_and_verify},
};

// The headers exporter-toolkit lets a web config set, and what each may hold ("" anything).
constexpr std::pair<const char*, const char*> kHeaders[] = {
    {"Content-Security-Policy", ""}, {"X-Frame-Options", "deny sameorigin"}, {"X-Content-Type-Options", "nosniff"},
    {"X-XSS-Protection", ""},        {"Strict-Transport-Security", ""},
};

// Certificates, keys and CAs are small: anything larger is not one.
constexpr off_t kMaxPemBytes = 1 << 20;

template <class Table>
std::string names_of(const Table& table) {
  std::string out;
  for (const auto& row : table) out += (out.empty() ? "" : ", ") + std::string(row.first);
  return out;
}

std::string suite_names() {
  std::string out;
  for (const Suite& s : kSuites) out += (out.empty() ? "" : ", ") + std::string(s.go);
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The mark of key in a mapping the reader read, for errors found after parsing (file contents).
YAML::Mark mark_of(const YamlMapReader& reader, std::string_view key) {
  for (const auto& [k, v] : reader.entries())
    if (k.Scalar() == key) return v.Mark();
  return YAML::Mark::null_mark();
}

std::optional<std::string> read_small_file(const std::string& path, std::string& out) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return "cannot read " + quote_value(path) + ": " + std::strerror(errno);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return "cannot read " + quote_value(path) + ": " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return quote_value(path) + " is not a regular file";
  if (st.st_size > kMaxPemBytes) return quote_value(path) + " is larger than 1 MiB";
  out.assign(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return std::nullopt;
}

gnutls_datum_t datum(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())), static_cast<unsigned>(s.size())};
}

// Whether the PEM certificate chain and key load and belong together; else GnuTLS's reason.
std::optional<std::string> check_key_pair(const std::string& cert, const std::string& key) {
  gnutls_certificate_credentials_t cred = nullptr;
  if (gnutls_certificate_allocate_credentials(&cred) < 0) return "out of memory";
  const gnutls_datum_t c = datum(cert), k = datum(key);
  const int rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, nullptr, 0);
  gnutls_certificate_free_credentials(cred);
  if (rc < 0) return std::string("certificate and key do not load together: ") + gnutls_strerror(rc);
  return std::nullopt;
}

std::optional<std::string> check_ca(const std::string& ca) {
  gnutls_certificate_credentials_t cred = nullptr;
  if (gnutls_certificate_allocate_credentials(&cred) < 0) return "out of memory";
  const gnutls_datum_t d = datum(ca);
  const int n = gnutls_certificate_set_x509_trust_mem(cred, &d, GNUTLS_X509_FMT_PEM);
  gnutls_certificate_free_credentials(cred);
  if (n < 0) return std::string("not a PEM CA certificate: ") + gnutls_strerror(n);
  if (n == 0) return "holds no PEM certificate";
  return std::nullopt;
}

std::string relative_to(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

// One PEM that may be inline (`inline_key`) or in a file (`file_key`), as exporter-toolkit allows.
void read_pem(YamlMapReader& tls, const char* inline_key, const char* file_key, const std::string& base_dir,
              bool required, std::string& pem, std::vector<std::string>& files) {
  std::string text, file;
  tls.field(inline_key, text);
  tls.field(file_key, file);
  if (!text.empty() && !file.empty()) {
    tls.diagnostics().add(mark_of(tls, file_key), tls.child_path(file_key),
                          std::string("give ") + inline_key + " or " + file_key + ", not both");
    return;
  }
  if (text.empty() && file.empty()) {
    if (required)
      tls.diagnostics().add(mark_of(tls, file_key), tls.child_path(file_key),
                            std::string("missing (") + file_key + " or " + inline_key + " is required)");
    return;
  }
  if (!text.empty()) {
    pem = text;
    return;
  }
  const std::string path = relative_to(base_dir, file);
  files.push_back(path);
  if (auto problem = read_small_file(path, pem))
    tls.diagnostics().add(mark_of(tls, file_key), tls.child_path(file_key), *problem);
}

void parse_tls(YamlMapReader& tls, const std::string& base_dir, TlsSettings& out, std::vector<std::string>& files) {
  ConfigDiagnostics& diag = tls.diagnostics();
  const size_t errors_before = diag.errors().size();
  read_pem(tls, "cert", "cert_file", base_dir, true, out.cert_pem, files);
  read_pem(tls, "key", "key_file", base_dir, true, out.key_pem, files);
  read_pem(tls, "client_ca", "client_ca_file", base_dir, false, out.client_ca_pem, files);

  std::string auth = "NoClientCert";
  tls.field("client_auth_type", auth, [](const std::string& v) -> std::optional<std::string> {
    for (const auto& [name, kind] : kClientAuth)
      if (v == name) return std::nullopt;
    return "unknown client_auth_type " + quote_value(v) + " (one of " + names_of(kClientAuth) + ")";
  });
  for (const auto& [name, kind] : kClientAuth)
    if (auth == name) out.client_auth = kind;
  tls.field("client_allowed_sans", out.client_allowed_sans);
  std::string min = "TLS12", max = "TLS13";
  auto version_check = [](const std::string& v) -> std::optional<std::string> {
    for (const auto& [name, wire] : kVersions)
      if (v == name) return std::nullopt;
    return "unknown TLS version " + quote_value(v) + " (one of " + names_of(kVersions) + ")";
  };
  tls.field("min_version", min, version_check);
  tls.field("max_version", max, version_check);
  for (const auto& [name, wire] : kVersions) {
    if (min == name) out.min_version = wire;
    if (max == name) out.max_version = wire;
  }
  if (out.min_version > out.max_version)
    diag.add(mark_of(tls, "max_version"), tls.child_path("max_version"), "lower than min_version " + quote_value(min));
  tls.field("cipher_suites", out.cipher_suites, [](const std::string& v) -> std::optional<std::string> {
    for (const Suite& s : kSuites)
      if (v == s.go) return std::nullopt;
    return "unknown cipher suite " + quote_value(v) + " (one of " + suite_names() + ")";
  });
  tls.field("curve_preferences", out.curve_preferences, [](const std::string& v) -> std::optional<std::string> {
    for (const auto& [name, group] : kCurves)
      if (v == name) return std::nullopt;
    return "unknown curve " + quote_value(v) + " (one of " + names_of(kCurves) + ")";
  });
  tls.field("prefer_server_cipher_suites", out.prefer_server_cipher_suites);
  tls.finish();
  if (diag.errors().size() != errors_before) return;

  const bool verifies =
      out.client_auth == ClientAuth::verify_if_given || out.client_auth == ClientAuth::require_and_verify;
  if (verifies && out.client_ca_pem.empty())
    diag.add(mark_of(tls, "client_auth_type"), tls.child_path("client_auth_type"),
             "client_auth_type " + auth + " needs client_ca_file (or client_ca): the CA to verify clients with");
  const bool requires_cert =
      out.client_auth == ClientAuth::require_any || out.client_auth == ClientAuth::require_and_verify;
  if (!out.client_allowed_sans.empty() && !requires_cert)
    diag.add(mark_of(tls, "client_allowed_sans"), tls.child_path("client_allowed_sans"),
             "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert");
  if (!out.cert_pem.empty() && !out.key_pem.empty())
    if (auto problem = check_key_pair(out.cert_pem, out.key_pem))
      diag.add(mark_of(tls, out.cert_pem.empty() ? "cert" : "cert_file"), tls.child_path("cert_file"), *problem);
  if (!out.client_ca_pem.empty())
    if (auto problem = check_ca(out.client_ca_pem))
      diag.add(mark_of(tls, "client_ca_file"), tls.child_path("client_ca_file"), *problem);
}

bool is_bcrypt_hash(const std::string& h) {
  // $2a$/$2b$/$2y$, a two-digit cost, then 53 characters of bcrypt's base64.
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') || h[3] != '$' ||
      !std::isdigit(static_cast<unsigned char>(h[4])) || !std::isdigit(static_cast<unsigned char>(h[5])) || h[6] != '$')
    return false;
  // bcrypt's costs are 4 to 31: libxcrypt refuses others, so such a hash would never match.
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(h.begin() + 7, h.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/'; });
}

}  // namespace

std::string TlsSettings::priorities() const {
  std::string p = "NORMAL:-VERS-ALL";
  for (const auto& [name, wire] : kVersions) {
    if (wire < min_version || wire > max_version) continue;
    p += wire == 0x0304 ? ":+VERS-TLS1.3" : ":+VERS-TLS1." + std::to_string(wire - 0x0301);
  }
  if (!curve_preferences.empty()) {
    p += ":-GROUP-ALL";
    for (const std::string& c : curve_preferences)
      for (const auto& [name, group] : kCurves)
        if (c == name) p += std::string(":+GROUP-") + group;
  }
  if (!cipher_suites.empty()) {
    // TLS 1.3's suites stay (as in Go, they are not configurable); TLS 1.2's are the ones named.
    p += ":-CIPHER-ALL:-MAC-ALL:-KX-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD";
    for (const std::string& name : cipher_suites)
      for (const Suite& s : kSuites)
        if (name == s.go && s.kx) p += std::string(":+") + s.kx + ":+" + s.cipher + ":+" + s.mac;
  }
  if (prefer_server_cipher_suites) p += ":%SERVER_PRECEDENCE";
  return p;
}

bool TlsSettings::suite_allowed(std::string_view kx, std::string_view cipher, std::string_view mac) const {
  if (cipher_suites.empty()) return true;
  for (const std::string& name : cipher_suites)
    for (const Suite& s : kSuites)
      if (name == s.go && s.kx && kx == s.kx && cipher == s.cipher && mac == s.mac) return true;
  return false;
}

std::vector<FileStamp> stamp_files(const std::vector<std::string>& paths) {
  std::vector<FileStamp> out;
  for (const std::string& p : paths) {
    FileStamp s{p};
    struct stat st {};
    if (stat(p.c_str(), &st) == 0) {
      s.dev = st.st_dev;
      s.ino = st.st_ino;
      s.size = st.st_size;
      s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    }
    out.push_back(s);
  }
  return out;
}

WebConfigResult parse_web_config(const std::string& text, const std::string& file, const std::string& base_dir) {
  ConfigDiagnostics diag(file);
  YAML::Node root;
  try {
    const YamlDocuments documents = load_yaml_documents(text);
    if (documents.second) {
      diag.add(*documents.second, "", "a second YAML document (after ---): the web configuration is one document");
      return diag.errors();
    }
    root = documents.first;
  } catch (const YAML::DeepRecursion& e) {
    diag.add(e.mark, "", "invalid YAML: nested more than " + std::to_string(e.depth()) + " levels deep");
    return diag.errors();
  } catch (const YAML::Exception& e) {
    // yaml-cpp's message can hold what the file held (an unknown escape names its character).
    diag.add(e.mark, "", "invalid YAML: " + escape_text(e.msg.size() > 200 ? e.msg.substr(0, 200) + "..." : e.msg));
    return diag.errors();
  }
  LoadedWebConfig out;
  if (root.IsNull()) return out;
  if (!root.IsMap()) {
    diag.add(root.Mark(), "", "the web configuration must be a mapping (tls_server_config, basic_auth_users, ...)");
    return diag.errors();
  }
  YamlMapReader top(root, "", diag);
  if (auto tls = top.section("tls_server_config")) {
    TlsSettings settings;
    parse_tls(*tls, base_dir, settings, out.files);
    out.config.tls = std::move(settings);
  }
  if (auto http = top.section("http_server_config")) {
    bool http2 = true;  // accepted as exporter-toolkit's; bpfex speaks HTTP/1.1 whatever it says
    http->field("http2", http2);
    if (auto headers = http->section("headers")) {
      for (const auto& [name, allowed] : kHeaders) {
        std::string value;
        headers->field(name, value,
                       [allowed = std::string(allowed)](const std::string& v) -> std::optional<std::string> {
                         if (allowed.empty() || v.empty()) return std::nullopt;
                         for (size_t start = 0; start < allowed.size();) {
                           const size_t end = std::min(allowed.find(' ', start), allowed.size());
                           if (lower(v) == allowed.substr(start, end - start)) return std::nullopt;
                           start = end + 1;
                         }
                         return "must be one of: " + allowed + ", got " + quote_value(v);
                       });
        // CR and LF would split the header; other control characters make a field value clients
        // refuse (RFC 9110 5.5: visible characters, spaces and tabs), a NUL cuts it on the way out
        // (found by tests/fuzz/web_config): refused like any malformed value.
        const bool control = std::any_of(value.begin(), value.end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return (u < 0x20 && u != '\t') || u == 0x7f;
        });
        if (control)
          diag.add(mark_of(*headers, name), headers->child_path(name),
                   "must be one line of visible characters, spaces and tabs, got " + quote_value(value));
        else if (!value.empty())
          out.config.headers.emplace_back(name, value);
      }
      headers->finish();
    }
    http->finish();
  }
  if (auto users = top.section("basic_auth_users")) {
    for (const auto& [key, value] : users->entries()) {
      const std::string user = key.Scalar();
      users->mark_used(user);
      if (!value.IsScalar() || !is_bcrypt_hash(value.Scalar())) {
        diag.add(value.Mark(), users->child_path(user),
                 "expected a bcrypt hash ($2y$10$... as htpasswd -nBC 10 makes it)");
        continue;
      }
      if (user.empty() || user.find(':') != std::string::npos) {
        diag.add(key.Mark(), users->child_path(user), "a user name must not be empty or hold ':'");
        continue;
      }
      out.config.basic_auth_users[user] = value.Scalar();
    }
    users->finish();
  }
  if (auto rate = top.section("rate_limit")) {
    std::string interval = "0";
    rate->field("interval", interval, [](const std::string& v) -> std::optional<std::string> {
      if (v == "0" || parse_duration(v)) return std::nullopt;
      return "invalid duration " + quote_value(v) + " (e.g. 1s; 0 turns the limit off)";
    });
    if (interval != "0")
      if (auto d = parse_duration(interval)) out.config.rate_interval = *d;
    rate->field("burst", out.config.rate_burst, in_range(0, 1u << 20));
    rate->finish();
    if (out.config.rate_interval.count() > 0 && out.config.rate_burst == 0)
      diag.add(mark_of(*rate, "burst"), rate->child_path("burst"), "must be at least 1 when interval is set");
  }
  top.finish();
  if (!diag.errors().empty()) return diag.errors();
  return out;
}

WebConfigResult load_web_config(const std::string& path) {
  std::string text;
  if (auto problem = read_small_file(path, text)) return std::vector<ConfigError>{{path, 0, 0, "", *problem}};
  const size_t slash = path.rfind('/');
  auto result = parse_web_config(text, path, slash == std::string::npos ? "." : path.substr(0, slash));
  if (auto* loaded = std::get_if<LoadedWebConfig>(&result)) loaded->files.insert(loaded->files.begin(), path);
  return result;
}

bool bcrypt_matches(const std::string& password, const std::string& hash) {
  if (!is_bcrypt_hash(hash) || password.find('\0') != std::string::npos) return false;
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
  if (!out || std::strlen(out) != hash.size()) return false;
  unsigned char diff = 0;  // every byte compared, whatever differs first
  for (size_t i = 0; i < hash.size(); ++i) diff |= static_cast<unsigned char>(out[i] ^ hash[i]);
  return diff == 0;
}

}  // namespace bpfex
