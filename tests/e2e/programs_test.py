#!/usr/bin/python3
"""User programs through the whole of bpfex: the example programs (build/programs) and a broken one
(build/test_programs) loaded by one bpfex with every built-in module off, scraped over HTTP.

- each program is a module: bpfex_module_up{module="program:<name>"} 1, the broken one 0 with the
  verifier's reason on the landing page and in /healthz (503);
- a probe process (named bpfexprobe, as the examples count only such tasks) causes a known number of
  events: the series are exact over HTTP; it writes arbitrary bytes that become a string label, and
  /metrics stays promtool clean (with a kernel stack, newlines and all, as a label value);
- metric_prefix: "ebpf_exporter_" names the series as ebpf_exporter would;
- configuration errors exit 2 with file:line:column (bad YAML, a key size that does not match the
  map, a program that is not there); --programs.check-attach exits 0 when every program attaches
  and 1 when one does not; programs.strict makes a program that does not start stop bpfex (exit 1).

Usage: tests/e2e/programs_test.py BPFEX_BINARY REPO_ROOT   (root: it loads BPF programs)
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, describe, expect, fail, parse_args, require_root, run, start_bpfex,  # noqa: E402
                         temp_dir, wait_healthy, wait_until)

suite = Suite("programs")
BPFEX, ROOT = parse_args(suite)
require_root(suite, "it loads BPF programs")

BUILD = BPFEX.parent
EXAMPLES = ["execs", "syscall_errors", "read_sizes", "percpu_calls", "xdp_udp", "kstacks", "user_bytes",
            "open_errors"]
WORK = temp_dir("bpfex-programs-e2e-")
PROGRAMS = WORK / "programs"
PROGRAMS.mkdir()
for name in EXAMPLES:
    os.symlink(BUILD / "programs" / f"{name}.bpf.o", PROGRAMS / f"{name}.bpf.o")
    shutil.copy(BUILD / "programs" / f"{name}.yaml", PROGRAMS / f"{name}.yaml")
for name in ["verifier_reject", "kprobe_only"]:
    os.symlink(BUILD / "test_programs" / f"{name}.bpf.o", PROGRAMS / f"{name}.bpf.o")
    shutil.copy(BUILD / "test_programs" / f"{name}.yaml", PROGRAMS / f"{name}.yaml")

NO_MODULES = "".join(f"  {m}:\n    enabled: false\n" for m in
                     ["exec", "syscall", "network", "runqueue", "block", "tcp", "oom"])


def config_file(name: str, programs: str) -> Path:
    path = WORK / f"{name}.yaml"
    path.write_text("poll_interval: 200ms\nmodules:\n" + NO_MODULES + "programs:\n" + programs)
    return path


def probe(code: str) -> None:
    """Runs python code in a child process named bpfexprobe (the examples' filter)."""
    script = ("import ctypes, os\n"
              "ctypes.CDLL(None).prctl(15, b'bpfexprobe', 0, 0, 0)\n" + code)
    proc = run([sys.executable, "-c", script], timeout=30)
    if proc.returncode != 0:
        fail("probe failed\n" + describe(proc))


PROBE_EVENTS = """
for i in range(5):
    try: os.open('/nonexistent-bpfex-e2e-%d' % i, os.O_RDONLY)
    except OSError: pass
for b in [b'any\\xff\\xfe\\x00', b'"quote\\\\\\n', b'\\xc3\\x28ok']:
    try: os.write(-103, b.ljust(16, b'\\0'))
    except OSError: pass
for i in range(3): os.getppid()
"""

cfg = config_file("main", f"  dir: {PROGRAMS}\n  names: [{', '.join(EXAMPLES + ['verifier_reject'])}]\n")
bpfex = start_bpfex(BPFEX, [f"--config.file={cfg}"], WORK)
suite.show_logs(bpfex.daemon)


def t_units() -> None:
    status = wait_healthy(bpfex, 30)
    expect("/healthz with a program down", status, 503)
    metrics = bpfex.metrics()
    for name in EXAMPLES:
        expect(f"bpfex_module_up program:{name}", bpfex.sample("bpfex_module_up", f'module="program:{name}"'), 1.0)
    expect("bpfex_module_up program:verifier_reject",
           bpfex.sample("bpfex_module_up", 'module="program:verifier_reject"'), 0.0)
    health = bpfex.get("/healthz").body
    if "program:verifier_reject is down" not in health or "map_value_or_null" not in health:
        fail("/healthz does not give the verifier's reason:\n" + health[:2000])
    landing = bpfex.get("/").body
    for name in EXAMPLES:
        if f"program:{name}" not in landing:
            fail(f"the landing page does not list program:{name}")
    if "bpfex_program_attached" not in metrics:
        fail("no bpfex_program_attached")
    # ebpf_exporter's ebpf_program_info: the kernel's id and tag of every BPF program, the ids being
    # those of programs bpfex holds open.
    held = set()
    for fd in Path(f"/proc/{bpfex.daemon.pid}/fdinfo").iterdir():
        try:
            held |= {int(line.split()[1]) for line in fd.read_text().splitlines() if line.startswith("prog_id:")}
        except OSError:
            continue  # closed meanwhile
    info = re.findall(r'^bpfex_program_info\{module="program:(\w+)",program="\w+",id="(\d+)",tag="([0-9a-f]{16})"\} 1$',
                      metrics, re.M)
    if {m for m, _, _ in info} != set(EXAMPLES) or not {int(i) for _, i, _ in info} <= held:
        fail(f"bpfex_program_info: one series per BPF program of each example, ids held by bpfex: {info} {held}")


def t_exact_over_http() -> None:
    probe(PROBE_EVENTS)

    def settled() -> bool:
        return bpfex.sample("bpfex_open_errors_total", 'errno="ENOENT"') == 5.0

    if not wait_until(10, settled):
        fail("bpfex_open_errors_total{errno=\"ENOENT\"}: " + str(bpfex.sample("bpfex_open_errors_total",
                                                                            'errno="ENOENT"')))
    expect("syscall_errors openat ENOENT", bpfex.sample("bpfex_syscall_errors_total",
                                                        'syscall="openat",errno="ENOENT"'), 5.0)
    expect("syscalls getppid", bpfex.sample("bpfex_syscalls_total", 'syscall="getppid"'), 3.0)
    expect("a string of arbitrary bytes, made valid UTF-8",
           bpfex.sample("bpfex_user_strings_total", 'text="any\ufffd\ufffd"'), 1.0)


def t_promtool() -> None:
    text = bpfex.metrics()
    stack = text.split("bpfex_getppid_stacks_total{", 1)[-1].split("\n", 1)[0]
    if "\\n" not in stack or "??" in stack:
        fail("no kernel stack of named frames (read before capabilities were dropped) with escaped newlines in "
             "bpfex_getppid_stacks_total: " + stack)
    entry = bpfex.sample("bpfex_getppid_entries_total", 'function="do_syscall_64"')
    expect("getppid calls by the kaddr decoded with ksym", entry, 3.0)
    lint = run(["promtool", "check", "metrics"], input=text)
    if lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip():
        fail("promtool check metrics is not clean\n" + describe(lint, 30))


suite.check("each program is a module: up, the verifier's reason for the broken one, landing page, /healthz",
            t_units)
suite.check("known events give exact series over HTTP", t_exact_over_http)
suite.check("promtool clean with arbitrary bytes and kernel stacks in labels", t_promtool)
bpfex.daemon.stop()


def t_prefix() -> None:
    c = config_file("prefix", f"  dir: {PROGRAMS}\n  names: [open_errors]\n  metric_prefix: ebpf_exporter_\n")
    b = start_bpfex(BPFEX, [f"--config.file={c}"], WORK, name="prefix")
    try:
        expect("/healthz", wait_healthy(b, 30), 200)
        probe("for i in range(2):\n    try: os.open('/nonexistent-x', os.O_RDONLY)\n    except OSError: pass\n")
        if not wait_until(10, lambda: b.sample("ebpf_exporter_open_errors_total", 'errno="ENOENT"') == 2.0):
            fail("ebpf_exporter_open_errors_total{errno=\"ENOENT\"} != 2:\n" + b.series("ebpf_exporter_open_errors_total"))
    finally:
        b.daemon.stop()


suite.check("metric_prefix: ebpf_exporter_ keeps ebpf_exporter's names", t_prefix)


def config_errors(dir_: Path, names: str) -> tuple[int, str]:
    proc = run([str(BPFEX), f"--programs.dir={dir_}", f"--programs.names={names}", "--config.check"], timeout=30)
    return proc.returncode, proc.stderr


def t_config_errors() -> None:
    broken = WORK / "broken"
    broken.mkdir()
    os.symlink(BUILD / "programs" / "open_errors.bpf.o", broken / "bad_yaml.bpf.o")
    (broken / "bad_yaml.yaml").write_text("metrics:\n  counters:\n    - name: open_errors_total\n      help: [x\n")
    os.symlink(BUILD / "programs" / "open_errors.bpf.o", broken / "key_size.bpf.o")
    (broken / "key_size.yaml").write_text(
        "metrics:\n  counters:\n    - name: open_errors_total\n      help: x\n      labels:\n"
        "        - name: errno\n          size: 2\n          decoders:\n            - name: uint\n")
    rc, err = config_errors(broken, "bad_yaml,key_size,missing")
    expect("exit status", rc, 2)
    for want in [rf"{broken}/bad_yaml.yaml:\d+:\d+: error: invalid YAML",
                 rf"{broken}/key_size.yaml:3:7: error: map \"open_errors_total\" has 4-byte keys, the labels' sizes "
                 "and paddings add up to 2",
                 rf"{broken}/missing.yaml: error: cannot read"]:
        if not re.search(want, err):
            fail(f"no error matching {want!r} in:\n{err}")


suite.check("configuration errors: exit 2, every one with file:line:column", t_config_errors)


def t_check_attach() -> None:
    ok = run([str(BPFEX), f"--programs.dir={PROGRAMS}", "--programs.names=open_errors,xdp_udp", "--config.check",
              "--programs.check-attach"], timeout=60)
    expect("check-attach, all attach", ok.returncode, 0)
    bad = run([str(BPFEX), f"--programs.dir={PROGRAMS}", "--programs.names=open_errors,verifier_reject",
               "--config.check", "--programs.check-attach"], timeout=60)
    expect("check-attach, one rejected", bad.returncode, 1)
    if "program:verifier_reject: failed" not in bad.stderr:
        fail("check-attach does not say which program failed\n" + describe(bad))


def t_suggest() -> None:
    suggested = WORK / "suggested"
    suggested.mkdir()
    for name in EXAMPLES:
        proc = run([str(BPFEX), "programs", "suggest", str(BUILD / "programs" / f"{name}.bpf.o")], timeout=30)
        if proc.returncode != 0 or "metrics:" not in proc.stdout:
            fail(f"suggest {name}\n" + describe(proc))
        (suggested / f"{name}.yaml").write_text(proc.stdout)
        os.symlink(BUILD / "programs" / f"{name}.bpf.o", suggested / f"{name}.bpf.o")
    text = (suggested / "read_sizes.yaml").read_text()
    if not re.search(r"histograms:\n    - name: read_sizes_exp2\n(.*\n)*      bucket_type: exp2", text):
        fail("no exp2 histogram suggested for read_sizes_exp2 (a key member named bucket)\n" + text)
    if "name: string" not in (suggested / "execs.yaml").read_text():
        fail("no string decoder suggested for execs' char comm[16]")
    check = run([str(BPFEX), f"--programs.dir={suggested}", f"--programs.names={','.join(EXAMPLES)}",
                 "--config.check"], timeout=60)
    expect("--config.check of the suggested configs\n" + check.stderr[-3000:], check.returncode, 0)


suite.check("programs suggest: a starter YAML for each example that --config.check accepts", t_suggest)
suite.check("--programs.check-attach: 0 when all attach, 1 and the reason when one does not", t_check_attach)


def t_strict() -> None:
    if Path("/sys/bus/event_source/devices/kprobe").exists():
        suite.note("kprobes attach here: strict is exercised with the verifier's rejection only")
    names = "open_errors,verifier_reject"
    for strict, want in [("false", None), ("true", 1)]:
        c = config_file(f"strict_{strict}", f"  dir: {PROGRAMS}\n  names: [{names}]\n  strict: {strict}\n")
        b = start_bpfex(BPFEX, [f"--config.file={c}"], WORK, name=f"strict_{strict}")
        try:
            if want is None:
                expect("strict off: /healthz (a program down)", wait_healthy(b, 30), 503)
                expect("strict off: the good program runs",
                       b.sample("bpfex_module_up", 'module="program:open_errors"'), 1.0)
            else:
                wait_until(30, lambda: not b.daemon.alive())
                expect("strict on: exit status", b.daemon.stop(), want)
        finally:
            b.daemon.stop()


suite.check("programs.strict: a program that does not start stops bpfex (1); without strict the rest run", t_strict)
suite.finish()
