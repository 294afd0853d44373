// The part of a module that observes kernel events through HookSet (exec, syscall): its BPF object
// and the links of its programs, owned in the order they must go, and the steps of start().
#pragma once

#include <optional>
#include <vector>

#include "loader/hooks.h"
#include "loader/skeleton.h"
#include "modules/module.h"

namespace bpfex {

// S: the bpftool skeleton (skel/<m>.skel.h). A module's start() is
//   open(features) -> set read-only data and map sizes through bpf() -> prepare(hooks) -> load() ->
//   fill maps -> attach().
template <class S>
class TracingModule : public Module {
 public:
  std::vector<LoadedProgram> programs() const override { return hooks_.programs(); }

 protected:
  // The object exists in user space; nothing is in the kernel yet.
  Status open(const Features& features) {
    auto skel = Skeleton<S>::open(features.btf_path());
    if (!skel) return skel.error().wrap("open");
    skel_.emplace(std::move(skel.value()));
    return {};
  }
  // The skeleton's maps, programs and read-only data (after open()).
  S* bpf() const { return skel_->get(); }
  // Picks each hook's attach point and switches the other programs off (before load).
  Status prepare(const std::vector<Hook>& hooks, Features& features, FlavourChoice choice = FlavourChoice::per_hook) {
    return hooks_.prepare(skel_->object(), hooks, features, choice);
  }
  // After prepare(): which attach point hooks[hook] got (its index in the hook's list).
  size_t chosen_index(size_t hook) const { return hooks_.chosen_index(hook); }
  Status load() { return skel_->load(); }
  Status attach() { return hooks_.attach(); }

 private:
  std::optional<Skeleton<S>> skel_;
  HookSet hooks_;  // declared after skel_: links are destroyed before the object
};

}  // namespace bpfex
