// workload/cgroup_path: every cgroup path shape the kubelet and the runtimes make, and the label a
// path that is not a pod's gets. Table-driven: every row checks pod_uid, container_id and cgroup.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "workload/cgroup_path.h"

using namespace bpfex::workload;

namespace {

const std::string kUid = "2c48913c-b29f-11e7-9350-020968147796";    // metadata.uid
const std::string kUidSd = "2c48913c_b29f_11e7_9350_020968147796";  // as systemd slice names spell it
const std::string kStatic = "6d2ab8b1e6f5a9d04c3bf8e1a7d19c52";     // a static pod's UID
const std::string kId = "9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961";
const std::string kNodeId = "3350ade4226f0adcd9e4e9545d7c2a16a5aa362d12315f2a88e2024cea1246cf";  // kind's node

struct Row {
  std::string path;
  unsigned depth;
  std::string pod_uid, container_id, cgroup;
};

void check_rows(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    INFO("path " << r.path << " depth " << r.depth);
    const CgroupWorkload w = parse_cgroup_path(r.path, r.depth);
    CHECK(w.pod_uid == r.pod_uid);
    CHECK(w.container_id == r.container_id);
    CHECK(w.cgroup == r.cgroup);
    CHECK(w.kubernetes() == !r.pod_uid.empty());
    if (!w.kubernetes()) CHECK(cut_cgroup_path(r.path, r.depth) == r.cgroup);  // what Workloads::key_of uses
  }
}

// With Kubernetes names off a pod's cgroup is labelled like any other: at no depth may an ID show,
// not even its first digits.
void check_no_id_at_any_depth(const std::string& path) {
  for (unsigned depth = 1; depth <= 10; ++depth) {
    const std::string label = cut_cgroup_path(path, depth);
    INFO("path " << path << " depth " << depth << " label " << label);
    for (const std::string& id : {kUid, kUidSd, kStatic, kId, kNodeId})
      CHECK(label.find(id.substr(0, 8)) == label.npos);
  }
}

}  // namespace

TEST_CASE("cgroup_path: systemd and cgroupfs drivers, every QoS class, every runtime", "[cgroup_path]") {
  std::vector<Row> rows;
  for (const std::string qos : {"burstable", "besteffort", ""}) {  // "": Guaranteed has no QoS level
    const std::string sd_pod = "/kubepods.slice" + (qos.empty() ? "" : "/kubepods-" + qos + ".slice") + "/kubepods-" +
                               (qos.empty() ? "" : qos + "-") + "pod" + kUidSd + ".slice";
    const std::string fs_pod = "/kubepods" + (qos.empty() ? "" : "/" + qos) + "/pod" + kUid;
    rows.push_back({sd_pod, 2, kUid, "", ""});  // the pod's own cgroup: sandbox, pod-level processes
    rows.push_back({fs_pod, 2, kUid, "", ""});
    for (const std::string runtime : {"cri-containerd-", "crio-", "docker-"})
      rows.push_back({sd_pod + "/" + runtime + kId + ".scope", 2, kUid, kId, ""});
    rows.push_back({fs_pod + "/" + kId, 2, kUid, kId, ""});
  }
  check_rows(rows);
  for (const Row& r : rows) check_no_id_at_any_depth(r.path);
}

TEST_CASE("cgroup_path: static pods, the colon form, prefixes before kubepods", "[cgroup_path]") {
  const std::vector<Row> rows = {
      // Static pods: the UID is a 32-hex hash, reported as such.
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kStatic + ".slice/cri-containerd-" + kId +
           ".scope",
       2, kStatic, kId, ""},
      {"/kubepods.slice/kubepods-pod" + kStatic + ".slice", 2, kStatic, "", ""},
      {"/kubepods/burstable/pod" + kStatic + "/" + kId, 2, kStatic, kId, ""},
      // runc on cgroupfs under a systemd kubelet: one directory named <pod slice>:<runtime>:<id>.
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidSd + ".slice:cri-containerd:" + kId, 2,
       kUid, kId, ""},
      {"/kubepods-burstable-pod" + kUidSd + ".slice:cri-containerd:" + kId, 2, kUid, kId, ""},
      {"/system.slice/containerd.service/kubepods-burstable-pod" + kUidSd + ".slice:cri-containerd:" + kId, 2, kUid,
       kId, ""},
      {"/kubepods.slice/kubepods-pod" + kUidSd + ".slice:crio:" + kId, 2, kUid, kId, ""},
      {"/kubepods.slice/kubepods-pod" + kUidSd + ".slice:cri-containerd:abc", 2, kUid, "", ""},  // no ID: the pod's
      // kind: the kubelet's cgroup root is /kubelet, its slices carry the prefix; the node is a container itself.
      {"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" +
           kUidSd + ".slice/cri-containerd-" + kId + ".scope",
       2, kUid, kId, ""},
      {"/system.slice/docker-" + kNodeId + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" + kUidSd +
           ".slice/cri-containerd-" + kId + ".scope",
       2, kUid, kId, ""},
      {"/kubelet-kubepods-burstable-pod" + kUidSd + ".slice:cri-containerd:" + kId, 2, kUid, kId, ""},
      {"/kubelet/kubepods/burstable/pod" + kUid + "/" + kId, 2, kUid, kId, ""},
      {"/docker/" + kNodeId + "/kubepods/pod" + kUid, 2, kUid, "", ""},
  };
  check_rows(rows);
  for (const Row& r : rows) check_no_id_at_any_depth(r.path);
}

