"""The harness of bpfex's black-box tests (tests/e2e/*_test.py, tests/deploy/*_test.py).

Each test is a script run by ctest with the bpfex binary and the repository root as arguments. It
runs named checks, prints "PASS name" or "FAIL name" plus what differed, and ends with
"<test>: N passed, M failed". Exit status: 0 all passed, 1 a check failed (or none ran), 77 skipped
(only when a test needs root, is not root, and CI is not "true": under CI a skip would hide that
nothing ran).

What it offers, one implementation each:
- checks: Suite (check, note, fatal, finish, show_logs), fail, expect, CheckFailed;
- the run: parse_args, require_root, temp_dir, ensure_tracefs;
- cgroups: cgroup2_mount, Cgroup (created for the test, processes run in it, removed at exit);
- processes: run, describe, Daemon (always stopped: at exit, on an exception, SIGINT or SIGTERM);
- the network: free_ports, wait_until, http_request / http_get (status, headers, body);
- metrics: metric_families, sample_values, sample;
- bpfex: start_bpfex (a Bpfex: its daemon, port, /metrics), wait_healthy, wait_sample_at_least,
  expect_exact_count, expect_growth; Daemon.sigterm (how a service manager stops bpfex);
- Prometheus: start_prometheus (a Prometheus: query, value, ready), finite_values;
- the configuration: config_check, effective_config, module_options, registered_modules,
  duration_seconds, flag_value, replace_flag;
- Grafana dashboards: load_dashboard, dashboard_panels, dashboard_queries.

Python 3.11 from Debian (/usr/bin/python3) with python3-yaml; nothing from pip.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Callable, NoReturn, Sequence

# ---------------------------------------------------------------- checks


class CheckFailed(Exception):
    """A check's verdict: the message says what was expected and what was found."""


def fail(message: str) -> NoReturn:
    raise CheckFailed(message)


def expect(what: str, got, want) -> None:
    if got != want:
        fail(f"{what}: got {got!r}, want {want!r}")


class Suite:
    def __init__(self, name: str):
        self.name = name
        self.passed = 0
        self.failed = 0
        self._logs: list[Daemon] = []

    def show_logs(self, *daemons: "Daemon") -> None:
        """From now on a failing check also prints the last lines of these daemons' logs."""
        self._logs = list(daemons)

    def check(self, title: str, fn: Callable, *args, **kwargs):
        """Runs fn and returns what it returned; a CheckFailed or AssertionError is a failure, any
        other exception too (with its traceback, since that is a bug in the test or an unexpected
        environment). Never stops the run."""
        try:
            result = fn(*args, **kwargs)
        except CheckFailed as e:
            self._fail(title, str(e))
            return None
        except Exception:  # noqa: BLE001 - reported, never swallowed
            self._fail(title, traceback.format_exc())
            return None
        self.passed += 1
        print(f"PASS {title}", flush=True)
        return result

    def _fail(self, title: str, details: str) -> None:
        self.failed += 1
        print(f"FAIL {title}", flush=True)
        lines = details.rstrip().splitlines()
        for d in self._logs:
            tail = d.tail(15)
            if tail:
                lines.append(f"--- last lines of {d.log.name}")
                lines += ["| " + line for line in tail.splitlines()]
        for line in lines:
            print(f"    {line}", flush=True)

    def note(self, message: str) -> None:
        print(f"NOTE {message}", flush=True)

    def fatal(self, title: str, details: str = "") -> NoReturn:
        """A failure that stops the run (setup could not happen)."""
        self._fail(title, details)
        self.finish()

    def finish(self) -> NoReturn:
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)


# ---------------------------------------------------------------- the run

def require_root(suite: Suite, why: str) -> None:
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        suite.fatal(f"must run as root under CI=true (uid {os.geteuid()})", why)
    if suite.failed:  # a skip must not hide the checks that ran and failed
        suite.note(f"the rest is skipped: {why} (uid {os.geteuid()})")
        suite.finish()
    print(f"{suite.name}: skipped: {why} (uid {os.geteuid()})", flush=True)
    sys.exit(77)


