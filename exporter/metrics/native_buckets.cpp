// Native-schema bucket layouts, the kernel's integer thresholds and lookup table, and the options.
#include "metrics/native_buckets.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cmath>
#include <cstring>

#include "base/duration.h"
#include "base/quote.h"

namespace bpfex::native_buckets {
namespace {

// 1e9 * 2^k is exact in a double for every k in [kMinExp, kMaxExp] (1e9 = 2^9 * 1953125), and so
// is every bound given in ns (below 2^53): comparisons between them are exact.
double ns_at_exp(int k) { return std::ldexp(1e9, k); }

}  // namespace

double Layout::zero_threshold_seconds() const { return std::ldexp(1.0, min_exp); }

std::vector<double> Layout::classic_bounds() const {
  std::vector<double> bounds;
  for (int k = min_exp; k <= max_exp; ++k) bounds.push_back(std::ldexp(1.0, k));
  return bounds;
}

uint64_t Layout::bound_ns(int32_t native_index) const {
  const int32_t per_doubling = 1 << schema;
  // Whole doublings are exact (and mostly integers: 1e9 * 2^k for k >= -9).
  if (native_index % per_doubling == 0)
    return static_cast<uint64_t>(std::floor(ns_at_exp(native_index / per_doubling)));
  // Elsewhere 1e9 * 2^(i/2^s) is irrational; long double (64-bit mantissa) puts it within about
  // 1e-7 ns of the truth below 2^10 s, and no such bound lies that close to an integer (checked
  // exactly, with big integers, by tests/unit/native_buckets_test.cpp for every bound of schema 8,
  // which holds every other schema's bounds), so the floor is exact.
  const long double exponent = static_cast<long double>(native_index) / static_cast<long double>(per_doubling);
  return static_cast<uint64_t>(std::floor(1e9L * std::exp2(exponent)));
}

struct bpfex_hist_layout Layout::kernel_layout() const {
  struct bpfex_hist_layout k {};
  k.schema = schema;
  k.nbuckets = nbuckets();
  k.zero_ns = bound_ns(min_exp * (1 << schema));
  k.max_ns = bound_ns(max_exp * (1 << schema));
  k.exp_lo = bpfex_log2_floor(k.zero_ns + 1);
  const uint32_t exp_hi = bpfex_log2_floor(k.max_ns);
  k.first_len = (exp_hi - k.exp_lo + 1) << (schema + 1);
  return k;
}

uint32_t Layout::table_bytes() const {
  const auto k = kernel_layout();
  return bpfex_hist_table_bytes(k.nbuckets, k.first_len);
}

std::vector<uint8_t> Layout::kernel_table() const {
  const auto k = kernel_layout();
  const uint32_t width = schema + 1;
  std::vector<uint64_t> bound(k.nbuckets + 1);
  for (uint32_t j = 0; j <= k.nbuckets; ++j) bound[j] = bound_ns(native_index(j));
  std::vector<uint16_t> first(k.first_len);
  for (uint32_t idx = 0; idx < k.first_len; ++idx) {
    const uint32_t e = k.exp_lo + (idx >> width), m = idx & ((1u << width) - 1);
    // The sub-bin's start, (2^width + m) * 2^(e - width), rounded up to an integer (for
    // e < width only sub-bins of an integer's own are ever looked up, and those start on it).
    const uint64_t top = (uint64_t{1} << width) + m;
    const uint64_t start = e >= width ? top << (e - width) : (top + (uint64_t{1} << (width - e)) - 1) >> (width - e);
    uint32_t j = 0;
    while (j < k.nbuckets && bound[j] < start) ++j;
    first[idx] = static_cast<uint16_t>(j);
  }
  std::vector<uint8_t> table(bpfex_hist_table_bytes(k.nbuckets, k.first_len));
  std::memcpy(table.data(), bound.data(), bound.size() * sizeof(uint64_t));
  std::memcpy(table.data() + bound.size() * sizeof(uint64_t), first.data(), first.size() * sizeof(uint16_t));
  return table;
}

std::optional<uint64_t> parse_bucket_bound_ns(std::string_view text) {
  auto d = parse_fine_duration(text);
  if (!d || d->count() <= 0) return std::nullopt;
  return static_cast<uint64_t>(d->count());
}

int floor_exp(uint64_t ns) {
  int k = kMinExp;
  while (k < kMaxExp + 1 && ns_at_exp(k + 1) <= static_cast<double>(ns)) ++k;
  return k;
}

int ceil_exp(uint64_t ns) {
  int k = kMinExp;
  while (k <= kMaxExp + 1 && ns_at_exp(k) < static_cast<double>(ns)) ++k;
  return k;
}

std::optional<std::string> check_bucket_bound(const std::string& text) {
  auto ns = parse_bucket_bound_ns(text);
  if (!ns) return "invalid bucket bound " + quote_value(text) + " (a number and a unit: ns, us, ms or s; e.g. 1us)";
  if (ceil_exp(*ns) > kMaxExp)
    return "bucket bound " + quote_value(text) + " is above the limit of 2^10s (1024s, about 17m)";
  return std::nullopt;
}

std::optional<std::string> check_max_bucket(const std::string& min_bucket, const std::string& max_bucket) {
  if (auto problem = check_bucket_bound(max_bucket)) return problem;
  auto min = parse_bucket_bound_ns(min_bucket);
  if (!min) return std::nullopt;  // min_bucket's own error says it
  if (ceil_exp(*parse_bucket_bound_ns(max_bucket)) <= floor_exp(*min))
    return "max_bucket must be above min_bucket (" + min_bucket + ")";
  return std::nullopt;
}

std::optional<std::string> check_schema(uint32_t schema) {
  if (schema > kMaxSchema) return "must be 0..8 (2^schema buckets per doubling)";
  return std::nullopt;
}

std::optional<std::string> check_layout(uint32_t schema, const std::string& min_bucket, const std::string& max_bucket) {
  const Layout layout = layout_of(schema, min_bucket, max_bucket);
  if (layout.slots() <= kMaxSlots) return std::nullopt;
  return "with native_histogram_schema " + std::to_string(schema) + ", " + min_bucket + ".." + max_bucket + " is " +
         std::to_string(layout.nbuckets()) + " buckets, more than a kernel row holds (" +
         std::to_string(kMaxSlots - 2) + "): narrow min_bucket..max_bucket or lower the schema";
}

Layout layout_of(uint32_t schema, const std::string& min_bucket, const std::string& max_bucket) {
  Layout l;
  l.schema = schema;
  l.min_exp = floor_exp(parse_bucket_bound_ns(min_bucket).value_or(1000));
  l.max_exp = ceil_exp(parse_bucket_bound_ns(max_bucket).value_or(16'000'000'000));
  return l;
}

Status prepare_table(bpf_map* table, const Layout& layout) {
  if (bpf_map__set_value_size(table, layout.table_bytes()) != 0)
    return errno_error(std::string("size ") + bpf_map__name(table));
  return {};
}

Status fill_table(bpf_map* table, const Layout& layout) {
  const std::vector<uint8_t> bytes = layout.kernel_table();
  const uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(table), &zero, bytes.data(), BPF_ANY) != 0)
    return errno_error(std::string("fill ") + bpf_map__name(table));
  return {};
}

}  // namespace bpfex::native_buckets
