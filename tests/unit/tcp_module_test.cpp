// The tcp and oom modules' tables, buckets and configuration, without a kernel.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "config/config.h"
#include "kernel/oom.h"
#include "kernel/tcp.h"
#include "metrics/native_buckets.h"
#include "modules/oom.h"
#include "modules/tcp.h"

using namespace bpfex;

namespace {

// The single error of a module section, as "line:col key: message".
std::string only_error(const std::string& module, const std::string& options) {
  auto r = parse_config("modules:\n  " + module + ":\n" + options, "test.yaml");
  REQUIRE(std::holds_alternative<std::vector<ConfigError>>(r));
  const auto& errors = std::get<std::vector<ConfigError>>(r);
  REQUIRE(errors.size() == 1);
  const auto& e = errors[0];
  return std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.key + ": " + e.message;
}

// The bpfex_ metric names the panel queries of dashboards/<name>.json use.
std::set<std::string> dashboard_metrics(const std::string& name) {
  std::ifstream in(BPFEX_SOURCE_DIR "/dashboards/" + name + ".json");
  REQUIRE(in);
  const auto dash = nlohmann::json::parse(in);
  std::set<std::string> out;
  const std::regex metric(R"(\bbpfex_[a-z0-9_]+)");
  for (const auto& panel : dash.at("panels"))
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      const std::string expr = target.value("expr", "");
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric); it != std::sregex_iterator(); ++it)
        out.insert(it->str());
    }
  return out;
}

bool valid(const std::string& module, const std::string& options) {
  return std::holds_alternative<Config>(parse_config("modules:\n  " + module + ":\n" + options, "test.yaml"));
}

}  // namespace

TEST_CASE("tcp: every kernel counter has its family and label values, each pair once") {
  using Row = std::tuple<uint32_t, std::string, std::string, std::string>;
  std::vector<Row> rows;
  for (const auto& c : tcp::counter_series()) rows.emplace_back(c.slot, c.family, c.direction, c.result);
  const std::vector<Row> want = {
      {TCP_SLOT_RETRANSMITS, "bpfex_tcp_retransmits_total", "", ""},
      {TCP_SLOT_RESETS_SENT, "bpfex_tcp_resets_total", "sent", ""},
      {TCP_SLOT_RESETS_RECEIVED, "bpfex_tcp_resets_total", "received", ""},
      {TCP_SLOT_ACTIVE_ESTABLISHED, "bpfex_tcp_connections_total", "active", "established"},
      {TCP_SLOT_ACTIVE_FAILED, "bpfex_tcp_connections_total", "active", "failed"},
      {TCP_SLOT_PASSIVE_ESTABLISHED, "bpfex_tcp_connections_total", "passive", "established"},
      {TCP_SLOT_PASSIVE_FAILED, "bpfex_tcp_connections_total", "passive", "failed"},
      {TCP_SLOT_LISTEN_OVERFLOWS, "bpfex_tcp_listen_overflows_total", "", ""},
  };
  CHECK(rows == want);
  // The counters come first in a row, then the latency sum and buckets.
  for (size_t i = 0; i < rows.size(); ++i) CHECK(std::get<0>(rows[i]) == i);
  CHECK(TCP_SLOT_CONNECT_SUM == rows.size());
  CHECK(TCP_SLOT_BUCKET0 == TCP_SLOT_CONNECT_SUM + 1);
}

TEST_CASE("tcp: family labels") {
  CHECK(tcp::family_label(TCP_FAMILY_IPV4) == "ipv4");
  CHECK(tcp::family_label(TCP_FAMILY_IPV6) == "ipv6");
  CHECK(tcp::family_label(TCP_FAMILY_COUNT) == "other");
  CHECK(tcp::family_label(255) == "other");
}