TEST_CASE("cgroup_path: cgroups below a container are the container's; conmon and others are the pod's",
          "[cgroup_path]") {
  const std::string sd_pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSd + ".slice";
  const std::vector<Row> rows = {
      {sd_pod + "/cri-containerd-" + kId + ".scope/container", 2, kUid, kId, ""},  // crun
      {sd_pod + "/crio-" + kId + ".scope/init.scope", 2, kUid, kId, ""},           // systemd in the container
      {sd_pod + "/crio-" + kId + ".scope/system.slice/dbus.service", 2, kUid, kId, ""},
      {sd_pod + ":cri-containerd:" + kId + "/container", 2, kUid, kId, ""},
      {"/kubepods/pod" + kUid + "/" + kId + "/container", 2, kUid, kId, ""},
      {"/kubepods/besteffort/pod" + kUid + "/" + kId + "/a/b/c", 2, kUid, kId, ""},
      // CRI-O's conmon watches a container from the pod's level: labelled container="" like the sandbox.
      {sd_pod + "/crio-conmon-" + kId + ".scope", 2, kUid, "", ""},
      {sd_pod + "/crio-conmon-" + kId + ".scope/x", 2, kUid, "", ""},
      // Below the pod level, not a container: the pod's.
      {sd_pod + "/something.scope", 2, kUid, "", ""},
      {sd_pod + "/cri-containerd-0123abc.scope", 2, kUid, "", ""},  // short ID: not one
      {"/kubepods/pod" + kUid + "/" + kId.substr(1), 2, kUid, "", ""},
      // A nested kubelet's pods are inside the outer container: the first pod level wins.
      {sd_pod + "/cri-containerd-" + kId + ".scope/kubepods/pod" + kStatic + "/" + kNodeId, 2, kUid, kId, ""},
  };
  check_rows(rows);
  for (const Row& r : rows) check_no_id_at_any_depth(r.path);
}

TEST_CASE("cgroup_path: what looks like kubepods but has no pod level is a plain cgroup", "[cgroup_path]") {
  check_rows({
      {"/kubepods.slice", 2, "", "", "/kubepods.slice"},
      {"/kubepods.slice/kubepods-burstable.slice", 1, "", "", "/kubepods.slice"},
      {"/kubepods.slice/kubepods-burstable.slice", 2, "", "", "/kubepods.slice/kubepods-burstable.slice"},
      {"/kubepods.slice/kubepods-burstable.slice/x.scope", 3, "", "",
       "/kubepods.slice/kubepods-burstable.slice/x.scope"},
      {"/kubepods/burstable", 3, "", "", "/kubepods/burstable"},
      {"/kubepods/burstable/podnotauid/x", 3, "", "", "/kubepods/burstable/podnotauid"},
      {"/kubepods/guaranteed/pod" + kUid, 3, "", "", "/kubepods/guaranteed/*"},  // no such QoS level
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice", 3, "", "",
       "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice"},
      // A UID that is not one: too short, not hex, upper case (the kubelet writes lower case).
      {"/kubepods.slice/kubepods-podnot_a_uid.slice", 2, "", "", "/kubepods.slice/kubepods-podnot_a_uid.slice"},
      {"/kubepods/pod2C48913C-B29F-11E7-9350-020968147796/" + kId, 2, "", "", "/kubepods/*"},
      // A pod slice not under kubepods, a pod directory not under kubepods: not the kubelet's.
      {"/foo.slice/foo-pod" + kUidSd + ".slice", 2, "", "", "/foo.slice/foo-*.slice"},
      {"/other/pod" + kStatic, 2, "", "", "/other/*"},
  });
}

TEST_CASE("cgroup_path: a plain cgroup is cut to depth components", "[cgroup_path]") {
  const std::string session = "/user.slice/user-1000.slice/session-3.scope";
  check_rows({
      {session, 1, "", "", "/user.slice"},
      {session, 2, "", "", "/user.slice/user-1000.slice"},
      {session, 3, "", "", session},
      {session, 8, "", "", session},
      {"/system.slice/nginx.service", 2, "", "", "/system.slice/nginx.service"},
      {"/system.slice/nginx.service/worker", 2, "", "", "/system.slice/nginx.service"},
      {"/", 1, "", "", "/"},
      {"/", 3, "", "", "/"},
      {"", 2, "", "", "/"},
      {"//", 2, "", "", "/"},
      {"/system.slice/nginx.service/", 2, "", "", "/system.slice/nginx.service"},
      {"//system.slice//nginx.service//worker", 2, "", "", "/system.slice/nginx.service"},
      {"system.slice/nginx.service", 2, "", "", "/system.slice/nginx.service"},
      {"/init.scope", 2, "", "", "/init.scope"},
  });
}

