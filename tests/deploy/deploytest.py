"""Shared helpers of the deploy tests (tests/deploy/*_test.py).

Each test is a script run by ctest with the bpfex binary and the repository root as arguments. It
runs named checks, prints "PASS name" or "FAIL name" plus what differed, and ends with
"<test>: N passed, M failed". Exit status: 0 all passed, 1 a check failed, 77 skipped (only when a
test needs root, is not root, and CI is not "true": under CI a skip would hide that nothing ran).

Python 3.11 from Debian (/usr/bin/python3) with python3-yaml; nothing from pip.
"""

from __future__ import annotations

import atexit
import json
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


class CheckFailed(Exception):
    """A check's verdict: the message says what was expected and what was found."""


def fail(message: str) -> None:
    raise CheckFailed(message)


def expect(what: str, got, want) -> None:
    if got != want:
        fail(f"{what}: got {got!r}, want {want!r}")


class Suite:
    def __init__(self, name: str):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.notes: list[str] = []

    def check(self, title: str, fn: Callable, *args, **kwargs):
        """Runs fn; a CheckFailed or AssertionError is a failure, any other exception too (with
        its traceback, since that is a bug in the test or an unexpected environment)."""
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
        for line in details.rstrip().splitlines():
            print(f"    {line}", flush=True)

    def note(self, message: str) -> None:
        print(f"NOTE {message}", flush=True)

    def fatal(self, title: str, details: str = "") -> None:
        """A failure that stops the run (setup could not happen)."""
        self._fail(title, details)
        self.finish()

    def finish(self) -> None:
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)


def require_root(suite: Suite, why: str) -> None:
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        suite.fatal(f"must run as root under CI=true (uid {os.geteuid()})", why)
    if suite.failed:  # a skip must not hide the checks that ran and failed
        suite.note(f"the rest is skipped: {why} (uid {os.geteuid()})")
        suite.finish()
    print(f"{suite.name}: skipped: {why} (uid {os.geteuid()})")
    sys.exit(77)


def parse_args(suite: Suite) -> tuple[Path, Path]:
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} BPFEX_BINARY REPO_ROOT", file=sys.stderr)
        sys.exit(2)
    binary, root = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    if not os.access(binary, os.X_OK):
        suite.fatal(f"bpfex binary not found or not executable: {binary}")
    return binary, root


# ---------------------------------------------------------------- processes

