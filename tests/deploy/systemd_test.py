#!/usr/bin/python3
"""The systemd unit (deploy/systemd/bpfex.service), statically:

- an unprivileged user, ambient capabilities = bounding set = only allowed ones, each explained;
  no drop-in directory (bpfex.service.d): the unit alone is what the tests run;
- systemd's sandboxing options that bpfex can live with are on, the ones it cannot are off;
- the system call filter keeps bpf() and perf_event_open() (systemd files them under @privileged
  and @debug, which @system-service leaves out);
- ExecStart's flags pass `bpfex --config.check` with config/bpfex.yaml (the README installs it as
  /etc/bpfex/bpfex.yaml);
- `systemd-analyze verify` is silent for the unit;
- `systemd-analyze security --offline` rates the unit at most 3.0 ("OK").
Whether bpfex really runs inside these limits is tests/deploy/privileges_test.py.

Usage: tests/deploy/systemd_test.py BPFEX_BINARY REPO_ROOT   (no root needed)
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.harness import (Suite, config_check, describe, expect, fail, flag_value, parse_args,  # noqa: E402
                         replace_flag, run, temp_dir)
from deploytest import allowed_syscalls, parse_unit, unit_capabilities, unit_last, unit_values  # noqa: E402

# CAP_DAC_READ_SEARCH: the tracepoint fallbacks read ids in tracefs, which is root-only (mode 0700).
ALLOWED_CAPS = {"CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_RESOURCE", "CAP_DAC_READ_SEARCH"}
# Without CAP_DAC_READ_SEARCH a module that falls back to a tracepoint fails (which one does is
# decided at run time, on the host).
REQUIRED_CAPS = {"CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH"}
REQUIRED = {  # key: accepted values
    "NoNewPrivileges": {"yes", "true"},
    "ProtectSystem": {"strict"},
    "ProtectHome": {"yes", "true", "read-only", "tmpfs"},
    "PrivateTmp": {"yes", "true"},
    "PrivateDevices": {"yes", "true"},
    "ProtectKernelTunables": {"yes", "true"},
    "ProtectKernelModules": {"yes", "true"},
    "ProtectKernelLogs": {"yes", "true"},
    "ProtectControlGroups": {"yes", "true"},
    "LockPersonality": {"yes", "true"},
    "MemoryDenyWriteExecute": {"yes", "true"},
    "RestrictSUIDSGID": {"yes", "true"},
    "RestrictRealtime": {"yes", "true"},
    "RestrictNamespaces": {"yes", "true"},
    "SystemCallArchitectures": {"native"},
}
# Options that would break bpfex: capabilities do not count for bpf() inside a user namespace, the
# network module needs the host's interfaces, /proc/sys must stay readable.
FORBIDDEN = {"PrivateUsers": {"yes", "true", "self", "identity"}, "PrivateNetwork": {"yes", "true"},
             "ProcSubset": {"pid"}}
ADDRESS_FAMILIES = {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}
MAX_EXPOSURE = 3.0
INSTALLED_BINARY = "/usr/local/bin/bpfex"

suite = Suite("systemd")
BPFEX, ROOT = parse_args(suite)
UNIT = ROOT / "deploy" / "systemd" / "bpfex.service"
SETTINGS = parse_unit(UNIT)
TMP = temp_dir("bpfex-systemd.")


def t_unprivileged_user():
    dynamic = unit_last(SETTINGS, "DynamicUser") in ("yes", "true")
    user = unit_last(SETTINGS, "User")
    if not dynamic and user in (None, "", "root", "0"):
        fail(f"runs as root (DynamicUser={unit_last(SETTINGS, 'DynamicUser')}, User={user}): use a dedicated user")


def t_capabilities():
    ambient = unit_capabilities(SETTINGS, "AmbientCapabilities")
    bounding = unit_capabilities(SETTINGS, "CapabilityBoundingSet")
    expect("AmbientCapabilities = CapabilityBoundingSet", sorted(ambient), sorted(bounding))
    extra = sorted(ambient - ALLOWED_CAPS)
    if extra:
        fail(f"capabilities beyond what bpfex needs: {extra}")
    missing = sorted(REQUIRED_CAPS - ambient)
    if missing:
        fail(f"capabilities bpfex cannot load programs (or tracepoint fallbacks) without are missing: {missing}")
    comments = " ".join(c for s in SETTINGS if s.key == "AmbientCapabilities" for c in s.comments)
    silent = [c for c in sorted(ambient) if not re.search(rf"{c}\b\W+\w+\W+\w+", comments)]
    if silent:
        fail(f"capabilities without a comment saying why (above AmbientCapabilities=): {silent}")


def t_hardening():
    problems = []
    for key, ok in REQUIRED.items():
        v = unit_last(SETTINGS, key)
        if v not in ok:
            problems.append(f"{key}={v}: want one of {sorted(ok)}")
    for key, bad in FORBIDDEN.items():
        v = unit_last(SETTINGS, key)
        if v in bad:
            problems.append(f"{key}={v} breaks bpfex")
    families = set(" ".join(unit_values(SETTINGS, "RestrictAddressFamilies")).split())
    if not families or families - ADDRESS_FAMILIES or any(f.startswith("~") for f in families):
        problems.append(f"RestrictAddressFamilies={sorted(families)}: want a subset of {sorted(ADDRESS_FAMILIES)}")
    if problems:
        fail("\n".join(problems))


def t_syscall_filter_keeps_bpf():
    allowed, allow_list = allowed_syscalls(SETTINGS)
    if not allow_list:
        fail("SystemCallFilter= is not an allow list")
    lost = [s for s in ("bpf", "perf_event_open") if s not in allowed]
    if lost:
        fail(f"SystemCallFilter= denies {lost}: bpfex cannot load or attach programs")
    unsafe = [s for s in ("mount", "reboot", "init_module", "kexec_load", "swapon") if s in allowed]
    if unsafe:
        fail(f"SystemCallFilter= allows {unsafe}")


def exec_start() -> list[str]:
    v = unit_values(SETTINGS, "ExecStart")
    if len(v) != 1:
        fail(f"want one ExecStart=, got {v}")
    return shlex.split(v[0].lstrip("-+!@:"))


def t_exec_start_accepted():
    argv = exec_start()
    expect("ExecStart binary (where the README installs it)", argv[0], INSTALLED_BINARY)
    path = flag_value(argv, "--config.file") or fail("ExecStart has no --config.file")
    expect("--config.file (where the README installs config/bpfex.yaml)", path, "/etc/bpfex/bpfex.yaml")
    proc = config_check(BPFEX, replace_flag(argv[1:], "--config.file", str(ROOT / "config" / "bpfex.yaml")))
    if proc.returncode != 0:
        fail("ExecStart's flags fail --config.check\n" + describe(proc))


def staged_unit() -> Path:
    d = TMP / "unit"
    d.mkdir()
    text = UNIT.read_text().replace(INSTALLED_BINARY, str(BPFEX))
    (d / "bpfex.service").write_text(text)
    return d


def analyze(args: list[str], unit_dir: Path):
    # SYSTEMD_UNIT_PATH puts our directory first.
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{unit_dir}:", SYSTEMD_LOG_COLOR="0")
    return run(["systemd-analyze", *args], env=env, cwd=unit_dir)


def t_verify():
    d = staged_unit()
    proc = analyze(["verify", "bpfex.service"], d)
    if proc.returncode != 0 or proc.stdout.strip() or proc.stderr.strip():
        fail("systemd-analyze verify is not silent (ExecStart pointed at the built binary)\n" + describe(proc))


def t_no_dropins():
    d = UNIT.parent / "bpfex.service.d"
    if d.exists():
        fail(f"{d} exists: a drop-in would change the unit the tests check (the unit alone must do)")


def t_security_exposure():
    d = TMP / "security"
    d.mkdir()
    (d / "bpfex.service").write_text(UNIT.read_text())
    proc = analyze(["security", "--offline=yes", f"--threshold={int(MAX_EXPOSURE * 10)}", "bpfex.service"], d)
    overall = [line for line in proc.stdout.splitlines() if "Overall exposure level" in line]
    print("    " + (overall[0].strip() if overall else "(no overall exposure line)"))
    if proc.returncode != 0:
        fail(f"systemd-analyze security rates the unit above {MAX_EXPOSURE}\n" + describe(proc, 80))


suite.check("runs as a dedicated unprivileged user", t_unprivileged_user)
suite.check("capabilities: ambient = bounding = allowed set, each explained", t_capabilities)
suite.check("sandboxing options on, bpfex-breaking ones off", t_hardening)
suite.check("SystemCallFilter keeps bpf and perf_event_open", t_syscall_filter_keeps_bpf)
suite.check("ExecStart flags pass --config.check", t_exec_start_accepted)
suite.check("no drop-in shipped next to the unit", t_no_dropins)
suite.check("systemd-analyze verify: unit", t_verify)
suite.check(f"systemd-analyze security --offline: exposure <= {MAX_EXPOSURE}", t_security_exposure)
shutil.rmtree(TMP, ignore_errors=True)
suite.finish()
