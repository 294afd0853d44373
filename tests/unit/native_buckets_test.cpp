// The latency bucket rule: the kernel's own code (kernel/native_histogram.h, compiled here as in the
// BPF programs) on the tables user space builds, against an independent reference, at and around
// every boundary of schemas 0..8; the integer thresholds checked exactly with big integers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "metrics/native_buckets.h"

using namespace bpfex;
using native_buckets::Layout;

namespace {

// Unsigned big integers, little-endian 32-bit words: enough to compare t^q with 10^(9q) * 2^p.
using Big = std::vector<uint32_t>;

Big big(uint64_t v) {
  Big b;
  while (v) {
    b.push_back(static_cast<uint32_t>(v));
    v >>= 32;
  }
  return b;
}

Big mul(const Big& a, const Big& b) {
  if (a.empty() || b.empty()) return {};
  std::vector<uint64_t> acc(a.size() + b.size() + 1, 0);
  for (size_t i = 0; i < a.size(); ++i) {
    uint64_t carry = 0;
    for (size_t j = 0; j < b.size(); ++j) {
      const uint64_t cur = acc[i + j] + static_cast<uint64_t>(a[i]) * b[j] + carry;
      acc[i + j] = cur & 0xffffffffu;
      carry = cur >> 32;
    }
    for (size_t k = i + b.size(); carry; ++k) {
      const uint64_t cur = acc[k] + carry;
      acc[k] = cur & 0xffffffffu;
      carry = cur >> 32;
    }
  }
  Big out(acc.begin(), acc.end());
  while (!out.empty() && out.back() == 0) out.pop_back();
  return out;
}

Big shl(const Big& a, uint32_t bits) {
  if (a.empty()) return a;
  Big out(bits / 32, 0);
  const uint32_t s = bits % 32;
  uint32_t carry = 0;
  for (uint32_t w : a) {
    out.push_back(s ? (w << s) | carry : w);
    carry = s ? w >> (32 - s) : 0;
  }
  if (carry) out.push_back(carry);
  return out;
}

Big pow2k(Big b, uint32_t k) {  // b^(2^k) by squaring
  for (uint32_t i = 0; i < k; ++i) b = mul(b, b);
  return b;
}

int cmp(const Big& a, const Big& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  for (size_t i = a.size(); i-- > 0;)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

// The slot of ns by the definition, without the kernel's sub-bin table: the first bound at or above
// ns (bounds from Layout::bound_ns, themselves checked exactly below).
uint32_t reference_slot(const std::vector<uint64_t>& bounds, uint64_t ns) {
  return static_cast<uint32_t>(std::lower_bound(bounds.begin(), bounds.end(), ns) - bounds.begin());
}

std::vector<uint64_t> bounds_of(const Layout& l) {
  std::vector<uint64_t> b;
  for (uint32_t j = 0; j <= l.nbuckets(); ++j) b.push_back(l.bound_ns(l.native_index(j)));
  return b;
}

}  // namespace

TEST_CASE("native thresholds are exactly floor(1e9 * 2^(i/256)) ns, for every bound of every schema") {
  // Schema 8's bounds hold every other schema's (bound i of schema s is bound i << (8 - s)).
  const Layout widest{8, native_buckets::kMinExp, native_buckets::kMaxExp};
  std::vector<Big> ten9_pow(9);  // 10^(9 * 2^k)
  ten9_pow[0] = big(1'000'000'000);
  for (size_t k = 1; k < ten9_pow.size(); ++k) ten9_pow[k] = mul(ten9_pow[k - 1], ten9_pow[k - 1]);
  int checked = 0;
  for (int32_t i = native_buckets::kMinExp * 256; i <= native_buckets::kMaxExp * 256; ++i) {
    const uint64_t t = widest.bound_ns(i);
    // i/256 as p/2^k in lowest terms.
    int32_t p = i;
    uint32_t k = 8;
    while (k > 0 && p % 2 == 0) {
      p /= 2;
      --k;
    }
    // t <= 1e9 * 2^(p/2^k) < t + 1  <=>  t^(2^k) <= 10^(9*2^k) * 2^p < (t+1)^(2^k)
    Big lo = pow2k(big(t), k), hi = pow2k(big(t + 1), k), mid = ten9_pow[k];
    if (p >= 0) {
      mid = shl(mid, static_cast<uint32_t>(p));
    } else {
      lo = shl(lo, static_cast<uint32_t>(-p));
      hi = shl(hi, static_cast<uint32_t>(-p));
    }
    INFO("index " << i << " bound " << t);
    REQUIRE(cmp(lo, mid) <= 0);
    REQUIRE(cmp(mid, hi) < 0);
    ++checked;
  }
  CHECK(checked == 40 * 256 + 1);
  for (uint32_t s = 0; s < 8; ++s) {
    const Layout l{s, native_buckets::kMinExp, native_buckets::kMaxExp};
    for (int32_t i = native_buckets::kMinExp << s; i <= native_buckets::kMaxExp << s; ++i)
      REQUIRE(l.bound_ns(i) == widest.bound_ns(i << (8 - s)));
  }
}

TEST_CASE("the kernel's slot of a value at and around every boundary, schemas 0..8") {
  for (uint32_t s = 0; s <= native_buckets::kMaxSchema; ++s) {
    // The widest range there is (wider than a kernel row may be: the rule does not care).
    const Layout l{s, native_buckets::kMinExp, native_buckets::kMaxExp};
    const native_buckets::SlotFinder finder(l);
    const std::vector<uint64_t> bounds = bounds_of(l);
    INFO("schema " << s);
    for (uint32_t j = 0; j < bounds.size(); ++j) {
      const uint64_t t = bounds[j];
      INFO("boundary " << j << " = " << t << " ns");
      // A bound belongs to its own bucket (upper-inclusive); one more nanosecond to the next one
      // (unless bounds below a nanosecond apart share the integer).
      REQUIRE(finder.slot_of(t) == reference_slot(bounds, t));
      if (j > 0) REQUIRE(bounds[reference_slot(bounds, t)] == t);
      for (uint64_t v : {t - 1, t + 1, t + 2, t - 2})
        if (v <= t + 2) REQUIRE(finder.slot_of(v) == reference_slot(bounds, v));
    }
    CHECK(finder.slot_of(0) == 0);
    CHECK(finder.slot_of(bounds.front()) == 0);
    CHECK(finder.slot_of(bounds.back()) == l.nbuckets());
    CHECK(finder.slot_of(bounds.back() + 1) == l.nbuckets() + 1);
    CHECK(finder.slot_of(UINT64_MAX) == l.nbuckets() + 1);
  }
}

TEST_CASE("the kernel's slot of random values equals the definition, on the ranges modules use") {
  std::mt19937_64 rng(14);
  for (uint32_t s = 0; s <= native_buckets::kMaxSchema; ++s) {
    for (const auto& [lo, hi] : std::vector<std::pair<int, int>>{{-20, 4}, {-30, -20}, {-10, 0}, {5, 10}}) {
      const Layout l{s, lo, hi};
      const native_buckets::SlotFinder finder(l);
      const std::vector<uint64_t> bounds = bounds_of(l);
      std::uniform_real_distribution<double> exponent(std::log2(1e9) + lo - 1, std::log2(1e9) + hi + 1);
      for (int n = 0; n < 20000; ++n) {
        const auto v = static_cast<uint64_t>(std::exp2(exponent(rng)));
        INFO("schema " << s << " range 2^" << lo << "..2^" << hi << " s, value " << v << " ns");
        REQUIRE(finder.slot_of(v) == reference_slot(bounds, v));
      }
    }
  }
}

TEST_CASE("layouts: the defaults, what the kernel gets, classic bounds and native indexes") {
  const Layout l = native_buckets::layout_of(1, "1us", "16s");
  CHECK(l.min_exp == -20);                                          // 1us rounds down to 2^-20 s = 953.67 ns
  CHECK(l.max_exp == 4);                                            // 16s is 2^4 s
  CHECK(native_buckets::layout_of(1, "1us", "17s").max_exp == 5);   // rounds up to 32 s
  CHECK(native_buckets::layout_of(1, "2us", "1s").min_exp == -19);  // 2^-19 s = 1.907 us <= 2 us
  CHECK(l.nbuckets() == 48);
  CHECK(l.slots() == 50);
  const auto k = l.kernel_layout();
  CHECK(k.zero_ns == 953);  // floor(1e9 / 2^20)
  CHECK(k.max_ns == 16'000'000'000u);
  CHECK(k.schema == 1);
  CHECK(k.nbuckets == 48);
  CHECK(k.exp_lo == 9);              // 954 ns is in [2^9, 2^10)
  CHECK(k.first_len == (25u << 2));  // binary exponents 9..33, 4 sub-bins each
  CHECK(l.table_bytes() == 49 * 8 + 100 * 2);
  CHECK(l.kernel_table().size() == l.table_bytes());
  CHECK(l.zero_threshold_seconds() == std::ldexp(1.0, -20));
  CHECK(l.native_index(1) == -39);  // (2^-20, 2^-19.5]
  CHECK(l.native_index(48) == 8);   // (2^3.5, 2^4]
  CHECK(l.native_index(49) == 9);   // the overflow, exported as the bucket above 16 s
  const auto bounds = l.classic_bounds();
  REQUIRE(bounds.size() == 25);
  CHECK(bounds.front() == std::ldexp(1.0, -20));
  CHECK(bounds.back() == 16);
  CHECK(l.bound_ns(-2) == 500'000'000);  // 2^-1 s
  CHECK(l.bound_ns(-1) == 707'106'781);  // 2^-0.5 s = 0.7071067811865476 s
  CHECK(l.bound_ns(1) == 1'414'213'562);
}

TEST_CASE("bounds round outward to powers of two of seconds") {
  using native_buckets::ceil_exp;
  using native_buckets::floor_exp;
  CHECK(floor_exp(1'000'000'000) == 0);
  CHECK(ceil_exp(1'000'000'000) == 0);
  CHECK(floor_exp(999'999'999) == -1);
  CHECK(ceil_exp(1'000'000'001) == 1);
  CHECK(floor_exp(1000) == -20);
  CHECK(ceil_exp(1000) == -19);
  CHECK(floor_exp(1) == -30);
  CHECK(ceil_exp(1024'000'000'000) == 10);
  CHECK(ceil_exp(1024'000'000'001) == 11);
  CHECK(native_buckets::check_bucket_bound("1025s").has_value());
  CHECK_FALSE(native_buckets::check_bucket_bound("1024s").has_value());
}
