#!/usr/bin/python3
"""End-to-end test of /metrics' formats and of native histograms, with Debian's Prometheus.

bpfex runs the syscall module only, filtered to one helper process (a unique task name) that sleeps
SLEEP_S per call in a loop (Python's time.sleep: clock_nanosleep). Checks:
- content negotiation: text 0.0.4 by default and for unknown or malformed Accept headers,
  OpenMetrics 1.0.0 (# EOF last), the delimited protobuf format; gzip when accepted, with
  Content-Encoding and Vary; promtool check metrics clean for text 0.0.4;
- a Prometheus with --enable-feature=native-histograms (it asks for protobuf) stores one native
  histogram series for the helper's syscall: histogram_count(rate(...)) is the helper's call rate,
  histogram_quantile(0.5, ...) lies in the native bucket that holds SLEEP_S plus the wakeup delay,
  and there are no classic _bucket series;
- a Prometheus without the flag (text) sees the classic buckets: 26 `le` series (2^-20..2^4 s and
  +Inf) whose median lies between the powers of two around SLEEP_S.

Usage: tests/e2e/exposition_test.py BPFEX_BINARY REPO_ROOT   (root; ctest: `ctest -R exposition`)
Debian 12 packages: prometheus (prometheus, promtool).
"""

from __future__ import annotations

import ctypes
import gzip
import math
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, describe, ensure_tracefs, expect, fail, free_ports, parse_args,  # noqa: E402
                         require_root, run, start_bpfex, start_prometheus, temp_dir, wait_healthy, wait_until)
from lib.load import unique_name  # noqa: E402

SLEEP_S = 0.010
SYSCALL = "clock_nanosleep"
PROTOBUF = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

suite = Suite("exposition")
BPFEX, ROOT = parse_args(suite)
require_root(suite, "needs root to load BPF programs")
TMP = temp_dir("bpfex-exposition.")
PORT, NATIVE_PORT, CLASSIC_PORT = free_ports(3)
COMM = unique_name("nh")[:15]
warning = ensure_tracefs(ROOT)
if warning:
    print(f"exposition: warning: {warning}", flush=True)

CONFIG = TMP / "bpfex.yaml"
CONFIG.write_text(f"""poll_interval: 1s
native_histogram_schema: 1
modules:
  exec: {{enabled: false}}
  network: {{enabled: false}}
  runqueue: {{enabled: false}}
  block: {{enabled: false}}
  tcp: {{enabled: false}}
  oom: {{enabled: false}}
  syscall:
    enabled: true
    by_workload: false
    comms: [{COMM}]
""")

# The helper: renames itself (PR_SET_NAME), then sleeps SLEEP_S per call until killed.
HELPER = f"""
import ctypes, time
ctypes.CDLL(None).prctl(15, b"{COMM}", 0, 0, 0)
while True:
    time.sleep({SLEEP_S})
"""


def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


def t_default_text():
    status, headers, body = get("/metrics")
    expect("status", status, 200)
    expect("Content-Type", headers.get("content-type"), TEXT)
    expect("Content-Encoding", headers.get("content-encoding"), None)
    lint = run(["promtool", "check", "metrics"], input=body.decode())
    if lint.returncode != 0 or (lint.stdout + lint.stderr).strip():
        fail("promtool check metrics is not silent\n" + describe(lint, 30))
    if f'bpfex_syscall_latency_seconds_bucket{{syscall="{SYSCALL}",le="0.0078125"}}' not in body.decode():
        fail("no classic bucket le=2^-7 s for the helper's syscall:\n" + body.decode()[:2000])


def t_fallback_to_text(accept: str):
    _, headers, body = get("/metrics", {"Accept": accept})
    expect(f"Content-Type for Accept {accept!r}", headers.get("content-type"), TEXT)
    if not body.startswith(b"# HELP "):
        fail(f"not text: {body[:80]!r}")


def t_openmetrics():
    _, headers, body = get("/metrics", {"Accept": "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"})
    expect("Content-Type", headers.get("content-type"), OPENMETRICS)
    text = body.decode()
    if not text.endswith("# EOF\n") or text.count("# EOF") != 1:
        fail("OpenMetrics must end with exactly one # EOF:\n" + text[-300:])
    if "# UNIT bpfex_syscall_latency_seconds seconds" not in text:
        fail("no # UNIT line for the latency family")
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    if len(types) != len(set(types)):
        fail("duplicate families in OpenMetrics")


def t_gzip():
    _, plain_headers, plain = get("/metrics")
    _, headers, body = get("/metrics", {"Accept-Encoding": "gzip"})
    expect("Content-Encoding", headers.get("content-encoding"), "gzip")
    if "accept-encoding" not in headers.get("vary", "").lower():
        fail(f"Vary: {headers.get('vary')!r}")
    unzipped = gzip.decompress(body)
    if not unzipped.startswith(b"# HELP "):
        fail("gzip body is not text")
    if len(body) * 3 > len(unzipped):
        fail(f"gzip saves less than 3x: {len(body)} of {len(unzipped)} bytes")
    _, _, identity = get("/metrics", {"Accept-Encoding": "gzip;q=0, identity"})
    if identity[:2] == b"\x1f\x8b":
        fail("gzip;q=0 still got gzip")


