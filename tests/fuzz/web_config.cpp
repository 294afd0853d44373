// The web configuration loader (parse_web_config, exporter-toolkit's format) on any bytes: never a
// crash or a hang; every error names a place and shows outside text quoted and cut; what it accepts
// can work: the TLS priorities it makes are ones GnuTLS takes, TLS versions are in order, headers are
// one line of visible characters, every bcrypt hash is one libxcrypt can check, a rate limit has a
// burst.
//
// Files named in the input are relative to a directory made at start-up, holding a certificate
// (cert.pem, also ca.pem), its key (key.pem), a key of another certificate (other.key) and a
// directory (dir): the seeds name them.
#include <crypt.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <variant>

#include "base/log.h"
#include "fuzz.h"
#include "http/web_config.h"

using bpfex::fuzz::check_message;
using bpfex::fuzz::show;

namespace {

// A PEM export of a GnuTLS object; empty on failure.
template <class Export, class Object>
std::string pem(Export export2, Object object) {
  gnutls_datum_t d{};
  if (export2(object, GNUTLS_X509_FMT_PEM, &d) < 0) return {};
  std::string out(reinterpret_cast<const char*>(d.data), d.size);
  gnutls_free(d.data);
  return out;
}

// A self-signed ECDSA certificate (a CA too) and its key, as PEM.
std::pair<std::string, std::string> make_certificate(const char* dn) {
  gnutls_x509_privkey_t key = nullptr;
  gnutls_x509_crt_t crt = nullptr;
  std::pair<std::string, std::string> out;
  const time_t now = time(nullptr);
  if (gnutls_x509_privkey_init(&key) == 0 &&
      gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) == 0 &&
      gnutls_x509_crt_init(&crt) == 0 && gnutls_x509_crt_set_version(crt, 3) == 0 &&
      gnutls_x509_crt_set_serial(crt, "\x01", 1) == 0 && gnutls_x509_crt_set_activation_time(crt, now - 60) == 0 &&
      gnutls_x509_crt_set_expiration_time(crt, now + 86400) == 0 && gnutls_x509_crt_set_dn(crt, dn, nullptr) == 0 &&
      gnutls_x509_crt_set_key(crt, key) == 0 && gnutls_x509_crt_set_ca_status(crt, 1) == 0 &&
      gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) == 0)
    out = {pem(gnutls_x509_crt_export2, crt), pem(gnutls_x509_privkey_export2, key)};
  if (crt) gnutls_x509_crt_deinit(crt);
  if (key) gnutls_x509_privkey_deinit(key);
  return out;
}

// The directory the input's file names are relative to; removed at exit.
class Fixtures {
 public:
  Fixtures() {
    char tmpl[] = "/tmp/bpfex-fuzz-web.XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::fprintf(stderr, "fuzz_web_config: mkdtemp: %s\n", std::strerror(errno));
      std::abort();
    }
    dir_ = tmpl;
    const auto [cert, key] = make_certificate("CN=bpfex-fuzz");
    const auto [other_cert, other_key] = make_certificate("CN=someone else");
    if (cert.empty() || key.empty() || other_key.empty()) {
      std::fprintf(stderr, "fuzz_web_config: cannot make a test certificate with GnuTLS\n");
      std::abort();
    }
    write("cert.pem", cert);
    write("ca.pem", cert);
    write("key.pem", key);
    write("other.key", other_key);
    std::filesystem::create_directory(dir_ / "dir");
  }
  ~Fixtures() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Fixtures(const Fixtures&) = delete;
  Fixtures& operator=(const Fixtures&) = delete;
  std::string dir() const { return dir_.string(); }

 private:
  void write(const char* name, const std::string& text) const { std::ofstream(dir_ / name, std::ios::binary) << text; }
  std::filesystem::path dir_;
};

Fixtures* fixtures = nullptr;

// The two digits of cost in a bcrypt hash ($2y$10$...).
int bcrypt_cost(const std::string& hash) { return (hash[4] - '0') * 10 + (hash[5] - '0'); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  bpfex::set_log_level(bpfex::LogLevel::error);
  static Fixtures made;
  fixtures = &made;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto result = bpfex::parse_web_config(text, "web.yml", fixtures->dir());
  if (const auto* errors = std::get_if<std::vector<bpfex::ConfigError>>(&result)) {
    FUZZ_CHECK(!errors->empty(), "parse_web_config failed without an error");
    for (const auto& e : *errors) {
      check_message(e.str());
      FUZZ_CHECK(e.line >= 0 && e.column >= 0 && (e.line == 0) == (e.column == 0), e.str());
    }
    return 0;
  }
  const bpfex::WebConfig& web = std::get<bpfex::LoadedWebConfig>(result).config;
  if (web.tls) {
    const bpfex::TlsSettings& tls = *web.tls;
    FUZZ_CHECK(!tls.cert_pem.empty() && !tls.key_pem.empty(), "TLS without a certificate or key");
    FUZZ_CHECK(0x0301 <= tls.min_version && tls.min_version <= tls.max_version && tls.max_version <= 0x0304,
               std::to_string(tls.min_version) + ".." + std::to_string(tls.max_version));
    // The server builds its TLS session from this string: GnuTLS must take it.
    const std::string priorities = tls.priorities();
    gnutls_priority_t p = nullptr;
    const char* where = nullptr;
    const int rc = gnutls_priority_init2(&p, priorities.c_str(), &where, 0);
    FUZZ_CHECK(rc == 0, "GnuTLS refuses the priorities " + priorities + ": " + gnutls_strerror(rc) + " at " +
                            show(where ? where : ""));
    gnutls_priority_deinit(p);
    if (tls.cipher_suites.empty()) FUZZ_CHECK(tls.suite_allowed("RSA", "AES-128-GCM", "AEAD"), "no suite allowed");
  }
  for (const auto& [name, value] : web.headers) {
    FUZZ_CHECK(!value.empty(), name + " set empty");
    // A field value is visible characters, spaces and tabs (RFC 9110 5.5): anything else breaks the
    // response for clients that check (Go's, Prometheus's), or is cut at a NUL on the way out.
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK((u >= 0x20 && u != 0x7f) || u == '\t', name + ": " + show(value));
    }
  }
  for (const auto& [user, hash] : web.basic_auth_users) {
    FUZZ_CHECK(!user.empty() && user.find(':') == std::string::npos, show(user));
    // A hash libxcrypt cannot use never matches: every login refused, and config check said fine.
    const int cost = bcrypt_cost(hash);
    FUZZ_CHECK(cost >= 4 && cost <= 31, "bcrypt cost " + std::to_string(cost) + ": " + show(hash));
    if (cost <= 5) {  // cheap enough to try here
      crypt_data cd{};
      const char* out = crypt_r("password", hash.c_str(), &cd);
      FUZZ_CHECK(out && std::strlen(out) == hash.size() && out[0] == '$',
                 "libxcrypt cannot check " + show(hash) + ": " + show(out ? out : "(null)"));
    }
  }
  if (web.rate_interval.count() > 0) FUZZ_CHECK(web.rate_burst >= 1, "a rate limit without a burst");
  return 0;
}
