#include "bpf/loader.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <set>

#include "log.h"

namespace bpfex {
namespace {

thread_local std::deque<std::string> t_libbpf_lines;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  if (n < 0) return 0;
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.empty()) return n;
  t_libbpf_lines.push_back(line);
  if (t_libbpf_lines.size() > 64) t_libbpf_lines.pop_front();
  // libbpf's warnings are usually about a feature we probe around; our own error says what failed.
  (void)level;
  log_debug(line, {{"source", "libbpf"}});
  return n;
}

}  // namespace

void install_libbpf_logger() { libbpf_set_print(libbpf_print); }

void clear_libbpf_log() { t_libbpf_lines.clear(); }

std::string libbpf_log_tail(size_t n) {
  std::string out;
  size_t start = t_libbpf_lines.size() > n ? t_libbpf_lines.size() - n : 0;
  for (size_t i = start; i < t_libbpf_lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += t_libbpf_lines[i];
  }
  return out;
}

Error describe_load_error(int err) {
  Error e = errno_error("load BPF programs", err);
  int code = e.err;
  if (code == EPERM)
    e.message +=
        " (hint: bpfex needs CAP_BPF and CAP_PERFMON, or root; check kernel.unprivileged_bpf_disabled and lockdown)";
  else if (code == EACCES || code == EINVAL)
    e.message += " (hint: the verifier rejected a program; this kernel may be too old or miss BTF)";
  std::string tail = libbpf_log_tail();
  if (!tail.empty()) e.message += "; libbpf: " + tail;
  return e;
}

namespace {

// The first candidate of h at or after index `from` that the kernel supports.
std::optional<size_t> first_supported(const Hook& h, size_t from, Features& features) {
  for (size_t i = from; i < h.candidates.size(); ++i)
    if (features.can_attach(h.candidates[i].kind, h.candidates[i].target)) return i;
  return std::nullopt;
}

}  // namespace

std::vector<std::optional<size_t>> choose_candidates(const std::vector<Hook>& hooks, Features& features,
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
  for (const Hook& h : hooks)
    for (const auto& c : h.candidates)
      if (c.kind == AttachKind::tcx || c.kind == AttachKind::tc)
        return Error{EINVAL, "hook " + h.name + ": " + std::string(attach_kind_name(c.kind)) +
                                 " attaches per interface; the module attaches it itself, not through HookSet"};
  auto picks = choose_candidates(hooks, features, choice);
  std::set<std::string> wanted, mentioned;
  for (size_t i = 0; i < hooks.size(); ++i) {
    for (const auto& c : hooks[i].candidates) mentioned.insert(c.program);
    if (!picks[i]) {
      std::string tried;
      for (const auto& c : hooks[i].candidates)
        tried += (tried.empty() ? "" : ", ") + std::string(attach_kind_name(c.kind)) + " " + c.target;
      const std::string tracefs = tracefs_hint();
      const std::string hint = tracefs.empty() ? "" : " (hint: " + tracefs + ")";
      return Error{ENOTSUP, "no usable attach point for " + hooks[i].name + " (tried " + tried + ")" + hint};
    }
    const AttachCandidate& c = hooks[i].candidates[*picks[i]];
    bpf_program* prog = bpf_object__find_program_by_name(obj, c.program.c_str());
    if (!prog) return Error{ENOENT, "BPF program " + c.program + " is not in the object"};
    chosen_.push_back({hooks[i].name, c, *picks[i], prog});
    wanted.insert(c.program);
  }
  for (const std::string& name : mentioned) {
    bpf_program* prog = bpf_object__find_program_by_name(obj, name.c_str());
    if (prog) bpf_program__set_autoload(prog, wanted.count(name) > 0);
  }
  for (const Chosen& ch : chosen_) {
    const AttachKind k = ch.candidate.kind;
    if (k == AttachKind::fentry || k == AttachKind::fexit || k == AttachKind::tp_btf) {
      int err = bpf_program__set_attach_target(ch.program, 0, ch.candidate.target.c_str());
      if (err) return errno_error("set attach target " + ch.candidate.target + " of " + ch.candidate.program, err);
    }
    log_debug("attach point chosen", {{"hook", ch.hook},
                                      {"program", ch.candidate.program},
                                      {"kind", attach_kind_name(k)},
                                      {"target", ch.candidate.target}});
  }
  return {};
}

Status HookSet::attach() {
  for (const Chosen& ch : chosen_) {
    const AttachCandidate& c = ch.candidate;
    bpf_link* link = nullptr;
    switch (c.kind) {
      case AttachKind::fentry:
      case AttachKind::fexit:
      case AttachKind::tp_btf: link = bpf_program__attach_trace(ch.program); break;
      case AttachKind::kprobe:
      case AttachKind::kretprobe:
        link = bpf_program__attach_kprobe(ch.program, c.kind == AttachKind::kretprobe, c.target.c_str());
        break;
      case AttachKind::raw_tp: link = bpf_program__attach_raw_tracepoint(ch.program, c.target.c_str()); break;
      case AttachKind::tracepoint: {
        auto slash = c.target.find('/');
        link = bpf_program__attach_tracepoint(ch.program, c.target.substr(0, slash).c_str(),
                                              c.target.substr(slash + 1).c_str());
        break;
      }
      case AttachKind::tcx:
      case AttachKind::tc:
        errno = EINVAL;  // refused by prepare(): per-interface attach points are the module's own
        break;
    }
    if (!link) {
      return errno_error("attach " + c.program + " (" + std::string(attach_kind_name(c.kind)) + " " + c.target + ")");
    }
    links_.emplace_back(link);
  }
  return {};
}

std::vector<LoadedProgram> HookSet::programs() const {
  std::vector<LoadedProgram> out;
  std::set<std::string> seen;
  for (const Chosen& ch : chosen_) {
    std::string method = std::string(attach_kind_name(ch.candidate.kind)) + " " + ch.candidate.target;
    if (!seen.insert(ch.candidate.program).second) {
      // One program attached at several points (a kretprobe on execve and execveat): one entry.
      for (auto& p : out)
        if (p.name == ch.candidate.program) p.method += ", " + ch.candidate.target;
      continue;
    }
    out.push_back({ch.candidate.program, method, bpf_program__fd(ch.program)});
  }
  return out;
}

}  // namespace bpfex