TEST_CASE("tcp: connect latency buckets are every latency histogram's, 2^-17 s .. 2^7 s by default") {
  // The module's defaults, 8us and 128s, round outward to powers of two of seconds.
  const auto layout = native_buckets::layout_of(1, "8us", "128s");
  CHECK(layout.min_exp == -17);
  CHECK(layout.max_exp == 7);
  CHECK(layout.nbuckets() == 48);
  const native_buckets::SlotFinder finder(layout);
  CHECK(finder.slot_of(0) == 0);
  CHECK(finder.slot_of(7629) == 0);  // 2^-17 s = 7629.39 ns: the zero bucket
  CHECK(finder.slot_of(7630) == 1);
  // A connect whose first SYN was lost: 1 s (the initial RTO) plus a round trip, in the native
  // bucket (1, 2^0.5] s, index 1, the classic bucket le=2.
  const uint32_t slot = finder.slot_of(1'000'300'000);
  CHECK(layout.native_index(slot) == 1);
  CHECK(finder.slot_of(128'000'000'000) == layout.nbuckets());
  CHECK(finder.slot_of(128'000'000'001) == layout.nbuckets() + 1);  // above 2^7 s: +Inf
}

TEST_CASE("tcp: the ports option takes port numbers 1..65535, each once, at most 256") {
  CHECK(tcp::parse_port("1") == 1);
  CHECK(tcp::parse_port("65535") == 65535);
  CHECK_FALSE(tcp::parse_port("0"));
  CHECK_FALSE(tcp::parse_port("65536"));
  CHECK_FALSE(tcp::parse_port("80a"));
  CHECK_FALSE(tcp::parse_port("-1"));
  CHECK_FALSE(tcp::parse_port(""));
  CHECK(valid("tcp", "    ports: [80, 443, 5432]\n"));
  CHECK(valid("tcp", "    ports: []\n"));
  CHECK(only_error("tcp", "    ports: [80, http]\n") ==
        "3:17 modules.tcp.ports: expected a port number 1..65535, got \"http\"");
  CHECK(only_error("tcp", "    ports: [0]\n") == "3:13 modules.tcp.ports: expected a port number 1..65535, got \"0\"");
  // Found by tests/fuzz (config): the value was echoed raw.
  CHECK(only_error("tcp", "    ports: [\"8\\t0\xfe\"]\n") ==
        "3:13 modules.tcp.ports: expected a port number 1..65535, got \"8\\t0\\xfe\"");
  CHECK(only_error("tcp", "    ports: [80, 443, 80]\n") == "3:22 modules.tcp.ports: port 80 is listed twice");
  CHECK(only_error("tcp", "    ports: 80\n") == "3:12 modules.tcp.ports: expected a list of strings, got a scalar");
  std::string many = "    ports: [";
  for (int p = 1; p <= 257; ++p) many += (p > 1 ? ", " : "") + std::to_string(p);
  CHECK(only_error("tcp", many + "]\n").find("modules.tcp.ports: at most 256 ports") != std::string::npos);
}

TEST_CASE("tcp and oom: option errors name the line, column and key") {
  CHECK(only_error("tcp", "    max_workload_rows: 0\n") ==
        "3:24 modules.tcp.max_workload_rows: must be between 1 and 1048576, got 0");
  CHECK(only_error("tcp", "    by_workload: yes\n") ==
        "3:18 modules.tcp.by_workload: expected true or false, got \"yes\"");
  CHECK(only_error("tcp", "    port: [80]\n") == "3:5 modules.tcp.port: unknown key");
  CHECK(only_error("oom", "    max_comms: 0\n") == "3:16 modules.oom.max_comms: must be between 1 and 1048576, got 0");
  CHECK(only_error("oom", "    constraint: cgroup\n") == "3:5 modules.oom.constraint: unknown key");
}

TEST_CASE("oom: constraint labels follow the kernel's enum oom_constraint, by our own indexes") {
  CHECK(oom::constraint_label(OOM_CONSTRAINT_NONE) == "none");
  CHECK(oom::constraint_label(OOM_CONSTRAINT_CPUSET) == "cpuset");
  CHECK(oom::constraint_label(OOM_CONSTRAINT_MEMORY_POLICY) == "memory_policy");
  CHECK(oom::constraint_label(OOM_CONSTRAINT_CGROUP) == "cgroup");
  CHECK(oom::constraint_label(OOM_CONSTRAINT_COUNT) == "other");
  std::set<std::string_view> labels;
  for (uint32_t i = 0; i < OOM_CONSTRAINT_COUNT; ++i) labels.insert(oom::constraint_label(i));
  CHECK(labels.size() == OOM_CONSTRAINT_COUNT);
}

TEST_CASE("oom: a victim's task name is its label; an unknown one reads \"unknown\"") {
  const char named[16] = "postgres";
  const char full[16] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p'};
  const char none[16] = {};
  CHECK(oom::victim_comm_label(named) == "postgres");
  CHECK(oom::victim_comm_label(full) == "abcdefghijklmnop");  // no NUL: bounded by the field
  CHECK(oom::victim_comm_label(none) == "unknown");
}

// The dashboards test asks every query for data, but a query may fall back with `or` to another
// family where a kernel lacks a hook (listen overflows, OOM constraints): a typo in the branch that
// has no data on the test's kernel would go unseen there. Names are checked here instead.
TEST_CASE("dashboards/tcp.json and oom.json query only families the modules export, and every one of them") {
  std::set<std::string> tcp_families = {"bpfex_tcp_connect_latency_seconds"};
  for (const auto& c : tcp::counter_series()) tcp_families.insert(c.family);
  std::set<std::string> used;
  for (const std::string& name : dashboard_metrics("tcp")) {
    INFO(name);
    if (name.rfind("bpfex_tcp_", 0) != 0) {
      CHECK((name == "bpfex_network_packets_total" ||
             name == "bpfex_network_bytes_total"));  // the retransmit ratio's denominator
      continue;
    }
    std::string family = std::regex_replace(name, std::regex("_(bucket|sum|count)$"), "");
    CHECK(tcp_families.count(family) == 1);
    used.insert(family);
  }
  CHECK(used == tcp_families);
  const std::set<std::string> oom_families = {"bpfex_oom_kills_total", "bpfex_oom_kills_constrained_total"};
  CHECK(dashboard_metrics("oom") == oom_families);
}
