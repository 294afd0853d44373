// Latency histograms as every latency module exports them (syscall, runqueue, block, and the next
// ones): buckets on the boundaries of Prometheus native histograms of the global schema
// (native_histogram_schema), computed in the kernel by kernel/native_histogram.h on tables built
// here, exported as native buckets (protobuf) and as classic `le` buckets at every power of two of
// seconds (all formats). One machinery, so every latency family has the same rule and the same
// min_bucket/max_bucket options.
//
// A module adopts it in four steps (syscall.cpp is the example):
//   kernel: `const volatile struct bpfex_hist_layout <m>_hist;` in its read-only data, an ARRAY map
//     of one entry whose value_size is set before load (the table), rows of __u64 slots whose
//     bucket part is layout.slots() long, and `slot = bpfex_hist_slot(&<m>_hist, table, ns)`;
//   options: min_bucket and max_bucket with check_bucket_bound()/check_max_bucket();
//   start(): Layout layout = layout_of(context.native_histogram_schema, min, max);
//     rodata = layout.kernel_layout(); prepare_table(map, layout) before load, fill_table() after;
//   read(): HistogramFamily::add(labels, HistogramData{layout, counts of the slots, sum in seconds}).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kernel/native_histogram.h"

struct bpf_map;

namespace bpfex::native_buckets {

// The default schema: 2 buckets per doubling (a factor of 1.41, quantiles within about 19%),
// twice the resolution of power-of-two buckets for 1.6x their kernel memory. deploy/README.md
// ("Latency histograms") has the table of memory per possible CPU against quantile error.
inline constexpr uint32_t kDefaultSchema = 1;
inline constexpr uint32_t kMaxSchema = BPFEX_HIST_MAX_SCHEMA;
// Classic bounds 2^kMinExp s (0.93 ns) .. 2^kMaxExp s (1024 s, about 17 minutes).
inline constexpr int kMinExp = -30;
inline constexpr int kMaxExp = 10;
// Bucket slots (zero, native, overflow) a row may have: per-CPU map values are at most 32 KiB
// (the kernel's PCPU_MIN_UNIT_SIZE), and rows carry a few slots of their own besides.
inline constexpr uint32_t kMaxSlots = 4096 - 8;

// The bucket layout of a histogram: classic bounds 2^min_exp .. 2^max_exp seconds, 2^schema native
// buckets per doubling in between. Slots as kernel/native_histogram.h: 0 the zero bucket
// (<= 2^min_exp s), 1..nbuckets() the native buckets, nbuckets() + 1 the overflow (> 2^max_exp s).
struct Layout {
  uint32_t schema = kDefaultSchema;
  int min_exp = -20;
  int max_exp = 4;

  uint32_t nbuckets() const { return static_cast<uint32_t>(max_exp - min_exp) << schema; }
  uint32_t slots() const { return nbuckets() + 2; }
  // Prometheus' index of the native bucket in slot j (1..nbuckets() + 1): bucket i holds
  // (2^((i-1)/2^schema), 2^(i/2^schema)] seconds. The overflow slot is exported as the bucket just
  // above max_exp: native histograms have no +Inf bucket (as for classic +Inf, histogram_quantile
  // then answers at most that bucket's bound).
  int32_t native_index(uint32_t slot) const { return (min_exp * (1 << schema)) + static_cast<int32_t>(slot); }
  double zero_threshold_seconds() const;
  // Classic bounds 2^min_exp .. 2^max_exp seconds, ascending (+Inf not included); the classic
  // bucket k holds slots 0 .. k << schema.
  std::vector<double> classic_bounds() const;
  // floor(1e9 * 2^(i / 2^schema)) ns for native index i: a bucket's inclusive bound in integer ns.
  uint64_t bound_ns(int32_t native_index) const;

  struct bpfex_hist_layout kernel_layout() const;
  // The kernel's lookup table (kernel/native_histogram.h), table_bytes() long.
  std::vector<uint8_t> kernel_table() const;
  uint32_t table_bytes() const;

  bool operator==(const Layout&) const = default;
};

// The slot of a value of ns nanoseconds, by the kernel's own function on a table built here (for
// tests and user-space callers; modules let the kernel do it).
class SlotFinder {
 public:
  explicit SlotFinder(const Layout& layout) : kernel_(layout.kernel_layout()), table_(layout.kernel_table()) {}
  uint32_t slot_of(uint64_t ns) const { return bpfex_hist_slot(&kernel_, table_.data(), ns); }

 private:
  struct bpfex_hist_layout kernel_;
  std::vector<uint8_t> table_;
};

// "1us", "1024ns", "500ms", "17s": one number and unit. nullopt when malformed or zero.
std::optional<uint64_t> parse_bucket_bound_ns(std::string_view text);
// The classic bound a min_bucket rounds down to (floor) and a max_bucket rounds up to (ceil): the
// exponent k of 2^k seconds. Rounding outward keeps the range asked for inside the histogram.
int floor_exp(uint64_t ns);
int ceil_exp(uint64_t ns);

// Checks for the options: a min_bucket value; a max_bucket value given the module's min_bucket;
// a schema with a module's range (too many slots for a kernel row).
std::optional<std::string> check_bucket_bound(const std::string& text);
std::optional<std::string> check_max_bucket(const std::string& min_bucket, const std::string& max_bucket);
std::optional<std::string> check_schema(uint32_t schema);
std::optional<std::string> check_layout(uint32_t schema, const std::string& min_bucket, const std::string& max_bucket);

// The layout of valid options (after the checks above passed).
Layout layout_of(uint32_t schema, const std::string& min_bucket, const std::string& max_bucket);

// Before load: sizes the table map (an ARRAY of one entry) for layout. After load: fills it.
Status prepare_table(bpf_map* table, const Layout& layout);
Status fill_table(bpf_map* table, const Layout& layout);

}  // namespace bpfex::native_buckets
