#!/usr/bin/python3
"""Grafana dashboards (dashboards/*.json): importable structure, and every query returns data.

Structure, per file: uid and title unique across files, schemaVersion; a datasource variable
(type datasource, query prometheus) and an instance variable from
label_values(bpfex_build_info, instance); every panel has a unique id and a gridPos inside the
24-column grid, overlapping no other panel; every panel and every target uses the datasource
variable; every target has an expr and a unique refId.

Data: starts the real bpfex (config/bpfex.yaml with bpf_stats: true, the syscall module's
by_workload, and Kubernetes names from a stand-in kubelet (tests/lib/fake_kubelet.py) for a pod
whose cgroup the test makes and runs work in, so the program cost and per-workload panels and the
namespace, pod and container variables have data too) and a real Prometheus
scraping it every second, runs the load generator of every module the binary registers
(tests/lib/load.py LOADS: a registered module without one fails), then runs every panel's query, Grafana variables substituted, as an instant query against
Prometheus: it must parse and return at least one finite value. No exemptions: a query of a bpfex
metric family the binary does not expose fails (a typo, or the dashboard of a module that is not
registered, which tests/e2e/registry_test.py names).

Usage: tests/deploy/dashboards_test.py BPFEX_BINARY REPO_ROOT   (root)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.fake_kubelet import FakeKubelet, hex_id, make_ca, make_server_cert, systemd_pod, uuid  # noqa: E402
from lib.harness import (CheckFailed, Cgroup, Suite, cgroup2_mount, dashboard_panels, expect, fail,  # noqa: E402
                         finite_values, http_get, load_dashboard, metric_families, parse_args,
                         registered_modules, require_root, start_bpfex, start_prometheus, temp_dir,
                         wait_healthy, wait_until)
from lib.load import Load, LoadError  # noqa: E402

DATASOURCE_REFS = {"${datasource}", "$datasource"}
# What Grafana would put in for its built-in variables, with a 1 s scrape interval.
BUILTINS = {
    "__rate_interval": "15s",
    "__interval": "5s",
    "__interval_ms": "5000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
    "datasource": "prometheus",
    "job": "bpfex",
}
QUERY_WAIT_SECONDS = 30  # per query, for series that need a few more scrapes

suite = Suite("dashboards")
BPFEX, ROOT = parse_args(suite)
FILES = sorted((ROOT / "dashboards").glob("*.json"))


# ---------------------------------------------------------------- structure

def query_panels(dash: dict) -> list[dict]:
    return [p for p in dashboard_panels(dash) if p.get("type") != "row"]


def variable(dash: dict, name: str) -> dict | None:
    found = [v for v in dash.get("templating", {}).get("list", []) if v.get("name") == name]
    return found[0] if found else None


def variable_query(v: dict) -> str:
    q = v.get("query", "")
    return q.get("query", "") if isinstance(q, dict) else q


def ds_ref(d) -> str | None:
    if isinstance(d, dict):
        return d.get("uid")
    return d


def t_files_present():
    if not FILES:
        fail("no dashboards/*.json")
    names = {f.name for f in FILES}
    missing = sorted({"overview.json", "exec.json"} - names)
    if missing:
        fail(f"missing dashboards: {missing}")


def t_unique_uids_titles():
    uids, titles = {}, {}
    for f in FILES:
        d = load_dashboard(f)
        uid, title = d.get("uid"), d.get("title")
        if not uid or not isinstance(uid, str) or len(uid) > 40:
            fail(f"{f.name}: uid {uid!r} must be a string of 1..40 characters")
        if not title:
            fail(f"{f.name}: no title")
        if uid in uids:
            fail(f"{f.name} and {uids[uid]} share uid {uid}")
        if title in titles:
            fail(f"{f.name} and {titles[title]} share title {title!r}")
        uids[uid], titles[title] = f.name, f.name


def t_structure(path: Path):
    d = load_dashboard(path)
    problems = []
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 27:
        problems.append(f"schemaVersion {d.get('schemaVersion')!r}: want an integer >= 27")
    ds = variable(d, "datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no variable 'datasource' of type datasource with query prometheus")
    inst = variable(d, "instance")
    if not inst or inst.get("type") != "query" or \
            re.sub(r"\s", "", variable_query(inst)) != "label_values(bpfex_build_info,instance)":
        problems.append("no query variable 'instance' from label_values(bpfex_build_info, instance)")
    elif ds_ref(inst.get("datasource")) not in DATASOURCE_REFS:
        problems.append(f"variable instance uses datasource {inst.get('datasource')!r}, not the variable")
    ids = {}
    boxes = []
    for p in dashboard_panels(d):
        pid, title = p.get("id"), p.get("title", "?")
        if not isinstance(pid, int):
            problems.append(f"panel {title!r}: id {pid!r} is not an integer")
        elif pid in ids:
            problems.append(f"panels {ids[pid]!r} and {title!r} share id {pid}")
        else:
            ids[pid] = title
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
            problems.append(f"panel {title!r}: gridPos {g} needs integer h, w, x, y")
        elif g["w"] < 1 or g["h"] < 1 or g["x"] < 0 or g["y"] < 0 or g["x"] + g["w"] > 24:
            problems.append(f"panel {title!r}: gridPos {g} is outside the 24-column grid")
        else:
            for other_title, o in boxes:
                if g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"] and \
                        g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"]:
                    problems.append(f"panels {other_title!r} and {title!r} overlap")
            boxes.append((title, g))
        if p.get("type") == "row":
            continue
        if not p.get("title"):
            problems.append(f"panel {pid}: no title")
        if ds_ref(p.get("datasource")) not in DATASOURCE_REFS:
            problems.append(f"panel {title!r}: datasource {p.get('datasource')!r} is not the datasource variable")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"panel {title!r}: no targets")
        refids = [t.get("refId") for t in targets]
        if len(set(refids)) != len(refids) or None in refids:
            problems.append(f"panel {title!r}: refIds {refids} are not unique")
        for t in targets:
            if not t.get("expr", "").strip():
                problems.append(f"panel {title!r} target {t.get('refId')}: no expr")
            if "datasource" in t and ds_ref(t["datasource"]) not in DATASOURCE_REFS:
                problems.append(f"panel {title!r} target {t.get('refId')}: datasource {t['datasource']!r}")
    if not query_panels(d):
        problems.append("no panels")
    if problems:
        fail("\n".join(problems))


# ---------------------------------------------------------------- live: bpfex + Prometheus + load

def substitute(expr: str, dash: dict, instance: str) -> str:
    values = dict(BUILTINS)
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") in ("custom", "constant", "textbox", "interval"):
            cur = v.get("current", {}).get("value")
            if isinstance(cur, list):
                cur = cur[0] if cur else None
            if cur in (None, "", "$__all"):
                cur = (v.get("options") or [{}])[0].get("value") or v.get("query", "").split(",")[0]
            values[v["name"]] = str(cur)
        elif v.get("type") == "query" and v["name"] != "instance":
            # Other query variables (interface, syscall) as Grafana's "All": every value.
            values[v["name"]] = ".*"
    values["instance"] = instance

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise CheckFailed(f"unknown variable ${name} in: {expr}")
        return values[name]

    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)
    return out


def absent_families(expr: str, exposed: set[str]) -> list[str]:
    """bpfex metric names in expr that no family on /metrics provides (histogram and summary
    series are named after their family plus _bucket, _sum or _count)."""
    names = set(re.findall(r"\b(bpfex_[a-zA-Z0-9_]+)", expr))
    return sorted(n for n in names if n not in exposed and re.sub(r"_(bucket|sum|count)$", "", n) not in exposed)


def t_load_for(modules: list[str], workdir: Path) -> Load:
    try:
        return Load(modules, workdir)
    except LoadError as e:
        fail(str(e))


def t_load_ran(load: Load):
    try:
        load.stop()
    except LoadError as e:
        fail(f"a load generator failed, so panels may have lacked data: {e}")


def main_live():
    tmp = temp_dir("bpfex-dashboards.")
    modules = registered_modules(BPFEX)
    # Before anything starts: a module without a load generator would leave its panels empty.
    load = suite.check(f"a load generator for every registered module ({', '.join(modules)})", t_load_for, modules, tmp)
    if load is None:
        suite.finish()
    config = tmp / "bpfex.yaml"
    text = (ROOT / "config" / "bpfex.yaml").read_text()
    if "bpf_stats: false" not in text:
        suite.fatal("config/bpfex.yaml has no 'bpf_stats: false' line to turn on")
    # The syscall dashboard's per-workload panels need the syscall module's workload labels.
    # (exec's is on by default: the one by_workload that is off is the syscall module's).
    syscall_by_workload = "    by_workload: false"
    if text.count(syscall_by_workload) != 1:
        suite.fatal(f"config/bpfex.yaml has not exactly one {syscall_by_workload.strip()!r} line to turn on")
    text = text.replace("bpf_stats: false", "bpf_stats: true").replace(syscall_by_workload, "    by_workload: true")
    # The namespace, pod and container variables need a pod: one container of a pod the stand-in
    # kubelet names, a kubelet-made cgroup with work in it, exported at once (min_age: 0s).
    mount = cgroup2_mount()
    if mount is None:
        suite.fatal("no cgroup v2 hierarchy in /proc/self/mountinfo: the per-workload panels need one")
    make_ca(tmp, "ca")
    make_server_cert(tmp, "kubelet", "ca")
    kubelet = FakeKubelet(tmp, "kubelet")
    (tmp / "token").write_text("bpfex-dashboards-token\n")
    uid, cid = uuid(), hex_id()
    kubelet.add_pod(uid, "bpfex-dashboards", "load-0", {cid: "load"})
    pod = Cgroup(mount, f"{systemd_pod(f'/bpfex-dash-{hex_id(8)}.slice', 'burstable', uid)}/cri-containerd-{cid}.scope")
    for old, new in (("  min_age: 30s\n", "  min_age: 0s\n"),
                     ("    enabled: false\n    kubelet_url: https://127.0.0.1:10250\n",
                      f"    enabled: true\n    kubelet_url: {kubelet.url}\n"),
                     ("    token_file: /var/run/secrets/kubernetes.io/serviceaccount/token\n",
                      f"    token_file: {tmp / 'token'}\n"),
                     ('    ca_file: ""\n', f"    ca_file: {tmp / 'ca.crt'}\n"),
                     ("    refresh_interval: 15s\n", "    refresh_interval: 1s\n")):
        if text.count(old) != 1:
            suite.fatal(f"config/bpfex.yaml has not exactly one {old.strip()!r} line to change")
        text = text.replace(old, new)
    config.write_text(text)
    bpfex = start_bpfex(BPFEX, [f"--config.file={config}"], tmp)
    status = wait_healthy(bpfex)
    if status != 200:
        suite.fatal(f"bpfex healthy on {bpfex.base} within 30 s (got {status})", bpfex.daemon.tail())
    prom = start_prometheus(tmp, [bpfex.instance])
    load.start()
    # The pod's work: execs and failing system calls, from a shell that moved itself into the pod.
    pod_work = subprocess.Popen(["sh", "-c", 'echo 0 > "$1/cgroup.procs" && while :; do /bin/true; '
                                 'cat /nonexistent-bpfex-dashboards 2>/dev/null; sleep 0.1; done', "sh", str(pod.dir)])
    try:
        def warmed_up() -> bool:
            v = finite_values(prom.query(f'count_over_time(up{{job="bpfex", instance="{bpfex.instance}"}}[20s])'))
            return bool(v) and v[0] >= 15
        if not wait_until(90, warmed_up, interval=1):
            suite.fatal("Prometheus scraped bpfex 15 times within 90 s", prom.daemon.tail() + "\n" + bpfex.daemon.tail())

        page = bpfex.metrics()
        exposed = metric_families(page)
        suite.check("bpfex exposes BPF run-time stats (bpf_stats: true)", lambda: expect(
            "bpfex_bpf_stats_enabled", re.search(r"^bpfex_bpf_stats_enabled (\S+)", page, re.M).group(1), "1"))

        for f in FILES:
            dash = load_dashboard(f)
            suite.check(f"{f.name}: variable queries find this instance", t_variables, dash, prom, bpfex.instance)
            for p in query_panels(dash):
                for t in p.get("targets", []):
                    suite.check(f"{f.name}: {p.get('title')} [{t.get('refId')}]", t_query, dash, t["expr"],
                                prom, bpfex.instance, exposed)
        suite.check(f"load generators ran without failing ({', '.join(modules)})", t_load_ran, load)
    finally:
        pod_work.kill()
        pod_work.wait()
        # Its last child too, so that the pod's cgroup can go at exit.
        if (pod.dir / "cgroup.kill").exists():
            (pod.dir / "cgroup.kill").write_text("1")
        wait_until(5, lambda: not (pod.dir / "cgroup.procs").read_text().strip(), interval=0.1)
        kubelet.stop()
        load.abort()
        prom.daemon.stop()
        bpfex.daemon.stop()


def t_variables(dash: dict, prom, instance: str):
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = variable_query(v)
        m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*", q)
        if not m:
            fail(f"variable {v['name']}: query {q!r} is not label_values(METRIC, LABEL)")
        selector = m.group(1) if v["name"] == "instance" else substitute(m.group(1), dash, instance)
        r = http_get(f"{prom.url}/api/v1/series?" + urllib.parse.urlencode({"match[]": selector}))
        series = json.loads(r.body).get("data", []) if r.status == 200 else []
        found = {s.get(m.group(2)) for s in series}
        if v["name"] == "instance" and instance not in found:
            fail(f"variable instance: label_values gives {sorted(x for x in found if x)}, not {instance}")
        if not found - {None}:
            fail(f"variable {v['name']}: {q} finds no values")


def t_query(dash: dict, expr: str, prom, instance: str, exposed: set[str]):
    q = substitute(expr, dash, instance)
    result = {}

    def has_data() -> bool:
        nonlocal result
        result = prom.query(q)
        if result.get("status") != "success":
            raise CheckFailed(f"query does not run: {result.get('errorType', '')} {result.get('error', result)}\n{q}")
        return bool(finite_values(result))

    # The first try outside wait_until, so that a query that does not parse fails at once.
    if has_data():
        return
    absent = absent_families(q, exposed)
    if absent:  # no point waiting for series of a family bpfex does not have
        fail(f"no data, and bpfex does not expose {absent} (a typo, or a module that is not registered)\nquery: {q}")
    if wait_until(QUERY_WAIT_SECONDS, has_data, interval=1):
        return
    fail(f"no data within {QUERY_WAIT_SECONDS} s of load\nquery: {q}\nresult: {json.dumps(result.get('data'))[:300]}")


suite.check("dashboards/overview.json and exec.json exist", t_files_present)
suite.check("uids and titles unique", t_unique_uids_titles)
for f in FILES:
    suite.check(f"{f.name}: structure (variables, ids, gridPos, datasource)", t_structure, f)
require_root(suite, "the data half needs root to load BPF programs")
main_live()
suite.finish()
