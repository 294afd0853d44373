// Tracepoint prototypes from BTF: typedef btf_trace_<name> -> pointer -> function prototype.
#include "loader/tracepoint_args.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <memory>

namespace bpfex {

namespace {

struct BtfDeleter {
  void operator()(struct btf* b) const { btf__free(b); }
};

// Follows typedefs and type modifiers (const, volatile) to the type they name.
const struct btf_type* resolve(const struct btf* btf, __u32 id) {
  const struct btf_type* t = btf__type_by_id(btf, id);
  while (t && (btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t) || btf_is_restrict(t)))
    t = btf__type_by_id(btf, t->type);
  return t;
}

}  // namespace

std::optional<std::vector<TracepointArg>> tracepoint_args(const std::string& btf_path, std::string_view name) {
  std::unique_ptr<struct btf, BtfDeleter> btf(btf_path.empty() ? btf__load_vmlinux_btf()
                                                               : btf__parse(btf_path.c_str(), nullptr));
  return tracepoint_args(btf.get(), name);
}

std::optional<std::vector<TracepointArg>> tracepoint_args(const struct btf* btf, std::string_view name) {
  if (!btf) return std::nullopt;
  const std::string typedef_name = "btf_trace_" + std::string(name);
  const int id = btf__find_by_name_kind(btf, typedef_name.c_str(), BTF_KIND_TYPEDEF);
  if (id <= 0) return std::nullopt;
  const struct btf_type* ptr = btf__type_by_id(btf, btf__type_by_id(btf, id)->type);
  if (!ptr || !btf_is_ptr(ptr)) return std::nullopt;
  const struct btf_type* proto = btf__type_by_id(btf, ptr->type);
  if (!proto || !btf_is_func_proto(proto)) return std::nullopt;
  const struct btf_param* params = btf_params(proto);
  std::vector<TracepointArg> args;
  // The first parameter is the tracepoint's own data pointer, not an argument of the event.
  for (__u16 i = 1; i < btf_vlen(proto); ++i) {
    const struct btf_type* t = resolve(btf, params[i].type);
    args.push_back({t != nullptr && btf_is_ptr(t)});
  }
  return args;
}

}  // namespace bpfex
