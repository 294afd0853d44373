#include <catch2/catch.hpp>

#include "exposition/compression.h"
#include "http/listen_address.h"
#include "http/server.h"

using namespace bpfex;

namespace {

ModuleStatus status(std::string name, bool enabled, bool up, std::string reason = "") {
  return ModuleStatus{std::move(name), enabled, up, std::move(reason), {}};
}

std::shared_ptr<const Snapshot> snapshot_of_up(std::vector<std::pair<std::string, std::string>> problems = {}) {
  auto up = gauge_family("up", "Whether it is up.");
  up.add({}, 1);
  return std::make_shared<const Snapshot>(Families{up.build()}, std::move(problems));
}

}  // namespace

TEST_CASE("HTTP routing: paths and methods") {
  SnapshotStore snapshots;
  HttpServer http(snapshots, {status("exec", true, true), status("off", false, false)}, "/metrics");

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

TEST_CASE("/metrics serves the latest published snapshot") {
  SnapshotStore snapshots;
  HttpServer http(snapshots, {}, "/metrics");
  CHECK(http.route("GET", "/metrics").payload().empty());
  snapshots.publish(snapshot_of_up());
  CHECK(http.route("GET", "/metrics").payload() == "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n");
}

TEST_CASE("/metrics: the format and encoding follow Accept and Accept-Encoding, the body is the snapshot's own") {
  SnapshotStore snapshots;
  HttpServer http(snapshots, {}, "/metrics");
  snapshots.publish(snapshot_of_up());
  auto header = [](const HttpServer::Response& r, const std::string& name) -> std::string {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  };
  auto plain = http.route("GET", "/metrics");
  CHECK(plain.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(header(plain, "Content-Encoding").empty());
  CHECK(header(plain, "Vary") == "Accept, Accept-Encoding");

  auto om = http.route("GET", "/metrics", "application/openmetrics-text;version=1.0.0", "gzip");
  CHECK(om.content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8");
  CHECK(header(om, "Content-Encoding") == "gzip");
  auto om_text = gunzip(om.payload());
  REQUIRE(om_text);
  CHECK(om_text.value() == "# TYPE up gauge\n# HELP up Whether it is up.\nup 1.0\n# EOF\n");

  auto pb =
      http.route("GET", "/metrics",
                 "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
                 "text/plain;version=0.0.4;q=0.3");
  CHECK(pb.content_type ==
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited");
  CHECK(pb.payload() == snapshots.latest()->body({BodyKind::protobuf, Encoding::identity}));
  // Served from the snapshot, not copied into the response: every scraper gets the same bytes.
  CHECK(pb.payload().data() == http.route("GET", "/metrics",
                                          "application/vnd.google.protobuf;"
                                          "proto=io.prometheus.client.MetricFamily;encoding=delimited")
                                   .payload()
                                   .data());
  CHECK(http.route("GET", "/metrics", "garbage;;;,", "br").content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(snapshots.wanted_lately({BodyKind::protobuf, Encoding::identity}));
  CHECK(snapshots.wanted_lately({BodyKind::openmetrics, Encoding::gzip}));
  CHECK_FALSE(snapshots.wanted_lately({BodyKind::protobuf, Encoding::gzip}));
}

TEST_CASE("/healthz is 503 with the reason when an enabled module is down") {
  SnapshotStore snapshots;
  HttpServer http(snapshots, {status("exec", true, false, "load BPF programs: Operation not permitted (EPERM)")},
                  "/metrics");
  auto r = http.route("GET", "/healthz");
  CHECK(r.status == 503);
  CHECK(r.body.find("module exec is down: load BPF programs") != std::string::npos);
}

TEST_CASE("/healthz is 503 and the landing page says why while a running module is unhealthy, 200 once it is not") {
  SnapshotStore snapshots;
  HttpServer http(snapshots, {status("network", true, true)}, "/metrics");
  snapshots.publish(snapshot_of_up({{"network", "interface eth0: bpfex's tc filter was removed by someone else"}}));
  auto r = http.route("GET", "/healthz");
  CHECK(r.status == 503);
  CHECK(r.body.find("module network is unhealthy: interface eth0: bpfex's tc filter was removed") != std::string::npos);
  CHECK(http.route("GET", "/").body.find("unhealthy: interface eth0") != std::string::npos);
  snapshots.publish(snapshot_of_up());
  CHECK(http.route("GET", "/healthz").status == 200);
}

TEST_CASE("the landing page names each program's attach point") {
  SnapshotStore snapshots;
  ModuleStatus exec = status("exec", true, true);
  exec.programs.push_back({"exec_tp_btf", "tp_btf", "sched_process_exec", -1});
  HttpServer http(snapshots, {exec}, "/metrics");
  CHECK(http.route("GET", "/").body.find("exec_tp_btf (tp_btf sched_process_exec)") != std::string::npos);
}

TEST_CASE("request targets: absolute form, %-escapes decoded, control bytes kept escaped") {
  CHECK(HttpServer::request_path("/metrics") == "/metrics");
  CHECK(HttpServer::request_path("/m%65trics") == "/metrics");
  CHECK(HttpServer::request_path("http://node:9650/metrics") == "/metrics");
  CHECK(HttpServer::request_path("HTTPS://node/healthz") == "/healthz");
  CHECK(HttpServer::request_path("http://node") == "/");
  CHECK(HttpServer::request_path("/metrics%00") == "/metrics%00");
  CHECK(HttpServer::request_path("/metrics%0a") == "/metrics%0a");
  CHECK(HttpServer::request_path("/metrics%") == "/metrics%");
  CHECK(HttpServer::request_path("/metrics%zz") == "/metrics%zz");
}

TEST_CASE("listen addresses") {
  CHECK(parse_listen_address(":9650")->port == 9650);
  CHECK(parse_listen_address(":9650")->host.empty());
  CHECK(parse_listen_address("127.0.0.1:80")->host == "127.0.0.1");
  CHECK(parse_listen_address("localhost:80")->host == "127.0.0.1");
  auto v6 = parse_listen_address("[::1]:9650");
  REQUIRE(v6);
  CHECK(v6->ipv6);
  CHECK(v6->host == "::1");
  CHECK_FALSE(parse_listen_address("9650"));
  CHECK_FALSE(parse_listen_address(":0"));
  CHECK_FALSE(parse_listen_address(":65536"));
  CHECK_FALSE(parse_listen_address("example.com:80"));
  CHECK_FALSE(parse_listen_address("::1:80"));
}