def t_protobuf():
    _, headers, body = get("/metrics", {"Accept": PROTOBUF})
    expect("Content-Type", headers.get("content-type"), PROTOBUF)
    if not body or body.startswith(b"#"):
        fail(f"not protobuf: {body[:80]!r}")
    if b"bpfex_syscall_latency_seconds" not in body:
        fail("no latency family in the protobuf body")


bpfex = start_bpfex(BPFEX, [f"--config.file={CONFIG}"], TMP, PORT)
helper = subprocess.Popen([sys.executable, "-c", HELPER])
try:
    suite.show_logs(bpfex.daemon)
    if wait_healthy(bpfex) != 200:
        suite.fatal("bpfex healthy within 30 s", bpfex.daemon.tail(30))
    if not wait_until(10, lambda: f'syscall="{SYSCALL}"' in get("/metrics")[2].decode()):
        suite.fatal(f"the helper's {SYSCALL} calls on /metrics within 10 s")

    suite.check("no Accept: text 0.0.4, promtool clean, classic le = powers of two of seconds", t_default_text)
    for accept in ("", "*/*", "application/json", "garbage;;;q=x", "text/plain;version=9.9", ",,,", "q=1"):
        suite.check(f"Accept {accept!r}: text 0.0.4", t_fallback_to_text, accept)
    suite.check("Accept OpenMetrics 1.0.0: its Content-Type, # UNIT, # EOF last, no duplicate families",
                t_openmetrics)
    suite.check("Accept-Encoding gzip: Content-Encoding, Vary, a body several times smaller", t_gzip)
    suite.check("Accept protobuf: the delimited format", t_protobuf)

    native = start_prometheus(TMP, [bpfex.instance], NATIVE_PORT, name="prometheus-native",
                              args=["--enable-feature=native-histograms"])
    classic = start_prometheus(TMP, [bpfex.instance], CLASSIC_PORT, name="prometheus-classic")
    suite.show_logs(bpfex.daemon, native.daemon, classic.daemon)
    sel = f'bpfex_syscall_latency_seconds{{syscall="{SYSCALL}"}}'
    rate_native = f"histogram_count(rate({sel}[1m]))"
    median_native = f"histogram_quantile(0.5, rate({sel}[1m]))"
    classic_sel = f'bpfex_syscall_latency_seconds_bucket{{syscall="{SYSCALL}"}}'
    median_classic = f"histogram_quantile(0.5, rate({classic_sel}[1m]))"

    def settled() -> bool:
        values = [native.value(rate_native), native.value(median_native), classic.value(median_classic)]
        return all(v is not None and math.isfinite(v) for v in values)

    if not wait_until(60, settled, interval=1):
        suite.fatal("both Prometheus servers have rates within 60 s",
                    native.targets() + "\n" + classic.targets())
    # rate() over [1m] divides by the whole minute: the series must span it, or the rate falls short.
    time.sleep(65)

    def t_native_count():
        # One call per SLEEP_S plus its wakeup delay and the loop: at most 1/SLEEP_S per second,
        # and at least half of that on a busy machine.
        got = native.value(rate_native)
        if not (0.5 / SLEEP_S <= got <= 1.02 / SLEEP_S):
            fail(f"{rate_native} = {got}, want within [{0.5 / SLEEP_S}, {1.02 / SLEEP_S}]")

    def t_native_median():
        # Schema 1: the native bucket (2^-7, 2^-6.5] s = (7.8, 11.05] ms holds 10 ms plus a wakeup
        # delay under 1 ms; Prometheus interpolates inside it.
        got = native.value(median_native)
        if not (2 ** -7 <= got <= 2 ** -6.5):
            fail(f"{median_native} = {got}, want within [{2 ** -7}, {2 ** -6.5}]")

    def t_native_only():
        result = native.query(f"count({classic_sel})")["data"]["result"]
        if result:
            fail(f"native Prometheus stored classic buckets too: {result}")
        series = native.query(f"count({sel})")["data"]["result"]
        expect("native series for the syscall", float(series[0]["value"][1]) if series else 0, 1.0)

    def t_classic():
        buckets = classic.value(f"count({classic_sel})")
        expect("classic bucket series", buckets, 26.0)
        got = classic.value(median_classic)
        if not (2 ** -7 <= got <= 2 ** -6):
            fail(f"{median_classic} = {got}, want within [{2 ** -7}, {2 ** -6}]")
        if native.value(f"count({sel})") is None:
            fail("no native series")

    suite.check(f"native Prometheus: {rate_native} is the helper's call rate", t_native_count)
    suite.check(f"native Prometheus: {median_native} in the bucket of {SLEEP_S * 1000:g} ms", t_native_median)
    suite.check("native Prometheus: one native series, no _bucket series", t_native_only)
    suite.check("Prometheus without the flag: 26 classic buckets, median between 2^-7 s and 2^-6 s", t_classic)
    native.daemon.stop()
    classic.daemon.stop()
finally:
    helper.kill()
    helper.wait()
suite.check("SIGTERM: exit 0", lambda: expect("exit status", bpfex.daemon.sigterm(), 0))
suite.finish()
