#!/usr/bin/python3
"""Kubernetes names from the kubelet, end to end: the real bpfex binary with
attribution.kubernetes on, a local HTTPS server standing in for the kubelet (a test CA, its /pods
shaped like the kubelet's v1 PodList: metadata.name/namespace/uid, status.containerStatuses[]
.name/containerID, init containers, a static pod's 32-hex UID, a restarted container's
lastState), kubelet-style cgroups (both cgroup drivers, containerd, CRI-O and cri-dockerd naming)
created under the host's cgroup2 mount, and real execs in them.

What it pins down: execs count exactly under {namespace, pod, container} (the sandbox, i.e. the
pod's own cgroup, under container=""; a pod the kubelet does not know under empty names), no UID or
container ID in any label value, Prometheus can sum by (namespace, pod); the bearer token is sent;
401, 403, an answer that is not a PodList, a certificate signed by another CA, the system trust
store, a closed port, a kubelet that never answers and a missing token file are each counted under
their reason in bpfex_attribution_kubelet_errors_total and logged with what happened, while
attribution falls back to cgroup labels and bpfex keeps running; ca_file and insecure_skip_verify
behave.

Usage: tests/e2e/kubelet_test.py BPFEX_BINARY REPO_ROOT   (root; ctest: `ctest -R kubelet`)
Debian 12 packages it relies on (scripts/install-deps.sh --tests): openssl, prometheus.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Bpfex, Cgroup, Suite, cgroup2_mount, ensure_tracefs, expect,  # noqa: E402
                         expect_exact_count, fail, free_ports, parse_args, require_root, sample_values,
                         start_bpfex, start_prometheus, temp_dir, wait_healthy, wait_sample_at_least, wait_until)
from lib import fake_kubelet  # noqa: E402
from lib.fake_kubelet import FakeKubelet, hex_id, make_ca, make_server_cert, uuid  # noqa: E402
from lib.load import copy_of_true, unique_name  # noqa: E402

POLL_SECONDS = 0.25
ERRORS = "bpfex_attribution_kubelet_errors_total"
REFRESHES = "bpfex_attribution_kubelet_refreshes_total"

suite = Suite("kubelet")
BPFEX, ROOT = parse_args(suite)
require_root(suite, "bpfex loads BPF programs and the test creates cgroups")
if warning := ensure_tracefs(ROOT):
    suite.note(warning)
MOUNT = cgroup2_mount()
if MOUNT is None:
    suite.fatal("no cgroup v2 hierarchy in /proc/self/mountinfo: attribution needs one")
TMP = temp_dir("bpfex-kubelet.")
TOKEN = "bpfex-test-token-" + os.urandom(8).hex()
(TMP / "token").write_text(TOKEN + "\n")
PROG = copy_of_true(TMP, unique_name("kt"))
COMM = PROG.name
PREFIX = f"/bpfex-kt-{os.urandom(4).hex()}.slice"  # the test's kubepods live below it, as kind nests them


# ---------------------------------------------------------------- certificates and the kubelet stand-in

make_ca(TMP, "ca")
make_ca(TMP, "other-ca")
make_server_cert(TMP, "kubelet", "ca")
make_server_cert(TMP, "impostor", "other-ca")
KUBELET = FakeKubelet(TMP, "kubelet")
IMPOSTOR = FakeKubelet(TMP, "impostor")


def config_file(name: str, kubelet_url: str, ca_file: str = str(TMP / "ca.crt"), insecure: bool = False,
                token_file: str = str(TMP / "token"), exec_module: bool = True) -> Path:
    path = TMP / f"{name}.yaml"
    path.write_text(f"""poll_interval: {int(POLL_SECONDS * 1000)}ms
attribution:
  min_age: 0s
  kubernetes:
    enabled: true
    kubelet_url: {json.dumps(kubelet_url)}
    token_file: {json.dumps(token_file)}
    ca_file: {json.dumps(ca_file)}
    insecure_skip_verify: {str(insecure).lower()}
    refresh_interval: 1s
