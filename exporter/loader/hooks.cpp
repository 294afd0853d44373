// Choosing attach points (per hook or shared), switching unused programs off, attaching the chosen ones.
#include "loader/hooks.h"

#include <algorithm>
#include <set>

#include "base/log.h"

namespace bpfex {

namespace {

// The first attach point of h at or after index `from` that the kernel supports.
std::optional<size_t> first_supported(const Hook& h, size_t from, Features& features) {
  for (size_t i = from; i < h.attach_points.size(); ++i)
    if (features.can_attach(h.attach_points[i].flavour, h.attach_points[i].target)) return i;
  return std::nullopt;
}

}  // namespace

std::vector<std::optional<size_t>> choose_attach_points(const std::vector<Hook>& hooks, Features& features,
                                                        FlavourChoice choice) {
  size_t from = 0;
  if (choice == FlavourChoice::shared) {
    // The weakest hook sets the flavour for all.
    for (const Hook& h : hooks)
      if (auto pick = first_supported(h, 0, features)) from = std::max(from, *pick);
  }
  std::vector<std::optional<size_t>> out;
  out.reserve(hooks.size());
  for (const Hook& h : hooks) out.push_back(first_supported(h, from, features));
  return out;
}

Status HookSet::prepare(bpf_object* obj, const std::vector<Hook>& hooks, Features& features, FlavourChoice choice) {
  auto picks = choose_attach_points(hooks, features, choice);
  std::set<std::string> wanted, mentioned;
  for (size_t i = 0; i < hooks.size(); ++i) {
    for (const auto& p : hooks[i].attach_points) mentioned.insert(p.program);
    if (!picks[i]) {
      std::string tried;
      for (const auto& p : hooks[i].attach_points)
        tried += (tried.empty() ? "" : ", ") + std::string(flavour_name(p.flavour)) + " " + p.target;
      const std::string why = features.unavailable_hint();
      const std::string hint = why.empty() ? "" : " (hint: " + why + ")";
      return Error{ENOTSUP, "no usable attach point for " + hooks[i].name + " (tried " + tried + ")" + hint};
    }
    const AttachPoint& p = hooks[i].attach_points[*picks[i]];
    bpf_program* prog = bpf_object__find_program_by_name(obj, p.program.c_str());
    if (!prog) return Error{ENOENT, "BPF program " + p.program + " is not in the object"};
    chosen_.push_back({hooks[i].name, p, *picks[i], prog});
    wanted.insert(p.program);
  }
  for (const std::string& name : mentioned) {
    bpf_program* prog = bpf_object__find_program_by_name(obj, name.c_str());
    if (prog) bpf_program__set_autoload(prog, wanted.count(name) > 0);
  }
  for (const Chosen& ch : chosen_) {
    const Flavour f = ch.point.flavour;
    if (f == Flavour::fentry || f == Flavour::fexit || f == Flavour::tp_btf) {
      int err = bpf_program__set_attach_target(ch.program, 0, ch.point.target.c_str());
      if (err) return errno_error("set attach target " + ch.point.target + " of " + ch.point.program, err);
    }
    log_debug(
        "attach point chosen",
        {{"hook", ch.hook}, {"program", ch.point.program}, {"flavour", flavour_name(f)}, {"target", ch.point.target}});
  }
  return {};
}

Status HookSet::attach() {
  for (const Chosen& ch : chosen_) {
    const AttachPoint& p = ch.point;
    bpf_link* link = nullptr;
    switch (p.flavour) {
      case Flavour::fentry:
      case Flavour::fexit:
      case Flavour::tp_btf: link = bpf_program__attach_trace(ch.program); break;
      case Flavour::kprobe:
      case Flavour::kretprobe:
        link = bpf_program__attach_kprobe(ch.program, p.flavour == Flavour::kretprobe, p.target.c_str());
        break;
      case Flavour::raw_tp: link = bpf_program__attach_raw_tracepoint(ch.program, p.target.c_str()); break;
      case Flavour::tracepoint: {
        auto slash = p.target.find('/');
        link = bpf_program__attach_tracepoint(ch.program, p.target.substr(0, slash).c_str(),
                                              p.target.substr(slash + 1).c_str());
        break;
      }
    }
    if (!link)
      return errno_error("attach " + p.program + " (" + std::string(flavour_name(p.flavour)) + " " + p.target + ")");
    links_.emplace_back(link);
  }
  return {};
}

std::vector<LoadedProgram> HookSet::programs() const {
  std::vector<LoadedProgram> out;
  for (const Chosen& ch : chosen_) {
    auto same =
        std::find_if(out.begin(), out.end(), [&](const LoadedProgram& p) { return p.name == ch.point.program; });
    if (same != out.end()) {
      // One program attached at several points (a kretprobe on execve and execveat): one entry.
      same->target += ", " + ch.point.target;
      continue;
    }
    out.push_back(
        {ch.point.program, std::string(flavour_name(ch.point.flavour)), ch.point.target, bpf_program__fd(ch.program)});
  }
  return out;
}

}  // namespace bpfex
