// Reading maps from user space: per-CPU values are summed over the possible CPUs.
//
// Convention: values of per-CPU maps shared with user space are structs of __u64 only, so that
// summing is word by word and the reader needs no per-map code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <type_traits>
#include <vector>

#include "base/result.h"

namespace bpfex {

// Number of possible CPUs (per-CPU values come in this many copies), cached.
int possible_cpus();

// Sums ncpus copies of a value of `words` u64 words laid out with the kernel's 8-byte stride into
// out[0..words). Exposed for unit tests.
void sum_percpu_words(const uint8_t* percpu, size_t words, int ncpus, uint64_t* out);

// Calls fn(key, summed_words) for every entry of a per-CPU hash or array map. Uses batch lookups
// where the kernel has them and falls back to key iteration; keys deleted while iterating are skipped.
Status read_percpu_map(int map_fd, size_t key_size, size_t value_size,
                       const std::function<void(const void* key, const uint64_t* value)>& fn);

// The same for a map that is not per-CPU (one copy of each value).
Status read_shared_map(int map_fd, size_t key_size, size_t value_size,
                       const std::function<void(const void* key, const uint64_t* value)>& fn);

namespace detail {
template <class K, class V>
Status read_typed(int map_fd, bool percpu, const std::function<void(const K&, const V&)>& fn) {
  static_assert(sizeof(V) % sizeof(uint64_t) == 0 && std::is_trivially_copyable_v<V>,
                "map values read by bpfex must be structs of u64");
  const std::function<void(const void*, const uint64_t*)> untyped = [&](const void* key, const uint64_t* value) {
    K k;
    V v;
    std::memcpy(&k, key, sizeof(K));
    std::memcpy(&v, value, sizeof(V));
    fn(k, v);
  };
  return percpu ? read_percpu_map(map_fd, sizeof(K), sizeof(V), untyped)
                : read_shared_map(map_fd, sizeof(K), sizeof(V), untyped);
}
}  // namespace detail

// Typed wrappers: V must be a struct of uint64_t (or uint64_t itself).
template <class K, class V>
Status read_percpu_map(int map_fd, const std::function<void(const K&, const V&)>& fn) {
  return detail::read_typed<K, V>(map_fd, true, fn);
}
template <class K, class V>
Status read_shared_map(int map_fd, const std::function<void(const K&, const V&)>& fn) {
  return detail::read_typed<K, V>(map_fd, false, fn);
}

// Reads slots [0, n) of a per-CPU array of u64, summed over CPUs.
Result<std::vector<uint64_t>> read_percpu_u64_array(int map_fd, uint32_t n);

}  // namespace bpfex
