// --web.config.file: TLS, basic authentication and response headers, in exporter-toolkit's format
// (its docs/web-configuration.md is the reference: same keys, same meaning), so operators can
// reuse the file they give node_exporter.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "config/options.h"

namespace bpfex {

// Go's tls.ClientAuthType names, in their order.
enum class ClientAuth { none, request, require_any, verify_if_given, require_and_verify };

struct TlsSettings {
  std::string cert_pem, key_pem, client_ca_pem;  // as read (inline or from the files)
  ClientAuth client_auth = ClientAuth::none;
  std::vector<std::string> client_allowed_sans;
  unsigned min_version = 0x0303, max_version = 0x0304;  // TLS 1.2 .. 1.3 (wire versions)
  std::vector<std::string> cipher_suites;               // Go names; empty: the library's defaults
  std::vector<std::string> curve_preferences;           // Go names, in preference order
  bool prefer_server_cipher_suites = true;

  // The GnuTLS priority string these settings make.
  std::string priorities() const;
  // Whether a TLS 1.2 (or older) session's key exchange, cipher and MAC (GnuTLS names) are one of
  // cipher_suites (GnuTLS priorities cannot name whole suites; this closes the gap).
  bool suite_allowed(std::string_view kx, std::string_view cipher, std::string_view mac) const;
  bool operator==(const TlsSettings&) const = default;
};

struct WebConfig {
  std::optional<TlsSettings> tls;
  std::vector<std::pair<std::string, std::string>> headers;  // added to every response
  std::map<std::string, std::string> basic_auth_users;       // user -> bcrypt hash
  // Token bucket over every request: one token per interval, at most burst; 0: no limit.
  std::chrono::nanoseconds rate_interval{0};
  uint32_t rate_burst = 0;
  bool operator==(const WebConfig&) const = default;
};

// The files a web configuration depends on (itself, certificates, keys, CAs) with what identifies
// their contents cheaply: re-read when any of these changes.
struct FileStamp {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
std::vector<FileStamp> stamp_files(const std::vector<std::string>& paths);

struct LoadedWebConfig {
  WebConfig config;
  std::vector<std::string> files;  // the config file and every file it names
};
using WebConfigResult = std::variant<LoadedWebConfig, std::vector<ConfigError>>;

// Reads, validates and loads (certificates and keys parsed and paired) a web configuration file.
// Errors name file:line:column and the key; file names in it are relative to the file's directory.
WebConfigResult load_web_config(const std::string& path);
// The same from text (tests, fuzzing); file names relative to base_dir.
WebConfigResult parse_web_config(const std::string& text, const std::string& file, const std::string& base_dir);

// Checks a password against a bcrypt hash ($2a$, $2b$, $2y$) with libxcrypt; constant time in the
// comparison. A malformed hash never matches.
bool bcrypt_matches(const std::string& password, const std::string& hash);

}  // namespace bpfex
