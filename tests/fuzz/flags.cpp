// The command line (parse_flags, then apply_flag_overrides on the defaults, and
// parse_capabilities_keep as main() does) on any arguments: never a crash; errors quote what they
// show; what is accepted is what bpfex then uses, passes the checks the configuration file applies,
// and a flag takes the same values as its key in the file; --web.enable-lifecycle is on only when
// given, never takes a value, and changes nothing else.
//
// Input: the arguments, separated by NUL bytes (as they sit in /proc/PID/cmdline).
#include <algorithm>
#include <variant>

#include "app/capabilities.h"
#include "base/log.h"
#include "config/config.h"
#include "config/flags.h"
#include "fuzz.h"
#include "http/server.h"

using bpfex::fuzz::check_message;
using bpfex::fuzz::show;

namespace {

constexpr size_t kMaxArgs = 64;

// Whether `max_requests: "<value>"` in a configuration file is accepted, and as what.
std::optional<uint32_t> file_max_requests(const std::string& value) {
  auto result = bpfex::parse_config("web:\n  max_requests: \"" + value + "\"\n", "flags.yaml");
  if (const auto* config = std::get_if<bpfex::Config>(&result)) return config->max_requests;
  return std::nullopt;
}

bool printable_ascii(std::string_view s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  bpfex::set_log_level(bpfex::LogLevel::error);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bpfex::fuzz::Input in(data, size);
  std::vector<std::string> args;
  while (!in.empty() && args.size() < kMaxArgs) args.push_back(in.until('\0'));

  auto flags = bpfex::parse_flags(args);
  if (!flags) {
    check_message(flags.error().str());
    return 0;
  }
  if (flags->capabilities_keep) {
    auto keep = bpfex::parse_capabilities_keep(*flags->capabilities_keep);
    if (!keep) {
      check_message(keep.error().str());
    } else if (keep->mode == bpfex::CapabilitiesKeep::Mode::list) {
      // Each one named reads back by its name, and only capabilities that exist are kept.
      for (int cap = 0; cap < 64; ++cap) {
        if (!(keep->list >> cap & 1)) continue;
        FUZZ_CHECK(bpfex::capability_number(bpfex::capability_name(cap)) == cap, std::to_string(cap));
      }
    }
  }
  // --web.enable-lifecycle takes no value, and only the flag itself turns the lifecycle API on (never
  // another flag's value); added to an accepted command line it changes nothing else.
  if (flags->enable_lifecycle)
    FUZZ_CHECK(std::find(args.begin(), args.end(), "--web.enable-lifecycle") != args.end(), "lifecycle API on");
  if (args.size() < kMaxArgs) {
    std::vector<std::string> more = args;
    more.emplace_back("--web.enable-lifecycle");
    auto with = bpfex::parse_flags(more);
    FUZZ_CHECK(with && with->enable_lifecycle && with->config_file == flags->config_file &&
                   with->listen_address == flags->listen_address && with->telemetry_path == flags->telemetry_path &&
                   with->max_requests == flags->max_requests && with->web_config_file == flags->web_config_file &&
                   with->capabilities_keep == flags->capabilities_keep && with->log_level == flags->log_level,
               "--web.enable-lifecycle added");
    more.back() = "--web.enable-lifecycle=" + (args.empty() ? std::string() : args.back());
    const auto valued = bpfex::parse_flags(more);
    FUZZ_CHECK(!valued && valued.error().str().find("takes no value") != std::string::npos,
               "--web.enable-lifecycle with a value accepted");
  }
  bpfex::Config config = bpfex::default_config();
  const bpfex::Status applied = bpfex::apply_flag_overrides(*flags, config);
  if (flags->max_requests && printable_ascii(*flags->max_requests)) {
    // The flag on its own: another bad flag in the same command line fails apply_flag_overrides too.
    bpfex::Flags alone;
    alone.max_requests = flags->max_requests;
    bpfex::Config with_flag = bpfex::default_config();
    const bool accepted = bpfex::apply_flag_overrides(alone, with_flag).ok();
    const auto from_file = file_max_requests(*flags->max_requests);
    FUZZ_CHECK(accepted == from_file.has_value(),
               "--web.max-requests=" + show(*flags->max_requests) + (accepted ? " accepted" : " refused") +
                   ", max_requests: in a file " + (from_file ? "accepted" : "refused"));
    if (accepted) FUZZ_CHECK(with_flag.max_requests == *from_file, show(*flags->max_requests));
  }
  if (!applied.ok()) {
    check_message(applied.error().str());
    return 0;
  }
  if (flags->listen_address) FUZZ_CHECK(config.listen_address == *flags->listen_address, show(config.listen_address));
  if (flags->telemetry_path) FUZZ_CHECK(config.telemetry_path == *flags->telemetry_path, show(config.telemetry_path));
  FUZZ_CHECK(!bpfex::check_listen_address(config.listen_address), show(config.listen_address));
  FUZZ_CHECK(!bpfex::check_telemetry_path(config.telemetry_path), show(config.telemetry_path));
  FUZZ_CHECK(bpfex::HttpServer::request_path(config.telemetry_path) == config.telemetry_path,
             show(config.telemetry_path));
  FUZZ_CHECK(config.max_requests >= 1 && config.max_requests <= (1u << 16), std::to_string(config.max_requests));
  return 0;
}
