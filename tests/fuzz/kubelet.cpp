// The kubelet's /pods answer (parse_pod_list) on any bytes: an answer is a table or an error, never
// an exception or a crash (the refresh thread would take bpfex down); every name it returns is
// found again by PodTable::find; and a table written back as a PodList reads back the same.
#include <nlohmann/json.hpp>

#include "fuzz.h"
#include "workload/kubelet.h"

using bpfex::fuzz::show;
using bpfex::workload::PodAnswer;
using bpfex::workload::PodTable;

namespace {

// The PodList the kubelet would have sent for this table.
std::string as_pod_list(const PodTable& table) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& [uid, pod] : table.pods) {
    nlohmann::json statuses = nlohmann::json::array();
    for (const auto& [id, name] : pod.containers)
      statuses.push_back({{"name", name}, {"containerID", "containerd://" + id}});
    items.push_back({{"metadata", {{"uid", uid}, {"namespace", pod.ns}, {"name", pod.name}}},
                     {"status", {{"containerStatuses", statuses}}}});
  }
  return nlohmann::json{{"kind", "PodList"}, {"items", items}}.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto table = bpfex::workload::parse_pod_list(text);
  if (!table) {
    FUZZ_CHECK(!table.error().message.empty(), "an error without a message");
    return 0;
  }
  for (const auto& [uid, pod] : table->pods) {
    FUZZ_CHECK(!uid.empty(), "a pod without a UID");
    const PodAnswer sandbox = table->find(uid, "");
    FUZZ_CHECK(sandbox.kind == PodAnswer::Kind::named && sandbox.names.ns == pod.ns && sandbox.names.pod == pod.name,
               show(uid));
    for (const auto& [id, name] : pod.containers) {
      FUZZ_CHECK(!id.empty() && !name.empty(), show(uid));
      const PodAnswer c = table->find(uid, id);
      FUZZ_CHECK(c.kind == PodAnswer::Kind::named && c.names.container == name, show(uid) + " " + show(id));
    }
  }
  // A runtime ID that itself holds "://" would lose its front on the way back: not a real ID, and
  // not a property of the parser, so such tables are not written back.
  for (const auto& [uid, pod] : table->pods)
    for (const auto& [id, name] : pod.containers)
      if (id.find("://") != std::string::npos) return 0;
  std::string written;
  try {
    written = as_pod_list(*table);
  } catch (const nlohmann::json::exception&) {
    return 0;  // names that are not valid UTF-8 cannot be written as JSON (the parser let none in)
  }
  auto again = bpfex::workload::parse_pod_list(written);
  FUZZ_CHECK(again.ok(), again.error().message);
  FUZZ_CHECK(*again == *table, "a table written as a PodList reads back differently: " + show(written));
  return 0;
}
