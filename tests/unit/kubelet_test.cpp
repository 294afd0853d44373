// workload/kubelet: the kubelet's /pods document into names, on documents shaped like the kubelet's
// (a v1 PodList; the fields bpfex reads as the kubelet fills them).
#include <catch2/catch.hpp>

#include "workload/kubelet.h"

using namespace bpfex;
using namespace bpfex::workload;

namespace {

const char* kPodList = R"({
  "kind": "PodList", "apiVersion": "v1", "metadata": {},
  "items": [
    {
      "metadata": {"name": "web-7d4b9c", "namespace": "shop", "uid": "0f6a8c2e-3b1d-4e5f-9a7b-1c2d3e4f5a6b",
                   "labels": {"app": "web"}},
      "spec": {"containers": [{"name": "nginx"}, {"name": "sidecar"}], "initContainers": [{"name": "migrate"}]},
      "status": {
        "phase": "Running",
        "initContainerStatuses": [
          {"name": "migrate", "containerID": "containerd://1111111111111111111111111111111111111111111111111111111111111111",
           "state": {"terminated": {"exitCode": 0}}}
        ],
        "containerStatuses": [
          {"name": "nginx", "containerID": "containerd://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           "restartCount": 1,
           "lastState": {"terminated": {"exitCode": 137,
             "containerID": "containerd://bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}},
          {"name": "sidecar", "containerID": "cri-o://cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
           "lastState": {}},
          {"name": "starting", "state": {"waiting": {"reason": "ContainerCreating"}}}
        ],
        "ephemeralContainerStatuses": [
          {"name": "debugger", "containerID": "docker://dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"}
        ]
      }
    },
    {
      "metadata": {"name": "etcd-node1", "namespace": "kube-system", "uid": "3c4e7d9a1b2f4c6d8e0a1b2c3d4e5f60",
                   "annotations": {"kubernetes.io/config.source": "file",
                                   "kubernetes.io/config.hash": "3c4e7d9a1b2f4c6d8e0a1b2c3d4e5f60"}},
      "status": {"containerStatuses": [
        {"name": "etcd", "containerID": "containerd://eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}]}
    },
    {
      "metadata": {"name": "pending", "namespace": "shop", "uid": "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"},
      "status": {"phase": "Pending"}
    }
  ]
})";

ContainerNames names(const PodTable& t, const std::string& uid, const std::string& id) {
  const PodAnswer a = t.find(uid, id);
  REQUIRE(a.kind == PodAnswer::Kind::named);
  return a.names;
}

std::string hex(char c) { return std::string(64, c); }

}  // namespace

TEST_CASE("kubelet: a PodList names every container by its runtime ID, whatever the runtime") {
  auto t = parse_pod_list(kPodList);
  REQUIRE(t.ok());
  REQUIRE(t->pods.size() == 3);
  const std::string web = "0f6a8c2e-3b1d-4e5f-9a7b-1c2d3e4f5a6b";
  struct Row {
    std::string uid, id, ns, pod, container;
  } rows[] = {
      {web, hex('a'), "shop", "web-7d4b9c", "nginx"},
      {web, hex('b'), "shop", "web-7d4b9c", "nginx"},  // the run before the restart
      {web, hex('c'), "shop", "web-7d4b9c", "sidecar"},
      {web, hex('1'), "shop", "web-7d4b9c", "migrate"},   // an init container
      {web, hex('d'), "shop", "web-7d4b9c", "debugger"},  // an ephemeral container
      {web, hex('f'), "shop", "web-7d4b9c", ""},          // not a container of the pod: its sandbox
      {web, "", "shop", "web-7d4b9c", ""},                // the pod's own cgroup
      {"3c4e7d9a1b2f4c6d8e0a1b2c3d4e5f60", hex('e'), "kube-system", "etcd-node1", "etcd"},  // a static pod
      {"9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a", hex('a'), "shop", "pending", ""},
  };
  for (const Row& r : rows) {
    INFO(r.uid << " " << r.id);
    const ContainerNames n = names(*t, r.uid, r.id);
    CHECK(n.ns == r.ns);
    CHECK(n.pod == r.pod);
    CHECK(n.container == r.container);
  }
  CHECK(t->find("00000000-0000-0000-0000-000000000000", hex('a')).kind == PodAnswer::Kind::unknown_pod);
  // A container waiting to be created has no ID yet: nothing to look up, nothing added.
  CHECK(t->pods.at(web).containers.size() == 5);
}

TEST_CASE("kubelet: an empty node's PodList (items null, empty or absent) has no pods") {
  for (const char* doc : {R"({"kind":"PodList","items":null})", R"({"kind":"PodList","items":[]})", R"({})"}) {
    INFO(doc);
    auto t = parse_pod_list(doc);
    REQUIRE(t.ok());
    CHECK(t->pods.empty());
  }
}

TEST_CASE("kubelet: a document not shaped like a PodList is an error that says where") {
  const struct {
    const char* doc;
    const char* says;
  } cases[] = {
      {"", "not JSON"},
      {"<html>login</html>", "not JSON: byte 1"},
      {R"({"items": [)", "not JSON"},
      // Found by tests/fuzz/kubelet.cpp: nlohmann's out_of_range escaped and ended bpfex.
      {R"({"items": [], "x": -1e999})", "not JSON bpfex can read: [json.exception.out_of_range.406] number overflow"},
      {"[]", "expected a PodList object"},
      {R"({"items": {}})", "items: expected an array"},
      {R"({"items": [42]})", "items[0]: expected an object"},
      {R"({"items": [{"status": {}}]})", "items[0].metadata: missing"},
      {R"({"items": [{"metadata": {"name": "x"}}]})", "items[0].metadata.uid: missing"},
      {R"({"items": [{"metadata": {"uid": "u"}}, {"metadata": {"uid": "v"}, "status": {"containerStatuses": {}}}]})",
       "items[1].status.containerStatuses: expected an array"},
      {R"({"items": [{"metadata": {"uid": "u"}, "status": {"initContainerStatuses": ["x"]}}]})",
       "items[0].status.initContainerStatuses[0]: expected an object"},
  };
  for (const auto& c : cases) {
    INFO(c.doc);
    auto t = parse_pod_list(c.doc);
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error().message, Catch::Contains(c.says));
  }
}

TEST_CASE("kubelet: fields of the wrong type are read as absent, not trusted") {
  auto t = parse_pod_list(
      R"({"items": [{"metadata": {"uid": "u", "name": 7, "namespace": null},
                     "status": {"containerStatuses": [{"name": "app", "containerID": 5},
                                                      {"name": "", "containerID": "containerd://x"}]}}]})");
  REQUIRE(t.ok());
  const ContainerNames n = names(*t, "u", "x");
  CHECK(n.ns.empty());
  CHECK(n.pod.empty());
  CHECK(n.container.empty());
  CHECK(t->pods.at("u").containers.empty());
}

TEST_CASE("kubelet: every failure reason has its label value") {
  std::set<std::string_view> seen;
  for (KubeletError e : kKubeletErrors) {
    const std::string_view name = kubelet_error_name(e);
    CHECK(name != "unknown");
    CHECK(seen.insert(name).second);
  }
}
