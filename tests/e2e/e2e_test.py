#!/usr/bin/python3
"""End-to-end test of the bpfex binary: command line, config errors, HTTP endpoints, real events
counted by the BPF programs, a real Prometheus scraping it, and a clean SIGTERM.

Which modules there are comes from the binary (`bpfex --config.check`): every registered module
must be up, on /metrics and through Prometheus. Module-specific exact checks: exec (a uniquely
named program run EXEC_RUNS times counts exactly that; failed execs of a missing path count under
ENOENT), syscall (the read latency histogram), network (pings to 127.0.0.1 counted as ICMP on lo);
runqueue, block, tcp and oom grow by at least what the test's own sleeps, loop-device reads,
loopback connects and one OOM kill in a memory cgroup caused.

Config error fixtures: tests/e2e/broken/*.yaml, each starting with "# expect: LINE:COL [KEY.PATH]",
where the error message must point.

Usage: tests/e2e/e2e_test.py BPFEX_BINARY REPO_ROOT   (root for everything after the command line
and config checks; ctest: `ctest -R e2e`)
Debian 12 packages it relies on (scripts/install-deps.sh installs them): prometheus (prometheus,
promtool), python3-yaml, iputils-ping, util-linux (mount).
"""

from __future__ import annotations

import mmap
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, describe, duration_seconds, effective_config, ensure_tracefs, expect,  # noqa: E402
                         expect_exact_count, expect_growth, fail, free_ports, http_request, parse_args, port_free,
                         registered_modules, require_root, run, start_bpfex, start_prometheus, temp_dir,
                         wait_healthy, wait_until)
from lib.load import (BlockDevice, MemoryLimit, TcpLoopback, failing_execs, oom_kill, ping, run_program,  # noqa: E402
                      unique_name)

EXEC_RUNS = 25    # successful execs of the uniquely named program
ENOENT_RUNS = 5   # failed execs of a missing path
PINGS = 5         # ICMP echo requests to 127.0.0.1
RUNQUEUE_SLEEPS = 20  # 1 ms sleeps, each a wakeup
BLOCK_READS = 8       # 4096-byte O_DIRECT reads of a loop device
TCP_CONNECTS = 5      # loopback connections per address
WANT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LO_ICMP_RX = 'interface="lo",direction="rx",family="ipv4",protocol="icmp"'

suite = Suite("e2e")
BPFEX, ROOT = parse_args(suite)
CONFIG = ROOT / "config" / "bpfex.yaml"
BROKEN = sorted((ROOT / "tests" / "e2e" / "broken").glob("*.yaml"))
TMP = temp_dir("bpfex-e2e.")
PORT, PROM_PORT, SPARE_PORT = free_ports(3)
LOW_PORT = next(p for p in range(900, 1024) if port_free(p))  # privileged: bound before capabilities go  # SPARE_PORT: for runs that must not start
EXEC_NAME = unique_name("e2e")


def run_bpfex(*args: str):
    """One bounded run of the binary, for flag and config checks."""
    return run([BPFEX, *args], timeout=10)


# ---------------------------------------------------------------- command line and config checks
# These need no BPF and no daemon; they run first so they report even if startup fails.

def t_unknown_flag():
    proc = run_bpfex("--no-such-flag")
    expect("exit status", proc.returncode, 2)
    if "no-such-flag" not in proc.stderr:
        fail("stderr does not name the unknown flag\n" + describe(proc))


def t_version():
    proc = run_bpfex("--version")
    expect("exit status", proc.returncode, 0)
    if not (proc.stdout + proc.stderr).strip():
        fail("--version printed nothing")


def t_help():
    proc = run_bpfex("--help")
    expect("exit status", proc.returncode, 0)
    if "--config.file" not in proc.stdout + proc.stderr:
        fail("--help does not mention --config.file\n" + describe(proc))


def t_registered_modules() -> list[str]:
    return registered_modules(BPFEX)


