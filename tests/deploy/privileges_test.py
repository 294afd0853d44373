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
C. the unit's user with the unit's capabilities minus CAP_BPF and CAP_PERFMON (a unit edited
   wrong), and with none at all: the start-up log and every module's error name the missing
   CAP_BPF and CAP_PERFMON, never tracefs' CAP_DAC_READ_SEARCH (which the first one has).

Usage: tests/deploy/privileges_test.py BPFEX_BINARY REPO_ROOT   (root)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Bpfex, CheckFailed, Suite, duration_seconds, effective_config, expect,  # noqa: E402
                         expect_exact_count, expect_growth, fail, free_ports, parse_args, registered_modules,
                         replace_flag, require_root, sample_values, start_bpfex, temp_dir, wait_healthy, wait_until)
from lib.load import failing_execs, run_program, unique_name  # noqa: E402
from deploytest import (allowed_syscalls, cap_mask, cpu_cores, load_manifests, memory_bytes,  # noqa: E402
                        parse_unit, proc_status, setpriv_prefix, unit_capabilities, unit_values)

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
MODULES = registered_modules(BPFEX)


# ---------------------------------------------------------------- what the deploy files say

DOCS: dict[str, list[dict]] = {}
for _docs in load_manifests(ROOT / "deploy" / "kubernetes").values():
    for _d in _docs:
        DOCS.setdefault(_d["kind"], []).append(_d)
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


# ---------------------------------------------------------------- a run

@dataclass
class Run:
    name: str
    bpfex: Bpfex
    pid: int  # of bpfex itself (under strace, the daemon is strace)
    started: float
    strace_log: Path | None
    exec_name: str
    poll_seconds: float


def bpfex_pid(bpfex: Bpfex, strace_log: Path | None) -> int:
    """The bpfex process: setpriv execs it in place; strace runs it as its child. Returns once
    the exec has happened (before, /proc/PID describes setpriv and its capabilities)."""
    if strace_log is None:
        def exec_done() -> bool:
            return Path(f"/proc/{bpfex.daemon.pid}/exe").resolve() == BPFEX

        if not wait_until(15, exec_done):
            raise CheckFailed(f"{BPFEX} never started\n{bpfex.daemon.tail()}")
        return bpfex.daemon.pid
    pid = 0

    def found() -> bool:
        nonlocal pid
        for line in strace_log.read_text(errors="replace").splitlines():
            if f'execve("{BPFEX}"' in line and line.rstrip().endswith("= 0"):
                pid = int(line.split()[0])
                return True
        return False

    if not wait_until(15, found):
        raise CheckFailed(f"{BPFEX} never started under strace\n{bpfex.daemon.tail()}")
    return pid


def start(name: str, prefix: list[str], args: list[str], strace: bool) -> Run:
    strace_log = TMP / f"{name}.strace" if strace else None
    if strace:
        # strace runs as root outside the sandbox; setpriv, then bpfex, run as its children.
        prefix = ["strace", "-f", "-qq", "-e", "signal=none", "-o", str(strace_log), *prefix]
    poll_seconds = duration_seconds(str(effective_config(BPFEX, args)["poll_interval"]))
    bpfex = start_bpfex(BPFEX, [*args, "--log.level=info"], TMP, prefix=prefix, name=name)
    # Unique per run: nothing else can add to its count.
    run = Run(name, bpfex, 0, time.monotonic(), strace_log, unique_name(f"pv{name[0]}"), poll_seconds)
    run.pid = bpfex_pid(bpfex, strace_log)
    return run


def t_identity(run: Run, uid: int, caps: set[str]):
    st = proc_status(run.pid)
    expect("real/effective uid", st["Uid"].split()[:2], [str(uid), str(uid)])
    expect("CapEff", int(st["CapEff"], 16), cap_mask(caps))
    expect("CapBnd", int(st["CapBnd"], 16), cap_mask(caps))
    expect("NoNewPrivs", st["NoNewPrivs"], "1")


def t_all_modules_up(run: Run):
    status = wait_healthy(run.bpfex)
    if not run.bpfex.daemon.alive():
        fail(f"bpfex exited with {run.bpfex.daemon.proc.returncode}\n{run.bpfex.daemon.tail()}")
    ups = {re.search(r'module="([^"]*)"', k).group(1): v
           for k, v in sample_values(run.bpfex.metrics(), "bpfex_module_up").items()}
    down = [m for m in MODULES if ups.get(m) != 1]
    if status != 200 or down:
        fail(f"/healthz {status}, modules not up: {down} (bpfex_module_up: {ups})\n{run.bpfex.daemon.tail()}")


