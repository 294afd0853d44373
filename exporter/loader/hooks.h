// Choosing and attaching one attach point per hook of a BPF object (vocabulary: loader/flavour.h).
//
// A module lists, for every hook it observes, the attach points its BPF object has programs for,
// cheapest first. HookSet asks Features which work here, switches off the programs it does not use
// before load (libbpf-tools' pattern: one object carries every fallback), sets load-time targets,
// and after load attaches the chosen ones; the links go with the HookSet.
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "loader/features.h"
#include "loader/loaded_program.h"

namespace bpfex {

// One way to observe a hook: a program of the object, attached with a flavour to a target.
struct AttachPoint {
  Flavour flavour;
  std::string program;  // BPF function name in the object
  std::string target;   // as Features::can_attach takes it
};

// Something a module observes, with its attach points in order of preference (cheapest first).
struct Hook {
  std::string name;
  std::vector<AttachPoint> attach_points;
};

// How the hooks of one object choose among their attach points.
enum class FlavourChoice {
  per_hook,  // each hook its own first supported attach point
  // Every hook the same position in its list, the cheapest one all of them can use: for hooks that
  // share state whose home depends on the flavour (a syscall's enter and exit share where the
  // start time is kept).
  shared,
};

// For each hook, the index of the chosen attach point, or nullopt when none is supported.
std::vector<std::optional<size_t>> choose_attach_points(const std::vector<Hook>& hooks, Features& features,
                                                        FlavourChoice choice = FlavourChoice::per_hook);

struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

// Attaches the chosen attach point of each hook of one BPF object; detaches when destroyed.
class HookSet {
 public:
  // Before load: picks an attach point per hook, switches the other programs off and sets
  // load-time attach targets (fentry/fexit/tp_btf). Fails when a hook has no usable attach point.
  Status prepare(bpf_object* obj, const std::vector<Hook>& hooks, Features& features,
                 FlavourChoice choice = FlavourChoice::per_hook);
  // After prepare: the index of the attach point chosen for hooks[hook].
  size_t chosen_index(size_t hook) const { return chosen_.at(hook).index; }
  // After load.
  Status attach();
  std::vector<LoadedProgram> programs() const;

 private:
  struct Chosen {
    std::string hook;
    AttachPoint point;
    size_t index = 0;  // in the hook's list
    bpf_program* program = nullptr;
  };
  std::vector<Chosen> chosen_;
  std::vector<LinkPtr> links_;
};

}  // namespace bpfex
