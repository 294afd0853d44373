// The exposition formats without a server: Accept negotiation, gzip, OpenMetrics' rules, protobuf
// decoded back with the generated code, snapshots built once.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include <google/protobuf/io/coded_stream.h>

#include "exposition/compression.h"
#include "exposition/negotiation.h"
#include "exposition/numbers.h"
#include "exposition/protobuf_format.h"
#include "exposition/snapshot.h"
#include "exposition/text_format.h"
#include "gen/proto/metrics.pb.h"

using namespace bpfex;

namespace {

namespace pb = io::prometheus::client;

const char* kProto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
// What Prometheus 2.42 sends: with native histograms on, and without.
const char* kPrometheusNative =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.9,"
    "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const char* kPrometheusDefault =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

Families sample_families() {
  auto c = counter_family("bpfex_exec_total", "Execs with a \"quote\".", {"comm"});
  c.add({"bash"}, 3);
  c.add({"sh"}, 0.5);
  auto g = gauge_family("bpfex_poll_duration_seconds", "Poll time.", {"module"});
  g.add({"exec"}, 0.00025);
  auto b = counter_family("bpfex_block_io_bytes_total", "Bytes.", {"device"});
  b.add({"vda"}, 4096);
  HistogramFamily h("bpfex_syscall_latency_seconds", "Latency.", {"syscall"});
  const native_buckets::Layout layout{1, -20, 4};
  std::vector<uint64_t> counts(layout.slots(), 0);
  counts[0] = 2;                   // zero bucket
  counts[3] = 5;                   // native index -37
  counts[4] = 1;                   // -36
  counts[7] = 4;                   // -33: gap of two empty buckets, same span
  counts[20] = 9;                  // -20: a new span
  counts[layout.slots() - 1] = 1;  // above 16 s: index 9
  h.add({"read"}, HistogramData{layout, counts, 3.25});
  h.add({"idle"}, HistogramData{layout, std::vector<uint64_t>(layout.slots(), 0), 0});
  return {c.build(), g.build(), b.build(), h.build()};
}

// OpenMetrics 1.0.0's rules, as far as bpfex's output can break them: checked line by line.
std::vector<std::string> openmetrics_violations(const std::string& text) {
  std::vector<std::string> v;
  if (!text.ends_with("# EOF\n")) v.push_back("does not end with # EOF");
  std::istringstream in(text);
  std::string line, family, type;
  std::set<std::string> families;
  bool eof = false;
  std::map<std::string, double> last_le;  // series (without le) -> last le seen
  while (std::getline(in, line)) {
    if (eof) v.push_back("a line after # EOF: " + line);
    if (line == "# EOF") {
      eof = true;
      continue;
    }
    if (line.empty()) v.push_back("an empty line");
    if (line.find('\r') != std::string::npos) v.push_back("a carriage return");
    if (line.starts_with("# ")) {
      std::istringstream words(line.substr(2));
      std::string kind, name, rest;
      words >> kind >> name;
      std::getline(words, rest);
      if (kind == "TYPE") {
        if (!families.insert(name).second) v.push_back("family twice: " + name);
        family = name;
        type = rest.substr(1);
        if (type == "counter" && name.ends_with("_total")) v.push_back("counter family named with _total: " + name);
      } else if (kind == "UNIT") {
        if (name != family) v.push_back("UNIT before TYPE: " + line);
        if (!name.ends_with("_" + rest.substr(1))) v.push_back("unit not the name's suffix: " + line);
      } else if (kind == "HELP") {
        if (name != family) v.push_back("HELP before TYPE: " + line);
        for (size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '"') v.push_back("unescaped quote in HELP: " + line);
          if (rest[i] == '\\') ++i;
        }
      } else {
        v.push_back("a comment that is not metadata: " + line);
      }
      continue;
    }
    const size_t name_end = line.find_first_of("{ ");
    const std::string name = line.substr(0, name_end);
    const std::string value = line.substr(line.rfind(' ') + 1);
    std::string suffix = name.substr(std::min(name.size(), family.size()));
    if (!name.starts_with(family)) v.push_back("sample outside its family (interleaved?): " + line);
    if (type == "counter" && suffix != "_total") v.push_back("counter sample without _total: " + line);
    if (type == "gauge" && !suffix.empty()) v.push_back("gauge sample with a suffix: " + line);
    const bool integer = suffix == "_bucket" || suffix == "_count";
    if (integer && value.find_first_of(".e") != std::string::npos) v.push_back("integer with a point: " + line);
    if (!integer && value.find_first_of(".eIN") == std::string::npos) v.push_back("float without a point: " + line);
    if (suffix == "_bucket") {
      const size_t le = line.find("le=\"");
      if (le == std::string::npos) {
        v.push_back("bucket without le: " + line);
        continue;
      }
      const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
      const double b = bound == "+Inf" ? INFINITY : std::stod(bound);
      if (bound != "+Inf" && bound.find_first_of(".e") == std::string::npos) v.push_back("le not canonical: " + line);
      const std::string series = line.substr(0, le);
      if (last_le.count(series) && b <= last_le[series]) v.push_back("le not ascending: " + line);
      last_le[series] = b;
    }
  }
  if (!eof) v.push_back("no # EOF");
  return v;
}

