// Per-CPU map reads: batch lookups where the kernel has them (5.6+), key iteration before that.
#include "loader/maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>

namespace bpfex {

int possible_cpus() {
  static const int n = [] {
    int v = libbpf_num_possible_cpus();
    return v > 0 ? v : 1;
  }();
  return n;
}

void sum_percpu_words(const uint8_t* percpu, size_t words, int ncpus, uint64_t* out) {
  const size_t stride = words * sizeof(uint64_t);  // already a multiple of 8
  std::fill(out, out + words, 0);
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    for (size_t w = 0; w < words; ++w) {
      uint64_t v;
      std::memcpy(&v, percpu + static_cast<size_t>(cpu) * stride + w * sizeof(uint64_t), sizeof v);
      out[w] += v;
    }
  }
}

namespace {

constexpr int kENOTSUPP = 524;  // kernel-internal "not supported", leaks out of some bpf() paths

Status read_by_iteration(int fd, size_t key_size, size_t words, int ncpus,
                         const std::function<void(const void*, const uint64_t*)>& fn) {
  std::vector<uint8_t> key(key_size), next(key_size), values(words * sizeof(uint64_t) * ncpus);
  std::vector<uint64_t> summed(words);
  const void* prev = nullptr;
  while (true) {
    if (bpf_map_get_next_key(fd, prev, next.data()) != 0) {
      if (errno == ENOENT) return {};
      return errno_error("iterate map keys");
    }
    if (bpf_map_lookup_elem(fd, next.data(), values.data()) == 0) {
      sum_percpu_words(values.data(), words, ncpus, summed.data());
      fn(next.data(), summed.data());
    } else if (errno != ENOENT) {  // ENOENT: deleted since get_next_key; skip it
      return errno_error("look up map value");
    }
    key.swap(next);
    prev = key.data();
  }
}

}  // namespace

namespace {

// Every entry of a map whose values come in ncpus copies (1 for maps that are not per-CPU), summed.
Status read_entries(int fd, size_t key_size, size_t value_size, int ncpus,
                    const std::function<void(const void*, const uint64_t*)>& fn) {
  const size_t words = (value_size + 7) / 8;
  const size_t stride = words * sizeof(uint64_t) * ncpus;
  uint32_t batch = 256;
  std::vector<uint8_t> keys, values;
  std::vector<uint64_t> summed(words);
  // Batch cursors are opaque; the kernel wants room for a key (arrays) or a u32 bucket (hashes).
  std::vector<uint8_t> in_token(std::max<size_t>(key_size, 8)), out_token(in_token.size());
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  while (true) {
    keys.resize(batch * key_size);
    values.resize(batch * stride);
    uint32_t count = batch;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : in_token.data(), out_token.data(), keys.data(), values.data(),
                                   &count, &opts);
    int e = err ? errno : 0;
    if (err && e == ENOSPC && count == 0) {  // a hash bucket holds more than `batch` keys
      batch *= 2;
      continue;
    }
    if (err && e != ENOENT) {
      if (first && (e == EINVAL || e == kENOTSUPP || e == EOPNOTSUPP || e == ENOTSUP))
        return read_by_iteration(fd, key_size, words, ncpus, fn);  // kernel before 5.6
      return errno_error("batch lookup", e);
    }
    for (uint32_t i = 0; i < count; ++i) {
      sum_percpu_words(values.data() + i * stride, words, ncpus, summed.data());
      fn(keys.data() + i * key_size, summed.data());
    }
    if (err) return {};  // ENOENT: that was the last batch
    in_token.swap(out_token);
    first = false;
  }
}

}  // namespace

Status read_percpu_map(int fd, size_t key_size, size_t value_size,
                       const std::function<void(const void*, const uint64_t*)>& fn) {
  return read_entries(fd, key_size, value_size, possible_cpus(), fn);
}

Status read_shared_map(int fd, size_t key_size, size_t value_size,
                       const std::function<void(const void*, const uint64_t*)>& fn) {
  return read_entries(fd, key_size, value_size, 1, fn);
}

Result<std::vector<uint64_t>> read_percpu_u64_array(int fd, uint32_t n) {
  std::vector<uint64_t> out(n, 0);
  Status st = read_percpu_map(fd, sizeof(uint32_t), sizeof(uint64_t), [&](const void* key, const uint64_t* v) {
    uint32_t k;
    std::memcpy(&k, key, sizeof k);
    if (k < n) out[k] = v[0];
  });
  if (!st) return st.error();
  return out;
}

}  // namespace bpfex
