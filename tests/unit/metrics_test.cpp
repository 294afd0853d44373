#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "exposition/text_format.h"
#include "loader/maps.h"
#include "metrics/counter_guard.h"
#include "metrics/entry_tally.h"
#include "metrics/families.h"

using namespace bpfex;

namespace {

const prometheus::ClientMetric* find(const prometheus::MetricFamily& f, const std::string& label_value) {
  for (const auto& m : f.metric)
    if (!m.label.empty() && m.label[0].value == label_value) return &m;
  return nullptr;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("exposition of a fixed snapshot matches the golden file") {
  auto execs = counter_family("bpfex_exec_total", "Successful execs.", {"comm"});
  execs.add({"bash"}, 3);
  execs.add({"true"}, 25);
  execs.add({"with\"quote\\and\nnewline"}, 1);
  auto up = gauge_family("bpfex_module_up", "Module state.\nSecond line with a \\ backslash.", {"module"});
  up.add({"exec"}, 1);
  HistogramFamily lat("bpfex_example_latency_seconds", "Example histogram.", {"syscall"});
  lat.add({"read"}, HistogramData{{1e-6, 2e-6, 4e-6}, {1, 0, 2, 1}, 0.000123});
  Families fams = {execs.build(), up.build(), lat.build()};
  const std::string text = serialize_text(fams);
  const std::string golden_path = BPFEX_SOURCE_DIR "/tests/unit/golden/exposition.txt";
  if (std::getenv("BPFEX_UPDATE_GOLDEN")) std::ofstream(golden_path) << text;
  CHECK(text == read_file(golden_path));
}

TEST_CASE("label values that repair to the same text are merged, not duplicated") {
  auto f = counter_family("bpfex_exec_total", "x", {"comm"});
  f.add({"a\xFF"}, 2);
  f.add({"a\xFE"}, 3);
  f.add({"other"}, 1);
  f.add({"other"}, 4);  // overflow bucket and a program literally named "other"
  auto built = f.build();
  REQUIRE(built.metric.size() == 2);
  CHECK(find(built, "a\xEF\xBF\xBD")->counter.value == 5);
  CHECK(find(built, "other")->counter.value == 5);
}

TEST_CASE("histogram buckets become cumulative, +Inf holds everything") {
  HistogramFamily h("x_seconds", "x", {"k"});
  h.add({"a"}, HistogramData{{1, 2}, {1, 2, 3}, 10});
  h.add({"a"}, HistogramData{{1, 2}, {1, 0, 0}, 1});
  auto f = h.build();
  REQUIRE(f.metric.size() == 1);
  const auto& hist = f.metric[0].histogram;
  REQUIRE(hist.bucket.size() == 3);
  CHECK(hist.bucket[0].cumulative_count == 2);
  CHECK(hist.bucket[1].cumulative_count == 4);
  CHECK(hist.bucket[2].cumulative_count == 7);
  CHECK(std::isinf(hist.bucket[2].upper_bound));
  CHECK(hist.sample_count == 7);
  CHECK(hist.sample_sum == 11);
}

TEST_CASE("bucket bounds are written in their shortest spelling; other labels and text untouched") {
  // 2^13 ns in seconds: prometheus-cpp alone writes le="8.192000000000001e-06".
  HistogramFamily h("bpfex_x_seconds", "le=\"8.192000000000001e-06\" in help stays.", {"module", "syscall"});
  h.add({"a", "le=\"0.30000000000000004\""}, HistogramData{{8192 / 1e9, 16384 / 1e9, 1}, {1, 0, 0, 0}, 0});
  const std::string text = serialize_text({h.build()});
  CHECK(text.find(R"(le="8.192e-06"} 1)") != std::string::npos);
  CHECK(text.find(R"(le="1.6384e-05"} 1)") != std::string::npos);
  CHECK(text.find(R"(le="1"} 1)") != std::string::npos);
  CHECK(text.find(R"(le="+Inf"} 1)") != std::string::npos);
  CHECK(text.find("8.192000000000001e-06\" in help stays.") != std::string::npos);
  CHECK(text.find(R"(syscall="le=\"0.30000000000000004\"")") != std::string::npos);
  CHECK(text.find("e-06,") == std::string::npos);  // nothing else was cut or shifted
}

// Found by tests/fuzz/exposition: read back from prometheus-cpp's 16 digits, this bound became the
// double next to it.
TEST_CASE("bucket bounds read back as the very same double, also where 16 digits cannot tell") {
  const double bound = 1.4959368854761124e-08;
  HistogramFamily h("bpfex_x_seconds", "x", {"comm"});
  h.add({"a,le=\""}, HistogramData{{bound, 1}, {1, 2, 3}, 0});
  h.add({"b"}, HistogramData{{bound, 1}, {4, 5, 6}, 0});
  const std::string text = serialize_text({h.build()});
  CHECK(text.find(R"(bpfex_x_seconds_bucket{comm="a,le=\"",le="1.4959368854761124e-08"} 1)") != std::string::npos);
  CHECK(text.find(R"(bpfex_x_seconds_bucket{comm="b",le="1.4959368854761124e-08"} 4)") != std::string::npos);
  CHECK(text.find(R"(bpfex_x_seconds_bucket{comm="b",le="1"} 9)") != std::string::npos);
  CHECK(text.find("1.495936885476112e-08") == std::string::npos);
}

// Found by bench/soak: bpfex_label_overflow_total went down as dead cgroups' entries were deleted.
TEST_CASE("an entry tally never goes down when entries are deleted, and counts what re-created ones hold") {
  EntryTally t;
  t.add("a", 10);
  t.add("b", 5);
  CHECK(t.finish() == 15);
  t.add("a", 12);  // b was deleted: its 5 stay
  CHECK(t.finish() == 17);
  t.add("a", 12);
  t.add("b", 3);  // b again: a new entry, all of it new
  CHECK(t.finish() == 20);
  t.add("a", 4);  // deleted and made again between two readings
  t.add("b", 3);
  CHECK(t.finish() == 24);
  CHECK(t.finish() == 24);  // nothing read: nothing added, everything forgotten
  t.add("a", 4);
  CHECK(t.finish() == 28);
}

TEST_CASE("counters never go down when a map entry is evicted and re-created") {
  CounterGuard guard;
  auto poll = [&](const std::vector<std::pair<std::string, double>>& values) {
    auto f = counter_family("c_total", "x", {"k"});
    for (auto& [k, v] : values) f.add({k}, v);
    Families fams = {f.build()};
    guard.apply(fams);
    return fams[0];
  };
  CHECK(find(poll({{"a", 10}, {"b", 5}}), "a")->counter.value == 10);
  CHECK(find(poll({{"a", 12}, {"b", 6}}), "a")->counter.value == 12);
  auto after_eviction = poll({{"a", 3}});  // a was evicted and re-created; b is gone
  CHECK(find(after_eviction, "a")->counter.value == 15);
  REQUIRE(find(after_eviction, "b"));
  CHECK(find(after_eviction, "b")->counter.value == 6);  // still reported at its last value
  CHECK(find(poll({{"a", 4}, {"b", 1}}), "b")->counter.value == 7);
}

TEST_CASE("with retire_vanished, vanished series are dropped and forgotten") {
  CounterGuard guard;
  auto poll = [&](const std::vector<std::pair<std::string, double>>& values) {
    auto f = counter_family("c_total", "x", {"k"});
    for (auto& [k, v] : values) f.add({k}, v);
    Families fams = {f.build()};
    guard.apply(fams, /*retire_vanished=*/true);
    return fams[0];
  };
  poll({{"a", 10}, {"b", 5}});
  auto after = poll({{"a", 12}});  // b's interface was deleted
  CHECK(find(after, "a")->counter.value == 12);
  CHECK_FALSE(find(after, "b"));
  CHECK(guard.tracked_series() == 1);
  // A new b (same labels, say a re-created interface) starts over: no offset from the old one.
  CHECK(find(poll({{"a", 13}, {"b", 2}}), "b")->counter.value == 2);
  // Decreases of series still present are still guarded.
  CHECK(find(poll({{"a", 1}, {"b", 3}}), "a")->counter.value == 14);
}

TEST_CASE("a module restarted by a reload continues its counters: nothing lost, nothing twice") {
  CounterGuard guard;
  auto family = [](const std::vector<std::pair<std::string, double>>& values) {
    auto f = counter_family("c_total", "x", {"k"});
    for (auto& [k, v] : values) f.add({k}, v);
    return Families{f.build()};
  };
  auto poll = [&](const std::vector<std::pair<std::string, double>>& values) {
    Families fams = family(values);
    guard.apply(fams);
    return fams[0];
  };
  poll({{"a", 100}, {"b", 7}});
  poll({{"a", 120}, {"b", 9}});  // the old instance's last reading
  // The new instance started a little earlier and has counted 30 of a's events that the old one
  // counted too, and 2 of a new series c.
  guard.restart(family({{"a", 30}, {"c", 2}}));
  auto after = poll({{"a", 35}, {"c", 3}, {"b", 1}});
  CHECK(find(after, "a")->counter.value == 125);  // 120 + (35 - 30)
  CHECK(find(after, "b")->counter.value == 10);   // 9 + 1: absent from the baseline
  CHECK(find(after, "c")->counter.value == 1);    // 3 - 2: the 2 were counted before the switch
  // Larger raw values than the old instance ever had are not mistaken for continuity.
  CHECK(find(poll({{"a", 500}, {"c", 3}, {"b", 1}}), "a")->counter.value == 590);
  // A restart with an empty baseline continues every series from its last value.
  guard.restart({});
  CHECK(find(poll({{"a", 1}}), "a")->counter.value == 591);
}

TEST_CASE("gauges pass the guard untouched") {
  CounterGuard guard;
  auto g = gauge_family("g", "x", {"k"});
  g.add({"a"}, 5);
  Families fams = {g.build()};
  guard.apply(fams);
  g = gauge_family("g", "x", {"k"});
  g.add({"a"}, 1);
  fams = {g.build()};
  guard.apply(fams);
  CHECK(fams[0].metric[0].gauge.value == 1);
}

TEST_CASE("per-CPU values are summed word by word over CPUs") {
  // Two u64 words, three CPUs, laid out as the kernel does: cpu0{w0,w1} cpu1{w0,w1} cpu2{w0,w1}.
  const uint64_t raw[] = {1, 10, 2, 20, 3, 30};
  uint64_t out[2] = {99, 99};
  sum_percpu_words(reinterpret_cast<const uint8_t*>(raw), 2, 3, out);
  CHECK(out[0] == 6);
  CHECK(out[1] == 60);
  CHECK(possible_cpus() >= 1);
}

#include "app/process_metrics.h"

TEST_CASE("process metrics describe this process") {
  Families fams = process_metrics();
  auto get = [&](const std::string& name) -> double {
    for (const auto& f : fams)
      if (f.name == name)
        return f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value : f.metric[0].gauge.value;
    FAIL("missing " << name);
    return 0;
  };
  CHECK(get("process_resident_memory_bytes") > 1e6);
  CHECK(get("process_virtual_memory_bytes") >= get("process_resident_memory_bytes"));
  CHECK(get("process_open_fds") >= 3);
  CHECK(get("process_max_fds") >= get("process_open_fds"));
  CHECK(get("process_cpu_seconds_total") >= 0);
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(get("process_start_time_seconds") <= now + 1);
  CHECK(get("process_start_time_seconds") > now - 3600);
}
