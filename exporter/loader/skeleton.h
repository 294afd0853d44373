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

// Error for a failed load, with a hint for the usual causes and libbpf's last lines. btf_path: the
// --btf.path in use, if any.
Error describe_load_error(int err, const std::string& btf_path);

// A bpftool C++ skeleton (`S::open/load/destroy`), owned: destroyed exactly once, movable.
template <class S>
class Skeleton {
 public:
  // btf_path: BTF for CO-RE instead of the kernel's own (--btf.path; loader/btf.h); "": the kernel's.
  static Result<Skeleton> open(std::string btf_path = "") {
    clear_libbpf_log();
    LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path.empty() ? nullptr : btf_path.c_str());
    S* s = S::open(&opts);
    if (!s) return errno_error("open BPF object");
    return Skeleton(s, std::move(btf_path));
  }
  Skeleton(Skeleton&& o) noexcept : s_(std::exchange(o.s_, nullptr)), btf_path_(std::move(o.btf_path_)) {}
  Skeleton& operator=(Skeleton&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
      btf_path_ = std::move(o.btf_path_);
    }
    return *this;
  }
  Skeleton(const Skeleton&) = delete;
  Skeleton& operator=(const Skeleton&) = delete;
  ~Skeleton() { reset(); }

  S* get() const { return s_; }
  S* operator->() const { return s_; }
  bpf_object* object() const { return s_->obj; }

  // Loads into the kernel; on failure the error quotes the tail of libbpf's (verifier) log.
  Status load() {
    clear_libbpf_log();
    int err = S::load(s_);
    if (err) return describe_load_error(err, btf_path_);
    return {};
  }

 private:
  Skeleton(S* s, std::string btf_path) : s_(s), btf_path_(std::move(btf_path)) {}
  void reset() {
    if (s_) S::destroy(s_);
    s_ = nullptr;
  }
  S* s_ = nullptr;
  std::string btf_path_;
};

}  // namespace bpfex