def t_config_check_shipped(modules: list[str]):
    """The shipped config is valid, configures every registered module, and the effective config
    it prints is itself a valid config."""
    proc = run_bpfex(f"--config.file={CONFIG}", "--config.check")
    expect("exit status", proc.returncode, 0)
    if not proc.stdout.strip():
        fail("no effective config on stdout\n" + describe(proc))
    effective = effective_config(BPFEX, [f"--config.file={CONFIG}"])
    expect("modules of the effective config of config/bpfex.yaml", list(effective.get("modules") or {}), modules)
    printed = TMP / "effective.yaml"
    printed.write_text(proc.stdout)
    again = run_bpfex(f"--config.file={printed}", "--config.check")
    if again.returncode != 0:
        fail("--config.check of the printed effective config fails\n" + describe(again))
    expect("effective config of the printed effective config", again.stdout, proc.stdout)


def t_config_check_broken(fixture: Path):
    """The error points where the fixture's first line says: "# expect: LINE:COL [KEY.PATH]"."""
    m = re.fullmatch(r"# expect:\s*(\d+:\d+)(?:\s+(\S+))?\s*", fixture.read_text().splitlines()[0])
    if not m:
        fail(f"{fixture}: first line must be '# expect: LINE:COL [KEY.PATH]'")
    want = f"{fixture}:{m.group(1)}: error: " + (f"{m.group(2)}: " if m.group(2) else "")
    proc = run_bpfex(f"--config.file={fixture}", "--config.check")
    expect("exit status", proc.returncode, 2)
    if want not in proc.stderr:
        fail(f'stderr lacks "{want}"\n' + describe(proc))


def t_broken_config_does_not_start():
    """Without --config.check a bad config must also stop the binary before it starts anything."""
    proc = run_bpfex(f"--config.file={ROOT / 'tests/e2e/broken/wrong_type_max_comms.yaml'}",
                     f"--web.listen-address=127.0.0.1:{SPARE_PORT}")
    if proc.returncode != 2:
        fail(f"exit status {proc.returncode}, want 2\n" + describe(proc))


def t_missing_config():
    missing = TMP / "no-such-config.yaml"
    for what, extra in (("--config.check", ["--config.check"]),
                        ("starting", [f"--web.listen-address=127.0.0.1:{SPARE_PORT}"])):
        proc = run_bpfex(f"--config.file={missing}", *extra)
        if proc.returncode != 2:
            fail(f"{what}: exit status {proc.returncode}, want 2\n" + describe(proc))
        if str(missing) not in proc.stderr:
            fail(f"{what}: stderr does not name {missing}\n" + describe(proc))


def t_config_not_a_regular_file():
    """A directory, a FIFO (which would block a plain read forever) and /dev/zero (endless) are
    refused at once, naming what they are; a file over the size limit too."""
    fifo = TMP / "config.fifo"
    os.mkfifo(fifo)
    big = TMP / "big.yaml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    for path, says in ((TMP, "directory"), (fifo, "not a regular file"), (Path("/dev/zero"), "not a regular file"),
                       (big, "MiB")):
        proc = run_bpfex(f"--config.file={path}", "--config.check")  # run() fails the check after 10 s
        expect(f"{path}: exit status", proc.returncode, 2)
        if says not in proc.stderr:
            fail(f"{path}: stderr does not say {says!r}\n" + describe(proc))


def t_btf_path_invalid():
    """--btf.path must name a BTF file: anything else stops bpfex before it loads anything."""
    not_btf = TMP / "not-btf"
    not_btf.write_text("no types here\n")
    for path, why in ((TMP / "no-such.btf", "No such file"), (TMP, "not a regular file"), (not_btf, "not BTF")):
        for extra in (["--config.check"], [f"--web.listen-address=127.0.0.1:{SPARE_PORT}"]):
            proc = run_bpfex(f"--btf.path={path}", *extra)
            if proc.returncode != 2 or "--btf.path" not in proc.stderr or why not in proc.stderr:
                fail(f"--btf.path={path} {' '.join(extra)}: want exit 2 naming the flag and '{why}'\n" + describe(proc))