// Decodes a delimited protobuf body with the generated code.
std::vector<pb::MetricFamily> decode(const std::string& body) {
  std::vector<pb::MetricFamily> out;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(body.data()),
                                            static_cast<int>(body.size()));
  uint32_t size = 0;
  while (in.ReadVarint32(&size)) {
    const auto limit = in.PushLimit(static_cast<int>(size));
    pb::MetricFamily f;
    REQUIRE(f.ParseFromCodedStream(&in));
    REQUIRE(in.ConsumedEntireMessage());
    in.PopLimit(limit);
    out.push_back(std::move(f));
  }
  REQUIRE(in.CurrentPosition() == static_cast<int>(body.size()));
  return out;
}

}  // namespace

TEST_CASE("negotiation: Accept headers as client_golang reads them, text 0.0.4 for anything else") {
  struct Row {
    const char* accept;
    Format want;
  };
  const std::string many_commas(10000, ',');  // outlives rows, which keep only its pointer
  const std::vector<Row> rows = {
      {"", Format::text},
      {"*/*", Format::text},
      {"text/plain", Format::text},
      {"text/plain;version=0.0.4", Format::text},
      {"text/plain; version=0.0.4; charset=utf-8", Format::text},
      {"text/plain;version=0.0.5", Format::text},  // unknown version: nothing matches, the default
      {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", Format::text},  // a browser
      {kProto, Format::protobuf},
      {"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
       Format::protobuf},
      {"Application/Vnd.Google.Protobuf;Proto=io.prometheus.client.MetricFamily;ENCODING=delimited", Format::protobuf},
      {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text", Format::text},
      {"application/vnd.google.protobuf;proto=io.prometheus.client.Other;encoding=delimited", Format::text},
      {"application/vnd.google.protobuf;encoding=delimited", Format::text},
      {"application/openmetrics-text", Format::openmetrics_1_0_0},
      {"application/openmetrics-text;version=1.0.0", Format::openmetrics_1_0_0},
      {"application/openmetrics-text; version=\"1.0.0\"", Format::openmetrics_1_0_0},
      {"application/openmetrics-text;version=0.0.1", Format::openmetrics_0_0_1},
      {"application/openmetrics-text;version=2.0.0", Format::text},
      {kPrometheusNative, Format::protobuf},
      {kPrometheusDefault, Format::openmetrics_1_0_0},
      // q-values order the clauses, whatever their order in the header
      {"text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.8", Format::openmetrics_1_0_0},
      {"application/openmetrics-text;q=0.2, text/plain;q=0.3", Format::text},
      {"text/plain;q=0.5, application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
       "q=0.51",
       Format::protobuf},
      // equal q: the order given
      {"application/openmetrics-text, text/plain", Format::openmetrics_1_0_0},
      {"text/plain, application/openmetrics-text", Format::text},
      // equal q: a wildcard never goes before a concrete type
      {"*/*, application/openmetrics-text", Format::openmetrics_1_0_0},
      // q=0: not acceptable (RFC 9110; client_golang would still pick it)
      {"application/openmetrics-text;q=0, text/plain;q=0.1", Format::text},
      {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0", Format::text},
      // garbage: ignored clause by clause, never an error
      {"application/openmetrics-text;q=abc, text/plain;q=0.1", Format::text},
      {"application/openmetrics-text;q=2", Format::text},
      {";;;,,,", Format::text},
      {"/", Format::text},
      {"application/, /plain", Format::text},
      {"application/openmetrics-text;version", Format::openmetrics_1_0_0},
      {"\"application/openmetrics-text\"", Format::text},
      {"application/openmetrics-text;version=\"1.0.0,text/plain\"", Format::text},
      {many_commas.c_str(), Format::text},
      {"\xff\xfe garbage \x01", Format::text},
  };
  for (const auto& r : rows) {
    INFO("Accept: " << r.accept);
    CHECK(negotiate_format(r.accept) == r.want);
  }
  CHECK(content_type(Format::text) == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(content_type(Format::openmetrics_1_0_0) == "application/openmetrics-text; version=1.0.0; charset=utf-8");
  CHECK(content_type(Format::openmetrics_0_0_1) == "application/openmetrics-text; version=0.0.1; charset=utf-8");
  CHECK(content_type(Format::protobuf) ==
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited");
}

TEST_CASE("negotiation: gzip when Accept-Encoding allows it") {
  const std::vector<std::pair<const char*, Encoding>> rows = {
      {"", Encoding::identity},
      {"gzip", Encoding::gzip},
      {"gzip, deflate, br", Encoding::gzip},  // what Prometheus and browsers send
      {"GZIP", Encoding::gzip},
      {"x-gzip", Encoding::gzip},
      {"deflate;q=1, gzip;q=0.2", Encoding::gzip},
      {"gzip;q=0", Encoding::identity},
      {"gzip;q=0, *", Encoding::identity},  // gzip itself refused, whatever * says
      {"*", Encoding::gzip},
      {"*;q=0", Encoding::identity},
      {"identity", Encoding::identity},
      {"br, deflate", Encoding::identity},
      {"gzip;q=nonsense", Encoding::identity},
      {",,;;gzip", Encoding::identity},
  };
  for (const auto& [header, want] : rows) {
    INFO("Accept-Encoding: " << header);
    CHECK(negotiate_encoding(header) == want);
  }
}

TEST_CASE("gzip round trip, and what it saves on a text body") {
  for (const std::string& data : {std::string(), std::string("x"), serialize_text(sample_families()),
                                  std::string(1 << 20, 'a') + std::string(1000, '\0')}) {
    const std::string z = gzip(data);
    REQUIRE(z.size() >= 18);  // a gzip member: header and trailer
    CHECK(static_cast<unsigned char>(z[0]) == 0x1f);
    CHECK(static_cast<unsigned char>(z[1]) == 0x8b);
    auto back = gunzip(z);
    REQUIRE(back);
    CHECK(back.value() == data);
  }
  const std::string text = serialize_text(sample_families());
  CHECK(gzip(text).size() * 3 < text.size());
  CHECK_FALSE(gunzip("not gzip"));
  CHECK_FALSE(gunzip(gzip(text).substr(0, 20)));  // truncated
}

TEST_CASE("OpenMetrics: the rules hold, counters and units as the specification wants") {
  const std::string om = serialize_openmetrics(sample_families());
  INFO(om);
  CHECK(openmetrics_violations(om).empty());
  for (const auto& violation : openmetrics_violations(om)) UNSCOPED_INFO(violation);
  CHECK(om.find("# TYPE bpfex_exec counter\n# HELP bpfex_exec Execs with a \\\"quote\\\".\n") != std::string::npos);
  CHECK(om.find("bpfex_exec_total{comm=\"bash\"} 3.0\n") != std::string::npos);
  CHECK(om.find("# TYPE bpfex_block_io_bytes counter\n# UNIT bpfex_block_io_bytes bytes\n") != std::string::npos);
  CHECK(om.find("# UNIT bpfex_poll_duration_seconds seconds\n") != std::string::npos);
  CHECK(om.find("# UNIT bpfex_syscall_latency_seconds seconds\n") != std::string::npos);
  CHECK(om.find("bpfex_poll_duration_seconds{module=\"exec\"} 0.00025\n") != std::string::npos);
  CHECK(om.find("bpfex_syscall_latency_seconds_bucket{syscall=\"read\",le=\"16.0\"} 21\n") != std::string::npos);
  CHECK(om.find("bpfex_syscall_latency_seconds_bucket{syscall=\"read\",le=\"+Inf\"} 22\n") != std::string::npos);
  CHECK(om.find("bpfex_syscall_latency_seconds_count{syscall=\"read\"} 22\n") != std::string::npos);
  // The checker itself catches what it claims to.
  CHECK_FALSE(openmetrics_violations("# TYPE a counter\na_total 1.0\n").empty());              // no EOF
  CHECK_FALSE(openmetrics_violations("# TYPE a counter\na 1.0\n# EOF\n").empty());             // no _total
  CHECK_FALSE(openmetrics_violations("# TYPE a gauge\na 1\n# EOF\n").empty());                 // not a float
  CHECK_FALSE(openmetrics_violations("# TYPE a gauge\n# TYPE a gauge\n# EOF\n").empty());      // twice
  CHECK_FALSE(openmetrics_violations("# TYPE a gauge\n# HELP a say \"x\"\n# EOF\n").empty());  // quote
  CHECK_FALSE(openmetrics_violations("# TYPE a_seconds gauge\n# UNIT a_seconds bytes\n# EOF\n").empty());
  CHECK_FALSE(openmetrics_violations("# TYPE a gauge\na 1.0\n# EOF\nb 1\n").empty());
}

TEST_CASE("text 0.0.4 and OpenMetrics have the same samples: classic buckets only, no native ones") {
  const std::string text = serialize_text(sample_families());
  CHECK(text.find("bpfex_syscall_latency_seconds_bucket{syscall=\"read\",le=\"9.5367431640625e-07\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("bpfex_syscall_latency_seconds_bucket{syscall=\"read\",le=\"16\"} 21\n") != std::string::npos);
  CHECK(text.find("bpfex_syscall_latency_seconds_sum{syscall=\"read\"} 3.25\n") != std::string::npos);
  CHECK(text.find("# HELP bpfex_exec_total Execs with a \"quote\".\n# TYPE bpfex_exec_total counter\n") !=
        std::string::npos);
  size_t text_samples = 0, om_samples = 0;
  for (char c : text) text_samples += c == '\n';
  const std::string om = serialize_openmetrics(sample_families());
  for (char c : om) om_samples += c == '\n';
  // Text: HELP and TYPE per family; OpenMetrics: TYPE, HELP and (three families) UNIT, then # EOF.
  const size_t families = 4;
  CHECK(text_samples - 2 * families == om_samples - 2 * families - 3 - 1);
}

TEST_CASE("protobuf: decoded back with the generated code, every field as the families have it") {
  const Families families = sample_families();
  const auto decoded = decode(serialize_protobuf(families));
  REQUIRE(decoded.size() == families.size());
  CHECK(decoded[0].name() == "bpfex_exec_total");
  CHECK(decoded[0].help() == "Execs with a \"quote\".");
  CHECK(decoded[0].type() == pb::COUNTER);
  REQUIRE(decoded[0].metric_size() == 2);
  CHECK(decoded[0].metric(0).label(0).name() == "comm");
  CHECK(decoded[0].metric(0).label(0).value() == "bash");
  CHECK(decoded[0].metric(0).counter().value() == 3);
  CHECK(decoded[0].metric(1).counter().value() == 0.5);
  CHECK(decoded[1].type() == pb::GAUGE);
  CHECK(decoded[1].metric(0).gauge().value() == 0.00025);

  const pb::MetricFamily& lat = decoded[3];
  CHECK(lat.type() == pb::HISTOGRAM);
  REQUIRE(lat.metric_size() == 2);
  const pb::Histogram& idle = lat.metric(0).histogram();  // "idle" sorts before "read"
  CHECK(lat.metric(0).label(0).value() == "idle");
  CHECK(idle.sample_count() == 0);
  CHECK(idle.has_schema());
  CHECK(idle.zero_threshold() > 0);  // native even when empty
  REQUIRE(idle.positive_span_size() == 1);
  CHECK(idle.positive_span(0).length() == 0);

  const pb::Histogram& h = lat.metric(1).histogram();
  CHECK(h.sample_count() == 22);
  CHECK(h.sample_sum() == 3.25);
  CHECK(h.schema() == 1);
  CHECK(h.zero_threshold() == std::ldexp(1.0, -20));
  CHECK(h.zero_count() == 2);
  // Classic buckets as in the text formats, without +Inf.
  REQUIRE(h.bucket_size() == 25);
  CHECK(h.bucket(0).upper_bound() == std::ldexp(1.0, -20));
  CHECK(h.bucket(0).cumulative_count() == 2);
  CHECK(h.bucket(24).upper_bound() == 16);
  CHECK(h.bucket(24).cumulative_count() == 21);
  // Native: index -37, -36, (-35, -34 empty, inside the span), -33; then -20; then 9 (overflow).
  REQUIRE(h.positive_span_size() == 3);
  CHECK(h.positive_span(0).offset() == -37);
  CHECK(h.positive_span(0).length() == 5);
  CHECK(h.positive_span(1).offset() == -20 - (-33 + 1));
  CHECK(h.positive_span(1).length() == 1);
  CHECK(h.positive_span(2).offset() == 9 - (-20 + 1));
  CHECK(h.positive_span(2).length() == 1);
  std::vector<int64_t> counts;
  int64_t running = 0;
  for (int64_t d : h.positive_delta()) counts.push_back(running += d);
  CHECK(counts == std::vector<int64_t>{5, 1, 0, 0, 4, 9, 1});
  // Prometheus' own consistency rule: the count is the zero bucket plus every bucket.
  int64_t total = static_cast<int64_t>(h.zero_count());
  for (int64_t c : counts) total += c;
  CHECK(total == static_cast<int64_t>(h.sample_count()));
}

TEST_CASE("snapshots serialize each body once, however many ask, from any thread") {
  auto snapshot = std::make_shared<const Snapshot>(sample_families());
  const std::string* first = &snapshot->body({BodyKind::text, Encoding::gzip});
  CHECK(first == &snapshot->body({BodyKind::text, Encoding::gzip}));
  CHECK(gunzip(*first).value() == snapshot->body({BodyKind::text, Encoding::identity}));
  CHECK(snapshot->body({BodyKind::openmetrics, Encoding::identity}) == serialize_openmetrics(sample_families()));
  CHECK(snapshot->body({BodyKind::protobuf, Encoding::identity}) == serialize_protobuf(sample_families()));
  CHECK(BodyKind::of(Format::openmetrics_0_0_1, Encoding::gzip).index() ==
        BodyKind::of(Format::openmetrics_1_0_0, Encoding::gzip).index());
  std::set<int> indexes;
  for (Format f : {Format::text, Format::openmetrics_1_0_0, Format::protobuf})
    for (Encoding e : {Encoding::identity, Encoding::gzip}) indexes.insert(BodyKind::of(f, e).index());
  CHECK(indexes.size() == kBodyKinds);
}

TEST_CASE("numbers: Go's %g, integers as integers, OpenMetrics floats with a point") {
  auto go = [](double v) {
    std::string s;
    exposition::append_go_float(s, v);
    return s;
  };
  auto value = [](double v) {
    std::string s;
    exposition::append_value(s, v);
    return s;
  };
  auto om = [](double v) {
    std::string s;
    exposition::append_om_float(s, v);
    return s;
  };
  // The examples of OpenMetrics' "canonical numbers" (Go's rendering).
  CHECK(go(0.001) == "0.001");
  CHECK(go(0.95) == "0.95");
  CHECK(go(1e-10) == "1e-10");
  CHECK(go(1e-5) == "1e-05");
  CHECK(go(0.0001) == "0.0001");
  CHECK(go(100000) == "100000");
  CHECK(go(1e6) == "1e+06");
  CHECK(go(1e10) == "1e+10");
  CHECK(go(1234567) == "1.234567e+06");
  CHECK(go(std::ldexp(1.0, -20)) == "9.5367431640625e-07");
  CHECK(go(0.1 + 0.2) == "0.30000000000000004");
  CHECK(go(-2.5) == "-2.5");
  CHECK(go(INFINITY) == "+Inf");
  CHECK(go(-INFINITY) == "-Inf");
  CHECK(go(NAN) == "NaN");
  CHECK(om(1) == "1.0");
  CHECK(om(0) == "0.0");
  CHECK(om(10) == "10.0");
  CHECK(om(1e6) == "1e+06");
  CHECK(om(0.5) == "0.5");
  CHECK(om(INFINITY) == "+Inf");
  CHECK(value(25) == "25");
  CHECK(value(1234567) == "1234567");
  CHECK(value(-3) == "-3");
  CHECK(value(0.25) == "0.25");
  CHECK(value(1e300) == "1e+300");
}