modules:
  exec:
    enabled: {str(exec_module).lower()}
  syscall:
    enabled: false
  network:
    enabled: false
""")
    return path


def labels(ns: str, pod: str, container: str, cgroup: str = "") -> str:
    return f'comm="{COMM}",namespace="{ns}",pod="{pod}",container="{container}",cgroup="{cgroup}"'


def log_of(b: Bpfex) -> str:
    return b.daemon.log.read_text(errors="replace") if b.daemon.log.exists() else ""


def expect_error_counted(b: Bpfex, reason: str, log_says: list[str]) -> None:
    got = wait_sample_at_least(b, ERRORS, f'reason="{reason}"', 1, seconds=15)
    if not got:
        fail(f'{ERRORS}{{reason="{reason}"}}: {got}\n{b.series(ERRORS)}\n{log_of(b)[-2000:]}')
    lines = [ln for ln in log_of(b).splitlines() if "kubelet" in ln and f"reason={reason}" in ln]
    if not lines:
        fail(f"no log line with reason={reason}:\n{log_of(b)[-2000:]}")
    for words in log_says:
        if not any(words in ln for ln in lines):
            fail(f"the log line does not say {words!r}:\n" + "\n".join(lines))
    if not b.daemon.alive():
        fail("bpfex exited")


# ---------------------------------------------------------------- the pods and their cgroups

class Pod:
    def __init__(self, ns: str, name: str, uid: str, path: str, cid: str, container: str):
        self.ns, self.name, self.uid, self.cid, self.container = ns, name, uid, cid, container
        self.cgroup = Cgroup(MOUNT, path)


def systemd_pod(qos: str, uid: str) -> str:
    return fake_kubelet.systemd_pod(PREFIX, qos, uid)


web_uid, db_uid, static_uid, docker_uid = uuid(), uuid(), hex_id(32), uuid()
web_id, web_old_id, web_init_id, db_id, static_id, docker_id = (hex_id() for _ in range(6))
PODS = [
    # systemd driver, containerd
    Pod("shop", "web-7d4b9c", web_uid, f"{systemd_pod('burstable', web_uid)}/cri-containerd-{web_id}.scope",
        web_id, "nginx"),
    # cgroupfs driver, CRI-O
    Pod("shop", "db-0", db_uid, f"{PREFIX}/kubepods/burstable/pod{db_uid}/{db_id}", db_id, "postgres"),
    # a static pod (its UID is the manifest's hash), cgroupfs, Guaranteed
    Pod("kube-system", "etcd-node1", static_uid, f"{PREFIX}/kubepods/pod{static_uid}/{static_id}", static_id, "etcd"),
    # systemd driver, cri-dockerd, BestEffort
    Pod("batch", "report-28374", docker_uid, f"{systemd_pod('besteffort', docker_uid)}/docker-{docker_id}.scope",
        docker_id, "report"),
]
KUBELET.add_pod(web_uid, "shop", "web-7d4b9c", {web_id: "nginx"}, init={web_init_id: "migrate"},
                restarted={"nginx": web_old_id})
KUBELET.add_pod(db_uid, "shop", "db-0", {db_id: "postgres"}, runtime="cri-o")
KUBELET.add_pod(static_uid, "kube-system", "etcd-node1", {static_id: "etcd"}, static=True)
KUBELET.add_pod(docker_uid, "batch", "report-28374", {docker_id: "report"}, runtime="docker")
# The web pod's init container, its container's run before a restart, and its sandbox (the pod's own cgroup).
WEB_INIT = Cgroup(MOUNT, f"{systemd_pod('burstable', web_uid)}/cri-containerd-{web_init_id}.scope")
WEB_OLD_RUNS = 4
WEB_OLD = Cgroup(MOUNT, f"{systemd_pod('burstable', web_uid)}/cri-containerd-{web_old_id}.scope")
WEB_SANDBOX = Cgroup(MOUNT, systemd_pod("burstable", web_uid))
# A pod the kubelet does not know.
stranger_uid, stranger_id = uuid(), hex_id()
STRANGER = Cgroup(MOUNT, f"{PREFIX}/kubepods/besteffort/pod{stranger_uid}/{stranger_id}")
SECRETS = [p.uid for p in PODS] + [p.cid for p in PODS] + [web_old_id, web_init_id, stranger_uid, stranger_id]

main = start_bpfex(BPFEX, [f"--config.file={config_file('main', KUBELET.url)}"], TMP, name="bpfex-main")
suite.show_logs(main.daemon)
if wait_healthy(main) != 200:
    suite.fatal("bpfex did not become healthy", main.daemon.tail(30))


def t_names_read():
    expect("kubelet pods", wait_sample_at_least(main, "bpfex_attribution_kubelet_pods", "", 4), 4.0)
    if not (main.sample(REFRESHES) or 0) >= 1:
        fail(main.series(REFRESHES))
    errors = {k: v for k, v in sample_values(main.metrics(), ERRORS).items() if v}
    if errors:
        fail(f"kubelet errors: {errors}\n{log_of(main)[-2000:]}")
    last = main.sample("bpfex_attribution_kubelet_last_success_timestamp_seconds") or 0
    if abs(time.time() - last) > 30:
        fail(f"last success {last}, now {time.time()}")


def t_token_sent():
    if not KUBELET.auth:
        fail("the kubelet stand-in got no request")
    expect("Authorization headers", set(KUBELET.auth), {f"Bearer {TOKEN}"})


def t_exact_counts_by_container():
    runs = {}
    for n, pod in enumerate(PODS):
        runs[pod.name] = 3 + n
        pod.cgroup.execs(PROG, 3 + n)
    WEB_INIT.execs(PROG, 2)
    WEB_OLD.execs(PROG, WEB_OLD_RUNS)
    WEB_SANDBOX.execs(PROG, 1)
    STRANGER.execs(PROG, 2)
    for pod in PODS:
        # nginx: this run of the container and the one before its restart
        want = runs[pod.name] + (WEB_OLD_RUNS if pod.name == "web-7d4b9c" else 0)
        expect_exact_count(main, "bpfex_exec_total", labels(pod.ns, pod.name, pod.container), want, POLL_SECONDS)
    expect_exact_count(main, "bpfex_exec_total", labels("shop", "web-7d4b9c", "migrate"), 2, POLL_SECONDS)
    expect_exact_count(main, "bpfex_exec_total", labels("shop", "web-7d4b9c", ""), 1, POLL_SECONDS)
    # Known to nobody: empty names, never the UID.
    expect_exact_count(main, "bpfex_exec_total", labels("", "", ""), 2, POLL_SECONDS)
    text = main.metrics()
    total = sum(v for k, v in sample_values(text, "bpfex_exec_total").items()
                if f'comm="{COMM}"' in k)
    expect("execs under every label set", total, float(sum(runs.values()) + 2 + WEB_OLD_RUNS + 1 + 2))
    leaked = [s for s in SECRETS if s in text or s.replace("-", "_") in text]
    if leaked:
        fail(f"UIDs or container IDs in /metrics: {leaked}")


def t_prometheus_sums_by_pod():
    prom = start_prometheus(TMP, [main.instance])
    if not wait_until(30, prom.ready):
        fail("Prometheus did not become ready\n" + prom.daemon.tail(10))
    expr = f'sum by (namespace, pod) (bpfex_exec_total{{comm="{COMM}"}})'
    want = {("shop", "web-7d4b9c"): 3 + WEB_OLD_RUNS + 2 + 1, ("shop", "db-0"): 4, ("kube-system", "etcd-node1"): 5,
            ("batch", "report-28374"): 6, ("", ""): 2}
    got = {}

    def complete() -> bool:
        nonlocal got
        result = prom.query(expr).get("data", {}).get("result") or []
        got = {(r["metric"].get("namespace", ""), r["metric"].get("pod", "")): float(r["value"][1]) for r in result}
        return got == want

    if not wait_until(30, complete):
        fail(f"{expr}: got {got}, want {want}\n{prom.targets()}")
    prom.daemon.stop()


def t_pod_learned_later():
    """A pod the kubelet reports only later: what it counted before stays under empty names, what
    it counts after is under its names."""
    uid, cid = uuid(), hex_id()
    late = Cgroup(MOUNT, f"{systemd_pod('besteffort', uid)}/crio-{cid}.scope")
    before = main.sample("bpfex_exec_total", labels("", "", "")) or 0
    late.execs(PROG, 2)
    expect_exact_count(main, "bpfex_exec_total", labels("", "", ""), int(before) + 2, POLL_SECONDS)
    KUBELET.add_pod(uid, "shop", "late-1", {cid: "app"}, runtime="cri-o")
    wait_sample_at_least(main, "bpfex_attribution_kubelet_pods", "", 5)
    time.sleep(2 * POLL_SECONDS)
    late.execs(PROG, 3)
    expect_exact_count(main, "bpfex_exec_total", labels("shop", "late-1", "app"), 3, POLL_SECONDS)
    expect("the empty-names series", main.sample("bpfex_exec_total", labels("", "", "")), before + 2)


def t_refused_token():
    """401, then 403: counted and logged with the reason; known pods keep their names, a pod the
    kubelet could not be asked about is labelled by its cgroup; bpfex keeps serving."""
    web = PODS[0]
    for status, reason, says in ((401, "unauthorized", ["HTTP 401", "token"]),
                                 (403, "forbidden", ["HTTP 403", "nodes/pods"])):
        KUBELET.status = status
        expect_error_counted(main, reason, says)
    uid, cid = uuid(), hex_id()
    unasked = Cgroup(MOUNT, f"{PREFIX}/kubepods/burstable/pod{uid}/{cid}")
    unasked.execs(PROG, 3)
    # cgroup_depth 2: the test's prefix and kubepods.
    expect_exact_count(main, "bpfex_exec_total", labels("", "", "", f"{PREFIX}/kubepods"), 3, POLL_SECONDS)
    before = main.sample("bpfex_exec_total", labels(web.ns, web.name, web.container)) or 0
    web.cgroup.execs(PROG, 1)
    expect_exact_count(main, "bpfex_exec_total", labels(web.ns, web.name, web.container), int(before) + 1,
                       POLL_SECONDS)
    KUBELET.status = 200
    refreshes = main.sample(REFRESHES) or 0
    if not wait_sample_at_least(main, REFRESHES, "", refreshes + 1):
        fail(f"no refresh after the kubelet answered again\n{main.series(ERRORS)}")
    if "pod names read" not in log_of(main).split("reason=forbidden")[-1]:
        fail("the recovery is not logged")


def t_not_a_pod_list():
    KUBELET.raw = "<html><body>login</body></html>"
    expect_error_counted(main, "invalid_response", ["not JSON"])
    KUBELET.raw = None


def t_secrets_never_labels():
    text = main.metrics()
    leaked = [s for s in SECRETS if s in text]
    if leaked:
        fail(f"UIDs or container IDs in /metrics: {leaked}")


suite.check("the kubelet's /pods is read: pods counted, no errors, last success now", t_names_read)
suite.check("the bearer token from token_file is sent", t_token_sent)
suite.check("execs count exactly under namespace/pod/container (init, restarted, sandbox, unknown pod)",
            t_exact_counts_by_container)
suite.check("Prometheus sums by (namespace, pod)", t_prometheus_sums_by_pod)
suite.check("a pod the kubelet reports later is named from then on", t_pod_learned_later)
suite.check("401 and 403: counted, logged with a hint, cgroup labels meanwhile, names again after", t_refused_token)
suite.check("an answer that is not a PodList is counted and logged", t_not_a_pod_list)
suite.check("no UID or container ID in any label value", t_secrets_never_labels)
main.daemon.stop()


# ---------------------------------------------------------------- TLS, addresses and tokens (no module needed)

def kubelet_only(name: str, url: str, **kwargs) -> Bpfex:
    b = start_bpfex(BPFEX, [f"--config.file={config_file(name, url, exec_module=False, **kwargs)}"], TMP,
                    name=f"bpfex-{name}")
    suite.show_logs(b.daemon)
    if wait_healthy(b) != 200:
        fail(f"bpfex did not start: {b.daemon.tail(20)}")
    return b


def t_other_ca():
    b = kubelet_only("other-ca", IMPOSTOR.url)
    expect_error_counted(b, "tls", ["certificate", "ca_file"])
    expect("refreshes", b.sample(REFRESHES), 0.0)
    b.daemon.stop()


def t_insecure_skip_verify():
    b = kubelet_only("insecure", IMPOSTOR.url, insecure=True)
    if not wait_sample_at_least(b, REFRESHES, "", 1):
        fail(f"no refresh with insecure_skip_verify\n{b.series(ERRORS)}\n{log_of(b)[-1500:]}")
    expect("tls errors", b.sample(ERRORS, 'reason="tls"'), 0.0)
    b.daemon.stop()


def t_system_trust_store():
    b = kubelet_only("system-store", KUBELET.url, ca_file="")
    expect_error_counted(b, "tls", ["certificate"])
    b.daemon.stop()


def t_closed_port():
    b = kubelet_only("closed", f"https://127.0.0.1:{free_ports(1)[0]}")
    expect_error_counted(b, "connect", ["127.0.0.1"])
    b.daemon.stop()


def t_silent_kubelet():
    """A kubelet that takes the connection and never answers: a timeout, within the refresh interval."""
    silent = socket.socket()
    try:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes handshakes into the backlog; nobody reads
        b = kubelet_only("silent", f"https://127.0.0.1:{silent.getsockname()[1]}")
        expect_error_counted(b, "timeout", ["did not answer in time"])
        b.daemon.stop()
    finally:
        silent.close()


def t_missing_token():
    b = kubelet_only("no-token", KUBELET.url, token_file=str(TMP / "no-such-token"))
    expect_error_counted(b, "token", ["no-such-token", "No such file"])
    b.daemon.stop()


def t_plain_http_to_tls_port():
    b = kubelet_only("plain-http", KUBELET.url.replace("https://", "http://"))
    # Plain HTTP to a TLS port: what comes back is not HTTP.
    if not wait_until(15, lambda: (b.sample(ERRORS, 'reason="invalid_response"') or 0)
                      + (b.sample(ERRORS, 'reason="connect"') or 0) >= 1):
        fail(f"plain HTTP to the TLS kubelet was not an error\n{b.series(ERRORS)}")
    b.daemon.stop()


def t_redirect_not_followed():
    """A redirect is an error, not followed: the token goes to the kubelet and nowhere else."""
    requests = IMPOSTOR.requests
    KUBELET.status, KUBELET.location = 302, IMPOSTOR.url + "/pods"
    b = kubelet_only("redirect", KUBELET.url, insecure=True)
    expect_error_counted(b, "http_status", ["HTTP 302"])
    expect("requests that reached the redirect's target", IMPOSTOR.requests, requests)
    b.daemon.stop()
    KUBELET.status = 200


suite.check("a kubelet certificate from another CA than ca_file: tls error, logged", t_other_ca)
suite.check("insecure_skip_verify: the same kubelet is read", t_insecure_skip_verify)
suite.check("ca_file empty: the system trust store, which does not know the test CA", t_system_trust_store)
suite.check("a closed kubelet port: connect error", t_closed_port)
suite.check("a kubelet that never answers: timeout error, logged", t_silent_kubelet)
suite.check("a missing token_file: token error naming the file", t_missing_token)
suite.check("plain HTTP to the kubelet's TLS port is an error, not a hang", t_plain_http_to_tls_port)
suite.check("a redirect is not followed (the token stays with the kubelet)", t_redirect_not_followed)
suite.finish()