def run(cmd: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def describe(proc: subprocess.CompletedProcess, lines: int = 20) -> str:
    out = [f"command: {shlex.join(str(a) for a in proc.args)}", f"exit status: {proc.returncode}"]
    for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        if text:
            out.append(f"--- {name}")
            out.extend(text.rstrip().splitlines()[:lines])
    return "\n".join(out)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(seconds: float, predicate: Callable[[], bool], interval: float = 0.25) -> bool:
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

    def __init__(self, name: str, cmd: list[str], log: Path, **kwargs):
        self.name = name
        self.cmd = cmd
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
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

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def metric_families(text: str) -> set[str]:
    """Names of the families a /metrics page declares (# TYPE lines), sampled or not."""
    return {m.group(1) for m in re.finditer(r"^# TYPE (\S+) \S+$", text, re.M)}


def sample_values(text: str, name: str) -> dict[str, float]:
    """{labels-as-printed: value} of the series of one metric name on a /metrics page."""
    out = {}
    for m in re.finditer(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)", text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


def start_bpfex(binary: Path, args: list[str], log: Path, port: int, prefix: list[str] = ()) -> Daemon:
    return Daemon("bpfex", [*prefix, str(binary), *args, f"--web.listen-address=127.0.0.1:{port}"], log)


def wait_healthy(daemon: Daemon, port: int, seconds: float = 30, want: int = 200) -> int:
    """Waits for /healthz to answer `want`; returns the last status seen (0: no answer)."""
    last = 0

    def ready() -> bool:
        nonlocal last
        if not daemon.alive():
            return True
        try:
            last, _ = http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except OSError:
            last = 0
        return last == want

    wait_until(seconds, ready)
    return last


# ---------------------------------------------------------------- load

def exec_load(workdir: Path, name: str = "dpl_load", runs: int = 50, failing: int = 10) -> None:
    """Successful execs of a uniquely named copy of /bin/true, and execs of a missing path."""
    prog = workdir / name
    if not prog.exists():
        prog.write_bytes(Path("/bin/true").read_bytes())
        prog.chmod(0o755)
    for _ in range(runs):
        subprocess.run([str(prog)], check=True, timeout=10)
    missing = str(workdir / "no_such_program")
    for _ in range(failing):
        try:
            subprocess.run([missing], timeout=10)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- capabilities

CAP_NUMBERS = {"CAP_NET_ADMIN": 12, "CAP_SYS_RESOURCE": 24, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38,
               "CAP_BPF": 39, "CAP_DAC_READ_SEARCH": 2}


def cap_mask(caps: set[str]) -> int:
    mask = 0
    for c in caps:
        mask |= 1 << CAP_NUMBERS[c]
    return mask


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def setpriv_prefix(caps: set[str], uid: int, gid: int, ambient: bool) -> list[str]:
    """Runs the next command as uid/gid with exactly `caps`, no_new_privs on, nothing else
    gainable (bounding set): what the DaemonSet's securityContext or the systemd unit gives."""
    names = ",".join("+" + c.removeprefix("CAP_").lower() for c in sorted(caps))
    spec = "-all" + ("," + names if names else "")
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs",
           f"--bounding-set={spec}", f"--inh-caps={spec if ambient else '-all'}"]
    if ambient:
        cmd.append(f"--ambient-caps={spec}")
    return cmd


# ---------------------------------------------------------------- Dockerfile

@dataclass
class Instruction:
    line: int
    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        a = self.args.strip()
        if a.startswith("["):
            return json.loads(a)
        return None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages of a Dockerfile: comments dropped, backslash continuations joined."""
    stages: list[Stage] = []
    pending, start = "", 0
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = n
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            if keyword != "ARG":
                raise ValueError(f"{path}:{n}: {keyword} before FROM")
        else:
            stages[-1].instructions.append(Instruction(start, keyword, args.strip()))
    return stages


def image_command(stage: Stage) -> list[str]:
    """ENTRYPOINT + CMD of a stage, both required in exec form."""
    entry = stage.all("ENTRYPOINT")[-1].exec_form() if stage.all("ENTRYPOINT") else []
    cmd = stage.all("CMD")[-1].exec_form() if stage.all("CMD") else []
    if entry is None or cmd is None:
        raise CheckFailed("ENTRYPOINT and CMD must be in exec (JSON) form")
    return entry + cmd


def copies(stage: Stage) -> list[tuple[str | None, list[str], str]]:
    """COPY instructions as (from-stage or None, sources, destination)."""
    out = []
    for i in stage.all("COPY"):
        words = shlex.split(i.args)
        frm = None
        while words and words[0].startswith("--"):
            if words[0].startswith("--from="):
                frm = words[0].split("=", 1)[1]
            words.pop(0)
        out.append((frm, words[:-1], words[-1]))
    return out


def flag_value(args: list[str], flag: str) -> str | None:
    for a in args:
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def replace_flag(args: list[str], flag: str, value: str) -> list[str]:
    return [f"{flag}={value}" if a.startswith(flag + "=") else a for a in args]


def config_check(binary: Path, args: list[str]) -> subprocess.CompletedProcess:
    return run([str(binary), *args, "--config.check"], timeout=30)


# ---------------------------------------------------------------- YAML with comments

def preceding_comments(lines: list[str], index: int) -> list[str]:
    """Comment lines directly above lines[index] (same block, no blank line between), plus a
    trailing comment on the line itself."""
    out = []
    m = re.search(r"\s#\s*(.*)$", lines[index])
    if m:
        out.append(m.group(1))
    i = index - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        out.insert(0, lines[i].strip().lstrip("#").strip())
        i -= 1
    return out


def explains(comments: list[str], min_words: int = 4) -> bool:
    return len(" ".join(comments).split()) >= min_words


def temp_dir(prefix: str) -> Path:
    """A fresh directory, removed when the test exits (after its daemons are stopped)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp")))
    def remove() -> None:
        _stop_daemons()  # atexit runs handlers last-in first-out: daemons may still write here
        shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path


