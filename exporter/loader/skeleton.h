// A bpftool C++ skeleton as an owned object (open -> configure -> load; destroyed exactly once),
// and libbpf's log captured so that a failed load can quote the verifier's verdict.
#pragma once

#include <bpf/libbpf.h>

#include <string>
#include <utility>

#include "base/result.h"

namespace bpfex {

// Routes libbpf's messages into our log (debug level) and keeps the last lines, so that a failed
// load can quote the verifier's verdict. Installed once by main and by the tests.
void install_libbpf_logger();
// The last n lines libbpf printed on this thread since clear_libbpf_log().
std::string libbpf_log_tail(size_t n = 12);
void clear_libbpf_log();

// Error for a failed load, with a hint for the usual causes and libbpf's last lines.
Error describe_load_error(int err);

// A bpftool C++ skeleton (`S::open/load/destroy`), owned: destroyed exactly once, movable.
template <class S>
class Skeleton {
 public:
  static Result<Skeleton> open() {
    clear_libbpf_log();
    S* s = S::open();
    if (!s) return errno_error("open BPF object");
    return Skeleton(s);
  }
  Skeleton(Skeleton&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Skeleton& operator=(Skeleton&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Skeleton(const Skeleton&) = delete;
  Skeleton& operator=(const Skeleton&) = delete;
  ~Skeleton() { reset(); }

  S* operator->() const { return s_; }
  bpf_object* object() const { return s_->obj; }

  // Loads into the kernel; on failure the error quotes the tail of libbpf's (verifier) log.
  Status load() {
    clear_libbpf_log();
    int err = S::load(s_);
    if (err) return describe_load_error(err);
    return {};
  }

 private:
  explicit Skeleton(S* s) : s_(s) {}
  void reset() {
    if (s_) S::destroy(s_);
    s_ = nullptr;
  }
  S* s_ = nullptr;
};

}  // namespace bpfex
