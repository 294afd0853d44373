// bpfex programs suggest: a starter YAML from an object's BTF, one metric per map bpfex can read.
#include "programs/suggest.h"

#include <bpf/btf.h>

#include <sstream>

#include "programs/object.h"

namespace bpfex::programs {
namespace {

// Through typedefs, const and volatile.
const btf_type* resolve(const btf* b, uint32_t id) {
  const btf_type* t = btf__type_by_id(b, id);
  while (t && (btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t) || btf_is_restrict(t)))
    t = btf__type_by_id(b, t->type);
  return t;
}

struct SuggestedLabel {
  std::string name;
  size_t size = 0, padding = 0;
  std::string decoder;  // uint, string or hex
};

bool is_char(const btf* b, const btf_type* t) {
  // "char" itself: __u8 arrays (unsigned char) are bytes, shown in hex.
  return t && btf_is_int(t) && t->size == 1 && std::string(btf__name_by_offset(b, t->name_off)) == "char";
}

// The label a member (or a whole key) of type t makes.
SuggestedLabel label_of(const btf* b, const btf_type* t, const std::string& name, size_t size) {
  SuggestedLabel l{name, size, 0, "hex"};
  if (!t) return l;
  if ((btf_is_int(t) || btf_is_enum(t)) && (size == 1 || size == 2 || size == 4 || size == 8)) l.decoder = "uint";
  if (btf_is_array(t) && is_char(b, resolve(b, btf_array(t)->type))) l.decoder = "string";
  return l;
}

std::string help_of(const std::string& map) { return "\"TODO: what " + map + " counts.\""; }

}  // namespace

Result<std::string> suggest_config(const std::string& object_path) {
  auto obj = open_object(object_path);
  if (!obj) return obj.error();
  const btf* b = bpf_object__btf(obj->get());
  if (!b) return Error{EINVAL, object_path + " has no BTF (compile with clang -g)"};
  std::ostringstream counters, histograms, skipped;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, obj->get()) {
    const std::string name = bpf_map__name(map);
    if (bpf_map__is_internal(map)) continue;
    Metric probe;
    probe.name = name;
    const uint32_t key_id = bpf_map__btf_key_type_id(map);
    const btf_type* key = key_id ? resolve(b, key_id) : nullptr;
    std::vector<SuggestedLabel> labels;
    const size_t key_size = bpf_map__key_size(map);
    if (key && btf_is_struct(key)) {
      const btf_member* m = btf_members(key);
      for (uint16_t i = 0; i < btf_vlen(key); ++i, ++m) {
        const size_t offset = btf_member_bit_offset(key, i) / 8;
        const size_t end = i + 1 < btf_vlen(key) ? btf_member_bit_offset(key, i + 1) / 8 : key->size;
        const btf_type* mt = resolve(b, m->type);
        const __s64 msize = btf__resolve_size(b, m->type);
        if (msize <= 0 || offset + static_cast<size_t>(msize) > end)
          return Error{EINVAL, name + ": a key member I cannot size"};
        const char* mname = btf__name_by_offset(b, m->name_off);
        SuggestedLabel l =
            label_of(b, mt, mname && *mname ? mname : "field" + std::to_string(i), static_cast<size_t>(msize));
        l.padding = end - offset - static_cast<size_t>(msize);
        labels.push_back(l);
      }
    } else {
      labels.push_back(label_of(b, key, "key", key_size));
    }
    const bool array_index =
        (bpf_map__type(map) == BPF_MAP_TYPE_ARRAY || bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_ARRAY) &&
        key_size == 4 && bpf_map__max_entries(map) == 1;
    if (array_index) labels.clear();  // one counter at index 0: no labels
    // Check it the way bpfex will read it.
    for (const auto& l : labels)
      probe.labels.push_back(Label{l.name, static_cast<uint32_t>(l.size), static_cast<uint32_t>(l.padding), {}, 0, 0});
    if (auto layout = map_layout(probe, map); !layout) {
      skipped << "# " << name << ": " << layout.error().message << "\n";
      continue;
    }
    const bool histogram = !labels.empty() && (labels.back().name == "bucket" || labels.back().name == "slot") &&
                           labels.back().decoder == "uint";
    std::ostringstream& out = histogram ? histograms : counters;
    out << "    - name: " << name << "\n      help: " << help_of(name) << "\n";
    if (histogram) {
      // exp2 buckets up to what the map holds, less the sum key (ebpf_exporter's bucket_max + 1).
      const uint32_t max = bpf_map__max_entries(map) >= 2 ? bpf_map__max_entries(map) - 2 : 0;
      out << "      bucket_type: exp2  # or exp2zero, linear, fixed (with bucket_keys)\n"
          << "      bucket_min: 0\n      bucket_max: " << (max > 0 ? max : 1) << "\n";
    }
    if (!labels.empty()) out << "      labels:\n";
    for (const auto& l : labels) {
      out << "        - name: " << l.name << "\n          size: " << l.size << "\n";
      if (l.padding) out << "          padding: " << l.padding << "\n";
      out << "          decoders:\n            - name: " << l.decoder << "\n";
    }
  }
  std::ostringstream yaml;
  yaml << "# Suggested by bpfex programs suggest from " << object_path << "'s BTF: check the names, help texts\n"
       << "# and decoders (README \"User programs\").\n";
  if (!skipped.str().empty()) yaml << "# Maps bpfex cannot read as metrics:\n" << skipped.str();
  yaml << "metrics:\n";
  if (!counters.str().empty()) yaml << "  counters:\n" << counters.str();
  if (!histograms.str().empty()) yaml << "  histograms:\n" << histograms.str();
  return yaml.str();
}

}  // namespace bpfex::programs