# ---------------------------------------------------------------- systemd units

@dataclass
class UnitSetting:
    section: str
    key: str
    value: str
    line: int
    comments: list[str]


def parse_unit(path: Path) -> list[UnitSetting]:
    """Settings of a systemd unit or drop-in in file order (keys may repeat), each with the
    comment block right above it. Continuation lines (trailing backslash) are joined."""
    out: list[UnitSetting] = []
    section, comments, pending, start = "", [], "", 0
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if pending:
            pending += " " + line.rstrip("\\").strip()
            if line.endswith("\\"):
                continue
            key, _, value = pending.partition("=")
            out.append(UnitSetting(section, key.strip(), value.strip(), start, comments))
            pending, comments = "", []
            continue
        if not line:
            comments = []
        elif line[0] in "#;":
            comments.append(line.lstrip("#;").strip())
        elif line.startswith("["):
            section, comments = line.strip("[]"), []
        elif line.endswith("\\"):
            pending, start = line.rstrip("\\").strip(), n
        else:
            key, _, value = line.partition("=")
            out.append(UnitSetting(section, key.strip(), value.strip(), n, comments))
            comments = []
    return out


def unit_values(settings: list[UnitSetting], key: str, section: str = "Service") -> list[str]:
    return [s.value for s in settings if s.key == key and s.section == section]


def unit_last(settings: list[UnitSetting], key: str, section: str = "Service") -> str | None:
    v = unit_values(settings, key, section)
    return v[-1] if v else None


def unit_capabilities(settings: list[UnitSetting], key: str) -> set[str]:
    """A capability list setting, with systemd's semantics: assignments accumulate, an empty one
    resets (only plain lists are supported, not ~inversion)."""
    caps: set[str] = set()
    for v in unit_values(settings, key):
        if not v:
            caps = set()
        elif v.startswith("~"):
            raise CheckFailed(f"{key}={v}: inverted capability lists are not supported by the test")
        else:
            caps |= set(v.split())
    return caps


def syscall_group(name: str) -> set[str]:
    """System calls of a systemd syscall-filter group (@name), expanded by systemd-analyze."""
    proc = run(["systemd-analyze", "syscall-filter", name])
    if proc.returncode != 0:
        raise CheckFailed(f"systemd-analyze syscall-filter {name} failed\n" + describe(proc))
    out = set()
    for line in proc.stdout.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or not line.startswith(" "):
            continue
        out |= syscall_group(s) if s.startswith("@") else {s}
    return out


def allowed_syscalls(settings: list[UnitSetting]) -> tuple[set[str], bool]:
    """Effective SystemCallFilter= of a unit: (syscalls, is_allow_list). Follows systemd: the
    first assignment decides allow or deny list; later ones add to it (allow) or remove from the
    allow list (~deny); an empty assignment resets."""
    allowed: set[str] = set()
    allow_list: bool | None = None
    for v in unit_values(settings, "SystemCallFilter"):
        if not v:
            allowed, allow_list = set(), None
            continue
        deny = v.startswith("~")
        names = set()
        for word in v.lstrip("~").split():
            names |= syscall_group(word) if word.startswith("@") else {word.split(":")[0]}
        if allow_list is None:
            allow_list = not deny
            allowed = set(names)
        elif allow_list:
            allowed = allowed - names if deny else allowed | names
        else:
            allowed = allowed | names if deny else allowed - names
    return allowed, bool(allow_list)
