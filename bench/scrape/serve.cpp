// bench/scrape's server: bpfex's own serving path (families -> Snapshot -> HttpServer, bodies built
// once per poll per format as the poller does) over synthetic families of a chosen size, with no
// kernel in it, so that the number of series is whatever the bench asks.
//
//   bench_scrape_serve SERIES PORT
//
// SERIES counts text-format sample lines, as node_exporter's series are counted: 90% of them in
// syscall-like latency histograms (28 lines each at the default range: 26 `le` buckets, _sum,
// _count), the rest counters. Counts move every poll, as the kernel's do.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "exposition/snapshot.h"
#include "http/server.h"
#include "metrics/families.h"

namespace {

volatile std::sig_atomic_t stop = 0;

bpfex::Families make_families(size_t series, uint64_t tick) {
  using namespace bpfex;
  const native_buckets::Layout layout = native_buckets::layout_of(native_buckets::kDefaultSchema, "1us", "16s");
  const size_t histograms = series * 9 / 10 / 28, counters = series - histograms * 28;
  HistogramFamily latency("bpfex_syscall_latency_seconds", "Syscall latency (synthetic).", {"syscall", "cgroup"});
  HistogramData data;
  data.layout = layout;
  for (size_t i = 0; i < histograms; ++i) {
    data.counts.assign(layout.slots(), 0);
    // A latency spread over about six doublings around a few microseconds, like most syscalls.
    for (uint32_t s = 8 + (i % 5); s < 20 + (i % 7); ++s) data.counts[s] = (i * 7919 + s * 104729 + tick * 13) % 100000;
    data.sum = static_cast<double>(i + tick) * 1e-3;
    latency.add({"call" + std::to_string(i % 300), "/bench/w" + std::to_string(i / 300)}, data);
  }
  auto errors = counter_family("bpfex_syscall_errors_total", "Failed syscalls (synthetic).", {"syscall", "errno"});
  for (size_t i = 0; i < counters; ++i)
    errors.add({"call" + std::to_string(i % 300), "E" + std::to_string(i / 300)}, static_cast<double>(i * 31 + tick));
  return {latency.build(), errors.build()};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bpfex;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SERIES PORT\n", argv[0]);
    return 2;
  }
  const size_t series = std::strtoul(argv[1], nullptr, 10);
  SnapshotStore store;
  HttpLimits limits;
  limits.max_requests = 1000;  // measure serving, not the 503 of --web.max-requests
  HttpServer http(store, {}, "/metrics", limits);
  if (Status st = http.start("127.0.0.1:" + std::string(argv[2])); !st) {
    std::fprintf(stderr, "listen: %s\n", st.error().str().c_str());
    return 1;
  }
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::printf("ready\n");
  std::fflush(stdout);
  for (uint64_t tick = 0; !stop; ++tick) {
    auto snap = std::make_shared<const Snapshot>(make_families(series, tick));
    for (int i = 0; i < kBodyKinds; ++i) {  // as the poller: the bodies scrapers asked for lately
      const BodyKind kind{static_cast<BodyKind::Serialization>(i / 2), i % 2 ? Encoding::gzip : Encoding::identity};
      if (store.wanted_lately(kind)) snap->body(kind);
    }
    store.publish(std::move(snap));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return 0;
}
