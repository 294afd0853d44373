// The YAML configuration loader (parse_config) on any bytes: never a crash or a hang; every error
// names a place and shows outside text quoted and cut; what it accepts passes the same checks the
// flags apply, can be requested (the telemetry path), and --config.check prints it as a
// configuration that reads back to the same thing.
#include <variant>

#include "base/log.h"
#include "config/config.h"
#include "fuzz.h"
#include "http/server.h"

using bpfex::fuzz::check_message;
using bpfex::fuzz::show;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  bpfex::set_log_level(bpfex::LogLevel::error);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto result = bpfex::parse_config(text, "fuzz.yaml");
  if (const auto* errors = std::get_if<std::vector<bpfex::ConfigError>>(&result)) {
    FUZZ_CHECK(!errors->empty(), "parse_config failed without an error");
    for (const auto& e : *errors) {
      check_message(e.str());
      FUZZ_CHECK(e.line >= 0 && e.column >= 0 && (e.line == 0) == (e.column == 0), e.str());
    }
    return 0;
  }
  const bpfex::Config& config = std::get<bpfex::Config>(result);
  FUZZ_CHECK(!bpfex::check_listen_address(config.listen_address), show(config.listen_address));
  FUZZ_CHECK(!bpfex::check_telemetry_path(config.telemetry_path), show(config.telemetry_path));
  // A telemetry path that requests could never match would serve nothing, silently.
  FUZZ_CHECK(bpfex::HttpServer::request_path(config.telemetry_path) == config.telemetry_path,
             show(config.telemetry_path));
  FUZZ_CHECK(config.max_requests >= 1 && config.max_requests <= (1u << 16), std::to_string(config.max_requests));

  const std::string dumped = bpfex::dump_config(config);
  auto again = bpfex::parse_config(dumped, "dumped.yaml");
  if (const auto* errors = std::get_if<std::vector<bpfex::ConfigError>>(&again))
    FUZZ_CHECK(false, "--config.check printed a configuration that does not load: " + errors->front().str() +
                          "\n--- printed:\n" + dumped);
  const std::string redumped = bpfex::dump_config(std::get<bpfex::Config>(again));
  FUZZ_CHECK(redumped == dumped,
             "--config.check output reads back differently:\n" + dumped + "\n--- then:\n" + redumped);
  return 0;
}
