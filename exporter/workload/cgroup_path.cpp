// Hand-parsed (no regex): the shapes are few and fixed, and each is clearer spelled out.
#include "workload/cgroup_path.h"

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "labels/utf8.h"

namespace bpfex::workload {
namespace {

// Shorter hex runs are everyday names (user-1000, session-3, a date); 16 hex digits is a 64-bit value
// (a cgroup or inode ID, a hash), and no word of a unit name has that many hex letters in a row.
constexpr size_t kMinHexIdChars = 16;
constexpr size_t kContainerIdChars = 64;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_word_char(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool all_lower_hex(std::string_view s) { return std::all_of(s.begin(), s.end(), is_lower_hex); }

bool consume_prefix(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}
bool consume_suffix(std::string_view& s, std::string_view suffix) {
  if (s.size() < suffix.size() || s.substr(s.size() - suffix.size()) != suffix) return false;
  s.remove_suffix(suffix.size());
  return true;
}

// The non-empty components: "//a/b/" and "/a/b" are the same cgroup.
std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < path.size();) {
    const size_t end = std::min(path.find('/', i), path.size());
    if (end > i) out.push_back(path.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

// A pod UID as the kubelet reports metadata.uid, from its spelling in a cgroup name; "" when it is not
// one. A UUID (systemd slice names spell its dashes as underscores: a dash nests slices), or a static
// pod's UID, the 32-hex hash of its manifest.
std::string pod_uid(std::string_view s) {
  if (s.size() == 32 && all_lower_hex(s)) return std::string(s);
  if (s.size() != 36) return "";
  std::string uid(s);
  for (size_t i = 0; i < uid.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (uid[i] != '_' && uid[i] != '-') return "";
      uid[i] = '-';
    } else if (!is_lower_hex(uid[i])) {
      return "";
    }
  }
  return uid;
}

// kubepods-[burstable-|besteffort-]pod<uid>.slice -> the UID; "" for any other name. Slice names
// carry their parents, so a kubelet under another root has them too (kind: kubelet-kubepods-…).
std::string systemd_pod_uid(std::string_view name) {
  if (!consume_suffix(name, ".slice")) return "";
  const size_t pod = name.rfind("-pod");  // hex has no 'p': the last "-pod" starts the UID
  if (pod == std::string_view::npos) return "";
  std::string_view parent = name.substr(0, pod);
  if (!consume_suffix(parent, "-burstable")) consume_suffix(parent, "-besteffort");
  if (parent != "kubepods" && !consume_suffix(parent, "-kubepods")) return "";
  return pod_uid(name.substr(pod + 4));
}

bool is_container_id(std::string_view s) { return s.size() == kContainerIdChars && all_lower_hex(s); }

// The ID in a container's cgroup name: <id> (cgroupfs), cri-containerd-<id>.scope, crio-<id>.scope,
// docker-<id>.scope (cri-dockerd); "" for any other. crio-conmon-<id>.scope is CRI-O's monitor, a
// process of the pod rather than of the container: not a container ID after "crio-", so "".
std::string_view container_id(std::string_view name) {
  if (is_container_id(name)) return name;
  if (!consume_suffix(name, ".scope")) return {};
  for (std::string_view runtime : {"cri-containerd-", "crio-", "docker-"})
    if (consume_prefix(name, runtime)) return is_container_id(name) ? name : std::string_view{};
  return {};
}

// A runc on cgroupfs given a systemd cgroupsPath by the runtime makes one directory of it:
// <pod slice>:cri-containerd:<id>. Splits off ":<runtime>:<id>", returning the container ID it names.
std::string_view split_colon_form(std::string_view& name) {
  const size_t colon = name.find(':');
  if (colon == std::string_view::npos) return {};
  std::string_view rest = name.substr(colon + 1);
  name = name.substr(0, colon);
  for (std::string_view runtime : {"cri-containerd:", "crio:", "docker:"})
    if (consume_prefix(rest, runtime)) return is_container_id(rest) ? rest : std::string_view{};
  return {};
}

// The end of the UUID whose first group ends the word s[..word_end), extended to the end of the word
// holding its last group; 0 when there is none. Separators '-' or '_' (systemd's spelling).
size_t uuid_end(std::string_view s, size_t word_begin, size_t word_end) {
  if (word_end - word_begin < 8 || word_end + 28 > s.size()) return 0;
  const size_t begin = word_end - 8;
  for (size_t k = 0; k < 36; ++k) {
    const char c = s[begin + k];
    const bool ok = (k == 8 || k == 13 || k == 18 || k == 23) ? (c == '-' || c == '_') : is_hex(c);
    if (!ok) return 0;
  }
  size_t end = begin + 36;
  while (end < s.size() && is_word_char(s[end])) ++end;
  return end;
}

size_t longest_hex_run(std::string_view word) {
  size_t longest = 0, run = 0;
  for (char c : word) {
    run = is_hex(c) ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return longest;
}

// Words (runs of ASCII letters and digits) that carry an ID become "*". The whole word: where a word
// ends in hex letters ("pod" + UID) they cannot be told from the ID's first digits.
std::string mask_ids(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (!is_word_char(s[i])) {
      out += s[i++];
      continue;
    }
    size_t end = i;
    while (end < s.size() && is_word_char(s[end])) ++end;
    if (const size_t uuid = uuid_end(s, i, end)) {
      out += '*';
      end = uuid;
    } else if (longest_hex_run(s.substr(i, end - i)) >= kMinHexIdChars) {
      out += '*';
    } else {
      out.append(s.substr(i, end - i));
    }
    i = end;
  }
  return out;
}

// Cut to kMaxCgroupLabelBytes, backing off over continuation bytes to the start of a character: the
// label is valid UTF-8 already, and stays so.
std::string cap_label(std::string label) {
  if (label.size() <= kMaxCgroupLabelBytes) return label;
  size_t n = kMaxCgroupLabelBytes;
  while (n > 0 && (static_cast<unsigned char>(label[n]) & 0xC0) == 0x80) --n;
  label.resize(n);
  return label;
}

}  // namespace

std::string cut_cgroup_path(std::string_view path, unsigned depth) {
  std::string cut;
  unsigned taken = 0;
  for (std::string_view component : components(path)) {
    if (taken++ == depth) break;
    cut += '/';
    cut += component;
  }
  if (cut.empty()) return "/";
  return cap_label(mask_ids(labels::sanitize_utf8(cut)));
}

CgroupWorkload parse_cgroup_path(std::string_view path, unsigned depth) {
  const std::vector<std::string_view> c = components(path);
  // The first pod level found: a kubelet nested in a pod's container runs its pods inside that one.
  for (size_t i = 0; i < c.size(); ++i) {
    std::string_view name = c[i];
    const std::string_view colon_container = split_colon_form(name);
    std::string uid = systemd_pod_uid(name);
    size_t next = i + 1;  // the component below the pod level: the container's
    if (uid.empty() && name == "kubepods") {
      if (next < c.size() && (c[next] == "burstable" || c[next] == "besteffort")) ++next;
      std::string_view pod = next < c.size() ? c[next] : std::string_view{};
      if (consume_prefix(pod, "pod")) uid = pod_uid(pod);
      ++next;
    }
    if (uid.empty()) continue;  // kubepods without a pod level is no pod (yet): look further down
    CgroupWorkload w;
    w.pod_uid = std::move(uid);
    // Below the container's own cgroup the rest is ignored: whatever nests there is the container's.
    w.container_id = !colon_container.empty() ? colon_container
                     : next < c.size()        ? container_id(c[next])
                                              : std::string_view{};
    return w;
  }
  CgroupWorkload w;
  w.cgroup = cut_cgroup_path(path, depth);
  return w;
}

}  // namespace bpfex::workload
