#!/usr/bin/python3
"""Alerting rules (deploy/prometheus/bpfex-rules.yaml): promtool accepts them, their unit tests
(bpfex-rules.test.yaml) pass, and every alert has a tested case where it fires and one where it
must not.

Usage: tests/deploy/rules_test.py BPFEX_BINARY REPO_ROOT   (no root needed)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import Suite, describe, fail, parse_args, run  # noqa: E402

import yaml  # noqa: E402

suite = Suite("rules")
_, ROOT = parse_args(suite)
DIR = ROOT / "deploy" / "prometheus"
RULES = DIR / "bpfex-rules.yaml"
TESTS = DIR / "bpfex-rules.test.yaml"
REQUIRED_ALERTS = {"BpfexModuleDown", "BpfexExporterOverheadHigh", "BpfexExecFailureSpike", "BpfexPollErrors"}


def alerts() -> dict[str, dict]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def t_check_rules():
    proc = run(["promtool", "check", "rules", str(RULES)])
    if proc.returncode != 0 or "SUCCESS" not in proc.stdout:
        fail(describe(proc, 40))


def t_required_alerts():
    missing = sorted(REQUIRED_ALERTS - set(alerts()))
    if missing:
        fail(f"alerts missing: {missing}")
    for name, rule in alerts().items():
        ann = rule.get("annotations", {})
        if not ann.get("summary") or not ann.get("description"):
            fail(f"{name}: needs annotations summary and description")
        if not rule.get("labels", {}).get("severity"):
            fail(f"{name}: needs a severity label")


def t_unit_tests():
    proc = run(["promtool", "test", "rules", TESTS.name], cwd=DIR, timeout=120)
    if proc.returncode != 0:
        fail(describe(proc, 80))


def t_every_alert_fires_and_holds():
    doc = yaml.safe_load(TESTS.read_text())
    if str(RULES.name) not in [Path(f).name for f in doc.get("rule_files", [])]:
        fail(f"{TESTS.name} does not load {RULES.name}")
    fires, quiet = set(), set()
    for t in doc.get("tests", []):
        for case in t.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    problems = [f"{a}: no case where it fires" for a in sorted(set(alerts()) - fires)]
    problems += [f"{a}: no case where it must not fire" for a in sorted(set(alerts()) - quiet)]
    if problems:
        fail("\n".join(problems))


suite.check("promtool check rules", t_check_rules)
suite.check("the alerts exist with severity, summary and description", t_required_alerts)
suite.check("promtool test rules", t_unit_tests)
suite.check("every alert has a firing and a not-firing case", t_every_alert_fires_and_holds)
suite.finish()