TEST_CASE("cgroup_path: IDs within the cut are masked, the word that carries them becomes *", "[cgroup_path]") {
  check_rows({
      {"/system.slice/docker-" + kId + ".scope", 2, "", "", "/system.slice/docker-*.scope"},
      {"/system.slice/docker-" + kId + ".scope/init.scope", 3, "", "", "/system.slice/docker-*.scope/init.scope"},
      {"/system.slice/x.service/" + kId, 2, "", "", "/system.slice/x.service"},  // beyond the cut: gone anyway
      {"/machine.slice/libpod-" + kId + ".scope/container", 2, "", "", "/machine.slice/libpod-*.scope"},
      {"/machine.slice/libpod-conmon-" + kId + ".scope", 2, "", "", "/machine.slice/libpod-conmon-*.scope"},
      {"/garden/" + kStatic, 2, "", "", "/garden/*"},
      {"/lxc.payload." + kId, 1, "", "", "/lxc.payload.*"},
      // UUIDs: dashes or underscores, either case, glued to a word or not.
      {"/user.slice/user-1000.slice/user@1000.service/app.slice/snap.firefox.firefox-" + kUid + ".scope", 5, "", "",
       "/user.slice/user-1000.slice/user@1000.service/app.slice/snap.firefox.firefox-*.scope"},
      {"/foo_" + kUidSd + "_bar", 1, "", "", "/foo_*_bar"},
      {"/vm-2C48913C-B29F-11E7-9350-020968147796.scope", 1, "", "", "/vm-*.scope"},
      {"/x" + kUid + "y.scope", 1, "", "", "/*.scope"},
      {"/" + kUid + "/" + kUid, 2, "", "", "/*/*"},
      // Hex runs: 16 and longer are IDs (a 64-bit value); shorter ones are names and numbers.
      {"/system.slice/run-r0123456789abcdef.scope", 2, "", "", "/system.slice/run-*.scope"},
      {"/system.slice/run-r0123456789abcde.scope", 2, "", "", "/system.slice/run-r0123456789abcde.scope"},
      {"/system.slice/run-u1234.scope", 2, "", "", "/system.slice/run-u1234.scope"},
      {"/system.slice/backup-20240101.service", 2, "", "", "/system.slice/backup-20240101.service"},
      {"/system.slice/job-1700000000000000000.scope", 2, "", "", "/system.slice/job-*.scope"},
      {"/system.slice/deadbeef.service", 2, "", "", "/system.slice/deadbeef.service"},
      // Almost a UUID: a group too short, so no UUID; no run of 16 either.
      {"/a-2c48913c-b29f-11e7-9350-02096814779.scope", 1, "", "", "/a-2c48913c-b29f-11e7-9350-02096814779.scope"},
  });
}

TEST_CASE("cgroup_path: labels are valid UTF-8 and at most kMaxCgroupLabelBytes", "[cgroup_path]") {
  const std::string x126(126, 'x');
  check_rows({
      {"/system.slice/bad\xff.service", 2, "", "", "/system.slice/bad\xEF\xBF\xBD.service"},
      {"/system.slice/cut\xC3", 2, "", "", "/system.slice/cut\xEF\xBF\xBD"},  // truncated sequence
      {"/system.slice/\xC3\xBCnic\xC3\xB6"
       "de.service",
       2, "", "",
       "/system.slice/\xC3\xBCnic\xC3\xB6"
       "de.service"},
      {"/" + std::string(200, 'x'), 1, "", "", "/" + std::string(127, 'x')},
      {"/" + x126 + "b/c", 2, "", "", "/" + x126 + "b"},  // exactly 128 bytes: whole
      // A character across the cap goes whole: 2 bytes at 127..128, 3 at 126..128, 4 at 125..128.
      {"/" + x126 + "\xC3\xA9", 1, "", "", "/" + x126},
      {"/" + std::string(125, 'x') + "\xE2\x82\xAC", 1, "", "", "/" + std::string(125, 'x')},
      {"/" + std::string(124, 'x') + "\xF0\x9F\x90\xA7", 1, "", "", "/" + std::string(124, 'x')},
      // Replacement characters count: 43 bad bytes become 129 bytes of U+FFFD, 42 of them fit after the /.
      {"/" + std::string(43, '\xff'), 1, "", "",
       [] {
         std::string s = "/";
         for (int i = 0; i < 42; ++i) s += "\xEF\xBF\xBD";
         return s;
       }()},
      // Many short components: the cap is on the whole label.
      {[] {
         std::string s;
         for (int i = 0; i < 20; ++i) s += "/abcdefg" + std::to_string(i % 10);
         return s;
       }(),
       32, "", "",
       [] {
         std::string s;
         for (int i = 0; i < 20; ++i) s += "/abcdefg" + std::to_string(i % 10);
         return s.substr(0, kMaxCgroupLabelBytes);
       }()},
      // Masking comes first: a long ID never leaves a partial ID at the cap.
      {"/" + std::string(120, 'x') + "-" + kId, 1, "", "", "/" + std::string(120, 'x') + "-*"},
  });
}
