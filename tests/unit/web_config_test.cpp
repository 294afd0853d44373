#include "http/web_config.h"

#include <catch2/catch.hpp>

#include <string>
#include <variant>

using namespace bpfex;

namespace {

// The single error of a web configuration, as "line:col key: message".
std::string only_error(const std::string& yaml) {
  auto r = parse_web_config(yaml, "web.yml", ".");
  REQUIRE(std::holds_alternative<std::vector<ConfigError>>(r));
  const auto& errors = std::get<std::vector<ConfigError>>(r);
  REQUIRE(errors.size() == 1);
  const auto& e = errors[0];
  return std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.key + ": " + e.message;
}

WebConfig config_of(const std::string& yaml) {
  auto r = parse_web_config(yaml, "web.yml", ".");
  REQUIRE(std::holds_alternative<LoadedWebConfig>(r));
  return std::get<LoadedWebConfig>(r).config;
}

// htpasswd -nbBC 4 "" secret (cost 4: cheap to check here).
const std::string kSecretHash = "$2b$04$C0LvPngzK8Y2qQM3vXHXq.Xsv8By4j.IVyTLRcXibRhzP.hyZMrR2";

}  // namespace

// Found by tests/fuzz/web_config: a header value with a control character other than CR and LF was
// accepted, and then sent to clients (a NUL cut it).
TEST_CASE("web config headers are visible characters, spaces and tabs") {
  CHECK(config_of("http_server_config:\n  headers:\n    X-XSS-Protection: \"1;\\tmode=block\"\n").headers.size() == 1);
  CHECK(only_error("http_server_config:\n  headers:\n    X-XSS-Protection: \"1;\\x01mode=block\"\n") ==
        "3:23 http_server_config.headers.X-XSS-Protection: must be one line of visible characters, spaces and "
        "tabs, got \"1;\\x01mode=block\"");
  CHECK_THAT(only_error("http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\0b\"\n"),
             Catch::EndsWith("got \"a\\x00b\""));
  CHECK_THAT(only_error("http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\nb\"\n"),
             Catch::Contains("must be one line"));
}

// Found by tests/fuzz/web_config: yaml-cpp's message was echoed raw (a NUL here).
TEST_CASE("web config YAML errors are escaped") {
  CHECK(only_error(std::string("a: \"\\\0\"\n", 8)) == "1:7 : invalid YAML: unknown escape character: \\x00");
  CHECK_THAT(only_error(",\n"), Catch::StartsWith("1:1 : invalid YAML: unexpected ','"));
}

TEST_CASE("bcrypt hashes of a cost libxcrypt can check, and only those, are accepted") {
  const WebConfig web = config_of("basic_auth_users:\n  alice: " + kSecretHash + "\n");
  REQUIRE(web.basic_auth_users.count("alice") == 1);
  CHECK(bcrypt_matches("secret", web.basic_auth_users.at("alice")));
  CHECK_FALSE(bcrypt_matches("Secret", web.basic_auth_users.at("alice")));
  for (const char* cost : {"03", "32", "99", "00"}) {
    std::string hash = kSecretHash;
    hash.replace(4, 2, cost);
    CHECK(only_error("basic_auth_users:\n  alice: " + hash + "\n") ==
          "2:10 basic_auth_users.alice: expected a bcrypt hash ($2y$10$... as htpasswd -nBC 10 makes it)");
    CHECK_FALSE(bcrypt_matches("secret", hash));
  }
}
