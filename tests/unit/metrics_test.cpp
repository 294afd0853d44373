#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "exposition/text_format.h"
#include "loader/maps.h"
#include "metrics/counter_guard.h"
#include "metrics/entry_tally.h"
#include "metrics/families.h"

using namespace bpfex;

namespace {

const Metric* find(const MetricFamily& f, const std::string& label_value) {
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

// A histogram of schema 0 over 2^-20..2^-18 s (classic bounds 0.95, 1.9 and 3.8 us): slots are the
// zero bucket, the native buckets (2^-20, 2^-19] and (2^-19, 2^-18], and the overflow.
const native_buckets::Layout kSmall{0, -20, -18};

// One reading of the counter family c_total{k}: value by label.
using CounterValues = std::vector<std::pair<std::string, double>>;
Families counters(const CounterValues& values) {
  auto f = counter_family("c_total", "x", {"k"});
  for (const auto& [k, v] : values) f.add({k}, v);
  return Families{f.build()};
}

// That reading as the poller serves it: through the guard.
MetricFamily guarded(CounterGuard& guard, const CounterValues& values, bool retire_vanished = false) {
  Families fams = counters(values);
  guard.apply(fams, retire_vanished);
  return fams[0];
}

Families fixed_families() {
  auto execs = counter_family("bpfex_exec_total", "Successful execs.", {"comm"});
  execs.add({"bash"}, 3);
  execs.add({"true"}, 25);
  execs.add({"with\"quote\\and\nnewline"}, 1);
  auto up =
      gauge_family("bpfex_module_up", "Module state.\nSecond line with a \\ backslash and \"quotes\".", {"module"});
  up.add({"exec"}, 1);
  auto poll = gauge_family("bpfex_poll_duration_seconds", "Time the last poll took.", {"module"});
  poll.add({"exec"}, 0.000123);
  HistogramFamily lat("bpfex_example_latency_seconds", "Example histogram.", {"syscall"});
  lat.add({"read"}, HistogramData{kSmall, {1, 0, 2, 1}, 0.000123});
  auto bytes = counter_family("bpfex_example_bytes_total", "Bytes.");
  bytes.add({}, 1234567);
  return {execs.build(), up.build(), poll.build(), lat.build(), bytes.build()};
}

void check_golden(const std::string& name, const std::string& text) {
  const std::string golden_path = BPFEX_SOURCE_DIR "/tests/unit/golden/" + name;
  if (std::getenv("BPFEX_UPDATE_GOLDEN")) std::ofstream(golden_path) << text;
  CHECK(text == read_file(golden_path));
}

}  // namespace

TEST_CASE("text 0.0.4 of a fixed snapshot matches the golden file") {
  check_golden("exposition.txt", serialize_text(fixed_families()));
}

TEST_CASE("OpenMetrics 1.0.0 of a fixed snapshot matches the golden file") {
  check_golden("exposition.openmetrics.txt", serialize_openmetrics(fixed_families()));
}

TEST_CASE("label values that repair to the same text are merged, not duplicated") {
  auto f = counter_family("bpfex_exec_total", "x", {"comm"});
  f.add({"a\xFF"}, 2);
  f.add({"a\xFE"}, 3);
  f.add({"other"}, 1);
  f.add({"other"}, 4);  // overflow bucket and a program literally named "other"
  auto built = f.build();
  REQUIRE(built.metric.size() == 2);
  CHECK(find(built, "a\xEF\xBF\xBD")->value == 5);
  CHECK(find(built, "other")->value == 5);
}

TEST_CASE("histograms: classic buckets are cumulative at every power of two of seconds, +Inf holds everything") {
  HistogramFamily h("x_seconds", "x", {"k"});
  h.add({"a"}, HistogramData{kSmall, {1, 2, 3, 4}, 10});
  h.add({"a"}, HistogramData{kSmall, {1, 0, 0, 0}, 1});
  auto f = h.build();
  REQUIRE(f.metric.size() == 1);
  const auto& hist = f.metric[0].histogram;
  const auto buckets = hist.classic_buckets();
  REQUIRE(buckets.size() == 4);
  CHECK(buckets[0].cumulative_count == 2);  // the zero bucket: le = 2^-20
  CHECK(buckets[0].upper_bound == std::ldexp(1.0, -20));
  CHECK(buckets[1].cumulative_count == 4);
  CHECK(buckets[2].cumulative_count == 7);
  CHECK(buckets[2].upper_bound == std::ldexp(1.0, -18));
  CHECK(buckets[3].cumulative_count == 11);  // + the overflow
  CHECK(std::isinf(buckets[3].upper_bound));
  CHECK(hist.sample_count == 11);
  CHECK(hist.sample_sum == 11);
}

TEST_CASE("histograms: at schema 2 a classic bucket sums 4 native buckets") {
  const native_buckets::Layout l{2, -1, 1};  // 0.5 s, 1 s, 2 s; 8 native buckets
  HistogramFamily h("x_seconds", "x");
  h.add({}, HistogramData{l, {5, 1, 1, 1, 1, 2, 2, 2, 2, 7}, 0});
  const auto buckets = h.build().metric[0].histogram.classic_buckets();
  REQUIRE(buckets.size() == 4);
  CHECK(buckets[0].cumulative_count == 5);
  CHECK(buckets[1].cumulative_count == 9);
  CHECK(buckets[2].cumulative_count == 17);
  CHECK(buckets[3].cumulative_count == 24);
}

TEST_CASE("histograms never go down: a kernel row that restarts is offset as a whole") {
  CounterGuard guard;
  auto poll = [&](std::vector<uint64_t> counts, double sum) {
    HistogramFamily h("x_seconds", "x", {"k"});
    h.add({"a"}, HistogramData{kSmall, std::move(counts), sum});
    Families fams = {h.build()};
    guard.apply(fams);
    return fams[0].metric[0].histogram;
  };
  poll({1, 5, 0, 0}, 2);
  // The row was evicted and re-created; one bucket has grown past its old count meanwhile: it
  // must not lose its old count just because it did not go down.
  auto after = poll({0, 6, 1, 0}, 1);
  CHECK(after.counts == std::vector<uint64_t>{1, 11, 1, 0});
  CHECK(after.sample_count == 13);
  CHECK(after.sample_sum == 3);
  CHECK(poll({0, 7, 1, 0}, 1.5).counts == std::vector<uint64_t>{1, 12, 1, 0});
}

TEST_CASE("le values are Go's shortest %g of powers of two of seconds; other labels and text untouched") {
  HistogramFamily h("bpfex_x_seconds", "le=\"8.192000000000001e-06\" in help stays.", {"module", "syscall"});
  h.add({"a", "le=\"0.30000000000000004\""}, HistogramData{native_buckets::Layout{0, -17, 1}, {1}, 0});
  const std::string text = serialize_text({h.build()});
  CHECK(text.find(R"(le="7.62939453125e-06"} 1)") != std::string::npos);  // 2^-17
  CHECK(text.find(R"(le="6.103515625e-05"} 1)") != std::string::npos);    // 2^-14
  CHECK(text.find(R"(le="0.000244140625"} 1)") != std::string::npos);     // 2^-12
  CHECK(text.find(R"(le="0.5"} 1)") != std::string::npos);
  CHECK(text.find(R"(le="1"} 1)") != std::string::npos);
  CHECK(text.find(R"(le="2"} 1)") != std::string::npos);
  CHECK(text.find(R"(le="+Inf"} 1)") != std::string::npos);
  CHECK(text.find("8.192000000000001e-06\" in help stays.") != std::string::npos);
  CHECK(text.find(R"(syscall="le=\"0.30000000000000004\"")") != std::string::npos);
  const std::string om = serialize_openmetrics({h.build()});
  CHECK(om.find(R"(le="1.0"} 1)") != std::string::npos);
  CHECK(om.find(R"(le="0.5"} 1)") != std::string::npos);
  CHECK(om.find(R"(le="7.62939453125e-06"} 1)") != std::string::npos);
}

// Found by tests/fuzz/exposition: read back from 16 digits, this bound became the double next to it.
// (A user program's classic bounds can be any double.)
TEST_CASE("bucket bounds read back as the very same double, also where 16 digits cannot tell") {
  const double bound = 1.4959368854761124e-08;
  HistogramFamily h("bpfex_x_seconds", "x", {"comm"});
  h.add({"a,le=\""}, HistogramData{{}, {1, 2, 3}, 0, {bound, 1}});
  h.add({"b"}, HistogramData{{}, {4, 5, 6}, 0, {bound, 1}});
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
  auto poll = [&](const CounterValues& values) { return guarded(guard, values); };
  CHECK(find(poll({{"a", 10}, {"b", 5}}), "a")->value == 10);
  CHECK(find(poll({{"a", 12}, {"b", 6}}), "a")->value == 12);
  auto after_eviction = poll({{"a", 3}});  // a was evicted and re-created; b is gone
  CHECK(find(after_eviction, "a")->value == 15);
  REQUIRE(find(after_eviction, "b"));
  CHECK(find(after_eviction, "b")->value == 6);  // still reported at its last value
  CHECK(find(poll({{"a", 4}, {"b", 1}}), "b")->value == 7);
}

TEST_CASE("with retire_vanished, vanished series are dropped and forgotten") {
  CounterGuard guard;
  auto poll = [&](const CounterValues& values) { return guarded(guard, values, /*retire_vanished=*/true); };
  poll({{"a", 10}, {"b", 5}});
  auto after = poll({{"a", 12}});  // b's interface was deleted
  CHECK(find(after, "a")->value == 12);
  CHECK_FALSE(find(after, "b"));
  CHECK(guard.tracked_series() == 1);
  // A new b (same labels, say a re-created interface) starts over: no offset from the old one.
  CHECK(find(poll({{"a", 13}, {"b", 2}}), "b")->value == 2);
  // Decreases of series still present are still guarded.
  CHECK(find(poll({{"a", 1}, {"b", 3}}), "a")->value == 14);
}

TEST_CASE("a module restarted by a reload continues its counters: nothing lost, nothing twice") {
  CounterGuard guard;
  auto poll = [&](const CounterValues& values) { return guarded(guard, values); };
  poll({{"a", 100}, {"b", 7}});
  poll({{"a", 120}, {"b", 9}});  // the old instance's last reading
  // The new instance started a little earlier and has counted 30 of a's events that the old one
  // counted too, and 2 of a new series c.
  guard.restart(counters({{"a", 30}, {"c", 2}}));
  auto after = poll({{"a", 35}, {"c", 3}, {"b", 1}});
  CHECK(find(after, "a")->value == 125);  // 120 + (35 - 30)
  CHECK(find(after, "b")->value == 10);   // 9 + 1: absent from the baseline
  CHECK(find(after, "c")->value == 1);    // 3 - 2: the 2 were counted before the switch
  // Larger raw values than the old instance ever had are not mistaken for continuity.
  CHECK(find(poll({{"a", 500}, {"c", 3}, {"b", 1}}), "a")->value == 590);
  // A restart with an empty baseline continues every series from its last value.
  guard.restart({});
  CHECK(find(poll({{"a", 1}}), "a")->value == 591);
}

TEST_CASE("a family forgotten at a restart (a user program's renamed metric) is not carried") {
  CounterGuard guard;
  guarded(guard, {{"a", 4}});
  guard.forget_family("c_total");
  guard.restart({});
  CHECK(guard.tracked_series() == 0);
  CHECK(find(guarded(guard, {{"a", 1}}), "a")->value == 1);  // a new series from its first value
}

TEST_CASE("series forgotten by label (a dropped metric's decoder errors) are not carried; the rest are") {
  CounterGuard guard;
  guarded(guard, {{"gone", 4}, {"kept", 2}});
  guard.forget_series("c_total", "k", "gone");
  guard.restart({});
  auto after = guarded(guard, {});
  CHECK_FALSE(find(after, "gone"));
  REQUIRE(find(after, "kept"));
  CHECK(find(after, "kept")->value == 2);
}

// Found by bench/soak (block's include_queue_time changed by a reload): a disk with no I/O since the
// restart is absent from the new instance's maps; retiring it lost its counts (24 -> 5).
TEST_CASE("with retire_vanished, a series carried over a restart is kept until the new instance counts it") {
  CounterGuard guard;
  auto poll = [&](const CounterValues& values) { return guarded(guard, values, /*retire_vanished=*/true); };
  poll({{"vda", 24}, {"loop0", 3}});
  guard.restart({});
  auto quiet = poll({});  // the new instance has counted nothing yet
  REQUIRE(find(quiet, "vda"));
  CHECK(find(quiet, "vda")->value == 24);
  CHECK(find(poll({{"vda", 5}}), "vda")->value == 29);
  // Seen again once, it is an ordinary series: gone from the maps, it is retired.
  auto after = poll({});
  CHECK_FALSE(find(after, "vda"));
  CHECK(find(after, "loop0"));  // never seen since the restart: still carried
}

TEST_CASE("a reload that moves a histogram's bucket range carries its counts into the new layout") {
  CounterGuard guard;
  const native_buckets::Layout wider{0, -19, -17};  // zero bucket <= 2^-19 s, overflow > 2^-17 s
  auto family = [](const native_buckets::Layout& layout, std::vector<uint64_t> counts, double sum) {
    HistogramFamily h("h_seconds", "x", {"k"});
    h.add({"a"}, HistogramData{layout, std::move(counts), sum});
    return Families{h.build()};
  };
  Families old = family(kSmall, {1, 2, 3, 4}, 0.5);
  guard.apply(old);
  // The new instance's range starts one doubling higher and ends one higher: the old zero bucket
  // and (2^-20, 2^-19] fall into the new zero bucket, (2^-19, 2^-18] is the new first bucket, the
  // old overflow goes to the new bucket just above 2^-18. It counted one event before the switch.
  guard.restart(family(wider, {0, 1, 0, 0}, 0.1));
  Families now = family(wider, {0, 2, 0, 1}, 0.3);
  guard.apply(now);
  const Histogram& h = now[0].metric[0].histogram;
  CHECK(h.layout == wider);
  CHECK(h.counts == std::vector<uint64_t>{3, 4, 4, 1});
  CHECK(h.sample_count == 12);  // 10 before, 2 new
  CHECK(h.sample_sum == Approx(0.7));
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
  CHECK(fams[0].metric[0].value == 1);
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
      if (f.name == name) return f.metric[0].value;
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
