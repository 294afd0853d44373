// Turning a bpftool skeleton into running programs: RAII over the skeleton, choosing one attach
// flavour per hook by probing, attaching, and capturing libbpf's log for error messages.
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bpf/features.h"
#include "result.h"

namespace bpfex {

// Routes libbpf's messages into our log (debug level) and keeps the last lines, so that a failed
// load can quote the verifier's verdict. Installed once by main and by the tests.
void install_libbpf_logger();
// The last n lines libbpf printed on this thread since clear_libbpf_log().
std::string libbpf_log_tail(size_t n = 12);
void clear_libbpf_log();

// One way to attach a program.
struct AttachCandidate {
  AttachKind kind;
  std::string program;  // BPF function name in the object
  std::string target;   // as Features::can_attach takes it
};

// Something a module observes, with its ways of attaching in order of preference (cheapest first).
struct Hook {
  std::string name;
  std::vector<AttachCandidate> candidates;
};

// How the hooks of one object choose among their candidates.
enum class FlavourChoice {
  per_hook,  // each hook its own first supported candidate
  // Every hook the same flavour (index into its candidate list), the cheapest one all of them can
  // use: for hooks that share state whose home depends on the flavour (a syscall's enter and exit
  // share where the start time is kept).
  shared,
};

// For each hook, the index of the chosen candidate, or nullopt when none is supported.
std::vector<std::optional<size_t>> choose_candidates(const std::vector<Hook>& hooks, Features& features,
                                                     FlavourChoice choice = FlavourChoice::per_hook);

// A program as it runs, for self-metrics and the landing page.
struct LoadedProgram {
  std::string name;    // BPF function name
  std::string method;  // "tp_btf sched_process_exec"
  int fd = -1;         // owned by the object; valid while the module lives
};

struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

// Attaches the chosen flavour of each hook of one BPF object.
class HookSet {
 public:
  // Before load: picks a flavour per hook, switches the others' programs off and sets load-time
  // attach targets (fentry/fexit/tp_btf). Fails when a hook has no usable flavour.
  Status prepare(bpf_object* obj, const std::vector<Hook>& hooks, Features& features,
                 FlavourChoice choice = FlavourChoice::per_hook);
  // After prepare: the index of the candidate chosen for hooks[hook].
  size_t chosen_index(size_t hook) const { return chosen_.at(hook).index; }
  // After load.
  Status attach();
  std::vector<LoadedProgram> programs() const;
  // Drops all links (detaches). Also done by the destructor.
  void detach() { links_.clear(); }

 private:
  struct Chosen {
    std::string hook;
    AttachCandidate candidate;
    size_t index = 0;  // in the hook's candidate list
    bpf_program* program = nullptr;
  };
  std::vector<Chosen> chosen_;
  std::vector<LinkPtr> links_;
};

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
    if (err) return load_error(err);
    return {};
  }

 private:
  explicit Skeleton(S* s) : s_(s) {}
  void reset() {
    if (s_) S::destroy(s_);
    s_ = nullptr;
  }
  static Error load_error(int err);
  S* s_ = nullptr;
};

// Error for a failed load, with a hint for the usual causes and libbpf's last lines.
Error describe_load_error(int err);

template <class S>
Error Skeleton<S>::load_error(int err) {
  return describe_load_error(err);
}

}  // namespace bpfex
