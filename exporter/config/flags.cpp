// The command line: node_exporter-style flags, usage text, and flags overriding the file.
#include "config/flags.h"

#include <charconv>

#include "base/quote.h"

namespace bpfex {

std::string usage() {
  return R"(usage: bpfex [flags]
       bpfex programs suggest OBJECT.bpf.o   (a starter YAML for a user program, from its BTF)

Prometheus exporter of kernel metrics measured with eBPF.

Flags:
  --config.file=PATH          YAML configuration (default: built-in, the same as config/bpfex.yaml)
  --config.check              validate the configuration, print the effective one and exit (0 ok, 2 errors)
  --web.listen-address=ADDR   address to serve on: :PORT, IPv4:PORT or [IPv6]:PORT (default ":9650")
  --web.telemetry-path=PATH   path of the metrics (default "/metrics")
  --web.max-requests=N        requests handled at once, more get 503 (default 40)
  --web.config.file=PATH      TLS, basic authentication and headers, in exporter-toolkit's format
  --web.enable-lifecycle      reload the configuration on POST or PUT /-/reload (as SIGHUP does)
  --capabilities.keep=WHAT    capabilities kept after start: all, none, or CAP_X,CAP_Y (default: what
                              the running modules need)
  --log.level=LEVEL           debug, info, warn or error (default "info")
  --btf.path=FILE             BTF of this kernel, for kernels without /sys/kernel/btf/vmlinux
                              (raw BTF or an ELF file with a .BTF section, e.g. from BTFHub)
  --programs.dir=DIR          user programs' directory: <name>.bpf.o and <name>.yaml (ebpf_exporter's format)
  --programs.names=A,B        the user programs to load, comma-separated
  --programs.check-attach     with --config.check: also load and attach the user programs, then exit
  --version                   print the version and exit
  -h, --help                  print this help and exit

Flags override the configuration file.
)";
}

Result<Flags> parse_flags(const std::vector<std::string>& args) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h" || arg == "--help") {
      f.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) return Error{EINVAL, "unexpected argument " + quote_value(arg)};
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto take_value = [&]() -> std::optional<std::string> {
      if (has_value) return value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (name == "config.check" || name == "version" || name == "programs.check-attach" ||
        name == "web.enable-lifecycle") {
      if (has_value) return Error{EINVAL, "flag --" + name + " takes no value"};
      bool& which = name == "version"                 ? f.version
                    : name == "config.check"          ? f.config_check
                    : name == "programs.check-attach" ? f.programs_check_attach
                                                      : f.enable_lifecycle;
      which = true;
      continue;
    }
    std::optional<std::string>* target = nullptr;
    if (name == "config.file")
      target = &f.config_file;
    else if (name == "web.listen-address")
      target = &f.listen_address;
    else if (name == "web.telemetry-path")
      target = &f.telemetry_path;
    else if (name == "web.max-requests")
      target = &f.max_requests;
    else if (name == "web.config.file")
      target = &f.web_config_file;
    else if (name == "capabilities.keep")
      target = &f.capabilities_keep;
    else if (name == "btf.path")
      target = &f.btf_path;
    else if (name == "programs.dir")
      target = &f.programs_dir;
    else if (name == "programs.names")
      target = &f.programs_names;
    else if (name != "log.level")
      return Error{EINVAL, "unknown flag --" + escape_text(name.substr(0, 64))};
    auto v = take_value();
    if (!v) return Error{EINVAL, "flag --" + name + " needs a value"};
    if (target) {
      *target = *v;
    } else {
      auto level = parse_log_level(*v);
      if (!level) return Error{EINVAL, "flag --log.level: expected debug, info, warn or error, got " + quote_value(*v)};
      f.log_level = *level;
    }
  }
  return f;
}

Status apply_flag_overrides(const Flags& flags, Config& config) {
  if (flags.listen_address) {
    if (auto problem = check_listen_address(*flags.listen_address))
      return Error{EINVAL, "flag --web.listen-address: " + *problem};
    config.listen_address = *flags.listen_address;
  }
  if (flags.telemetry_path) {
    if (auto problem = check_telemetry_path(*flags.telemetry_path))
      return Error{EINVAL, "flag --web.telemetry-path: " + *problem};
    config.telemetry_path = *flags.telemetry_path;
  }
  if (flags.max_requests) {
    // Read as the file's web.max_requests is (leading zeros included), so flag and key agree.
    const std::string& v = *flags.max_requests;
    uint32_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > (1u << 16))
      return Error{EINVAL, "flag --web.max-requests: expected a number from 1 to 65536, got " + quote_value(v)};
    config.max_requests = static_cast<uint32_t>(n);
  }
  if (flags.programs_dir) {
    if (flags.programs_dir->empty()) return Error{EINVAL, "flag --programs.dir: empty"};
    config.programs.dir = *flags.programs_dir;
  }
  if (flags.programs_names) config.programs.names = programs::split_names(*flags.programs_names);
  return {};
}

}  // namespace bpfex