def parse_args(suite: Suite) -> tuple[Path, Path]:
    """BPFEX_BINARY REPO_ROOT from the command line, resolved."""
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} BPFEX_BINARY REPO_ROOT", file=sys.stderr)
        sys.exit(2)
    binary, root = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    if not os.access(binary, os.X_OK):
        suite.fatal(f"bpfex binary not found or not executable: {binary}")
    return binary, root


def temp_dir(prefix: str) -> Path:
    """A fresh directory, removed when the test exits (after its daemons are stopped)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp")))

    def remove() -> None:
        _stop_daemons()  # atexit runs handlers last-in first-out: daemons may still write here
        shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path


def ensure_tracefs(root: Path) -> str | None:
    """Mounts tracefs, where BPF tracepoint attach (and bpfex's probing) looks for event ids, if it
    is missing: scripts/lib.sh's ensure_tracefs, which scripts/test.sh runs too (a test run on its
    own, `ctest -R NAME`, may come first). Returns its warning, if it printed one."""
    proc = run(["bash", "-c", 'source "$1" && ensure_tracefs', "bash", root / "scripts" / "lib.sh"], timeout=10)
    if proc.returncode != 0:
        return describe(proc)
    return (proc.stdout + proc.stderr).strip() or None


# ---------------------------------------------------------------- processes

def run(cmd: Sequence[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Runs a command to its end, output captured as text. A command still running after
    `timeout` seconds is killed, and that is a CheckFailed."""
    try:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        fail(f"still running after {timeout} s (killed): {shlex.join(str(c) for c in cmd)}")


def describe(proc: subprocess.CompletedProcess, lines: int = 20) -> str:
    out = [f"command: {shlex.join(str(a) for a in proc.args)}", f"exit status: {proc.returncode}"]
    for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        if text:
            out.append(f"--- {name}")
            out.extend(text.rstrip().splitlines()[:lines])
    return "\n".join(out)


_DAEMONS: list["Daemon"] = []


def _stop_daemons() -> None:
    for d in reversed(_DAEMONS):
        d.stop(timeout=5)


