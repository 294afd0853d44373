#!/usr/bin/python3
"""Configuration reload end to end (SIGHUP, and POST /-/reload with --web.enable-lifecycle), with
real BPF programs and real execs: a changed module is replaced (new program IDs) while an unchanged
one keeps its programs; counts stay exact across the switch (nothing lost, nothing twice, never
down); a bad file, or a change to a setting that only start-up reads, leaves everything as it ran
and sets bpfex_config_last_reload_successful to 0; a module disabled and enabled again continues
its counters; with capabilities dropped (the default) a reload that needs them says so and keeps
the old module; a storm of SIGHUPs changes nothing; user programs are started, restarted and
stopped by reloads like modules, and a program file that does not fit fails the reload, named.

Usage: tests/e2e/reload_test.py BPFEX_BINARY REPO_ROOT   (root: loads BPF programs)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, describe, ensure_tracefs, expect, fail, http_request, label_pairs,  # noqa: E402
                         parse_args, registered_modules, require_root, run, sample_values, start_bpfex, temp_dir,
                         wait_healthy, wait_until)
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


def t_bucket_range_change_keeps_counts():
    """The syscall module's min_bucket/max_bucket changed by a reload (narrowed, then widened), its
    syscalls limited to one task name so that nothing else counts (a run of the program makes the
    same syscalls every time): right after each reload every series is exactly as before (carried,
    its old buckets, until the new instance counts it); the next runs add exactly their syscalls,
    in the new range's buckets, with every bucket that both ranges have never lower."""
    comm = unique_name("rlb")
    cfg = TMP / "buckets.yaml"
    off = "".join(f"  {m}: {{enabled: false}}\n" for m in MODULES if m != "syscall")

    def write(lo: str, hi: str) -> None:
        cfg.write_text(f"modules:\n{off}  syscall: {{comms: [{comm}], min_bucket: {lo}, max_bucket: {hi}}}\n")

    def histogram() -> dict[str, float]:
        text = d.metrics()
        out = {}
        for part in ("bucket", "count", "sum"):
            out.update({f"{part}{k}": v for k, v in sample_values(text, f"bpfex_syscall_latency_seconds_{part}").items()})
        return out

    def settled() -> dict[str, float]:
        """The histogram once two scrapes a poll apart agree (the program's syscalls all counted)."""
        last: dict[str, float] = {}
        for _ in range(30):
            now = histogram()
            if now and now == last:
                return now
            last = now
            time.sleep(1.2)
        fail("the syscall histogram did not settle")
        return last

    def total(h: dict[str, float]) -> float:
        return sum(v for k, v in h.items() if k.startswith("count"))

    def les_by_series(h: dict[str, float]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for k in h:
            if k.startswith("bucket"):
                labels = label_pairs(k)
                le = float(labels.pop("le"))
                out.setdefault(str(sorted(labels.items())), []).append(le)
        return {series: sorted(les) for series, les in out.items()}

    write("1us", "16s")
    d = start_bpfex(BPFEX, [f"--config.file={cfg}", "--capabilities.keep=all", "--web.enable-lifecycle"], TMP,
                    name="bpfex-reload-buckets")
    try:
        if wait_healthy(d) != 200:
            fail("not healthy\n" + d.daemon.tail(20))
        run_program(TMP, comm, 5)
        before = settled()
        per_run = total(before) / 5
        if per_run <= 0 or per_run != int(per_run):
            fail(f"5 runs of {comm} made {total(before)} syscalls: not the same number each run")
        runs = 5
        for lo, hi, want_min, want_max, more in (("16us", "50ms", 2.0 ** -16, 2.0 ** -4, 2),
                                                 ("1us", "16s", 2.0 ** -20, 16.0, 1)):
            write(lo, hi)
            expect(f"POST /-/reload, buckets {lo}..{hi}", reload_request(d).status, 200)
            expect(f"every series right after the reload to {lo}..{hi}", settled(), before)
            run_program(TMP, comm, more)
            runs += more
            after = settled()
            expect(f"syscalls counted after {runs} runs", total(after), per_run * runs)
            old_les, remapped = les_by_series(before), 0
            for series, les in les_by_series(after).items():
                if les == old_les.get(series):
                    continue  # not counted since the reload: carried as it was
                remapped += 1
                expect(f"buckets of {series} after {lo}..{hi}", (les[0], les[-2], les[-1]),
                       (want_min, want_max, float("inf")))
            if not remapped:
                fail(f"no series in the buckets of {lo}..{hi} after {more} runs")
            lower = {k: (v, after.get(k)) for k, v in before.items() if k in after and after[k] < v}
            if lower:
                fail(f"buckets {lo}..{hi}: values went down {dict(list(lower.items())[:5])}")
            before = after
    finally:
        expect("exit status", d.daemon.sigterm(), 0)


def t_programs_reload():
    """User programs under reloads (build/programs/execs and open_errors): an unchanged one keeps its
    BPF programs; a changed YAML restarts it and its counter continues (nothing lost, never down); a
    new metric_prefix ends the old family and starts the new one; a program named anew starts, one
    no longer named stops; a YAML that does not fit its object fails the reload, named, and nothing
    changes; a metric whose label is renamed ends, and starts over under the new name; a program
    that does not load is down with its reason, and starts once its files are fixed."""
    build = BPFEX.parent
    pdir = TMP / "programs"
    pdir.mkdir(exist_ok=True)
    for name in ("execs", "open_errors"):
        for ext in (".bpf.o", ".yaml"):
            shutil.copy(build / "programs" / (name + ext), pdir / (name + ext))
    yaml_text = (pdir / "execs.yaml").read_text()
    cfg = TMP / "programs.yaml"
    off = "".join(f"  {m}: {{enabled: false}}\n" for m in MODULES)

    def write(prefix: str = "bpfex_", names: str = "execs") -> None:
        cfg.write_text(f"modules:\n{off}programs:\n  dir: {pdir}\n  names: [{names}]\n  metric_prefix: {prefix}\n")

    def count(prefix: str = "bpfex_") -> float:
        return d.sample(f"{prefix}exec_comms_total", f'comm="{comm}"') or 0

    def expect_count(want: int, prefix: str = "bpfex_") -> None:
        if not wait_until(15, lambda: count(prefix) == want):
            fail(f"{prefix}exec_comms_total{{comm={comm!r}}}: want exactly {want}, got {count(prefix)}")

    def reload_ok(what: str) -> None:
        r = reload_request(d)
        expect(f"POST /-/reload, {what}", r.status, 200)
        expect(f"bpfex_config_last_reload_successful, {what}", d.sample("bpfex_config_last_reload_successful"), 1)

    def execs_programs() -> set[int]:
        return {i for i, name in programs(d.daemon.pid).items() if not name.startswith("open")}

    write()
    comm = unique_name("rlp")
    d = start_bpfex(BPFEX, [f"--config.file={cfg}", "--capabilities.keep=all", "--web.enable-lifecycle"], TMP,
                    name="bpfex-reload-programs")
    try:
        if wait_healthy(d) != 200:
            fail("not healthy\n" + d.daemon.tail(20))
        expect("bpfex_module_up{program:execs}", d.sample("bpfex_module_up", 'module="program:execs"'), 1)
        ids = execs_programs()
        if not ids:
            fail("no BPF programs loaded for program:execs")
        run_program(TMP, comm, 3)
        expect_count(3)
        reload_ok("nothing changed")
        expect("BPF programs after an unchanged reload", execs_programs(), ids)

        (pdir / "execs.yaml").write_text(yaml_text + "# edited\n")
        reload_ok("the program's YAML changed")
        restarted = execs_programs()
        if not restarted or restarted & ids:
            fail(f"program:execs was not restarted: programs {ids} -> {restarted}")
        expect("bpfex_module_up{program:execs} after its restart", d.sample("bpfex_module_up", 'module="program:execs"'), 1)
        run_program(TMP, comm, 2)
        expect_count(5)  # continued: never reset, nothing lost, nothing twice

        write(prefix="ebpf_exporter_")
        reload_ok("metric_prefix changed")
        run_program(TMP, comm, 1)
        expect_count(1, "ebpf_exporter_")  # a new family
        if sample_values(d.metrics(), "bpfex_exec_comms_total"):
            fail("the family under the old prefix is still exported:\n" + d.series("bpfex_exec_comms_total"))

        write(prefix="ebpf_exporter_", names="execs, open_errors")
        reload_ok("a program named anew")
        expect("bpfex_module_up{program:open_errors}", d.sample("bpfex_module_up", 'module="program:open_errors"'), 1)
        if not any(name.startswith("open") for name in programs(d.daemon.pid).values()):
            fail("no BPF programs of program:open_errors")

        ids = execs_programs()
        shutil.copy(build / "programs" / "open_errors.bpf.o", pdir / "execs.bpf.o")
        r = reload_request(d)
        expect("POST /-/reload, an object without the YAML's maps", r.status, 500)
        if str(pdir / "execs.yaml") not in r.body:
            fail(f"the answer does not name the program's YAML: {r.body}")
        expect("bpfex_config_last_reload_successful, a misfit object", d.sample("bpfex_config_last_reload_successful"), 0)
        expect("BPF programs after the failed reload", execs_programs(), ids)
        shutil.copy(build / "programs" / "execs.bpf.o", pdir / "execs.bpf.o")

        write(prefix="ebpf_exporter_")
        reload_ok("a program no longer named")
        if d.sample("bpfex_module_up", 'module="program:open_errors"') is not None:
            fail("program:open_errors is still reported after it was no longer named")
        if any(name.startswith("open") for name in programs(d.daemon.pid).values()):
            fail("program:open_errors's BPF programs are still loaded")
        expect("BPF programs of program:execs, kept", execs_programs(), ids)
        run_program(TMP, comm, 1)
        expect_count(2, "ebpf_exporter_")

        (pdir / "execs.yaml").write_text(yaml_text.replace("- name: comm", "- name: task", 1))
        reload_ok("a metric's label renamed")
        if count("ebpf_exporter_"):
            fail("the series under the old label name is still exported:\n" + d.series("ebpf_exporter_exec_comms_total"))
        run_program(TMP, comm, 1)
        if not wait_until(15, lambda: d.sample("ebpf_exporter_exec_comms_total", f'task="{comm}"') == 1):
            fail("the relabeled metric does not start over: " + d.series("ebpf_exporter_exec_comms_total"))

        # A program that does not load (the verifier rejects it): the reload fails naming it, the
        # program is down with the reason, the rest keep running; once its files are fixed (here:
        # open_errors' program and YAML under its name), the next reload starts it.
        for ext in (".bpf.o", ".yaml"):
            shutil.copy(build / "test_programs" / ("verifier_reject" + ext), pdir / ("broken" + ext))
        write(prefix="ebpf_exporter_", names="execs, broken")
        r = reload_request(d)
        expect("POST /-/reload, a program the verifier rejects", r.status, 500)
        if "program:broken" not in r.body:
            fail(f"the answer does not name program:broken: {r.body}")
        expect("bpfex_module_up{program:broken}", d.sample("bpfex_module_up", 'module="program:broken"'), 0)
        expect("bpfex_module_up{program:execs} beside it", d.sample("bpfex_module_up", 'module="program:execs"'), 1)
        if "program:broken is down" not in d.get("/healthz").body:
            fail("/healthz does not say program:broken is down: " + d.get("/healthz").body)
        for ext in (".bpf.o", ".yaml"):
            shutil.copy(build / "programs" / ("open_errors" + ext), pdir / ("broken" + ext))
        reload_ok("the broken program fixed")
        expect("bpfex_module_up{program:broken} once fixed", d.sample("bpfex_module_up", 'module="program:broken"'), 1)
    finally:
        expect("exit status", d.daemon.sigterm(), 0)


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
suite.check("syscall min_bucket/max_bucket narrowed and widened: every bucket that stays is exact",
            t_bucket_range_change_keeps_counts)
suite.check("user programs: unchanged kept, changed restarted and continuing, added, removed; a misfit refused",
            t_programs_reload)
rc = B.daemon.sigterm()
suite.check("SIGTERM after reloads: clean exit", expect, "exit status", rc, 0)
suite.finish()
