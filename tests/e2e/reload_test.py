#!/usr/bin/python3
"""Configuration reload end to end (SIGHUP, and POST /-/reload with --web.enable-lifecycle), with
real BPF programs and real execs: a changed module is replaced (new program IDs) while an unchanged
one keeps its programs; counts stay exact across the switch (nothing lost, nothing twice, never
down); a bad file, or a change to a setting that only start-up reads, leaves everything as it ran
and sets bpfex_config_last_reload_successful to 0; a module disabled and enabled again continues
its counters; with capabilities dropped (the default) a reload that needs them says so and keeps
the old module; a storm of SIGHUPs changes nothing.

Usage: tests/e2e/reload_test.py BPFEX_BINARY REPO_ROOT   (root: loads BPF programs)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, describe, ensure_tracefs, expect, fail, http_request, parse_args,  # noqa: E402
                         registered_modules, require_root, run, start_bpfex, temp_dir, wait_healthy, wait_until)
from lib.load import run_program, unique_name  # noqa: E402

suite = Suite("reload")
BPFEX, ROOT = parse_args(suite)
require_root(suite, "it loads BPF programs")
ensure_tracefs(ROOT)
TMP = temp_dir("bpfex-reload.")
MODULES = registered_modules(BPFEX)
CONFIG = TMP / "bpfex.yaml"


def write_config(exec_max_comms: int = 1024, syscall: bool = True, extra: str = "") -> None:
    """exec and syscall on, every other module off (quick to start)."""
    lines = [extra] if extra else []
    lines.append("modules:")
    for m in MODULES:
        if m == "exec":
            lines.append(f"  exec: {{max_comms: {exec_max_comms}}}")
        elif m == "syscall":
            lines.append(f"  syscall: {{enabled: {'true' if syscall else 'false'}}}")
        else:
            lines.append(f"  {m}: {{enabled: false}}")
    CONFIG.write_text("\n".join(lines) + "\n")


def programs(pid: int) -> dict[int, str]:
    """{program id: name} of the BPF programs the process holds open (its fdinfo, then bpftool for
    the names: Debian's bpftool cannot list programs by process)."""
    ids = set()
    for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            for line in fd.read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            continue  # closed meanwhile
    out = {}
    for i in sorted(ids):
        proc = run(["bpftool", "-j", "prog", "show", "id", str(i)], timeout=30)
        if proc.returncode == 0:
            out[i] = json.loads(proc.stdout).get("name", "")
    return out


def of_module(progs: dict[int, str], prefix: str) -> set[int]:
    return {i for i, name in progs.items() if name.startswith(prefix)}


def reloaded(b, before: float, want_ok: int) -> None:
    """Waits for a reload attempt to be over: the success timestamp moved, or success is want_ok=0."""
    def over() -> bool:
        ok = b.sample("bpfex_config_last_reload_successful")
        when = b.sample("bpfex_config_last_reload_success_timestamp_seconds") or 0
        return ok == want_ok and (want_ok == 0 or when > before)
    if not wait_until(30, over):
        fail(f"no reload with successful={want_ok} seen\n{b.daemon.tail(15)}")


def reload_request(b, method: str = "POST", body: bytes | None = None):
    """The lifecycle endpoint answers once the reload is over (a module start takes seconds)."""
    return http_request(method, b.base + "/-/reload", timeout=60, body=body)


def exec_count(b, comm: str) -> float:
    return b.sample("bpfex_exec_total", f'comm="{comm}"') or 0


def expect_exec_count(b, comm: str, want: int) -> None:
    if not wait_until(15, lambda: exec_count(b, comm) == want):
        fail(f"bpfex_exec_total{{comm={comm!r}}}: want exactly {want}, got {exec_count(b, comm)}\n"
             f"{b.series('bpfex_exec_total')}")


write_config()
B = start_bpfex(BPFEX, [f"--config.file={CONFIG}", "--capabilities.keep=all", "--web.enable-lifecycle"], TMP,
                name="bpfex-reload")
suite.show_logs(B.daemon)
if wait_healthy(B) != 200:
    suite.fatal("bpfex did not become healthy", B.daemon.tail(30))
COMM = unique_name("rld")


def t_start_counts_as_loaded():
    expect("bpfex_config_last_reload_successful at start", B.sample("bpfex_config_last_reload_successful"), 1)
    when = B.sample("bpfex_config_last_reload_success_timestamp_seconds") or 0
    if not 0 < time.time() - when < 600:
        fail(f"bpfex_config_last_reload_success_timestamp_seconds {when} is not start-up time")


def t_sighup_replaces_only_the_changed_module():
    before = programs(B.daemon.pid)
    exec_ids, sys_ids = of_module(before, "exec"), of_module(before, "sys_")
    if not exec_ids or not sys_ids:
        fail(f"expected exec and syscall programs, got {before}")
    run_program(TMP, COMM, 7)
    expect_exec_count(B, COMM, 7)
    stamp = B.sample("bpfex_config_last_reload_success_timestamp_seconds") or 0
    write_config(exec_max_comms=512)
    os.kill(B.daemon.pid, signal.SIGHUP)
    reloaded(B, stamp, 1)
    after = programs(B.daemon.pid)
    if of_module(after, "sys_") != sys_ids:
        fail(f"the unchanged syscall module's programs changed: {sys_ids} -> {of_module(after, 'sys_')}")
    new_exec = of_module(after, "exec")
    if not new_exec or new_exec & exec_ids:
        fail(f"the changed exec module was not replaced: {exec_ids} -> {new_exec}")
    expect_exec_count(B, COMM, 7)  # carried over, not reset, not doubled
    run_program(TMP, COMM, 5)
    expect_exec_count(B, COMM, 12)  # counted by the new instance, exactly
    if "module restarted by a reload" not in B.daemon.log.read_text():
        fail("the log does not say the module was restarted")


def t_bad_config_keeps_running_config():
    ids = programs(B.daemon.pid)
    CONFIG.write_text("modules:\n  exec: {max_comms: 0}\n  colour: red\n")
    os.kill(B.daemon.pid, signal.SIGHUP)
    reloaded(B, 0, 0)
    log = B.daemon.log.read_text()
    if f"{CONFIG}:2:" not in log:
        fail("the log does not name the error's file:line:column")
    expect("programs after a failed reload", programs(B.daemon.pid), ids)
    run_program(TMP, COMM, 3)
    expect_exec_count(B, COMM, 15)
    expect("/healthz after a failed reload", B.get("/healthz").status, 200)


def t_fixed_setting_is_refused():
    write_config(exec_max_comms=512, extra="web:\n  telemetry_path: /other")
    r = reload_request(B)
    expect("POST /-/reload status", r.status, 500)
    if "web.telemetry_path" not in r.body or "restart" not in r.body:
        fail("the answer does not name the setting that needs a restart: " + r.body)
    expect("bpfex_config_last_reload_successful", B.sample("bpfex_config_last_reload_successful"), 0)


def t_lifecycle_endpoint():
    write_config(exec_max_comms=512)
    stamp = B.sample("bpfex_config_last_reload_success_timestamp_seconds") or 0
    r = reload_request(B)
    expect("POST /-/reload status (unchanged config)", r.status, 200)
    expect("bpfex_config_last_reload_successful", B.sample("bpfex_config_last_reload_successful"), 1)
    if not (B.sample("bpfex_config_last_reload_success_timestamp_seconds") or 0) > stamp:
        fail("the success timestamp did not move")
    expect("PUT /-/reload", reload_request(B, "PUT").status, 200)
    got = reload_request(B, "GET")
    expect("GET /-/reload", got.status, 405)
    expect("POST /-/reload with a body", reload_request(B, body=b"x").status, 413)
    CONFIG.write_text("modules: [\n")
    r = reload_request(B)
    expect("POST /-/reload with broken YAML", r.status, 500)
    if not r.body.startswith("failed to reload config: ") or str(CONFIG) not in r.body:
        fail("the answer does not say what is wrong where: " + r.body)
    write_config(exec_max_comms=512)
    expect("POST /-/reload fixed again", reload_request(B).status, 200)


def t_disable_and_enable_continue_counters():
    def syscalls() -> float:
        return B.sample("bpfex_syscall_latency_seconds_count") or 0
    wait_until(10, lambda: syscalls() > 0)
    seen = syscalls()
    write_config(exec_max_comms=512, syscall=False)
    expect("reload disabling syscall", reload_request(B).status, 200)
    if of_module(programs(B.daemon.pid), "sys_"):
        fail("the disabled syscall module's programs are still loaded")
    metrics = B.metrics()
    if 'bpfex_module_up{module="syscall"}' in metrics or "bpfex_syscall_latency_seconds_count" in metrics:
        fail("a disabled module is still exported")
    write_config(exec_max_comms=512)
    expect("reload enabling syscall", reload_request(B).status, 200)
    expect("bpfex_module_up{syscall}", B.sample("bpfex_module_up", 'module="syscall"'), 1)
    wait_until(10, lambda: syscalls() > seen)
    if syscalls() < seen:
        fail(f"syscall counts went down across disable/enable: {seen} -> {syscalls()}")


def t_sighup_storm():
    ids = programs(B.daemon.pid)
    for _ in range(50):
        os.kill(B.daemon.pid, signal.SIGHUP)
    run_program(TMP, COMM, 4)
    expect_exec_count(B, COMM, 19)
    if not B.daemon.alive():
        fail("bpfex died under a SIGHUP storm")
    expect("programs after 50 unchanged reloads", programs(B.daemon.pid), ids)
    expect("bpfex_config_last_reload_successful", B.sample("bpfex_config_last_reload_successful"), 1)


def t_no_lifecycle_without_flag_and_capabilities_dropped():
    """The default: capabilities dropped after start, no lifecycle API."""
    write_config()
    d = start_bpfex(BPFEX, [f"--config.file={CONFIG}"], TMP, name="bpfex-reload-dropped")
    try:
        if wait_healthy(d) != 200:
            fail("not healthy\n" + d.daemon.tail(20))
        expect("POST /-/reload without --web.enable-lifecycle", reload_request(d).status,
               403)
        ids = of_module(programs(d.daemon.pid), "exec")
        write_config(exec_max_comms=256)
        os.kill(d.daemon.pid, signal.SIGHUP)
        reloaded(d, 0, 0)
        log = d.daemon.log.read_text()
        if "needs CAP_BPF, CAP_PERFMON" not in log or "keeps running with its previous options" not in log:
            fail("the log does not say which capabilities the reload needed\n" + d.daemon.tail(10))
        expect("exec programs kept", of_module(programs(d.daemon.pid), "exec"), ids)
        expect("exec still up", d.sample("bpfex_module_up", 'module="exec"'), 1)
    finally:
        d.daemon.sigterm()


suite.check("start-up counts as a successful load", t_start_counts_as_loaded)
suite.check("SIGHUP: the changed module replaced, the unchanged one untouched, counts exact",
            t_sighup_replaces_only_the_changed_module)
suite.check("a bad file: logged with file:line, the running config stays, counts go on",
            t_bad_config_keeps_running_config)
suite.check("a setting only start-up reads: refused, named", t_fixed_setting_is_refused)
suite.check("POST/PUT /-/reload: 200, 500 with the reason, GET 405, a body 413", t_lifecycle_endpoint)
suite.check("a module disabled and enabled again: gone, then continuing", t_disable_and_enable_continue_counters)
suite.check("50 SIGHUPs: nothing restarted, nothing lost", t_sighup_storm)
suite.check("default: no lifecycle API (403); capabilities dropped: the reload says which it needs",
            t_no_lifecycle_without_flag_and_capabilities_dropped)
rc = B.daemon.sigterm()
suite.check("SIGTERM after reloads: clean exit", expect, "exit status", rc, 0)
suite.finish()
