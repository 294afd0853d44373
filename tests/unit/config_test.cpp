#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "base/quote.h"
#include "config/config.h"
#include "config/flags.h"
#include "modules/registry.h"

using namespace bpfex;

namespace {

std::vector<ConfigError> errors_of(const std::string& yaml) {
  auto r = parse_config(yaml, "test.yaml");
  REQUIRE(std::holds_alternative<std::vector<ConfigError>>(r));
  return std::get<std::vector<ConfigError>>(r);
}

Config config_of(const std::string& yaml) {
  auto r = parse_config(yaml, "test.yaml");
  if (auto* e = std::get_if<std::vector<ConfigError>>(&r)) FAIL(e->front().str());
  return std::get<Config>(r);
}

// The single error of a config, as "line:col key: message".
std::string only_error(const std::string& yaml) {
  auto errors = errors_of(yaml);
  REQUIRE(errors.size() == 1);
  const auto& e = errors[0];
  return std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.key + ": " + e.message;
}

}  // namespace

TEST_CASE("the shipped config/bpfex.yaml equals the built-in defaults") {
  std::ifstream in(BPFEX_SOURCE_DIR "/config/bpfex.yaml");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  Config shipped = config_of(text.str());
  for (const auto& m : shipped.modules) CHECK(m.enabled);
  CHECK(dump_config(shipped) == dump_config(default_config()));
}

TEST_CASE("config/bpfex.yaml has a section for every registered module, naming every option") {
  const YAML::Node shipped = YAML::LoadFile(BPFEX_SOURCE_DIR "/config/bpfex.yaml");
  REQUIRE(shipped["modules"].IsMap());
  for (const ModuleSpec& spec : module_registry()) {
    INFO("module " << spec.name);
    const YAML::Node section = shipped["modules"][std::string(spec.name)];
    REQUIRE(section.IsMap());
    CHECK(section["enabled"].IsDefined());
    YAML::Emitter defaults;
    defaults << YAML::BeginMap;
    spec.default_options()->emit(defaults);
    defaults << YAML::EndMap;
    for (const auto& option : YAML::Load(defaults.c_str())) {
      INFO("option " << option.first.Scalar());
      CHECK(section[option.first.Scalar()].IsDefined());
    }
  }
  CHECK(shipped["modules"].size() == module_registry().size());
}

TEST_CASE("an empty file means the defaults") {
  CHECK(dump_config(config_of("")) == dump_config(default_config()));
  CHECK(dump_config(config_of("# nothing\n")) == dump_config(default_config()));
}

TEST_CASE("values are read") {
  Config c = config_of(
      "web:\n  listen_address: 127.0.0.1:9999\n  telemetry_path: /m\n"
      "poll_interval: 250ms\nbpf_stats: true\n"
      "modules:\n  exec:\n    enabled: false\n    max_comms: 7\n");
  CHECK(c.listen_address == "127.0.0.1:9999");
  CHECK(c.telemetry_path == "/m");
  CHECK(c.poll_interval == std::chrono::milliseconds(250));
  CHECK(c.bpf_stats);
  CHECK_FALSE(c.module("exec")->enabled);
  CHECK(dump_config(c).find("max_comms: 7") != std::string::npos);
}

TEST_CASE("omitted modules keep their defaults") {
  Config c = config_of("modules:\n  exec:\n");
  CHECK(c.module("exec")->enabled);
}

