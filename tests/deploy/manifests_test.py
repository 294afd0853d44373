#!/usr/bin/python3
"""Kubernetes manifests (deploy/kubernetes) and the image's default configuration.

Static: every field is one the Kubernetes API knows (a typo would silently drop a setting); the
DaemonSet is not privileged, drops ALL capabilities and adds only allowed ones, each
with a comment saying why; host namespaces only where justified; read-only root file system and
hostPath mounts; probes on /healthz; resources requests and limits; tolerations that reach every
node; a containerPort named metrics that the Service and the ServiceMonitor use; kustomization lists
every manifest.
Drift against the built binary: the DaemonSet's arguments, with the ConfigMap's configuration, pass
`bpfex --config.check`; the ConfigMap's configuration means the same as config/bpfex.yaml; the
Dockerfile's default command and configuration pass --config.check too.

Usage: tests/deploy/manifests_test.py BPFEX_BINARY REPO_ROOT   (no root needed)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (CheckFailed, Suite, config_check, describe, expect, fail, flag_value,  # noqa: E402
                         parse_args, replace_flag, temp_dir)
from deploytest import (copies, cpu_cores, explains, image_command, load_manifests,  # noqa: E402
                        memory_bytes, parse_dockerfile, preceding_comments)

import yaml  # noqa: E402

# Capabilities the DaemonSet may add, and why they could be needed at all.
ALLOWED_CAPS = {
    "BPF": "bpf(): maps, programs",
    "PERFMON": "tracing programs, perf events",
    "NET_ADMIN": "tc programs of the network module",
    "SYS_RESOURCE": "RLIMIT_MEMLOCK on kernels before 5.11",
}
REQUIRED_CAPS = {"BPF", "PERFMON"}
# Host paths bpfex may read, and nothing else.
ALLOWED_HOST_PATHS = {"/sys/kernel/btf", "/sys/kernel/tracing", "/sys/kernel/debug", "/sys/fs/bpf", "/sys/fs/cgroup"}
REQUIRED_HOST_PATHS = {"/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup"}
# Objects that are not namespaced.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
# What the ConfigMap sets on purpose where config/bpfex.yaml keeps the defaults (dotted keys).
CONFIGMAP_DELIBERATE = {
    "attribution.cgroup_mount": "the host's hierarchy as the DaemonSet mounts it",
    "attribution.kubernetes.enabled": "names from the node's kubelet",
    "attribution.kubernetes.insecure_skip_verify": "the kubelet's self-signed serving certificate (comment there)",
}
METRICS_PORT = 9650

suite = Suite("manifests")
BPFEX, ROOT = parse_args(suite)
K8S = ROOT / "deploy" / "kubernetes"
TMP = temp_dir("bpfex-manifests.")


try:
    MANIFESTS = load_manifests(K8S)
except yaml.YAMLError as e:
    suite.fatal("deploy/kubernetes/*.yaml parse", str(e))


def objects(kind: str) -> list[tuple[str, dict]]:
    return [(f, d) for f, docs in MANIFESTS.items() for d in docs if d.get("kind") == kind]


def one(kind: str) -> tuple[str, dict]:
    found = objects(kind)
    if len(found) != 1:
        raise CheckFailed(f"want exactly one {kind} in deploy/kubernetes, found {len(found)}")
    return found[0]


def daemonset() -> dict:
    return one("DaemonSet")[1]


def pod_spec() -> dict:
    return daemonset()["spec"]["template"]["spec"]


def container() -> dict:
    cs = pod_spec()["containers"]
    named = [c for c in cs if c.get("name") == "bpfex"]
    if len(named) != 1:
        fail(f"want one container named bpfex, found {[c.get('name') for c in cs]}")
    return named[0]


def lines_of(kind: str) -> list[str]:
    return (K8S / one(kind)[0]).read_text().splitlines()


# ---------------------------------------------------------------- kustomization

def t_kustomization_lists_every_manifest():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = list(k.get("resources", []))
    files = sorted(f for f in MANIFESTS if f != "kustomization.yaml")
    missing = sorted(set(files) - set(listed))
    absent = sorted(r for r in listed if not (K8S / r).exists())
    dupes = sorted({r for r in listed if listed.count(r) > 1})
    problems = []
    if missing:
        problems.append(f"manifests not listed in resources: {missing}")
    if absent:
        problems.append(f"resources that do not exist: {absent}")
    if dupes:
        problems.append(f"listed twice: {dupes}")
    if problems:
        fail("\n".join(problems))


def t_one_namespace():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    _, ns = one("Namespace")
    name = ns["metadata"]["name"]
    expect("kustomization namespace", k.get("namespace"), name)
    wrong = [f"{f}: {d['kind']} in {d['metadata'].get('namespace')!r}"
             for f, docs in MANIFESTS.items() for d in docs
             if d.get("kind") not in CLUSTER_SCOPED | {"Kustomization"} and d["metadata"].get("namespace") != name]
    if wrong:
        fail(f"objects outside namespace {name}:\n" + "\n".join(wrong))
    if "pod-security.kubernetes.io/enforce" not in ns["metadata"].get("labels", {}):
        fail("the Namespace sets no pod-security.kubernetes.io/enforce level: under the cluster's "
             "default (often baseline) the DaemonSet's hostNetwork, hostPath and capabilities are rejected")


def t_image_tag_is_project_version():
    version = re.search(r"project\(bpfex VERSION (\S+)", (ROOT / "CMakeLists.txt").read_text()).group(1)
    image = container()["image"]
    name = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    entries = [i for i in k.get("images", []) if i.get("name") == name]
    if len(entries) != 1:
        fail(f"kustomization.yaml images: want one entry for the DaemonSet's image {name!r}, got {entries}")
    expect("kustomization images newTag (CMakeLists.txt project VERSION)", str(entries[0].get("newTag")), version)
    expect("DaemonSet image tag", image.rsplit(":", 1)[-1], version)


def unknown_fields(given, known, path="") -> list[str]:
    """Keys of `given` that did not survive the round trip through the models (`known`)."""
    out = []
    if isinstance(given, dict):
        for k, v in given.items():
            if not isinstance(known, dict) or k not in known:
                out.append(f"{path}.{k}")
            else:
                out += unknown_fields(v, known[k], f"{path}.{k}")
    elif isinstance(given, list) and isinstance(known, list):
        for i, (g, k) in enumerate(zip(given, known)):
            out += unknown_fields(g, k, f"{path}[{i}]")
    return out


# The ServiceMonitor is a CRD the models do not cover: the fields of monitoring.coreos.com/v1 it may use.
SERVICEMONITOR_FIELDS = {
    "spec": {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels",
             "sampleLimit", "attachMetadata"},
    "endpoint": {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
                 "honorTimestamps", "relabelings", "metricRelabelings", "params", "followRedirects",
                 "enableHttp2", "tlsConfig", "bearerTokenSecret", "authorization", "filterRunning"},
    "relabeling": {"sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action"},
}


def t_known_fields():
    """A misspelt field (readOnlyRootFileSystem, mountPropagaton) is silently dropped by lenient
    tooling and the hardening with it. Core objects go through the Kubernetes API models of Debian's
    python3-kubernetes (client 22.6: Kubernetes 1.22 fields); what does not come back is unknown."""
    try:
        from kubernetes.client import ApiClient
    except ImportError:
        fail("python3-kubernetes is missing (scripts/install-deps.sh installs it)")
    import json

    class Response:
        def __init__(self, d):
            self.data = json.dumps(d)

    api = ApiClient()
    models = {"Namespace": "V1Namespace", "ConfigMap": "V1ConfigMap", "DaemonSet": "V1DaemonSet",
              "Service": "V1Service", "ServiceAccount": "V1ServiceAccount", "ClusterRole": "V1ClusterRole",
              "ClusterRoleBinding": "V1ClusterRoleBinding"}
    problems = []
    for f, docs in MANIFESTS.items():
        for d in docs:
            kind = d.get("kind")
            if kind in models:
                back = api.sanitize_for_serialization(api.deserialize(Response(d), models[kind]))
                problems += [f"{f}: {kind}{p}" for p in unknown_fields(d, back)]
            elif kind == "ServiceMonitor":
                spec = d.get("spec", {})
                problems += [f"{f}: ServiceMonitor.spec.{k}" for k in set(spec) - SERVICEMONITOR_FIELDS["spec"]]
                for i, ep in enumerate(spec.get("endpoints", [])):
                    problems += [f"{f}: ServiceMonitor.spec.endpoints[{i}].{k}"
                                 for k in set(ep) - SERVICEMONITOR_FIELDS["endpoint"]]
                    for j, r in enumerate(ep.get("relabelings", []) + ep.get("metricRelabelings", [])):
                        problems += [f"{f}: ServiceMonitor.spec.endpoints[{i}] relabeling {j}: {k}"
                                     for k in set(r) - SERVICEMONITOR_FIELDS["relabeling"]]
            elif kind != "Kustomization":
                problems.append(f"{f}: kind {kind} is not checked by this test; add it")
    if problems:
        fail("unknown fields (misspelt, or newer than the models):\n" + "\n".join(problems))


# ---------------------------------------------------------------- DaemonSet security

def t_not_privileged():
    sc = container().get("securityContext") or fail("the bpfex container has no securityContext")
    expect("securityContext.privileged", sc.get("privileged"), False)
    expect("securityContext.allowPrivilegeEscalation", sc.get("allowPrivilegeEscalation"), False)
    for c in pod_spec()["containers"] + pod_spec().get("initContainers", []):
        if (c.get("securityContext") or {}).get("privileged"):
            fail(f"container {c.get('name')} is privileged")


def t_capabilities():
    caps = container()["securityContext"].get("capabilities") or fail("no capabilities section")
    expect("capabilities.drop", caps.get("drop"), ["ALL"])
    add = caps.get("add") or []
    extra = sorted(set(add) - set(ALLOWED_CAPS))
    if extra:
        fail(f"capabilities beyond what bpfex needs: {extra} (allowed: {sorted(ALLOWED_CAPS)})")
    missing = sorted(REQUIRED_CAPS - set(add))
    if missing:
        fail(f"capabilities bpfex cannot load programs without are missing: {missing}")
    lines = lines_of("DaemonSet")
    silent = []
    for cap in add:
        idx = [i for i, line in enumerate(lines) if re.fullmatch(rf"\s*-\s*{cap}\s*(#.*)?", line)]
        if len(idx) != 1 or not explains(preceding_comments(lines, idx[0])):
            silent.append(cap)
    if silent:
        fail(f"capabilities added without a comment saying why (a comment line right above the "
             f"list item): {silent}")


def t_host_namespaces():
    spec = pod_spec()
    for key in ("hostPID", "hostIPC"):
        if spec.get(key):
            fail(f"{key}: true, but bpfex needs no host {key[4:]} namespace (tracepoints see every task)")
    lines = lines_of("DaemonSet")
    for key, value in spec.items():
        if key.startswith("host") and value is True:
            idx = [i for i, line in enumerate(lines) if re.match(rf"\s*{key}:\s*true", line)]
            if not idx or not explains(preceding_comments(lines, idx[0])):
                fail(f"{key}: true without a comment saying why")


def t_read_only_filesystem():
    sc = container()["securityContext"]
    expect("securityContext.readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem"), True)
    volumes = {v["name"]: v for v in pod_spec().get("volumes", [])}
    host_paths = {name: v["hostPath"]["path"] for name, v in volumes.items() if "hostPath" in v}
    bad = sorted(set(host_paths.values()) - ALLOWED_HOST_PATHS)
    if bad:
        fail(f"hostPath volumes bpfex does not need: {bad}")
    missing = sorted(REQUIRED_HOST_PATHS - set(host_paths.values()))
    if missing:
        fail(f"hostPath volumes missing: {missing}")
    mounts = {m["name"]: m for m in container().get("volumeMounts", [])}
    writable = [f"{m['name']} at {m['mountPath']}" for m in mounts.values() if not m.get("readOnly")]
    if writable:
        fail(f"volume mounts not readOnly: {writable}")
    for name, path in host_paths.items():
        if name not in mounts:
            fail(f"hostPath volume {name} ({path}) is not mounted")
        # The host's cgroup hierarchy cannot take the container's own /sys/fs/cgroup: it goes where
        # the ConfigMap's attribution.cgroup_mount says (t_cgroup_mount_matches_config).
        if path != "/sys/fs/cgroup":
            expect(f"mountPath of hostPath {path}", mounts[name]["mountPath"], path)


def t_probes():
    c = container()
    port_names = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}

    def port_of(probe: dict) -> int:
        port = probe["httpGet"]["port"]
        return port_names.get(port, port) if isinstance(port, str) else port

    ready = c.get("readinessProbe") or fail("no readinessProbe")
    live = c.get("livenessProbe") or fail("no livenessProbe")
    expect("readinessProbe path", ready.get("httpGet", {}).get("path"), "/healthz")
    expect("readinessProbe port", port_of(ready), METRICS_PORT)
    if live.get("httpGet", {}).get("path") not in ("/", "/healthz"):
        fail(f"livenessProbe path {live.get('httpGet', {}).get('path')!r}: want / or /healthz")
    expect("livenessProbe port", port_of(live), METRICS_PORT)
    patience = live.get("periodSeconds", 10) * live.get("failureThreshold", 3)
    if patience < 60:
        fail(f"livenessProbe restarts after {patience}s of failures: want at least 60s (generous)")


def t_resources():
    r = container().get("resources") or fail("no resources")
    for part in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if res not in (r.get(part) or {}):
                fail(f"resources.{part}.{res} is not set")
    if cpu_cores(r["requests"]["cpu"]) > cpu_cores(r["limits"]["cpu"]):
        fail(f"cpu request {r['requests']['cpu']} above limit {r['limits']['cpu']}")
    if memory_bytes(r["requests"]["memory"]) > memory_bytes(r["limits"]["memory"]):
        fail(f"memory request {r['requests']['memory']} above limit {r['limits']['memory']}")
    text = "\n".join(lines_of("DaemonSet"))
    if "deploy/measure.sh" not in text:
        fail("no comment pointing at the measurements (deploy/measure.sh) the resources come from")


def t_tolerations():
    tol = pod_spec().get("tolerations") or fail("no tolerations: tainted nodes would run no bpfex")
    everything = [t for t in tol if t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")]
    if not everything:
        fail(f"no toleration with operator Exists and no key/effect: {tol}")


def t_ports_and_args():
    c = container()
    ports = [p for p in c.get("ports", []) if p.get("name") == "metrics"]
    if len(ports) != 1:
        fail(f"want one containerPort named metrics, got {c.get('ports')}")
    expect("containerPort metrics", ports[0]["containerPort"], METRICS_PORT)
    args = c.get("args") or []
    expect("--web.listen-address", flag_value(args, "--web.listen-address"), f":{METRICS_PORT}")
    expect("--config.file", flag_value(args, "--config.file"), "/etc/bpfex/bpfex.yaml")
    if c.get("command"):
        fail("command overrides the image's entrypoint; set args only")


def t_config_mount():
    args = container()["args"]
    path = Path(flag_value(args, "--config.file"))
    _, cm = one("ConfigMap")
    mounts = [m for m in container()["volumeMounts"] if m["mountPath"] == str(path.parent)]
    if len(mounts) != 1:
        fail(f"no volume mounted at {path.parent} (the directory of --config.file)")
    vol = [v for v in pod_spec()["volumes"] if v["name"] == mounts[0]["name"]][0]
    if "configMap" not in vol:
        fail(f"the volume at {path.parent} is not a configMap: {vol}")
    expect("configMap volume name", vol["configMap"]["name"], cm["metadata"]["name"])
    if path.name not in cm.get("data", {}):
        fail(f"ConfigMap {cm['metadata']['name']} has no key {path.name}: {sorted(cm.get('data', {}))}")


def t_service_and_monitor():
    _, svc = one("Service")
    _, sm = one("ServiceMonitor")
    pod_labels = daemonset()["spec"]["template"]["metadata"]["labels"]
    sel = svc["spec"]["selector"]
    if any(pod_labels.get(k) != v for k, v in sel.items()):
        fail(f"Service selector {sel} does not select the DaemonSet's pods {pod_labels}")
    ports = [p for p in svc["spec"]["ports"] if p.get("name") == "metrics"]
    if len(ports) != 1:
        fail(f"Service has no port named metrics: {svc['spec']['ports']}")
    target = ports[0].get("targetPort", ports[0]["port"])
    if target not in ("metrics", METRICS_PORT):
        fail(f"Service targetPort {target!r} is neither the containerPort name nor {METRICS_PORT}")
    eps = sm["spec"].get("endpoints") or fail("ServiceMonitor has no endpoints")
    for ep in eps:
        expect("ServiceMonitor endpoint port (the Service's port name)", ep.get("port"), "metrics")
        if ep.get("path", "/metrics") != "/metrics":
            fail(f"ServiceMonitor path {ep.get('path')} is not bpfex's /metrics")
    msel = sm["spec"]["selector"].get("matchLabels", {})
    svc_labels = svc["metadata"].get("labels", {})
    if not msel or any(svc_labels.get(k) != v for k, v in msel.items()):
        fail(f"ServiceMonitor selector {msel} does not select the Service (labels {svc_labels})")


# ---------------------------------------------------------------- drift against the binary

def configmap_config() -> Path:
    _, cm = one("ConfigMap")
    path = TMP / "configmap-bpfex.yaml"
    path.write_text(cm["data"]["bpfex.yaml"])
    return path


def t_daemonset_args_accepted():
    args = replace_flag(container()["args"], "--config.file", str(configmap_config()))
    proc = config_check(BPFEX, args)
    if proc.returncode != 0:
        fail("the DaemonSet's arguments (ConfigMap config in a temp file) fail --config.check\n" + describe(proc))


def t_configmap_config_valid():
    proc = config_check(BPFEX, [f"--config.file={configmap_config()}"])
    if proc.returncode != 0:
        fail("the ConfigMap's bpfex.yaml fails --config.check\n" + describe(proc))


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out |= flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def t_configmap_matches_default_config():
    ours = config_check(BPFEX, [f"--config.file={configmap_config()}"])
    ref = config_check(BPFEX, [f"--config.file={ROOT / 'config' / 'bpfex.yaml'}"])
    if ours.returncode or ref.returncode:
        fail("--config.check failed:\n" + describe(ours) + "\n" + describe(ref))
    got, want = flatten(yaml.safe_load(ours.stdout)), flatten(yaml.safe_load(ref.stdout))
    differ = sorted(k for k in got.keys() | want.keys() if got.get(k) != want.get(k))
    unexpected = [f"{k}: {want.get(k)!r} in config/bpfex.yaml, {got.get(k)!r} in the ConfigMap"
                  for k in differ if k not in CONFIGMAP_DELIBERATE]
    if unexpected:
        fail("the ConfigMap configures bpfex differently from config/bpfex.yaml; update "
             "deploy/kubernetes/configmap.yaml (or make the difference deliberate here):\n" + "\n".join(unexpected))
    stale = sorted(set(CONFIGMAP_DELIBERATE) - set(differ))
    if stale:
        fail(f"CONFIGMAP_DELIBERATE names keys the ConfigMap does not change: {stale}")


def t_rbac_least_privilege():
    """The ServiceAccount may get nodes/pods (the kubelet's /pods) and nothing else, and is the one
    the DaemonSet runs as, with its token mounted."""
    _, role = one("ClusterRole")
    expect("ClusterRole rules", role.get("rules"), [{"apiGroups": [""], "resources": ["nodes/pods"], "verbs": ["get"]}])
    _, binding = one("ClusterRoleBinding")
    _, account = one("ServiceAccount")
    expect("ClusterRoleBinding roleRef", binding["roleRef"],
           {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]})
    expect("ClusterRoleBinding subjects", binding["subjects"],
           [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
             "namespace": account["metadata"]["namespace"]}])
    expect("DaemonSet serviceAccountName", pod_spec().get("serviceAccountName"), account["metadata"]["name"])
    expect("DaemonSet automountServiceAccountToken", pod_spec().get("automountServiceAccountToken"), True)


def t_cgroup_mount_matches_config():
    """attribution.cgroup_mount in the ConfigMap is where the DaemonSet mounts the host's /sys/fs/cgroup."""
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    mounts = [m for m in container()["volumeMounts"]
              if volumes.get(m["name"], {}).get("hostPath", {}).get("path") == "/sys/fs/cgroup"]
    if len(mounts) != 1 or not mounts[0].get("readOnly"):
        fail(f"want one read-only mount of the host's /sys/fs/cgroup, got {mounts}")
    configured = flatten(yaml.safe_load(config_check(BPFEX, [f"--config.file={configmap_config()}"]).stdout))
    expect("ConfigMap attribution.cgroup_mount", configured.get("attribution.cgroup_mount"), mounts[0]["mountPath"])


def t_dockerfile_default_config():
    stages = parse_dockerfile(ROOT / "Dockerfile")
    runtime = stages[-1]
    argv = image_command(runtime)
    path = flag_value(argv, "--config.file") or fail(f"the image's command has no --config.file: {argv}")
    sources = [srcs for frm, srcs, dest in copies(runtime) if frm is None and dest == path]
    if len(sources) != 1 or len(sources[0]) != 1:
        fail(f"no single COPY from the build context to {path} in the runtime stage")
    src = ROOT / sources[0][0]
    proc = config_check(BPFEX, replace_flag(argv[1:], "--config.file", str(src)))
    if proc.returncode != 0:
        fail(f"the image's command with {sources[0][0]} fails --config.check\n" + describe(proc))
    listen = re.search(r'listen_address: "?([^"\n]*)"?', proc.stdout)
    exposed = [i.args.split()[0] for i in runtime.all("EXPOSE")]
    if not listen or listen.group(1).rsplit(":", 1)[-1] not in [e.split("/")[0] for e in exposed]:
        fail(f"the image listens on {listen.group(1) if listen else '?'} but EXPOSEs {exposed}")


suite.check("kustomization lists every manifest, and only existing ones", t_kustomization_lists_every_manifest)
suite.check("one namespace for everything, with a Pod Security level", t_one_namespace)
suite.check("image tag = project version (DaemonSet and kustomization)", t_image_tag_is_project_version)
suite.check("every field is one Kubernetes knows (no silently ignored typo)", t_known_fields)
suite.check("DaemonSet not privileged, no privilege escalation", t_not_privileged)
suite.check("capabilities: drop ALL, add only allowed ones, each with a reason", t_capabilities)
suite.check("host namespaces: no hostPID/hostIPC, each host* with a reason", t_host_namespaces)
suite.check("read-only root filesystem and read-only hostPath mounts", t_read_only_filesystem)
suite.check("readiness on /healthz, generous liveness", t_probes)
suite.check("resources: requests and limits for cpu and memory", t_resources)
suite.check("tolerations: operator Exists (every node)", t_tolerations)
suite.check("containerPort metrics 9650 and the listen/config flags", t_ports_and_args)
suite.check("ConfigMap mounted where --config.file points", t_config_mount)
suite.check("Service and ServiceMonitor use the metrics port", t_service_and_monitor)
suite.check("bpfex accepts the DaemonSet's arguments (--config.check)", t_daemonset_args_accepted)
suite.check("bpfex accepts the ConfigMap's configuration (--config.check)", t_configmap_config_valid)
suite.check("ConfigMap configuration means the same as config/bpfex.yaml but for its deliberate keys",
            t_configmap_matches_default_config)
suite.check("RBAC: get nodes/pods only, bound to the DaemonSet's ServiceAccount", t_rbac_least_privilege)
suite.check("the host's /sys/fs/cgroup mounted read-only where attribution.cgroup_mount says",
            t_cgroup_mount_matches_config)
suite.check("Dockerfile: default command and config pass --config.check, port exposed", t_dockerfile_default_config)

import shutil  # noqa: E402
shutil.rmtree(TMP, ignore_errors=True)
suite.finish()