def t_execs_counted(run: Run):
    run_program(TMP, run.exec_name, EXEC_RUNS)
    expect_exact_count(run.bpfex, "bpfex_exec_total", f'comm="{run.exec_name}"', EXEC_RUNS, run.poll_seconds)
    expect_growth(run.bpfex, "bpfex_exec_errors_total", 'errno="ENOENT"', FAILED_EXECS,
                  lambda: failing_execs(TMP / "no_such_program", FAILED_EXECS))


def scrape_for(run: Run, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in ("/metrics", "/", "/healthz"):
            run.bpfex.get(path)
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
    expect("exit status after SIGTERM", run.bpfex.daemon.sigterm(run.pid), 0)


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


def t_missing_privileges_named(caps: set[str]):
    """Starts bpfex with `caps` as nobody, reads its log up to "serving metrics" and stops it."""
    cmd = setpriv_prefix(caps, NOBODY, NOBODY, ambient=True) + [
        str(BPFEX), f"--config.file={DEFAULT_CONFIG}", f"--web.listen-address=127.0.0.1:{free_ports(1)[0]}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if "serving metrics" in line or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log = "\n".join(lines)
    if not any("lacks the privileges to load BPF programs" in l and "missing=CAP_BPF,CAP_PERFMON" in l
               for l in lines):
        fail(f"no start-up error naming CAP_BPF,CAP_PERFMON in:\n{log}")
    failed = [l for l in lines if "module failed to start" in l]
    expect("modules failing to start", len(failed), len(MODULES))
    for l in failed:
        if "CAP_BPF and CAP_PERFMON" not in l or "CAP_DAC_READ_SEARCH" in l:
            fail(f"a module's error should name CAP_BPF and CAP_PERFMON, not CAP_DAC_READ_SEARCH: {l}")


# ---------------------------------------------------------------- the runs

def exercise(name: str, label: str, uid: int, caps: set[str], how: str, prefix: list[str], args: list[str],
             strace: bool, scrape_seconds: float, checks_after: list[tuple[str, Callable[[Run], None]]]):
    """One run of bpfex in a sandbox: start, identity, modules, execs, scrapes, then the run's own
    checks; the daemon is stopped whatever happens."""
    r = suite.check(f"{label}: start as uid {uid} with {how} " + ",".join(sorted(caps)),
                    start, name, prefix, args, strace)
    if r is None:
        return
    try:
        suite.check(f"{label}: uid, capabilities and no_new_privs as specified", t_identity, r, uid, caps)
        suite.check(f"{label}: every module up, /healthz 200", t_all_modules_up, r)
        suite.check(f"{label}: execs counted exactly, failed execs counted", t_execs_counted, r)
        scrape_for(r, scrape_seconds)
        for check_title, check in checks_after:
            suite.check(f"{label}: {check_title}", check, r)
    finally:
        r.bpfex.daemon.stop()


if shutil.which("strace") is None or shutil.which("setpriv") is None:
    suite.fatal("strace and setpriv are needed (scripts/install-deps.sh installs them)")
exercise("daemonset", "A DaemonSet", K8S_UID, K8S_CAPS, "capabilities",
         setpriv_prefix(K8S_CAPS, K8S_UID, K8S_UID, ambient=False),
         replace_flag(CONTAINER["args"], "--config.file", str(CONFIGMAP_CONFIG)), False, 3,
         [("peak memory within requests, CPU within limits", t_within_resources),
          ("SIGTERM exits 0", t_sigterm)])
exercise("unit", "B unit", NOBODY, UNIT_CAPS, "ambient", setpriv_prefix(UNIT_CAPS, NOBODY, NOBODY, ambient=True),
         [f"--config.file={DEFAULT_CONFIG}"], True, 2,
         [("SIGTERM exits 0", t_sigterm),
          ("every system call allowed by SystemCallFilter=", t_syscalls_allowed),
          ("socket families within RestrictAddressFamilies=", t_socket_families),
          ("no writable+executable memory", t_no_write_execute),
          ("no file opened for writing", t_no_file_writes)])
suite.check("C unit without CAP_BPF,CAP_PERFMON: missing privileges named, not tracefs'",
            t_missing_privileges_named, UNIT_CAPS - {"CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN"})
suite.check("C no capabilities at all: missing privileges named", t_missing_privileges_named, set())
shutil.rmtree(TMP, ignore_errors=True)
suite.finish()