TEST_CASE("config errors name line, column and key") {
  CHECK(only_error("poll_interval: 1s\nfoo: 1\n") == "2:1 foo: unknown key");
  CHECK(only_error("web:\n  listen: :1\n") == "2:3 web.listen: unknown key");
  CHECK(only_error("modules:\n  exec:\n    max_comms: abc\n") ==
        "3:16 modules.exec.max_comms: expected an unsigned integer, got \"abc\"");
  CHECK(only_error("modules:\n  exec:\n    max_comms: -1\n") ==
        "3:16 modules.exec.max_comms: expected an unsigned integer, got \"-1\"");
  CHECK(only_error("modules:\n  exec:\n    max_comms: 0\n") ==
        "3:16 modules.exec.max_comms: must be between 1 and 1048576, got 0");
  CHECK(only_error("modules:\n  exec:\n    max_comms: 99999999999\n") ==
        "3:16 modules.exec.max_comms: value \"99999999999\" is too large");
  CHECK(only_error("modules:\n  exec:\n    max_comms: [1]\n") ==
        "3:16 modules.exec.max_comms: expected an unsigned integer, got a list");
  CHECK(only_error("modules:\n  exec:\n    enabled: maybe\n") ==
        "3:14 modules.exec.enabled: expected true or false, got \"maybe\"");
  CHECK(only_error("modules:\n  exec:\n    colour: red\n") == "3:5 modules.exec.colour: unknown key");
  CHECK(only_error("modules:\n  network:\n    attach: tcx\n") ==
        "3:13 modules.network.attach: must be tracepoints or interfaces");
  // The list grows with every module: pin the format, not the whole list.
  CHECK_THAT(only_error("modules:\n  nosuch:\n    enabled: true\n"),
             Catch::StartsWith("2:3 modules.nosuch: unknown module (known: exec, "));
  CHECK(only_error("modules:\n  exec: yes\n") ==
        "2:9 modules.exec: expected a mapping with enabled: and the module's options");
  CHECK(only_error("modules: [exec]\n") == "1:10 modules: expected a mapping, got a list");
  CHECK(only_error("poll_interval: 1parsec\n") ==
        "1:16 poll_interval: invalid duration \"1parsec\" (use a number and a unit: ms, s, m, h, d; e.g. 1s)");
  CHECK(only_error("poll_interval: 1\n").find("invalid duration") != std::string::npos);
  CHECK(only_error("poll_interval: 1ms\n") == "1:16 poll_interval: must be between 10ms and 1h, got 1ms");
  CHECK(only_error("bpf_stats: 1\n") == "1:12 bpf_stats: expected true or false, got \"1\"");
  CHECK(only_error("web:\n  listen_address: nowhere\n").rfind("2:19 web.listen_address: invalid listen address", 0) ==
        0);
  CHECK(only_error("web:\n  telemetry_path: metrics\n") ==
        "2:19 web.telemetry_path: must start with /, got \"metrics\"");
  CHECK(only_error("web:\n  telemetry_path: /healthz\n").rfind("2:19 web.telemetry_path:", 0) == 0);
  CHECK(only_error("poll_interval: 1s\npoll_interval: 2s\n") == "2:1 poll_interval: duplicate key");
  CHECK(only_error("- a\n- b\n").find("must be a mapping") != std::string::npos);
}

TEST_CASE("configs that would validate but never work are errors") {
  // Telemetry paths no request can reach once a client or server normalises and decodes it.
  for (const char* path : {"//metrics", "/metrics//", "/./metrics", "/a/../metrics", "/metrics/.", "/m%65trics",
                           "/met rics", "/m\"etrics", "/m\u00e9trics"}) {
    INFO(path);
    CHECK_THAT(only_error(std::string("web:\n  telemetry_path: '") + path + "'\n"),
               Catch::StartsWith("2:19 web.telemetry_path: must"));
  }
  for (const char* path : {"/metrics", "/a/b/metrics", "/m-e_t.r~ics", "/v1:metrics"}) {
    INFO(path);
    CHECK(config_of(std::string("web:\n  telemetry_path: '") + path + "'\n").telemetry_path == path);
  }
  // A second document would be ignored.
  CHECK(only_error("poll_interval: 1s\n---\npoll_interval: 2s\n") ==
        "3:1 : a second YAML document (after ---): the configuration is one document");
  CHECK_THAT(only_error("a: " + std::string(2000, '[') + std::string(2000, ']') + "\n"),
             Catch::Contains("nested more than"));
  CHECK(only_error("poll_interval: 99999999999999999999h\n") ==
        "1:16 poll_interval: duration \"99999999999999999999h\" is out of range (at most 292 years)");
  CHECK(only_error("web:\n  max_requests: 0\n") == "2:17 web.max_requests: must be between 1 and 65536, got 0");
  CHECK(config_of("web:\n  max_requests: 7\n").max_requests == 7);
}