# Daemons run in process groups of their own, so whoever stops the test does not reach them: stop
# them whenever the test exits (normally, by an exception, SIGINT or SIGTERM). Every wait in the
# tests is bounded, so they end well inside ctest's TIMEOUT.
atexit.register(_stop_daemons)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class Daemon:
    """A background process of ours with its output in a log file, in a process group of its own
    (so that what it starts, e.g. strace's tracee, goes with it). stop(): TERM to the group, bounded
    wait, KILL; returns the exit status of the process we started."""

    def __init__(self, name: str, cmd: Sequence[str], log: Path, **kwargs):
        self.name = name
        self.cmd = [str(c) for c in cmd]
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
        _DAEMONS.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def _group_alive(self) -> bool:
        """True while a process of our group runs (zombies left to PID 1 do not count)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == self.proc.pid:
                return True
        return False

    def stop(self, timeout: float = 10) -> int | None:
        # The whole group: strace, for one, blocks SIGTERM while it runs a program (strace -I3)
        # and exits only once its tracee has.
        def done() -> bool:
            return self.proc.poll() is not None and not self._group_alive()

        if not done():
            self._signal_group(signal.SIGTERM)
            if not wait_until(timeout, done, interval=0.1):
                self._signal_group(signal.SIGKILL)
                self.proc.wait(5)
        if not self._log_file.closed:
            self._log_file.close()
        return self.proc.returncode

    def sigterm(self, pid: int | None = None, seconds: float = 10) -> int:
        """SIGTERM to `pid` (default: the process we started), then the exit status of the process
        we started, which must end within `seconds`: how a service manager stops bpfex."""
        os.kill(pid or self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            fail(f"{self.name} still running {seconds} s after SIGTERM\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


# ---------------------------------------------------------------- cgroups (v2)

def cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo (/sys/fs/cgroup on pure
    v2 hosts, /sys/fs/cgroup/unified on hybrid ones); None when there is none."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        if fields[sep + 1] == "cgroup2":
            return Path(fields[4])
    return None


class Cgroup:
    """A cgroup v2 directory the test creates (parents included) and removes at exit, deepest
    first, after the processes the test ran in it have ended."""

    _made: list[Path] = []

    def __init__(self, mount: Path, path: str):
        self.path = path
        self.dir = mount / path.lstrip("/")
        todo = []
        d = self.dir
        while not d.exists():
            todo.append(d)
            d = d.parent
        for d in reversed(todo):
            d.mkdir()
            if not Cgroup._made:
                atexit.register(Cgroup._remove_all)
            Cgroup._made.append(d)

    def run(self, cmd: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """Runs cmd to its end inside this cgroup (a shell moves itself in, then execs cmd)."""
        return run(["sh", "-c", 'echo 0 > "$1/cgroup.procs" && shift && exec "$@"', "sh", self.dir, *cmd],
                   timeout=timeout)

    def execs(self, prog: Path, n: int) -> None:
        """Exactly n successful execs of prog by processes in this cgroup."""
        proc = self.run(["sh", "-c", 'i=0; while [ "$i" -lt "$2" ]; do "$1" || exit 1; i=$((i+1)); done',
                         "sh", str(prog), str(n)])
        if proc.returncode != 0:
            fail(f"{n} execs of {prog} in {self.path}:\n{describe(proc)}")

    def remove(self) -> None:
        """Removes this cgroup's directory (it must be empty of processes and children)."""
        self.dir.rmdir()
        Cgroup._made.remove(self.dir)

    @staticmethod
    def _remove_all() -> None:
        for d in sorted(Cgroup._made, key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
        Cgroup._made.clear()


# ---------------------------------------------------------------- network

def free_ports(n: int) -> list[int]:
    """n distinct TCP ports free on 127.0.0.1 right now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_free(port: int) -> bool:
    """Whether a TCP port can be bound on 127.0.0.1 right now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_until(seconds: float, predicate: Callable[[], bool], interval: float = 0.25) -> bool:
    """Polls predicate until it is true (an exception counts as "not yet"); False after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - "not yet"
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass
class HttpResponse:
    status: int
    headers: Message  # case-insensitive: headers["content-type"]
    body: str


# Every request goes to 127.0.0.1: an http_proxy in the environment must not reroute it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(method: str, url: str, timeout: float = 5, headers: dict[str, str] | None = None,
                 body: bytes | None = None) -> HttpResponse:
    """One request; an HTTP error status is a response, not an exception (a refused connection
    raises OSError)."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            return HttpResponse(r.status, r.headers, r.read().decode(errors="replace"))
    except urllib.error.HTTPError as e:
        with e:
            return HttpResponse(e.code, e.headers, e.read().decode(errors="replace"))


def http_get(url: str, timeout: float = 5, headers: dict[str, str] | None = None) -> HttpResponse:
    return http_request("GET", url, timeout, headers)


# ---------------------------------------------------------------- metrics (Prometheus text format)

def metric_families(text: str) -> set[str]:
    """Names of the families a /metrics page declares (# TYPE lines), sampled or not."""
    return {m.group(1) for m in re.finditer(r"^# TYPE (\S+) \S+$", text, re.M)}


def sample_values(text: str, name: str) -> dict[str, float]:
    """{labels-as-printed: value} of the series of one metric name on a /metrics page, e.g.
    {'{comm="bash"}': 3.0}; a series without labels has the key ""."""
    out = {}
    for m in re.finditer(rf"^{re.escape(name)}(\{{.*\}})? (\S+)(?: \S+)?$", text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def label_pairs(labels: str) -> dict[str, str]:
    """'comm="bash",errno="ENOENT"' (or with braces) as {name: value}, values as printed."""
    return dict(_LABEL.findall(labels))


def sample(text: str, name: str, labels: str = "") -> float | None:
    """The sum of the series name{labels}, as PromQL's sum(name{labels}) would have it: every series
    whose labels include these ('comm="bash"', written as the exporter prints them), whatever other
    labels it has (the workload labels of attributed series). None when the page has no such series."""
    want = label_pairs(labels).items()
    total, found = 0.0, False
    for key, value in sample_values(text, name).items():
        if want <= label_pairs(key).items():
            total += value
            found = True
    return total if found else None


def series_name(name: str, labels: str = "") -> str:
    return f"{name}{{{labels}}}" if labels else name


# ---------------------------------------------------------------- bpfex

def flag_value(args: Sequence[str], flag: str) -> str | None:
    for a in args:
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def replace_flag(args: Sequence[str], flag: str, value: str) -> list[str]:
    return [f"{flag}={value}" if a.startswith(flag + "=") else a for a in args]


class Bpfex:
    """A running bpfex: its Daemon and the loopback port it serves on."""

    def __init__(self, daemon: Daemon, port: int):
        self.daemon = daemon
        self.port = port
        self.instance = f"127.0.0.1:{port}"
        self.base = f"http://{self.instance}"

    def get(self, path: str, timeout: float = 5) -> HttpResponse:
        return http_get(self.base + path, timeout)

    def metrics(self) -> str:
        r = self.get("/metrics")
        if r.status != 200:
            fail(f"GET {self.base}/metrics: {r.status}")
        return r.body

    def sample(self, name: str, labels: str = "") -> float | None:
        return sample(self.metrics(), name, labels)

    def series(self, name: str, lines: int = 10) -> str:
        """The series of one name as /metrics has them, for failure messages."""
        got = sample_values(self.metrics(), name)
        return "\n".join(f"{name}{k} {v:g}" for k, v in list(got.items())[:lines]) or f"(no {name} series)"


def start_bpfex(binary: Path, args: Sequence[str], workdir: Path, port: int | None = None,
                prefix: Sequence[str] = (), name: str = "bpfex", host: str = "127.0.0.1") -> Bpfex:
    """Starts `prefix... binary args...` listening on HOST:port (127.0.0.1 and a free port by
    default; "" for every address; an address in args is replaced), logging to workdir/NAME.log.
    Its URLs use 127.0.0.1."""
    port = port or free_ports(1)[0]
    listen = f"{host}:{port}"
    args = replace_flag(args, "--web.listen-address", listen) if flag_value(args, "--web.listen-address") \
        else [*args, f"--web.listen-address={listen}"]
    return Bpfex(Daemon(name, [*prefix, str(binary), *args], workdir / f"{name}.log"), port)


def wait_healthy(bpfex: Bpfex, seconds: float = 30) -> int:
    """Waits for /healthz to answer 200 (every enabled module attached); returns the last status
    seen (0: no answer). Gives up early when bpfex exits."""
    last = 0

    def settled() -> bool:
        nonlocal last
        if not bpfex.daemon.alive():
            return True
        try:
            last = bpfex.get("/healthz", timeout=2).status
        except OSError:
            last = 0
        return last == 200

    wait_until(seconds, settled)
    return last


def wait_sample_at_least(bpfex: Bpfex, name: str, labels: str, want: float, seconds: float = 15) -> float | None:
    """Polls /metrics until name{labels} >= want; returns the last value seen (None: absent)."""
    last = None

    def reached() -> bool:
        nonlocal last
        last = bpfex.sample(name, labels)
        return last is not None and last >= want

    wait_until(seconds, reached)
    return last


def expect_exact_count(bpfex: Bpfex, name: str, labels: str, want: int, poll_seconds: float) -> None:
    """name{labels} reaches exactly `want` and stays there for two more polls (a double count
    would show by then)."""
    wait_sample_at_least(bpfex, name, labels, want)
    time.sleep(2 * poll_seconds + 0.5)
    got = bpfex.sample(name, labels)
    if got is None:
        fail(f"no {series_name(name, labels)}\n{bpfex.series(name)}")
    expect(series_name(name, labels), got, float(want))


def expect_growth(bpfex: Bpfex, name: str, labels: str, by: float, action: Callable[[], object],
                  seconds: float = 15) -> None:
    """name{labels} grows by at least `by` once `action` has run (other processes may add to it,
    so at least, not exactly). An absent series counts as 0 before."""
    before = bpfex.sample(name, labels) or 0.0
    action()
    after = wait_sample_at_least(bpfex, name, labels, before + by, seconds)
    if after is None or after < before + by:
        fail(f"{series_name(name, labels)}: before {before:g}, after {'(absent)' if after is None else f'{after:g}'}, "
             f"want >= {before + by:g} within {seconds} s\n{bpfex.series(name)}")


# ---------------------------------------------------------------- Prometheus

class Prometheus:
    """A running Prometheus (Debian's package) on a loopback port."""

    def __init__(self, daemon: Daemon, port: int):
        self.daemon = daemon
        self.url = f"http://127.0.0.1:{port}"

    def ready(self) -> bool:
        try:
            return http_get(self.url + "/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def query(self, expr: str) -> dict:
        """An instant query's JSON answer, plus http_status; an answer that is not JSON becomes
        {"status": "error", ...}."""
        r = http_get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=10)
        try:
            return json.loads(r.body) | {"http_status": r.status}
        except json.JSONDecodeError:
            return {"status": "error", "error": f"HTTP {r.status}: {r.body[:300]}", "http_status": r.status}

    def value(self, expr: str) -> float | None:
        """The value of the first sample an instant query returns (None: no sample)."""
        result = self.query(expr).get("data", {}).get("result") or []
        return float(result[0]["value"][1]) if result and "value" in result[0] else None

    def targets(self) -> str:
        """Health, last error and URL of every scrape target, for failure messages."""
        body = json.loads(http_get(self.url + "/api/v1/targets").body)
        return "\n".join(json.dumps({k: t.get(k) for k in ("health", "lastError", "scrapeUrl")})
                         for t in body.get("data", {}).get("activeTargets", []))


def start_prometheus(workdir: Path, targets: Sequence[str], port: int | None = None) -> Prometheus:
    """Prometheus scraping `targets` (host:port) as job "bpfex" every second, its data and log in
    workdir."""
    port = port or free_ports(1)[0]
    config = workdir / "prometheus.yml"
    config.write_text(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: bpfex
    static_configs:
      - targets: {json.dumps(list(targets))}
""")
    daemon = Daemon("prometheus", ["prometheus", f"--config.file={config}",
                                   f"--storage.tsdb.path={workdir / 'prometheus-data'}",
                                   f"--web.listen-address=127.0.0.1:{port}"], workdir / "prometheus.log")
    return Prometheus(daemon, port)


def finite_values(result: dict) -> list[float]:
    """Every finite value of a query result (vector, matrix or scalar)."""
    data = result.get("data", {})
    kind, res = data.get("resultType"), data.get("result")
    values = []
    if kind == "vector":
        values = [float(s["value"][1]) for s in res]
    elif kind == "matrix":
        values = [float(v[1]) for s in res for v in s["values"]]
    elif kind == "scalar":
        values = [float(res[1])]
    return [v for v in values if math.isfinite(v)]


# ---------------------------------------------------------------- configuration

def config_check(binary: Path, args: Sequence[str] = ()) -> subprocess.CompletedProcess:
    return run([str(binary), *args, "--config.check"], timeout=30)


def effective_config(binary: Path, args: Sequence[str] = ()) -> dict:
    """What `bpfex ARGS --config.check` prints: the effective configuration, as YAML."""
    import yaml  # python3-yaml; only the tests that read configurations need it

    proc = config_check(binary, args)
    if proc.returncode != 0:
        fail("--config.check failed\n" + describe(proc))
    try:
        doc = yaml.safe_load(proc.stdout)
    except yaml.YAMLError as e:
        fail(f"--config.check printed no valid YAML: {e}\n" + describe(proc))
    if not isinstance(doc, dict):
        fail("--config.check printed no YAML mapping\n" + describe(proc))
    return doc


def module_options(binary: Path) -> dict[str, dict]:
    """{module: its effective options} for every module the binary registers, in registry order:
    the `modules:` mapping of the effective built-in configuration (every registered module has its
    section there)."""
    modules = effective_config(binary).get("modules")
    if not isinstance(modules, dict) or not modules:
        fail(f"the effective configuration of {binary} has no modules: mapping")
    return modules


def registered_modules(binary: Path) -> list[str]:
    """The modules the binary registers, in registry order."""
    return list(module_options(binary))


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_seconds(text: str) -> float:
    """A duration as bpfex's configuration writes it ("1s", "500ms", "1m30s") in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


# ---------------------------------------------------------------- Grafana dashboards (dashboards/*.json)

def load_dashboard(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        fail(f"{path.name}: invalid JSON: {e}")


def dashboard_panels(dash: dict) -> list[dict]:
    """Every panel, rows included, and the panels inside rows (collapsed rows keep them there)."""
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def dashboard_queries(dash: dict) -> list[str]:
    """The PromQL of every panel target."""
    return [t.get("expr", "") for p in dashboard_panels(dash) if p.get("type") != "row"
            for t in p.get("targets") or []]
