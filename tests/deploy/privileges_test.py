#!/usr/bin/python3
"""bpfex really works inside the limits the deploy files give it.

Runs the built binary twice, each with the identity and capabilities read from the files
(setpriv sets exactly those, with no_new_privs; /proc/PID/status confirms it), generates execs and
scrapes, and checks what came out:

A. the DaemonSet's container: uid 0 with only its capabilities.add, its args and the ConfigMap's
   configuration. Every module up, /healthz 200, execs counted exactly; peak memory (VmHWM plus the
   BPF maps, which the kernel charges to the container's memory cgroup) within the memory request,
   CPU within the limit; a clean SIGTERM.
B. the systemd unit: an unprivileged user with the unit's ambient capabilities, under strace. Every
   module up, /healthz 200, execs counted exactly, on every kernel: where a module falls back to a
   tracefs tracepoint (root-only tracefs), the unit's CAP_DAC_READ_SEARCH must be enough. Every
   system call bpfex makes is allowed by the unit's SystemCallFilter=, every socket family by
   RestrictAddressFamilies=, no W+X memory (MemoryDenyWriteExecute=), no file opened for writing
   (ProtectSystem=strict, and the DaemonSet's readOnlyRootFilesystem).

Usage: tests/deploy/privileges_test.py BPFEX_BINARY REPO_ROOT   (root)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploytest import (CheckFailed, Daemon, Suite, allowed_syscalls, cap_mask, exec_load, expect, fail,  # noqa: E402
                        flag_value, free_ports, http_get, parse_args, parse_unit, proc_status, replace_flag,
                        require_root, sample_values, setpriv_prefix, temp_dir, unit_capabilities,
                        unit_values, wait_until)

import yaml  # noqa: E402

NOBODY = 65534
EXEC_RUNS = 40
FAILED_EXECS = 5

suite = Suite("privileges")
BPFEX, ROOT = parse_args(suite)
require_root(suite, "needs root to drop to the deploy files' capabilities and load BPF programs")
TMP = temp_dir("bpfex-privileges.")
# The unprivileged runs must reach the binary and the configuration wherever the repository is
# (a clone under /root is not readable by others): world-readable copies in a traversable dir.
TMP.chmod(0o755)
shutil.copy2(BPFEX, TMP / "bpfex")
BPFEX = TMP / "bpfex"
BPFEX.chmod(0o755)
DEFAULT_CONFIG = TMP / "bpfex.yaml"
shutil.copy(ROOT / "config" / "bpfex.yaml", DEFAULT_CONFIG)
DEFAULT_CONFIG.chmod(0o644)
PORTS = iter(free_ports(2))


# ---------------------------------------------------------------- what the deploy files say

def k8s_docs():
    docs = {}
    for f in (ROOT / "deploy" / "kubernetes").glob("*.yaml"):
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                docs.setdefault(d["kind"], []).append(d)
    return docs


DOCS = k8s_docs()
CONTAINER = [c for c in DOCS["DaemonSet"][0]["spec"]["template"]["spec"]["containers"] if c["name"] == "bpfex"][0]
K8S_CAPS = {"CAP_" + c for c in CONTAINER["securityContext"]["capabilities"]["add"]}
K8S_UID = CONTAINER["securityContext"].get("runAsUser", 0)
CONFIGMAP_CONFIG = TMP / "configmap.yaml"
CONFIGMAP_CONFIG.write_text(DOCS["ConfigMap"][0]["data"]["bpfex.yaml"])
RESOURCES = CONTAINER["resources"]

UNIT = parse_unit(ROOT / "deploy" / "systemd" / "bpfex.service")
UNIT_CAPS = unit_capabilities(UNIT, "AmbientCapabilities")
UNIT_BOUNDING = unit_capabilities(UNIT, "CapabilityBoundingSet")
ALLOWED_SYSCALLS, _ = allowed_syscalls(UNIT)
FAMILIES = set(" ".join(unit_values(UNIT, "RestrictAddressFamilies")).split())


def memory_bytes(q: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for u, m in units.items():
        if q.endswith(u):
            return float(q[: -len(u)]) * m
    return float(q)


def cpu_cores(q: str) -> float:
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


# ---------------------------------------------------------------- a run

@dataclass
class Run:
    name: str
    daemon: Daemon
    port: int
    pid: int
    started: float
    strace_log: Path | None
    exec_name: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> str:
        status, body = http_get(self.base + "/metrics")
        if status != 200:
            fail(f"GET /metrics: {status}")
        return body


def bpfex_pid(daemon: Daemon, strace_log: Path | None) -> int:
    """The bpfex process: setpriv execs it in place; strace runs it as its child. Returns once
    the exec has happened (before, /proc/PID describes setpriv and its capabilities)."""
    if strace_log is None:
        def exec_done() -> bool:
            return Path(f"/proc/{daemon.pid}/exe").resolve() == BPFEX

        if not wait_until(15, exec_done):
            raise CheckFailed(f"{BPFEX} never started\n{daemon.tail()}")
        return daemon.pid
    pid = 0

    def found() -> bool:
        nonlocal pid
        for line in strace_log.read_text(errors="replace").splitlines():
            if f'execve("{BPFEX}"' in line and line.rstrip().endswith("= 0"):
                pid = int(line.split()[0])
                return True
        return False

    if not wait_until(15, found):
        raise CheckFailed(f"{BPFEX} never started under strace\n{daemon.tail()}")
    return pid


def start(name: str, prefix: list[str], args: list[str], strace: bool) -> Run:
    port = next(PORTS)
    log = TMP / f"{name}.log"
    strace_log = TMP / f"{name}.strace" if strace else None
    cmd = [*prefix]
    if strace:
        # strace runs as root outside the sandbox; setpriv, then bpfex, run as its children.
        cmd = ["strace", "-f", "-qq", "-e", "signal=none", "-o", str(strace_log), *prefix]
    args = replace_flag(args, "--web.listen-address", f"127.0.0.1:{port}")
    if not flag_value(args, "--web.listen-address"):
        args.append(f"--web.listen-address=127.0.0.1:{port}")
    daemon = Daemon(name, [*cmd, str(BPFEX), *args, "--log.level=info"], log)
    # Unique per run and within the kernel's 15-byte comm: nothing else can add to its count.
    run = Run(name, daemon, port, 0, time.monotonic(), strace_log, f"pv{name[0]}_{os.urandom(4).hex()}")
    run.pid = bpfex_pid(daemon, strace_log)
    return run


def wait_serving(run: Run) -> int:
    status = 0

    def answered() -> bool:
        nonlocal status
        if not run.daemon.alive():
            raise CheckFailed(f"bpfex exited with {run.daemon.proc.returncode}\n{run.daemon.tail()}")
        status, _ = http_get(run.base + "/healthz", timeout=2)
        return status != 0  # bpfex serves HTTP only once every module has started or failed

    wait_until(30, answered)
    if status == 0:
        fail(f"bpfex does not answer on {run.base} within 30 s\n{run.daemon.tail()}")
    return status


def modules_up(run: Run) -> dict[str, float]:
    ups = sample_values(run.metrics(), "bpfex_module_up")
    if not ups:
        fail("no bpfex_module_up series")
    return {re.search(r'module="([^"]*)"', k).group(1): v for k, v in ups.items()}


def t_identity(run: Run, uid: int, caps: set[str]):
    st = proc_status(run.pid)
    expect("real/effective uid", st["Uid"].split()[:2], [str(uid), str(uid)])
    expect("CapEff", int(st["CapEff"], 16), cap_mask(caps))
    expect("CapBnd", int(st["CapBnd"], 16), cap_mask(caps))
    expect("NoNewPrivs", st["NoNewPrivs"], "1")


def t_all_modules_up(run: Run):
    status = wait_serving(run)
    down = [m for m, v in modules_up(run).items() if v != 1]
    if status != 200 or down:
        fail(f"/healthz {status}, modules down: {down}\n{run.daemon.tail()}")


def t_execs_counted(run: Run):
    exec_load(TMP, run.exec_name, EXEC_RUNS, FAILED_EXECS)
    series = f'{{comm="{run.exec_name}"}}'

    def counted() -> bool:
        return sample_values(run.metrics(), "bpfex_exec_total").get(series, 0) >= EXEC_RUNS

    wait_until(15, counted)
    time.sleep(2.5)  # two more polls: a double count would show by now
    got = sample_values(run.metrics(), "bpfex_exec_total").get(series)
    expect(f"bpfex_exec_total{series}", got, float(EXEC_RUNS))
    errors = sum(sample_values(run.metrics(), "bpfex_exec_errors_total").values())
    if errors < FAILED_EXECS:
        fail(f"bpfex_exec_errors_total sums to {errors}, want >= {FAILED_EXECS}")


def scrape_for(run: Run, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in ("/metrics", "/", "/healthz"):
            http_get(run.base + path)
        time.sleep(0.1)


def map_memlock(pid: int) -> int:
    total = 0
    for f in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = f.read_text()
        except OSError:
            continue
        if "map_id:" in text:
            m = re.search(r"^memlock:\s+(\d+)", text, re.M)
            total += int(m.group(1)) if m else 0
    return total


def t_within_resources(run: Run):
    st = proc_status(run.pid)
    hwm = int(st["VmHWM"].split()[0]) * 1024
    maps = map_memlock(run.pid)
    fields = Path(f"/proc/{run.pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / 100  # utime + stime, USER_HZ ticks
    cores = cpu / (time.monotonic() - run.started)
    print(f"    VmHWM {hwm / 2**20:.1f} MiB + BPF maps {maps / 2**20:.2f} MiB; CPU {cpu:.2f} s = "
          f"{cores * 1000:.1f}m cores on average")
    request = memory_bytes(RESOURCES["requests"]["memory"])
    if hwm + maps > request:
        fail(f"peak memory {(hwm + maps) / 2**20:.1f} MiB exceeds the DaemonSet's memory request "
             f"{RESOURCES['requests']['memory']}: re-measure (deploy/measure.sh) and resize")
    limit = cpu_cores(RESOURCES["limits"]["cpu"])
    if cores > limit:
        fail(f"{cores:.3f} cores on average exceeds the DaemonSet's cpu limit {RESOURCES['limits']['cpu']}")


def t_sigterm(run: Run):
    # To bpfex itself: under strace, the daemon is strace, which exits with bpfex's status.
    os.kill(run.pid, signal.SIGTERM)
    try:
        rc = run.daemon.proc.wait(10)
    except subprocess.TimeoutExpired:
        fail(f"still running 10 s after SIGTERM\n{run.daemon.tail()}")
    expect("exit status after SIGTERM", rc, 0)


# ---------------------------------------------------------------- strace analysis

SYSCALL = re.compile(r"^\d+ +(?:<\.\.\. (\w+) resumed>|(\w+)\()")


def traced_lines(run: Run) -> list[str]:
    lines = run.strace_log.read_text(errors="replace").splitlines()
    start = next((i for i, line in enumerate(lines)
                  if f'execve("{BPFEX}"' in line and line.rstrip().endswith("= 0")), None)
    if start is None:
        fail("strace log has no successful execve of bpfex")
    return lines[start + 1:]


def t_syscalls_allowed(run: Run):
    used = {}
    for line in traced_lines(run):
        m = SYSCALL.match(line)
        if m:
            name = m.group(1) or m.group(2)
            used.setdefault(name, line)
    if len(used) < 10:
        fail(f"only {len(used)} distinct system calls traced: the trace is broken")
    denied = sorted(set(used) - ALLOWED_SYSCALLS)
    print(f"    {len(used)} distinct system calls, all checked against SystemCallFilter=")
    if denied:
        fail("system calls bpfex makes that the unit's SystemCallFilter= denies (EPERM under systemd):\n"
             + "\n".join(f"{s}: {used[s][:160]}" for s in denied))


def t_socket_families(run: Run):
    used = set()
    for line in traced_lines(run):
        m = re.match(r"^\d+ +socket(?:pair)?\((AF_\w+)", line)
        if m:
            used.add(m.group(1))
    bad = sorted(used - FAMILIES)
    if bad:
        fail(f"socket families outside RestrictAddressFamilies={sorted(FAMILIES)}: {bad}")


def t_no_write_execute(run: Run):
    bad = []
    for line in traced_lines(run):
        if re.match(r"^\d+ +mmap\(", line) and "PROT_WRITE" in line and "PROT_EXEC" in line:
            bad.append(line)
        if re.match(r"^\d+ +(pkey_)?mprotect\(", line) and "PROT_EXEC" in line:
            bad.append(line)
    if bad:
        fail("memory made writable and executable (MemoryDenyWriteExecute= forbids it):\n" + "\n".join(bad[:10]))


def t_no_file_writes(run: Run):
    bad = []
    for line in traced_lines(run):
        m = re.match(r'^\d+ +(?:open|openat|openat2|creat)\((?:AT_FDCWD, )?"([^"]*)", ([^,)]*)', line)
        if not m:
            continue
        path, flags = m.group(1), m.group(2)
        if any(f in flags for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")) and not path.startswith("/dev/"):
            bad.append(line)
    if bad:
        fail("files opened for writing (the root filesystem is read-only under both the DaemonSet and the unit):\n"
             + "\n".join(bad[:10]))


# ---------------------------------------------------------------- the runs

def run_daemonset():
    args = replace_flag(CONTAINER["args"], "--config.file", str(CONFIGMAP_CONFIG))
    r = suite.check("A DaemonSet: start as uid 0 with capabilities " + ",".join(sorted(K8S_CAPS)),
                    start, "daemonset", setpriv_prefix(K8S_CAPS, K8S_UID, K8S_UID, ambient=False), args, False)
    if r is None:
        return
    try:
        suite.check("A DaemonSet: uid, capabilities and no_new_privs as specified", t_identity, r, K8S_UID, K8S_CAPS)
        suite.check("A DaemonSet: every module up, /healthz 200", t_all_modules_up, r)
        suite.check("A DaemonSet: execs counted exactly, failed execs counted", t_execs_counted, r)
        scrape_for(r, 3)
        suite.check("A DaemonSet: peak memory within requests, CPU within limits", t_within_resources, r)
        suite.check("A DaemonSet: SIGTERM exits 0", t_sigterm, r)
    finally:
        r.daemon.stop()


def run_unit():
    r = suite.check(f"B unit: start as uid {NOBODY} with ambient " + ",".join(sorted(UNIT_CAPS)), start, "unit",
                    setpriv_prefix(UNIT_CAPS, NOBODY, NOBODY, ambient=True),
                    [f"--config.file={DEFAULT_CONFIG}"], True)
    if r is None:
        return
    try:
        suite.check("B unit: uid, capabilities and no_new_privs", t_identity, r, NOBODY, UNIT_CAPS)
        suite.check("B unit: every module up, /healthz 200", t_all_modules_up, r)
        suite.check("B unit: execs counted exactly, failed execs counted", t_execs_counted, r)
        scrape_for(r, 2)
        suite.check("B unit: SIGTERM exits 0", t_sigterm, r)
        suite.check("B unit: every system call allowed by SystemCallFilter=", t_syscalls_allowed, r)
        suite.check("B unit: socket families within RestrictAddressFamilies=", t_socket_families, r)
        suite.check("B unit: no writable+executable memory", t_no_write_execute, r)
        suite.check("B unit: no file opened for writing", t_no_file_writes, r)
    finally:
        r.daemon.stop()


if shutil.which("strace") is None or shutil.which("setpriv") is None:
    suite.fatal("strace and setpriv are needed (scripts/install-deps.sh installs them)")
run_daemonset()
run_unit()
shutil.rmtree(TMP, ignore_errors=True)
suite.finish()