# ---------------------------------------------------------------- BTF hidden
# A kernel without /sys/kernel/btf/vmlinux, as seen by a bpfex in a private mount namespace with an
# empty tmpfs over /sys/kernel/btf: the modules cannot be relocated without --btf.path, and work
# with it pointing at a copy of the kernel's BTF.
HIDE_BTF = ["unshare", "--mount", "sh", "-c", 'mount -t tmpfs none /sys/kernel/btf && exec "$0" "$@"']


def t_hidden_btf_named():
    run_ = start_bpfex(BPFEX, [f"--config.file={CONFIG}"], TMP, prefix=HIDE_BTF, name="bpfex-nobtf")
    try:
        # bpfex serves HTTP once every module has started or failed.
        if not wait_until(30, lambda: run_.get("/healthz", timeout=2).status != 0):
            fail("no answer on /healthz within 30 s\n" + run_.daemon.tail(20))
        r = run_.get("/healthz")
        expect("/healthz status without kernel BTF", r.status, 503)
        for module in MODULES:
            if f"module {module} is down" not in r.body:
                fail(f"/healthz does not say module {module} is down:\n{r.body}")
        for words in ("/sys/kernel/btf/vmlinux", "--btf.path"):
            if words not in r.body:
                fail(f"/healthz does not name {words}:\n{r.body}")
    finally:
        run_.daemon.stop()


def t_hidden_btf_with_path():
    copy = TMP / "vmlinux.btf"
    copy.write_bytes(Path("/sys/kernel/btf/vmlinux").read_bytes())
    run_ = start_bpfex(BPFEX, [f"--config.file={CONFIG}", f"--btf.path={copy}"], TMP, prefix=HIDE_BTF,
                       name="bpfex-btfpath")
    try:
        status = wait_healthy(run_)
        if status != 200:
            fail(f"/healthz {status} with --btf.path={copy}\n" + run_.daemon.tail(20))
        page = run_.get("/").body
        # The kernel's own BTF is what fentry/fexit/tp_btf attach through: without it, none is used.
        for flavour in ("tp_btf ", "fentry ", "fexit "):
            if f"({flavour}" in page:
                fail(f"a program attached with {flavour.strip()} although the kernel's BTF is hidden:\n{page}")
    finally:
        run_.daemon.stop()


# ---------------------------------------------------------------- HTTP checks

def t_metrics_endpoint():
    r = bpfex.get("/metrics")
    expect("status", r.status, 200)
    problems = []
    if r.headers["content-type"] != WANT_CONTENT_TYPE:
        problems.append(f"Content-Type: got {r.headers['content-type']!r}, want {WANT_CONTENT_TYPE!r}")
    # promtool lints too (HELP, TYPE, naming); both its exit status and silence are required.
    lint = run(["promtool", "check", "metrics"], input=r.body)
    if lint.returncode != 0 or (lint.stdout + lint.stderr).strip():
        problems.append("promtool check metrics is not silent\n" + describe(lint, 30))
    if problems:
        fail("\n".join(problems))


def t_build_info():
    lines = [line for line in bpfex.metrics().splitlines() if line.startswith("bpfex_build_info{")]
    if not lines:
        fail("no bpfex_build_info series")
    line = lines[0]
    if 'version="' not in line or 'revision="' not in line:
        fail(f"labels missing: {line}")
    if float(line.rsplit(" ", 1)[1]) != 1:
        fail(f"value is not 1: {line}")


def t_module_up(module: str):
    expect(f'bpfex_module_up{{module="{module}"}}', bpfex.sample("bpfex_module_up", f'module="{module}"'), 1.0)


def t_syscall_read_histogram():
    # Every process makes read calls, not least the HTTP client and bpfex itself.
    v = bpfex.sample("bpfex_syscall_latency_seconds_count", 'syscall="read"')
    if v is None or v < 1:
        fail(f'bpfex_syscall_latency_seconds_count{{syscall="read"}} = {v}, want >= 1')


def t_network_lo_icmp():
    # An echo request and its reply per ping, both received on lo (other processes may ping too).
    expect_growth(bpfex, "bpfex_network_packets_total", LO_ICMP_RX, 2 * PINGS,
                  lambda: ping("127.0.0.1", PINGS, interval=0.05))