TEST_CASE("values echoed in errors are escaped and cut short") {
  const std::string nasty = std::string("a\0b\x01\n\"\\\xff\xc3", 9) + std::string(10'000, 'x');
  const std::string msg = only_error("web:\n  listen_address: \"" + std::string("a\\0b\\x01\\n\\\"\\\\\\xff\\xc3") +
                                     std::string(10'000, 'x') + "\"\n");
  CHECK(msg.size() < 300);
  CHECK(msg.find('\0') == std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
  // YAML's own escapes decode first: \0 and \x01 are control bytes, \xff is U+00FF (valid UTF-8).
  CHECK_THAT(msg, Catch::Contains("\"a\\x00b\\x01\\n\\\"\\\\\xc3\xbf\xc3\x83xxx"));
  CHECK_THAT(msg, Catch::Contains("... (10011 bytes)"));
  CHECK(quote_value(nasty, 4) == "\"a\\x00b\\x01\"... (10009 bytes)");
  CHECK(escape_text("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");  // valid UTF-8 kept
  CHECK(escape_text("\xed\xa0\x80") == "\\xed\\xa0\\x80");                       // a surrogate is not
}

// Found by tests/fuzz/config.cpp: yaml-cpp 0.7's LoadAll never returned on these, its memory
// growing until the OOM killer came (jbeder/yaml-cpp#1319).
TEST_CASE("a token that starts nothing is an error, not an endless loop") {
  CHECK_THAT(only_error(",\n"), Catch::StartsWith("1:1 : invalid YAML: unexpected ','"));
  CHECK_THAT(only_error("# N4YAML15ParserException: 4:23 modunctwork:\n    , include:"),
             Catch::StartsWith("2:5 : invalid YAML: unexpected ','"));
  CHECK_THAT(only_error("modules: {}\n---\n,\n"), Catch::Contains("a second YAML document"));
  CHECK(std::holds_alternative<Config>(parse_config("modules: {}\n...\n", "test.yaml")));
}

// Found by tests/fuzz/config.cpp: two messages echoed outside bytes raw.
TEST_CASE("yaml-cpp's messages and too large numbers are escaped and cut too") {
  // An unknown escape: yaml-cpp names the character, here a NUL.
  const std::string unknown_escape = only_error(std::string("a: \"\\\0\"\n", 8));
  CHECK(unknown_escape == "1:7 : invalid YAML: unknown escape character: \\x00");
  // The digits overflow first; what follows them is echoed too.
  const std::string too_large =
      only_error("modules:\n  exec:\n    max_comms: \"99999999999\\x01" + std::string(1000, '9') + "\"\n");
  CHECK_THAT(too_large, Catch::StartsWith("3:16 modules.exec.max_comms: value \"99999999999\\x01999"));
  CHECK_THAT(too_large, Catch::EndsWith("\"... (1012 bytes) is too large"));
}

TEST_CASE("invalid YAML is reported with its position") {
  auto errors = errors_of("modules:\n  exec: {enabled: true\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 3);
  CHECK(errors[0].message.rfind("invalid YAML", 0) == 0);
}

TEST_CASE("every error is reported, not only the first") {
  auto errors = errors_of("foo: 1\nbar: 2\nmodules:\n  exec:\n    max_comms: x\n");
  CHECK(errors.size() == 3);
}

TEST_CASE("error text has the file:line:col: error: form") {
  auto errors = errors_of("foo: 1\n");
  CHECK(errors[0].str() == "test.yaml:1:1: error: foo: unknown key");
}

TEST_CASE("a missing config file is an error naming it") {
  auto r = load_config_file("/nonexistent/bpfex.yaml");
  auto& errors = std::get<std::vector<ConfigError>>(r);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].str() == "/nonexistent/bpfex.yaml: error: cannot read config file: No such file or directory");
}

TEST_CASE("flags parse in both spellings and override the file") {
  auto f =
      parse_flags({"--config.file=a.yaml", "--web.listen-address", ":1234", "--log.level=debug", "--config.check"});
  REQUIRE(f.ok());
  CHECK(*f->config_file == "a.yaml");
  CHECK(f->config_check);
  CHECK(f->log_level == LogLevel::debug);
  Config c = default_config();
  REQUIRE(apply_flag_overrides(*f, c).ok());
  CHECK(c.listen_address == ":1234");
}

TEST_CASE("bad flags are errors that name the flag") {
  CHECK(parse_flags({"--nope"}).error().message == "unknown flag --nope");
  CHECK(parse_flags({"--log.level=loud"}).error().message.find("--log.level") != std::string::npos);
  CHECK(parse_flags({"--config.file"}).error().message == "flag --config.file needs a value");
  CHECK(parse_flags({"stray"}).error().message == "unexpected argument \"stray\"");
  CHECK(parse_flags({"--version=1"}).error().message == "flag --version takes no value");
  auto f = parse_flags({"--web.telemetry-path=nope"});
  REQUIRE(f.ok());
  Config c = default_config();
  CHECK(apply_flag_overrides(*f, c).error().message.find("--web.telemetry-path") != std::string::npos);
}

// Found by tests/fuzz/flags.cpp: the flag refused "000040", which the file's key takes.
TEST_CASE("--web.max-requests takes what web.max_requests takes") {
  for (const char* v : {"40", "000040", "1", "65536"}) {
    INFO(v);
    auto f = parse_flags({std::string("--web.max-requests=") + v});
    REQUIRE(f.ok());
    Config c = default_config();
    REQUIRE(apply_flag_overrides(*f, c).ok());
    CHECK(c.max_requests == config_of(std::string("web:\n  max_requests: \"") + v + "\"\n").max_requests);
  }
  for (const char* v : {"", "0", "65537", "-1", "+5", "4x", " 4", "99999999999"}) {
    INFO(v);
    auto f = parse_flags({std::string("--web.max-requests=") + v});
    REQUIRE(f.ok());
    Config c = default_config();
    CHECK_THAT(apply_flag_overrides(*f, c).error().message,
               Catch::StartsWith("flag --web.max-requests: expected a number from 1 to 65536, got \""));
    CHECK(std::holds_alternative<std::vector<ConfigError>>(
        parse_config(std::string("web:\n  max_requests: \"") + v + "\"\n", "test.yaml")));
  }
}
