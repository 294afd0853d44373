#include <catch2/catch.hpp>

#include "http.h"

using namespace bpfex;

TEST_CASE("HTTP routing: paths and methods") {
  std::vector<ModuleInstance> modules(2);
  modules[0].name = "exec";
  modules[0].enabled = true;
  modules[0].up = true;
  modules[1].name = "off";
  Poller poller(modules, std::chrono::seconds(1), false);
  HttpServer http(poller, modules, "/metrics");

  auto metrics = http.route("GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(http.route("HEAD", "/metrics").status == 200);
  CHECK(http.route("GET", "/nope").status == 404);
  CHECK(http.route("GET", "/metrics/").status == 404);
  auto post = http.route("POST", "/metrics");
  CHECK(post.status == 405);
  CHECK(post.headers.at(0).second == "GET, HEAD");
  CHECK(http.route("DELETE", "/").status == 405);
  auto landing = http.route("GET", "/");
  CHECK(landing.status == 200);
  CHECK(landing.body.find("href=\"/metrics\"") != std::string::npos);
  CHECK(landing.body.find("exec") != std::string::npos);
  CHECK(http.route("GET", "/healthz").status == 200);
}

TEST_CASE("/healthz is 503 with the reason when an enabled module is down") {
  std::vector<ModuleInstance> modules(1);
  modules[0].name = "exec";
  modules[0].enabled = true;
  modules[0].reason = "load BPF programs: Operation not permitted (EPERM)";
  Poller poller(modules, std::chrono::seconds(1), false);
  HttpServer http(poller, modules, "/metrics");
  auto r = http.route("GET", "/healthz");
  CHECK(r.status == 503);
  CHECK(r.body.find("module exec is down: load BPF programs") != std::string::npos);
}

TEST_CASE("listen addresses map to civetweb's syntax") {
  CHECK(civetweb_listening_ports("127.0.0.1:9650").value() == "127.0.0.1:9650");
  CHECK(civetweb_listening_ports("[::1]:9650").value() == "[::1]:9650");
  CHECK(civetweb_listening_ports(":9650").value().find("9650") != std::string::npos);
  CHECK_FALSE(civetweb_listening_ports("nope").ok());
}