def t_landing_page(modules: list[str]):
    r = bpfex.get("/")
    expect("status", r.status, 200)
    if not (r.headers["content-type"] or "").startswith("text/html"):
        fail(f"Content-Type {r.headers['content-type']!r} is not text/html")
    unnamed = [m for m in modules if m not in r.body]
    if unnamed:
        fail(f"page does not name the module(s) {unnamed}")
    if not re.search(r"href=[\"']?/metrics", r.body):
        fail("no link to /metrics\n" + r.body[:2000])


CAP_NET_ADMIN = 1 << 12


def thread_status(pid: int) -> list[dict[str, str]]:
    """/proc/PID/task/*/status of every thread, as field -> value."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue  # a thread that just ended
        out.append(dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line))
    return out


def t_capabilities_dropped():
    """Started as root with every capability: afterwards every thread keeps CAP_NET_ADMIN only (the
    network module attaches to stacked interfaces created later) and has no_new_privs; the landing
    page says what was kept and why."""
    for status in thread_status(bpfex.daemon.pid):
        expect(f"thread {status.get('Pid')} CapEff", int(status["CapEff"], 16), CAP_NET_ADMIN)
        expect(f"thread {status.get('Pid')} CapBnd", int(status["CapBnd"], 16), CAP_NET_ADMIN)
        expect(f"thread {status.get('Pid')} NoNewPrivs", status["NoNewPrivs"].strip(), "1")
    page = bpfex.get("/").body
    if "CAP_NET_ADMIN (network: attaches" not in page:
        fail("the landing page does not say which capability was kept and why")


def t_veth_after_drop():
    """With its capabilities dropped, the network module still counts a new interface."""
    a, b = "bxe" + os.urandom(3).hex(), "bxf" + os.urandom(3).hex()
    try:
        run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], timeout=10)
        run(["ip", "link", "set", a, "up"], timeout=10)
        run(["ip", "link", "set", b, "up"], timeout=10)
        run(["ip", "addr", "add", "10.253.7.1/24", "dev", a], timeout=10)
        run(["ping", "-q", "-b", "-c", "3", "-i", "0.2", "-W", "1", "-I", a, "10.253.7.255"], timeout=15)
        def seen() -> bool:
            return (bpfex.sample("bpfex_network_packets_total", f'interface="{b}",direction="rx",family="ipv4",'
                                 'protocol="icmp"') or 0) >= 3
        if not wait_until(15, seen):
            fail(f"no ICMP counted on {b}\n{bpfex.series('bpfex_network_packets_total')}")
    finally:
        run(["ip", "link", "del", a], timeout=10)


def t_capabilities_keep_flag():
    """--capabilities.keep: a name that is none is exit 2; all keeps everything; none keeps nothing,
    and a listener below port 1024 still works (it is bound before the drop)."""
    proc = run_bpfex("--capabilities.keep=CAP_NOPE", "--config.check")
    expect("exit status for an unknown capability", proc.returncode, 2)
    if "CAP_NOPE" not in proc.stderr:
        fail("the error does not name the capability\n" + describe(proc))
    quiet = TMP / "quiet.yaml"
    quiet.write_text("modules:\n" + "".join(f"  {m}: {{enabled: false}}\n" for m in registered_modules(BPFEX)))
    for keep, want, port in (("all", None, SPARE_PORT), ("none", 0, LOW_PORT)):
        b = start_bpfex(BPFEX, [f"--config.file={quiet}", f"--capabilities.keep={keep}"], TMP, port,
                        name=f"bpfex-keep-{keep}")
        if wait_healthy(b) != 200:
            fail(f"--capabilities.keep={keep}: not healthy\n{b.daemon.tail(10)}")
        # /healthz answers as soon as the listener is up, a moment before the drop: the drop is
        # done when bpfex says it serves metrics.
        if not wait_until(10, lambda: "serving metrics" in b.daemon.tail(200)):
            fail(f"--capabilities.keep={keep}: no 'serving metrics' in the log\n{b.daemon.tail(10)}")
        effective = {int(s["CapEff"], 16) for s in thread_status(b.daemon.pid)}
        if want is None:
            if effective != {int(thread_status(os.getpid())[0]["CapEff"], 16)}:
                fail(f"--capabilities.keep=all: CapEff {effective}")
        elif effective != {want}:
            fail(f"--capabilities.keep={keep}: CapEff {effective}")
        b.daemon.sigterm()


def t_healthz():
    r = bpfex.get("/healthz")
    expect("status", r.status, 200)
    if not r.body.startswith("ok"):
        fail("body does not start with ok:\n" + r.body[:500])


def t_status(want: int, method: str, path: str):
    expect(f"status of {method} {path}", http_request(method, bpfex.base + path).status, want)


def t_head_metrics():
    expect("status", http_request("HEAD", bpfex.base + "/metrics").status, 200)
    # An HTTP client never reads a HEAD body, so look at the raw bytes: HTTP/1.0, read until the
    # server closes.
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as s:
        s.sendall(b"HEAD /metrics HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].decode(errors="replace")
    if " 200 " not in status + " ":
        fail(f"raw HEAD status line: {status}")
    if body:
        fail(f"HEAD response carried {len(body)} body bytes: {body[:80]!r}")


# ---------------------------------------------------------------- exec events

def t_exec_count():
    # Its comm is the unique name, so nothing else on the machine can add to the series.
    run_program(TMP, EXEC_NAME, EXEC_RUNS)
    expect_exact_count(bpfex, "bpfex_exec_total", f'comm="{EXEC_NAME}"', EXEC_RUNS, POLL_SECONDS)


def t_exec_enoent():
    expect_growth(bpfex, "bpfex_exec_errors_total", 'errno="ENOENT"', ENOENT_RUNS,
                  lambda: failing_execs(TMP / "no_such_program", ENOENT_RUNS))


# ---------------------------------------------------------------- runqueue, block, tcp, oom
# Other processes add to these series too: each check wants at least what its own action caused.

def t_runqueue_wakeups():
    # Each sleep ends in a wakeup and a wait for a CPU, however short.
    expect_growth(bpfex, "bpfex_runqueue_latency_seconds_count", "", RUNQUEUE_SLEEPS,
                  lambda: [time.sleep(0.001) for _ in range(RUNQUEUE_SLEEPS)])


def t_block_reads():
    # O_DIRECT reads of a loop device: every one reaches the block layer.
    device = BlockDevice(TMP)
    try:
        fd = os.open(device.path, os.O_RDONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, 4096)
        try:
            expect_growth(bpfex, "bpfex_block_io_bytes_total", "", BLOCK_READS * 4096,
                          lambda: [os.preadv(fd, [buf], i * 65536) for i in range(BLOCK_READS)])
        finally:
            os.close(fd)
    finally:
        device.close()


def t_tcp_connections():
    # Per loopback address: TCP_CONNECTS accepted connections (one of them aborted) and a connect
    # to a closed port, refused.
    tcp = TcpLoopback()
    addresses = len(tcp.servers)
    try:
        expect_growth(bpfex, "bpfex_tcp_connections_total", 'direction="active",result="established"',
                      TCP_CONNECTS * addresses, lambda: tcp.round(TCP_CONNECTS))
        expect_growth(bpfex, "bpfex_tcp_connections_total", 'direction="passive",result="established"',
                      TCP_CONNECTS * addresses, lambda: tcp.round(TCP_CONNECTS))
        expect_growth(bpfex, "bpfex_tcp_connections_total", 'direction="active",result="failed"', addresses,
                      lambda: tcp.round(1))
        expect_growth(bpfex, "bpfex_tcp_resets_total", 'direction="received"', addresses, lambda: tcp.round(1))
    finally:
        tcp.close()


def t_oom_kill():
    # One victim past a 32 MiB memory cgroup's limit, killed by the kernel.
    limit = MemoryLimit()
    try:
        expect_growth(bpfex, "bpfex_oom_kills_total", "", 1, lambda: oom_kill(limit))
    finally:
        limit.close()


# ---------------------------------------------------------------- real Prometheus

def t_prometheus_ready():
    if not wait_until(30, prom.ready):
        fail(f"Prometheus not ready at {prom.url} within 30 s")


def t_prometheus_value(expr: str, want: float, seconds: float = 15):
    if wait_until(seconds, lambda: prom.value(expr) == want):
        return
    details = f"{expr} = {prom.value(expr)}, want {want:g}"
    if expr.startswith("up"):
        details += "\ntargets:\n" + prom.targets()
    fail(details)


# Checks that know what a module measures. A registered module without an entry here is still
# checked for bpfex_module_up; an entry for a module the binary does not register is stale.
MODULE_CHECKS = {
    "exec": [(f'bpfex_exec_total{{comm="{EXEC_NAME}"}} == {EXEC_RUNS}', t_exec_count),
             (f'bpfex_exec_errors_total{{errno="ENOENT"}} grows by >= {ENOENT_RUNS}', t_exec_enoent)],
    "syscall": [('bpfex_syscall_latency_seconds_count{syscall="read"} >= 1', t_syscall_read_histogram)],
    "network": [(f"bpfex_network_packets_total{{{LO_ICMP_RX}}} grows by >= {2 * PINGS}", t_network_lo_icmp)],
    "runqueue": [(f"bpfex_runqueue_latency_seconds_count grows by >= {RUNQUEUE_SLEEPS}", t_runqueue_wakeups)],
    "block": [(f"bpfex_block_io_bytes_total grows by >= {BLOCK_READS} reads of 4096 bytes", t_block_reads)],
    "tcp": [("bpfex_tcp_connections_total (active, passive, failed) and resets received grow by what loopback "
             "connects made", t_tcp_connections)],
    "oom": [("bpfex_oom_kills_total grows by >= 1 when a memory cgroup's task is killed", t_oom_kill)],
}


def t_module_checks_registered(modules: list[str]):
    stale = [m for m in MODULE_CHECKS if m not in modules]
    if stale:
        fail(f"e2e has checks for module(s) {stale}, which the binary does not register")


# ================================================================ main

suite.check("unknown flag exits 2", t_unknown_flag)
suite.check("--version exits 0", t_version)
suite.check("--help exits 0", t_help)
MODULES = suite.check("--config.check prints the registered modules", t_registered_modules)
if not MODULES:
    suite.fatal("no registered modules: nothing to check the running bpfex against")
print(f"e2e: registered modules: {', '.join(MODULES)}", flush=True)
suite.check("module-specific checks are all for registered modules", t_module_checks_registered, MODULES)
suite.check("--config.check accepts config/bpfex.yaml", t_config_check_shipped, MODULES)
if not BROKEN:
    suite.fatal("no fixtures in tests/e2e/broken")
for fixture in BROKEN:
    suite.check(f"--config.check rejects broken/{fixture.name}", t_config_check_broken, fixture)
suite.check("broken config exits 2 without --config.check", t_broken_config_does_not_start)
suite.check("missing config file exits 2 naming the file", t_missing_config)
suite.check("a directory, a FIFO, /dev/zero or a huge file as config: exit 2 at once", t_config_not_a_regular_file)
suite.check("--btf.path that is no BTF file exits 2 naming the flag", t_btf_path_invalid)

require_root(suite, "needs root to load BPF programs")
warning = ensure_tracefs(ROOT)
if warning:
    print(f"e2e: warning: {warning}", flush=True)
POLL_SECONDS = duration_seconds(str(effective_config(BPFEX, [f"--config.file={CONFIG}"])["poll_interval"]))

print(f"e2e: binary {BPFEX}, config {CONFIG}, work dir {TMP}", flush=True)
bpfex = start_bpfex(BPFEX, [f"--config.file={CONFIG}", "--log.level=debug"], TMP, PORT)
suite.show_logs(bpfex.daemon)
status = wait_healthy(bpfex)
if status != 200:
    state = "exited" if not bpfex.daemon.alive() else f"still not healthy (last status {status})"
    suite.fatal(f"bpfex healthy on {bpfex.base}/healthz within 30 s ({state})", bpfex.daemon.tail(30))
print(f"e2e: bpfex is healthy on {bpfex.base} (pid {bpfex.daemon.pid})", flush=True)

suite.check("GET /metrics: 200, Content-Type, promtool clean", t_metrics_endpoint)
suite.check("bpfex_build_info{version,revision} 1", t_build_info)
for module in MODULES:
    suite.check(f'bpfex_module_up{{module="{module}"}} 1', t_module_up, module)
suite.check("GET / landing page names every module, links /metrics", t_landing_page, MODULES)
suite.check("GET /healthz 200 ok", t_healthz)
suite.check("capabilities: every thread keeps CAP_NET_ADMIN only, no_new_privs, said on /", t_capabilities_dropped)
suite.check("after the drop, a new veth is still attached to and counted", t_veth_after_drop)
suite.check("GET /nope 404", t_status, 404, "GET", "/nope")
suite.check("POST /metrics 405", t_status, 405, "POST", "/metrics")
suite.check("DELETE / 405", t_status, 405, "DELETE", "/")
suite.check("HEAD /metrics 200 without body", t_head_metrics)
for module in MODULES:
    for title, check in MODULE_CHECKS.get(module, []):
        suite.check(f"{module}: {title}", check)

prom = start_prometheus(TMP, [bpfex.instance], PROM_PORT)
suite.show_logs(bpfex.daemon, prom.daemon)
suite.check("Prometheus ready", t_prometheus_ready)
suite.check('Prometheus: up{job="bpfex"} == 1', t_prometheus_value, 'up{job="bpfex"}', 1, 30)
if "exec" in MODULES:  # the exact count above, as Prometheus stored it
    expr = f'sum(bpfex_exec_total{{comm="{EXEC_NAME}"}})'  # one series per workload
    suite.check(f"Prometheus: {expr} == {EXEC_RUNS}", t_prometheus_value, expr, EXEC_RUNS)
for module in MODULES:
    expr = f'bpfex_module_up{{module="{module}"}}'
    suite.check(f"Prometheus: {expr} == 1", t_prometheus_value, expr, 1)
prom.daemon.stop()
suite.show_logs(bpfex.daemon)

def t_other_signals_ignored():
    """SIGHUP, SIGUSR1, SIGUSR2 and SIGALRM (each fatal by default) are logged; bpfex keeps serving."""
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM):
        os.kill(bpfex.daemon.pid, sig)
    time.sleep(0.5)
    if not bpfex.daemon.alive():
        fail("bpfex died of a signal")
    expect("GET /healthz after the signals", bpfex.get("/healthz").status, 200)


def t_sigterm_during_startup():
    """A stop during start-up (here: while the kubelet does not answer) ends bpfex promptly, exit 0."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    config = TMP / "slow-start.yaml"
    config.write_text("attribution:\n  kubernetes:\n    enabled: true\n    token_file: \"\"\n"
                      f"    kubelet_url: http://127.0.0.1:{silent.getsockname()[1]}\n")
    slow = start_bpfex(BPFEX, [f"--config.file={config}"], TMP, SPARE_PORT, name="bpfex-slow-start")
    time.sleep(0.5)
    expect("exit status after SIGTERM during start-up", slow.daemon.sigterm(seconds=15), 0)
    silent.close()


suite.check("SIGHUP, SIGUSR1, SIGUSR2, SIGALRM: logged, bpfex keeps serving", t_other_signals_ignored)
suite.check("SIGTERM: exit 0 within 10 s", lambda: expect("exit status after SIGTERM", bpfex.daemon.sigterm(), 0))
suite.check("SIGTERM during start-up: exit 0 within 15 s", t_sigterm_during_startup)
suite.check("--capabilities.keep: unknown name exit 2, all, none", t_capabilities_keep_flag)

suite.check("kernel BTF hidden: every module down, /healthz names the file and --btf.path", t_hidden_btf_named)
suite.check("kernel BTF hidden, --btf.path to a copy: healthy, no BTF-attached flavour", t_hidden_btf_with_path)
suite.finish()
